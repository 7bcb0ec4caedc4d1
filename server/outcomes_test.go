package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omniq/omniq/client"
	"github.com/omniq/omniq/engine"
)

// leaseAll dequeues n tasks of queue through the API.
func (td *testServer) leaseAll(queue string, n int) []client.Task {
	td.t.Helper()
	var got client.TaskList
	td.want(td.call("POST", fmt.Sprintf("/v1/queues/%s/dequeue?n=%d", queue, n), ""), http.StatusOK, &got)
	if len(got.Tasks) != n {
		td.t.Fatalf("leased %d tasks, want %d", len(got.Tasks), n)
	}
	return got.Tasks
}

func TestOutcomesRoute(t *testing.T) {
	td := newTestServer(t, Config{})
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		td.enqueue(fmt.Sprintf(`{"id":%q,"func":"f","queue_name":"q","retries":1}`, id))
	}
	td.enqueue(`{"id":"x","func":"f","queue_name":"other"}`)
	td.leaseAll("q", 3) // a, b, c at attempt 1

	// Complete a, fail b (a retry: it has one left), answer c with a stale
	// attempt, and lease two more in the same request.
	var got client.OutcomesAnswer
	td.want(td.call("POST", "/v1/outcomes", `{
		"outcomes": [
			{"id":"a","attempt":1,"result":{"sum":3}},
			{"id":"b","attempt":1,"error":"boom"},
			{"id":"c","attempt":7},
			{"id":"nope","attempt":1}
		],
		"lease": {"queues":["empty","q","other"],"n":3}
	}`), http.StatusOK, &got)
	if len(got.Outcomes) != 4 {
		t.Fatalf("answers %+v", got.Outcomes)
	}
	if o := got.Outcomes[0]; o.Error != nil || o.State != "completed" {
		t.Errorf("a: %+v", o)
	}
	if o := got.Outcomes[1]; o.Error != nil || o.State != "waiting" {
		t.Errorf("b: %+v", o)
	}
	if o := got.Outcomes[2]; o.Error == nil || o.Error.Code != client.CodeStaleLease || o.State != "" {
		t.Errorf("c (stale attempt): %+v", o)
	}
	if o := got.Outcomes[3]; o.Error == nil || o.Error.Code != client.CodeNotFound {
		t.Errorf("unknown task: %+v", o)
	}
	var leased []string
	for _, tk := range got.Tasks {
		leased = append(leased, tk.ID)
		if tk.State != "running" || tk.Attempt != 1 {
			t.Errorf("leased %s: %s attempt %d", tk.ID, tk.State, tk.Attempt)
		}
	}
	if strings.Join(leased, ",") != "d,e,x" {
		t.Errorf("leased %v, want d, e (queue q) then x (queue other)", leased)
	}
	var a, b, c client.Task
	td.want(td.call("GET", "/v1/tasks/a", ""), http.StatusOK, &a)
	td.want(td.call("GET", "/v1/tasks/b", ""), http.StatusOK, &b)
	td.want(td.call("GET", "/v1/tasks/c", ""), http.StatusOK, &c)
	if a.State != "completed" || fmt.Sprint(a.Result) != "map[sum:3]" {
		t.Errorf("a: %s %v", a.State, a.Result)
	}
	if b.State != "waiting" || b.Error != "boom" {
		t.Errorf("b: %s %q", b.State, b.Error)
	}
	if c.State != "running" || c.Attempt != 1 {
		t.Errorf("c, answered with a stale attempt, changed: %s attempt %d", c.State, c.Attempt)
	}
	// The same outcome again is stale: it was recorded.
	td.want(td.call("POST", "/v1/outcomes", `{"outcomes":[{"id":"a","attempt":1}]}`), http.StatusOK, &got)
	if o := got.Outcomes[0]; o.Error == nil || o.Error.Code != client.CodeStaleLease {
		t.Errorf("a answered twice: %+v", o)
	}
}

func TestOutcomesRouteBadInput(t *testing.T) {
	td := newTestServer(t, Config{})
	td.enqueue(`{"id":"a","func":"f"}`)
	td.enqueue(`{"id":"b","func":"f"}`)
	td.leaseAll("default", 1) // a at attempt 1
	td.wantRefused("/v1/outcomes",
		`{"outcomes":[{"id":"a","attempt":1},{"id":"a"}]}`,                       // no attempt
		`{"outcomes":[{"id":"a","attempt":1},{"attempt":1}]}`,                    // no id
		`{"outcomes":[{"id":"a","attempt":1,"result":1,"error":"x"}]}`,           // both
		`{"outcomes":[{"id":"a","attempt":1,"extra":true}]}`,                     // unknown field
		`{"outcomes":[{"id":"a","attempt":1}],"lease":{"n":-1}}`,                 // negative n
		`{"outcomes":[{"id":"a","attempt":1}],"lease":{"n":101}}`,                // n past the bound
		`{"outcomes":[{"id":"a","attempt":1}],"lease":{"n":1,"queues":["a b"]}}`, // bad queue
		`{"outcomes":[{"id":"a","attempt":1}],"lease":{"n":1,"wait":"-1s"}}`,     // negative wait
		`{"outcomes":{"id":"a"}}`,                                                // not an array
		`{"lease":{"n":1}}`,                                                      // no outcomes
		`{"outcomes":null}`,                                                      // nor here
		`[]`,
		``,
	)
	var a client.Task
	td.want(td.call("GET", "/v1/tasks/a", ""), http.StatusOK, &a)
	if a.State != "running" || a.Attempt != 1 {
		t.Errorf("a after refused requests: %s attempt %d", a.State, a.Attempt)
	}
	// An empty batch answers nothing and changes nothing; with a lease it
	// is a plain dequeue.
	head := td.head()
	var got client.OutcomesAnswer
	td.want(td.call("POST", "/v1/outcomes", `{"outcomes":[]}`), http.StatusOK, &got)
	if len(got.Outcomes) != 0 || len(got.Tasks) != 0 || td.head() != head {
		t.Errorf("empty batch: %+v, log %d -> %d", got, head, td.head())
	}
	td.want(td.call("POST", "/v1/outcomes", `{"outcomes":[],"lease":{"n":5,"wait":"10ms"}}`), http.StatusOK, &got)
	if len(got.Outcomes) != 0 || len(got.Tasks) != 1 || got.Tasks[0].ID != "b" {
		t.Errorf("empty batch with a lease: %+v", got)
	}
	td.want(td.call("POST", "/v1/outcomes", `{"outcomes":[],"lease":{"n":5,"wait":"10ms"}}`), http.StatusOK, &got)
	if len(got.Tasks) != 0 {
		t.Errorf("lease on an empty queue: %+v", got)
	}
}

func TestClientFinishBatch(t *testing.T) {
	_, url := startTestServer(t, Config{})
	c := newTestClient(t, url)
	ctx := context.Background()
	tasks := []*engine.Task{{ID: "a", Func: "f"}, {ID: "b", Func: "f", Retries: 0}, {ID: "c", Func: "f"}, {ID: "d", Func: "f"}}
	if err := c.EnqueueBatch(ctx, tasks); err != nil {
		t.Fatal(err)
	}
	_, leased, err := c.FinishBatch(ctx, nil, nil, 3, 0)
	if err != nil || len(leased) != 3 {
		t.Fatalf("lease: %d tasks, %v", len(leased), err)
	}
	stale := &engine.Task{ID: leased[2].ID, Attempt: leased[2].Attempt + 1}
	errs, next, err := c.FinishBatch(ctx, []engine.Outcome{
		{Task: leased[0], Result: map[string]any{"n": 1}},
		{Task: leased[1], Err: errors.New("boom")},
		{Task: stale},
		{Task: leased[2], Result: func() {}}, // not plain data: refused by the client
	}, []string{"default"}, 5, 0)
	if err != nil {
		t.Fatal(err)
	}
	if errs[0] != nil || errs[1] != nil || !errors.Is(errs[2], engine.ErrStaleLease) || !errors.Is(errs[3], engine.ErrInvalidArgs) {
		t.Errorf("per outcome: %v", errs)
	}
	if leased[0].State != engine.StateCompleted || leased[1].State != engine.StateFailed {
		t.Errorf("states: %s %s", leased[0].State, leased[1].State)
	}
	if len(next) != 1 || next[0].ID != "d" || next[0].Attempt != 1 {
		t.Errorf("next lease: %+v", next)
	}
	errs, err = c.CompleteBatch(ctx, []engine.Outcome{{Task: leased[2], Result: 2.0}, {Task: next[0]}})
	if err != nil || errs[0] != nil || errs[1] != nil {
		t.Fatalf("CompleteBatch: %v %v", errs, err)
	}
	// A float result stays a float, as the embedded engine keeps it.
	if got, _ := c.GetTask(ctx, "c"); got.State != engine.StateCompleted || got.Result != float64(2) {
		t.Errorf("c: %s %v", got.State, got.Result)
	}
	if errs, err := c.CompleteBatch(ctx, nil); err != nil || len(errs) != 0 {
		t.Errorf("empty CompleteBatch: %v %v", errs, err)
	}
	if _, _, err := c.FinishBatch(ctx, nil, []string{"bad name"}, 1, 0); !errors.Is(err, engine.ErrInvalidQueueName) {
		t.Errorf("bad queue: %v", err)
	}
}

// Many tasks through the batched remote pool: each runs exactly once, the
// failures are retried as their tasks allow, and stopping waits for the
// running handlers and records their outcomes.
func TestClientWorkBatched(t *testing.T) {
	_, url := startTestServer(t, Config{})
	c := newTestClient(t, url, client.WithPollWait(time.Second))
	ctx := context.Background()
	var mu sync.Mutex
	runs := map[string]int{}
	_ = c.Register("count", func(_ context.Context, t *engine.Task) (any, error) {
		mu.Lock()
		runs[t.ID]++
		mu.Unlock()
		return t.Args[0], nil
	})
	_ = c.Register("flaky", func(_ context.Context, t *engine.Task) (any, error) {
		mu.Lock()
		runs[t.ID]++
		mu.Unlock()
		if t.Attempt <= 2 {
			return nil, fmt.Errorf("attempt %d fails", t.Attempt)
		}
		return "third time", nil
	})
	const total = 600
	var all []*engine.Task
	for i := 0; i < total; i++ {
		tk := &engine.Task{ID: fmt.Sprintf("t%03d", i), Func: "count", Args: []any{i}}
		if i%3 == 1 {
			tk.QueueName = "other"
		}
		all = append(all, tk)
	}
	flaky := &engine.Task{ID: "flaky2", Func: "flaky", Retries: 2}  // succeeds on its third attempt
	doomed := &engine.Task{ID: "flaky1", Func: "flaky", Retries: 1} // fails twice, then for good
	if err := c.EnqueueBatch(ctx, all[:total/2]); err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(ctx)
	worked := make(chan error, 1)
	go func() {
		worked <- c.Work(wctx, engine.WorkOptions{Queues: []string{"default", "other"}, Concurrency: 16})
	}()
	// The rest arrives while the pool works, some of it one by one.
	if err := c.EnqueueBatch(ctx, all[total/2:total-10]); err != nil {
		t.Fatal(err)
	}
	for _, tk := range append(all[total-10:], flaky, doomed) {
		if err := c.Enqueue(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 30*time.Second, "every task to finish", func() bool {
		st, err := c.Stats(ctx)
		if err != nil {
			return false
		}
		done := 0
		for _, counts := range st.Queues {
			done += counts[engine.StateCompleted] + counts[engine.StateFailed]
		}
		return done == total+2
	})
	for i, tk := range all {
		got, err := c.GetTask(ctx, tk.ID)
		if err != nil || got.State != engine.StateCompleted || got.Result != int64(i) || got.Attempt != 1 {
			t.Fatalf("%s: %v %+v", tk.ID, err, got)
		}
	}
	if got, _ := c.GetTask(ctx, flaky.ID); got.State != engine.StateCompleted || got.Attempt != 3 || got.Result != "third time" {
		t.Errorf("flaky: %s attempt %d %v", got.State, got.Attempt, got.Result)
	}
	if got, _ := c.GetTask(ctx, doomed.ID); got.State != engine.StateFailed || got.Attempt != 2 || got.Error != "attempt 2 fails" {
		t.Errorf("doomed: %s attempt %d %q", got.State, got.Attempt, got.Error)
	}
	mu.Lock()
	for _, tk := range all {
		if runs[tk.ID] != 1 {
			t.Errorf("%s ran %d times", tk.ID, runs[tk.ID])
		}
	}
	if runs[flaky.ID] != 3 || runs[doomed.ID] != 2 {
		t.Errorf("flaky ran %d times, doomed %d", runs[flaky.ID], runs[doomed.ID])
	}
	mu.Unlock()

	// Graceful stop: a handler running when ctx ends finishes, and its
	// outcome is recorded before Work returns.
	started := make(chan struct{})
	release := make(chan struct{})
	var finished atomic.Bool
	_ = c.Register("slow", func(context.Context, *engine.Task) (any, error) {
		close(started)
		<-release
		finished.Store(true)
		return "done", nil
	})
	slow := &engine.Task{ID: "slow", Func: "slow"}
	if err := c.Enqueue(ctx, slow); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow task did not start")
	}
	stop()
	select {
	case err := <-worked:
		t.Fatalf("Work returned (%v) with a handler still running", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	workReturned(t, worked, 10*time.Second)
	if !finished.Load() {
		t.Error("Work returned before its handler did")
	}
	if got, _ := c.GetTask(ctx, slow.ID); got.State != engine.StateCompleted || got.Result != "done" {
		t.Errorf("slow: %s %v, want its outcome recorded at stop", got.State, got.Result)
	}
	// Nothing is leased after the stop.
	late := &engine.Task{Func: "count", Args: []any{0}}
	if err := c.Enqueue(ctx, late); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.GetTask(ctx, late.ID); got.State != engine.StatePending {
		t.Errorf("a task enqueued after the stop is %s", got.State)
	}
}

// A refused token ends Work with ErrUnauthorized.
func TestClientWorkBatchedUnauthorized(t *testing.T) {
	_, url := startTestServer(t, Config{Token: "secret"})
	c := newTestClient(t, url, client.WithToken("wrong"))
	err := c.Work(context.Background(), engine.WorkOptions{Concurrency: 4})
	if !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("Work: %v", err)
	}
}
