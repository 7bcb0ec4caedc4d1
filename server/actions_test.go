package server

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/omniq/omniq/client"
	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/wire"
)

// failTask enqueues a task without retries, leases it and fails it: it
// ends failed.
func (td *testServer) failTask(id string) {
	td.t.Helper()
	td.enqueue(`{"id":"` + id + `","func":"f","queue_name":"fail-` + id + `"}`)
	var leased client.Task
	td.want(td.call("POST", "/v1/queues/fail-"+id+"/dequeue", ""), http.StatusOK, &leased)
	var failed client.Task
	td.want(td.call("POST", "/v1/tasks/"+id+"/fail", fmt.Sprintf(`{"attempt":%d,"error":"boom"}`, leased.Attempt)), http.StatusOK, &failed)
	if failed.State != "failed" {
		td.t.Fatalf("after fail: %+v", failed)
	}
}

// taskState returns the state GET /v1/tasks/{id} answers.
func (td *testServer) taskState(id string) string {
	td.t.Helper()
	var got client.Task
	td.want(td.call("GET", "/v1/tasks/"+id, ""), http.StatusOK, &got)
	return got.State
}

func TestActionRetryRoute(t *testing.T) {
	td := newTestServer(t, Config{})
	td.failTask("a")

	var retried client.Task
	td.want(td.call("POST", "/v1/tasks/a/retry", ""), http.StatusOK, &retried)
	if retried.ID != "a" || retried.State != "pending" {
		t.Fatalf("retried %+v", retried)
	}
	// The new attempt is leased as any pending task.
	var leased client.Task
	td.want(td.call("POST", "/v1/queues/fail-a/dequeue", ""), http.StatusOK, &leased)
	if leased.ID != "a" || leased.Attempt < 2 {
		t.Fatalf("leased after retry %+v", leased)
	}

	// A running task, a pending one, an unknown one: refused.
	td.wantError(td.call("POST", "/v1/tasks/a/retry", ""), http.StatusConflict, client.CodeTaskState)
	td.enqueue(`{"id":"p","func":"f"}`)
	td.wantError(td.call("POST", "/v1/tasks/p/retry", ""), http.StatusConflict, client.CodeTaskState)
	if st := td.taskState("p"); st != "pending" {
		t.Errorf("a refused retry left p %s", st)
	}
	td.wantError(td.call("POST", "/v1/tasks/ghost/retry", ""), http.StatusNotFound, client.CodeNotFound)
	td.wantError(td.call("GET", "/v1/tasks/a/retry", ""), http.StatusMethodNotAllowed, client.CodeMethodNotAllowed)
}

func TestActionCancelRoute(t *testing.T) {
	td := newTestServer(t, Config{})
	td.enqueue(`{"id":"p","func":"f"}`)
	td.enqueue(`{"id":"dep","func":"f","depends_on":["p"]}`)

	var cancelled client.Task
	td.want(td.call("POST", "/v1/tasks/p/cancel", ""), http.StatusOK, &cancelled)
	if cancelled.ID != "p" || cancelled.State != "cancelled" {
		t.Fatalf("cancelled %+v", cancelled)
	}
	// Its dependent is cancelled with it.
	if st := td.taskState("dep"); st != "cancelled" {
		t.Errorf("the dependent of a cancelled task is %s", st)
	}
	// An ended task cannot be cancelled again; a cancelled one can be retried.
	td.wantError(td.call("POST", "/v1/tasks/p/cancel", ""), http.StatusConflict, client.CodeTaskState)
	var retried client.Task
	td.want(td.call("POST", "/v1/tasks/p/retry", ""), http.StatusOK, &retried)
	if retried.State != "pending" {
		t.Errorf("retried cancelled task %+v", retried)
	}

	// A running task is not cancelled.
	var leased client.Task
	td.want(td.call("POST", "/v1/queues/default/dequeue", ""), http.StatusOK, &leased)
	td.wantError(td.call("POST", "/v1/tasks/"+leased.ID+"/cancel", ""), http.StatusConflict, client.CodeTaskState)
	if st := td.taskState(leased.ID); st != "running" {
		t.Errorf("a refused cancel left %s %s", leased.ID, st)
	}
	td.wantError(td.call("POST", "/v1/tasks/ghost/cancel", ""), http.StatusNotFound, client.CodeNotFound)
}

func TestActionsRoute(t *testing.T) {
	td := newTestServer(t, Config{})
	td.failTask("f1")
	td.enqueue(`{"id":"p1","func":"f"}`)
	td.enqueue(`{"id":"p2","func":"f"}`)

	var ans wire.ActionAnswer
	td.want(td.call("POST", "/v1/actions", `{"action":"retry","ids":["f1","p1","ghost"]}`), http.StatusOK, &ans)
	want := []struct{ id, state, code string }{{"f1", "pending", ""}, {"p1", "", "task_state"}, {"ghost", "", "not_found"}}
	checkResults(t, ans, want)
	// error is always present: null when the action was taken.
	if rec := td.call("POST", "/v1/actions", `{"action":"cancel","ids":["p2"]}`); !strings.Contains(rec.Body.String(), `"error":null`) {
		t.Errorf("a taken action's result: %s", rec.Body)
	}
	if st := td.taskState("p2"); st != "cancelled" {
		t.Errorf("p2 after a batch cancel: %s", st)
	}

	td.want(td.call("POST", "/v1/actions", `{"action":"delete","ids":["p1","ghost"]}`), http.StatusOK, &ans)
	checkResults(t, ans, []struct{ id, state, code string }{{"p1", "", ""}, {"ghost", "", "not_found"}})
	td.wantError(td.call("GET", "/v1/tasks/p1", ""), http.StatusNotFound, client.CodeNotFound)

	// An empty id, and an id named twice, are refused in their own results.
	td.failTask("f2")
	td.want(td.call("POST", "/v1/actions", `{"action":"retry","ids":["","f2","f2"]}`), http.StatusOK, &ans)
	checkResults(t, ans, []struct{ id, state, code string }{{"", "", "invalid_argument"}, {"f2", "pending", ""}, {"f2", "", "invalid_argument"}})

	// No ids: nothing to do, an empty answer.
	td.want(td.call("POST", "/v1/actions", `{"action":"retry","ids":[]}`), http.StatusOK, &ans)
	if ans.Results == nil || len(ans.Results) != 0 {
		t.Errorf("empty batch answered %+v", ans)
	}
}

func checkResults(t *testing.T, ans wire.ActionAnswer, want []struct{ id, state, code string }) {
	t.Helper()
	if len(ans.Results) != len(want) {
		t.Fatalf("results %+v, want %d", ans.Results, len(want))
	}
	for i, w := range want {
		r := ans.Results[i]
		code := ""
		if r.Error != nil {
			code = r.Error.Code
			if r.Error.Message == "" {
				t.Errorf("result %d: error without a message", i)
			}
		}
		if r.ID != w.id || code != w.code || (w.state != "" && r.State != w.state) {
			t.Errorf("result %d = %+v (error %v), want %+v", i, r, r.Error, w)
		}
	}
}

// The route takes as many ids as the engine's batch actions do.
func TestActionsCapIsTheEngines(t *testing.T) {
	if wire.MaxActionIDs != engine.MaxActionBatch {
		t.Errorf("wire.MaxActionIDs = %d, engine.MaxActionBatch = %d", wire.MaxActionIDs, engine.MaxActionBatch)
	}
}

// A malformed request is refused whole and appends nothing.
func TestActionsRouteBadInput(t *testing.T) {
	td := newTestServer(t, Config{})
	td.failTask("f1")
	tooMany := `{"action":"retry","ids":["f1"` + strings.Repeat(`,"f1"`, wire.MaxActionIDs) + `]}`
	head := td.head()
	for _, body := range []string{
		``, `[]`, `{"ids":["f1"]}`, `{"action":"explode","ids":["f1"]}`, `{"action":"RETRY","ids":["f1"]}`,
		`{"action":"retry"}`, `{"action":"retry","ids":null}`, `{"action":"retry","ids":"f1"}`,
		`{"action":"retry","ids":["f1"],"force":true}`, `{"action":"retry","ids":["f1"]}{}`, tooMany,
	} {
		td.wantError(td.call("POST", "/v1/actions", body), http.StatusBadRequest, client.CodeInvalidArgument)
	}
	if td.head() != head {
		t.Errorf("refused requests appended: %d -> %d", head, td.head())
	}
	if st := td.taskState("f1"); st != "failed" {
		t.Errorf("f1 is %s after refused requests", st)
	}
}

func TestQueuePauseRoutes(t *testing.T) {
	td := newTestServer(t, Config{})
	td.enqueue(`{"id":"t","func":"f","queue_name":"q1"}`)

	var st wire.QueueState
	td.want(td.call("POST", "/v1/queues/q1/pause", ""), http.StatusOK, &st)
	if st.Name != "q1" || !st.Paused || st.Counts["pending"] != 1 {
		t.Fatalf("paused %+v", st)
	}
	var stats client.Stats
	td.want(td.call("GET", "/v1/stats", ""), http.StatusOK, &stats)
	if !slices.Equal(stats.PausedQueues, []string{"q1"}) {
		t.Errorf("stats paused_queues %v", stats.PausedQueues)
	}
	// A paused queue leases nothing, and is paused once only.
	td.want(td.call("POST", "/v1/queues/q1/dequeue", ""), http.StatusNoContent, nil)
	td.want(td.call("POST", "/v1/queues/q1/dequeue?n=5&wait=10ms", ""), http.StatusNoContent, nil)
	var ans client.OutcomesAnswer
	td.want(td.call("POST", "/v1/outcomes", `{"outcomes":[],"lease":{"queues":["q1"],"n":5}}`), http.StatusOK, &ans)
	if len(ans.Tasks) != 0 {
		t.Errorf("outcomes leased %d tasks of a paused queue", len(ans.Tasks))
	}
	td.wantError(td.call("POST", "/v1/queues/q1/pause", ""), http.StatusConflict, client.CodeTaskState)
	// Enqueueing to it still works; other queues are not held.
	td.enqueue(`{"id":"t2","func":"f","queue_name":"q1"}`)
	td.enqueue(`{"id":"o","func":"f","queue_name":"q2"}`)
	td.want(td.call("POST", "/v1/queues/q2/dequeue", ""), http.StatusOK, nil)

	td.want(td.call("POST", "/v1/queues/q1/resume", ""), http.StatusOK, &st)
	if st.Name != "q1" || st.Paused || st.Counts["pending"] != 2 {
		t.Fatalf("resumed %+v", st)
	}
	var leased client.Task
	td.want(td.call("POST", "/v1/queues/q1/dequeue", ""), http.StatusOK, &leased)
	if leased.ID != "t" {
		t.Errorf("after resume leased %+v", leased)
	}
	td.wantError(td.call("POST", "/v1/queues/q1/resume", ""), http.StatusConflict, client.CodeTaskState)
	td.want(td.call("GET", "/v1/stats", ""), http.StatusOK, &stats)
	if stats.PausedQueues == nil || len(stats.PausedQueues) != 0 {
		t.Errorf("stats paused_queues after resume: %v", stats.PausedQueues)
	}

	// A bad name is refused and appends nothing.
	head := td.head()
	td.wantError(td.call("POST", "/v1/queues/bad%20name/pause", ""), http.StatusBadRequest, client.CodeInvalidArgument)
	td.wantError(td.call("POST", "/v1/queues/"+strings.Repeat("x", 200)+"/resume", ""), http.StatusBadRequest, client.CodeInvalidArgument)
	if td.head() != head {
		t.Errorf("refused pauses appended: %d -> %d", head, td.head())
	}
}

// With a token, every action route wants it and changes nothing without.
func TestActionRoutesNeedToken(t *testing.T) {
	td := newTestServer(t, Config{Token: "s3cret"})
	auth := []string{"Authorization", "Bearer s3cret"}
	td.want(td.call("POST", "/v1/tasks", `{"id":"p","func":"f"}`, auth...), http.StatusCreated, nil)
	head := td.head()
	for _, c := range []struct{ path, body string }{
		{"/v1/tasks/p/retry", ""}, {"/v1/tasks/p/cancel", ""}, {"/v1/actions", `{"action":"cancel","ids":["p"]}`},
		{"/v1/queues/default/pause", ""}, {"/v1/queues/default/resume", ""},
	} {
		td.wantError(td.call("POST", c.path, c.body), http.StatusUnauthorized, client.CodeUnauthorized)
		td.wantError(td.call("POST", c.path, c.body, "Authorization", "Bearer wrong"), http.StatusUnauthorized, client.CodeUnauthorized)
	}
	if td.head() != head {
		t.Errorf("unauthorized actions appended: %d -> %d", head, td.head())
	}
	td.want(td.call("POST", "/v1/tasks/p/cancel", "", auth...), http.StatusOK, nil)
}
