package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/omniq/omniq/client"
	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/memory"
)

// testServer is a Server over an engine on an in-memory store, whose
// handler tests call directly (no listener).
type testServer struct {
	t *testing.T
	*Server
	handler http.Handler // the server, every exchange checked against openapi.json
	log     stores.Log
	q       *engine.Engine
}

// newTestServer serves an engine opened with opts on a new memory store.
func newTestServer(t *testing.T, cfg Config, opts ...engine.Option) *testServer {
	t.Helper()
	s := New(nil, cfg)
	log, q := attachTestEngine(t, s, opts...)
	return &testServer{t: t, Server: s, handler: checkingHandler(t, s), log: log, q: q}
}

// attachTestEngine opens an engine with opts on a new memory store,
// observed by s, and attaches it to s; the test's end drains s and closes
// both.
func attachTestEngine(tb testing.TB, s *Server, opts ...engine.Option) (stores.Log, *engine.Engine) {
	tb.Helper()
	log := memory.New()
	q, err := engine.Open(context.Background(), log, append([]engine.Option{engine.WithObserver(s.Observer())}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		s.Drain()
		_ = q.Close()
		_ = log.Close()
	})
	if err := s.Attach(q); err != nil {
		tb.Fatal(err)
	}
	return log, q
}

// call sends one request through the server's full handler.
func (td *testServer) call(method, path, body string, header ...string) *httptest.ResponseRecorder {
	td.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	td.handler.ServeHTTP(rec, req)
	return rec
}

// want checks the status and decodes the body into out (when not nil).
func (td *testServer) want(rec *httptest.ResponseRecorder, status int, out any) {
	td.t.Helper()
	if rec.Code != status {
		td.t.Fatalf("status %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	if out != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			td.t.Fatalf("decode %s: %v", rec.Body, err)
		}
	}
}

// wantError checks an error answer's status and code.
func (td *testServer) wantError(rec *httptest.ResponseRecorder, status int, code string) client.ErrorDetail {
	td.t.Helper()
	var body client.ErrorBody
	td.want(rec, status, &body)
	if body.Error.Code != code || body.Error.Message == "" {
		td.t.Fatalf("error body %s, want code %s", rec.Body, code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		td.t.Fatalf("error Content-Type %q", ct)
	}
	return body.Error
}

func (td *testServer) head() uint64 {
	td.t.Helper()
	h, err := td.log.Head(context.Background())
	if err != nil {
		td.t.Fatal(err)
	}
	return h
}

// wantRefused posts each body to path and wants it refused as an invalid
// argument, with nothing appended to the log.
func (td *testServer) wantRefused(path string, bodies ...string) {
	td.t.Helper()
	for _, body := range bodies {
		head := td.head()
		td.wantError(td.call("POST", path, body), http.StatusBadRequest, client.CodeInvalidArgument)
		if h := td.head(); h != head {
			td.t.Errorf("%.80s: the log moved from %d to %d", body, head, h)
		}
	}
}

func (td *testServer) enqueue(body string) client.Task {
	td.t.Helper()
	var got client.Task
	td.want(td.call("POST", "/v1/tasks", body), http.StatusCreated, &got)
	return got
}

func TestAPIEveryRoute(t *testing.T) {
	td := newTestServer(t, Config{})

	// Enqueue one task: 201, Location, the engine's fields.
	rec := td.call("POST", "/v1/tasks", `{"id":"a","func":"add","args":[10,20],"ttl":"1h","retries":1}`)
	var a client.Task
	td.want(rec, http.StatusCreated, &a)
	if a.ID != "a" || a.State != "pending" || a.QueueName != "default" || time.Duration(a.TTL) != time.Hour || a.CreatedAt.IsZero() {
		t.Fatalf("enqueued %+v", a)
	}
	if loc := rec.Header().Get("Location"); loc != "/v1/tasks/a" {
		t.Errorf("Location %q", loc)
	}

	// A batch, where b depends on a and c on b (same batch).
	var batch client.TaskList
	td.want(td.call("POST", "/v1/tasks", `{"tasks":[{"id":"b","func":"f","depends_on":["a"]},{"func":"g","depends_on":["b"]}]}`),
		http.StatusCreated, &batch)
	if len(batch.Tasks) != 2 || batch.Tasks[0].State != "waiting" || batch.Tasks[1].ID == "" {
		t.Fatalf("batch %+v", batch)
	}

	var got client.Task
	td.want(td.call("GET", "/v1/tasks/a", ""), http.StatusOK, &got)
	if got.Func != "add" || got.Args[0] != 10.0 { // plain json.Unmarshal here: numbers are float64
		t.Fatalf("get %+v", got)
	}

	// Dequeue without n: one task object, leased.
	var leased client.Task
	td.want(td.call("POST", "/v1/queues/default/dequeue", ""), http.StatusOK, &leased)
	if leased.ID != "a" || leased.State != "running" || leased.Attempt != 1 || leased.LeaseDeadline.IsZero() {
		t.Fatalf("leased %+v", leased)
	}
	// Nothing else is ready: 204, at once and after a short wait.
	td.want(td.call("POST", "/v1/queues/default/dequeue", ""), http.StatusNoContent, nil)
	td.want(td.call("POST", "/v1/queues/default/dequeue?wait=10ms", ""), http.StatusNoContent, nil)

	var hb client.Task
	td.want(td.call("POST", "/v1/tasks/a/heartbeat", `{"attempt":1}`), http.StatusOK, &hb)
	if !hb.LeaseDeadline.After(leased.LeaseDeadline) && !hb.LeaseDeadline.Equal(leased.LeaseDeadline) {
		t.Errorf("heartbeat deadline %v before %v", hb.LeaseDeadline, leased.LeaseDeadline)
	}

	// Fail with a retry left: the task waits for its retry.
	var failed client.Task
	td.want(td.call("POST", "/v1/tasks/a/fail", `{"attempt":1,"error":"flaky"}`), http.StatusOK, &failed)
	if failed.State != "waiting" || failed.Error != "flaky" {
		t.Fatalf("after fail %+v", failed)
	}

	// Complete the only ready task of another queue.
	td.enqueue(`{"id":"x","func":"f","queue_name":"other"}`)
	var list client.TaskList
	td.want(td.call("POST", "/v1/queues/other/dequeue?n=5&wait=1s", ""), http.StatusOK, &list)
	if len(list.Tasks) != 1 || list.Tasks[0].ID != "x" {
		t.Fatalf("dequeue n=5: %+v", list)
	}
	var done client.Task
	td.want(td.call("POST", "/v1/tasks/x/complete", `{"attempt":1,"result":{"sum":30}}`), http.StatusOK, &done)
	if done.State != "completed" || done.Result.(map[string]any)["sum"] != 30.0 || done.FinishedAt.IsZero() {
		t.Fatalf("completed %+v", done)
	}

	var hist client.History
	td.want(td.call("GET", "/v1/tasks/x/history", ""), http.StatusOK, &hist)
	var types []string
	for _, ev := range hist.Events {
		types = append(types, ev.Type)
	}
	if strings.Join(types, " ") != "task.enqueued task.leased task.completed" || hist.Events[2].Payload["result"] == nil {
		t.Fatalf("history %+v", hist)
	}

	// Schedules: a recurring one pauses and resumes.
	td.enqueue(`{"id":"nightly","func":"report","schedule":{"cron":"0 2 * * *"}}`)
	var paused client.Task
	td.want(td.call("POST", "/v1/schedules/nightly/pause", ""), http.StatusOK, &paused)
	if paused.State != "scheduled" || paused.Schedule == nil || !paused.Schedule.Paused {
		t.Fatalf("paused %+v", paused)
	}
	var resumed client.Task
	td.want(td.call("POST", "/v1/schedules/nightly/resume", ""), http.StatusOK, &resumed)
	if resumed.Schedule.Paused || resumed.NextRunAt.IsZero() {
		t.Fatalf("resumed %+v", resumed)
	}

	var stats client.Stats
	td.want(td.call("GET", "/v1/stats", ""), http.StatusOK, &stats)
	// a waits for its retry, b and c for a; engine.Stats counts a retry
	// backoff as pending where GetTask says waiting, so only the sum is checked.
	def := stats.Queues["default"]
	if stats.Queues["other"]["completed"] != 1 || def["waiting"]+def["pending"] != 3 || stats.Schedules != 1 || stats.Position != td.head() {
		t.Fatalf("stats %+v (head %d)", stats, td.head())
	}

	td.want(td.call("DELETE", "/v1/tasks/x", ""), http.StatusNoContent, nil)
	td.wantError(td.call("GET", "/v1/tasks/x", ""), http.StatusNotFound, client.CodeNotFound)
	td.want(td.call("GET", "/v1/tasks/x/history", ""), http.StatusOK, &hist) // history outlives the task

	// Operations routes.
	td.want(td.call("GET", "/healthz", ""), http.StatusOK, nil)
	var ready map[string]any
	td.want(td.call("GET", "/readyz", ""), http.StatusOK, &ready)
	if ready["position"] != float64(td.head()) {
		t.Errorf("readyz %v", ready)
	}
	var doc map[string]any
	td.want(td.call("GET", "/openapi.json", ""), http.StatusOK, &doc)
	m := td.call("GET", "/metrics", "")
	td.want(m, http.StatusOK, nil)
	for _, want := range []string{
		"omniq_events_appended_total ", `omniq_tasks{queue="other",state="completed"} 0`, // x was deleted
		`omniq_tasks{queue="default",state="running"} 0`, "omniq_schedules 1", "omniq_append_duration_seconds_count ",
		"omniq_replay_duration_seconds ", "omniq_lease_expiries_total 0", `omniq_http_requests_total{code="201",route="POST /v1/tasks"}`,
		"omniq_dequeue_waiting 0",
	} {
		if !strings.Contains(m.Body.String(), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// failingLog fails every append once armed.
type failingLog struct {
	stores.Log
	fail bool
}

func (f *failingLog) Append(ctx context.Context, b []events.Event) (uint64, error) {
	if f.fail {
		return 0, errors.New("disk on fire")
	}
	return f.Log.Append(ctx, b)
}

func TestAPIErrorCodes(t *testing.T) {
	td := newTestServer(t, Config{MaxBody: 1024})
	td.enqueue(`{"id":"a","func":"f"}`)
	td.want(td.call("POST", "/v1/queues/default/dequeue", ""), http.StatusOK, nil)

	td.wantError(td.call("GET", "/v1/tasks/nope", ""), http.StatusNotFound, client.CodeNotFound)
	td.wantError(td.call("DELETE", "/v1/tasks/nope", ""), http.StatusNotFound, client.CodeNotFound)
	td.wantError(td.call("GET", "/v1/tasks/nope/history", ""), http.StatusNotFound, client.CodeNotFound)
	td.wantError(td.call("POST", "/v1/schedules/nope/pause", ""), http.StatusNotFound, client.CodeNotFound)
	td.wantError(td.call("GET", "/v2/anything", ""), http.StatusNotFound, client.CodeNotFound)
	td.wantError(td.call("POST", "/v1/tasks/a/complete", `{"attempt":2}`), http.StatusConflict, client.CodeStaleLease)
	td.wantError(td.call("POST", "/v1/tasks/a/heartbeat", `{"attempt":7}`), http.StatusConflict, client.CodeStaleLease)
	e := td.wantError(td.call("POST", "/v1/tasks", `{"id":"a","func":"f"}`), http.StatusBadRequest, client.CodeInvalidArgument)
	if e.Reason != "duplicate_id" {
		t.Errorf("duplicate id reason %q", e.Reason)
	}
	td.wantError(td.call("POST", "/v1/tasks", `{"func":"`+strings.Repeat("x", 2000)+`"}`), http.StatusRequestEntityTooLarge, client.CodePayloadTooLarge)
	td.wantError(td.call("POST", "/v1/schedules/a/pause", ""), http.StatusBadRequest, client.CodeInvalidArgument) // running, no schedule
	rec := td.call("PUT", "/v1/tasks/a", "{}")
	td.wantError(rec, http.StatusMethodNotAllowed, client.CodeMethodNotAllowed)
	if allow := rec.Header().Values("Allow"); strings.Join(allow, ",") != "GET,DELETE" {
		t.Errorf("Allow %v", allow)
	}

	// 500: the store fails; the answer hides the detail.
	fl := &failingLog{Log: td.log, fail: true}
	q, err := engine.Open(context.Background(), fl)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	live := td.api.engine()
	td.api.q.Store(q)
	rec = td.call("POST", "/v1/tasks", `{"func":"f"}`)
	if d := td.wantError(rec, http.StatusInternalServerError, client.CodeInternal); strings.Contains(d.Message, "fire") {
		t.Errorf("internal error leaks its cause: %s", d.Message)
	}
	// 503 closed: the engine is closed.
	_ = q.Close()
	td.wantError(td.call("POST", "/v1/tasks", `{"func":"f"}`), http.StatusServiceUnavailable, client.CodeClosed)
	// 503 unavailable: no engine yet (still replaying).
	td.api.q.Store(nil)
	rec = td.call("GET", "/v1/stats", "")
	td.wantError(rec, http.StatusServiceUnavailable, client.CodeUnavailable)
	if rec.Header().Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	td.wantError(td.call("GET", "/readyz", ""), http.StatusServiceUnavailable, client.CodeUnavailable)
	td.want(td.call("GET", "/healthz", ""), http.StatusOK, nil)
	td.api.q.Store(live)
	td.want(td.call("GET", "/readyz", ""), http.StatusOK, nil)
	td.api.beginShutdown()
	td.wantError(td.call("GET", "/readyz", ""), http.StatusServiceUnavailable, client.CodeUnavailable)
}

// Every malformed or hostile request is answered 4xx with a message and
// appends nothing.
func TestAPIMalformedRequestsAppendNothing(t *testing.T) {
	const maxBody = 2 << 20 // above the engine's 1 MiB payload limit, so both limits are reached
	td := newTestServer(t, Config{MaxBody: maxBody})
	td.enqueue(`{"id":"a","func":"f"}`)
	td.want(td.call("POST", "/v1/queues/default/dequeue", ""), http.StatusOK, nil)
	big := `{"func":"f","args":["` + strings.Repeat("x", maxBody) + `"]}`
	mib := strings.Repeat("x", 1<<20+1) // over the engine's payload limit
	nested := func(depth int) string {  // [[[…]]] depth deep
		return strings.Repeat("[", depth) + strings.Repeat("]", depth)
	}
	ids := func(n int) string { // "d0","d1",… n ids
		var b strings.Builder
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"d%d"`, i)
		}
		return b.String()
	}
	chainBatch := func(n int) string { // n tasks, each depending on the one before
		var b strings.Builder
		b.WriteString(`{"tasks":[{"id":"c0","func":"f"}`)
		for i := 1; i < n; i++ {
			fmt.Fprintf(&b, `,{"id":"c%d","func":"f","depends_on":["c%d"]}`, i, i-1)
		}
		b.WriteString("]}")
		return b.String()
	}
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		reason                   string
	}{
		{"empty body", "POST", "/v1/tasks", "", 400, ""},
		{"bad json", "POST", "/v1/tasks", `{"func":`, 400, ""},
		{"not an object", "POST", "/v1/tasks", `"f"`, 400, ""},
		{"trailing data", "POST", "/v1/tasks", `{"func":"f"} {"func":"g"}`, 400, ""},
		{"unknown field", "POST", "/v1/tasks", `{"func":"f","colour":"red"}`, 400, ""},
		{"engine field on input", "POST", "/v1/tasks", `{"func":"f","state":"completed"}`, 400, ""},
		{"unknown schedule field", "POST", "/v1/tasks", `{"func":"f","schedule":{"every":"1m"}}`, 400, ""},
		{"wrong type func", "POST", "/v1/tasks", `{"func":7}`, 400, ""},
		{"wrong type args", "POST", "/v1/tasks", `{"func":"f","args":{"a":1}}`, 400, ""},
		{"wrong type priority", "POST", "/v1/tasks", `{"func":"f","priority":"high"}`, 400, ""},
		{"fractional priority", "POST", "/v1/tasks", `{"func":"f","priority":1.5}`, 400, ""},
		{"bad ttl", "POST", "/v1/tasks", `{"func":"f","ttl":"soon"}`, 400, ""},
		{"negative ttl", "POST", "/v1/tasks", `{"func":"f","ttl":-1}`, 400, "invalid_ttl"},
		{"bad interval", "POST", "/v1/tasks", `{"func":"f","schedule":{"interval":"often"}}`, 400, ""},
		{"short interval", "POST", "/v1/tasks", `{"func":"f","schedule":{"interval":0.5}}`, 400, "invalid_schedule"},
		{"bad run_at", "POST", "/v1/tasks", `{"func":"f","schedule":{"run_at":"tomorrow"}}`, 400, ""},
		{"invalid cron", "POST", "/v1/tasks", `{"func":"f","schedule":{"cron":"every day"}}`, 400, "invalid_cron"},
		{"missing func", "POST", "/v1/tasks", `{"args":[1]}`, 400, "invalid_func"},
		{"priority out of range", "POST", "/v1/tasks", `{"func":"f","priority":5000}`, 400, "invalid_priority"},
		{"bad queue name", "POST", "/v1/tasks", `{"func":"f","queue_name":"a b"}`, 400, "invalid_queue_name"},
		{"unknown dependency", "POST", "/v1/tasks", `{"func":"f","depends_on":["ghost"]}`, 400, "unknown_dependency"},
		{"self dependency", "POST", "/v1/tasks", `{"id":"s","func":"f","depends_on":["s"]}`, 400, "dependency_cycle"},
		{"meta key with a space", "POST", "/v1/tasks", `{"func":"f","meta":{"a key":"v"}}`, 400, "invalid_meta"},
		{"meta value not a string", "POST", "/v1/tasks", `{"func":"f","meta":{"k":1}}`, 400, ""},
		{"bad id", "POST", "/v1/tasks", `{"id":"a b","func":"f"}`, 400, "invalid_id"},
		{"empty batch", "POST", "/v1/tasks", `{"tasks":[]}`, 400, ""},
		{"batch with extra key", "POST", "/v1/tasks", `{"tasks":[{"func":"f"}],"atomic":true}`, 400, ""},
		{"batch with one bad task", "POST", "/v1/tasks", `{"tasks":[{"func":"f"},{"func":"g","priority":9999}]}`, 400, "invalid_priority"},
		{"oversized body", "POST", "/v1/tasks", big, 413, ""},
		// Hostile input (issue 6): sizes and nesting.
		{"oversized args", "POST", "/v1/tasks", `{"func":"f","args":["` + mib + `"]}`, 413, ""},
		{"oversized kwargs", "POST", "/v1/tasks", `{"func":"f","kwargs":{"k":"` + mib + `"}}`, 413, ""},
		{"oversized batch", "POST", "/v1/tasks", `{"tasks":[{"func":"f","args":["` + strings.Repeat("x", maxBody) + `"]}]}`, 413, ""},
		{"100k-long chain past the body limit", "POST", "/v1/tasks", chainBatch(100_000), 413, ""},
		{"args nested too deep", "POST", "/v1/tasks", `{"func":"f","args":[` + nested(40) + `]}`, 400, "invalid_args"},
		{"kwargs nested too deep", "POST", "/v1/tasks", `{"func":"f","kwargs":{"k":` + nested(40) + `}}`, 400, "invalid_args"},
		{"json nested past the decoder", "POST", "/v1/tasks", `{"func":"f","args":` + nested(20_000) + `}`, 400, ""},
		{"number out of range", "POST", "/v1/tasks", `{"func":"f","args":[1e400]}`, 400, ""},
		// Dependencies.
		{"1001 dependencies", "POST", "/v1/tasks", `{"func":"f","depends_on":[` + ids(1001) + `]}`, 400, ""},
		{"100k dependencies", "POST", "/v1/tasks", `{"func":"f","depends_on":[` + ids(100_000) + `]}`, 400, ""},
		{"cyclic batch", "POST", "/v1/tasks", `{"tasks":[{"id":"x","func":"f","depends_on":["y"]},{"id":"y","func":"f","depends_on":["x"]}]}`, 400, "unknown_dependency"},
		{"batch self cycle", "POST", "/v1/tasks", `{"tasks":[{"id":"x","func":"f"},{"id":"y","func":"f","depends_on":["x","y"]}]}`, 400, "dependency_cycle"},
		{"chain with an unknown root", "POST", "/v1/tasks", `{"tasks":[{"id":"x","func":"f","depends_on":["ghost"]},{"id":"y","func":"f","depends_on":["x"]}]}`, 400, "unknown_dependency"},
		{"duplicate id in a batch", "POST", "/v1/tasks", `{"tasks":[{"id":"x","func":"f"},{"id":"x","func":"g"}]}`, 400, "duplicate_id"},
		{"recurring task with dependencies", "POST", "/v1/tasks", `{"func":"f","depends_on":["a"],"schedule":{"interval":60}}`, 400, "invalid_schedule"},
		// Times.
		{"run_at month 13", "POST", "/v1/tasks", `{"func":"f","schedule":{"run_at":"2026-13-01T00:00:00Z"}}`, 400, ""},
		{"run_at year 10000", "POST", "/v1/tasks", `{"func":"f","schedule":{"run_at":"10000-01-01T00:00:00Z"}}`, 400, ""},
		{"run_at offset out of range", "POST", "/v1/tasks", `{"func":"f","schedule":{"run_at":"2030-01-01T00:00:00+25:00"}}`, 400, ""},
		{"run_at a number", "POST", "/v1/tasks", `{"func":"f","schedule":{"run_at":1767225600}}`, 400, ""},
		{"run_at without zone", "POST", "/v1/tasks", `{"func":"f","schedule":{"run_at":"2030-01-01T00:00:00"}}`, 400, ""},
		{"run_at past what the log holds", "POST", "/v1/tasks", `{"func":"f","schedule":{"run_at":"2300-01-01T00:00:00Z"}}`, 400, "invalid_schedule"},
		{"run_at before what the log holds", "POST", "/v1/tasks", `{"func":"f","schedule":{"run_at":"1500-01-01T00:00:00Z"}}`, 400, "invalid_schedule"},
		{"ttl past what the log holds", "POST", "/v1/tasks", `{"func":"f","ttl":"2562047h"}`, 400, "invalid_ttl"},
		{"ttl overflowing", "POST", "/v1/tasks", `{"func":"f","ttl":1e300}`, 400, ""},
		{"ttl overflowing as a string", "POST", "/v1/tasks", `{"func":"f","ttl":"9999999999h"}`, 400, ""},
		{"interval past what the log holds", "POST", "/v1/tasks", `{"func":"f","schedule":{"interval":"2562047h"}}`, 400, "invalid_schedule"},
		{"late run_at plus interval", "POST", "/v1/tasks", `{"func":"f","schedule":{"run_at":"2261-12-31T00:00:00Z","interval":"48h"}}`, 400, "invalid_schedule"},
		{"latest run_at plus longest interval", "POST", "/v1/tasks", `{"func":"f","schedule":{"run_at":"2151-01-01T00:00:00Z","interval":"876000h"}}`, 400, "invalid_schedule"},
		{"negative interval", "POST", "/v1/tasks", `{"func":"f","schedule":{"interval":"-5s"}}`, 400, "invalid_schedule"},
		// Cron.
		{"cron minute 61", "POST", "/v1/tasks", `{"func":"f","schedule":{"cron":"61 * * * *"}}`, 400, "invalid_cron"},
		{"cron with 7 fields", "POST", "/v1/tasks", `{"func":"f","schedule":{"cron":"* * * * * * *"}}`, 400, "invalid_cron"},
		{"cron that never fires", "POST", "/v1/tasks", `{"func":"f","schedule":{"cron":"0 0 30 2 *"}}`, 400, "invalid_cron"},
		{"cron unknown zone", "POST", "/v1/tasks", `{"func":"f","schedule":{"cron":"CRON_TZ=Mars/Olympus 0 2 * * *"}}`, 400, "invalid_cron"},
		{"cron huge", "POST", "/v1/tasks", `{"func":"f","schedule":{"cron":"` + strings.Repeat("x", 100_000) + ` * * * *"}}`, 400, "invalid_cron"},
		{"cron zone without fields", "POST", "/v1/tasks", `{"func":"f","schedule":{"cron":"CRON_TZ="}}`, 400, "invalid_cron"},
		{"cron TZ without fields", "POST", "/v1/tasks", `{"func":"f","schedule":{"cron":"TZ=Europe/Paris"}}`, 400, "invalid_cron"},
		{"cron and interval", "POST", "/v1/tasks", `{"func":"f","schedule":{"cron":"* * * * *","interval":60}}`, 400, "invalid_schedule"},
		{"cron a number", "POST", "/v1/tasks", `{"func":"f","schedule":{"cron":5}}`, 400, ""},
		// Unknown fields and wrong types, everywhere.
		{"unknown field in a batch task", "POST", "/v1/tasks", `{"tasks":[{"func":"f","colour":"red"}]}`, 400, ""},
		{"unknown field in fail", "POST", "/v1/tasks/a/fail", `{"attempt":1,"reason":"x"}`, 400, ""},
		{"null body", "POST", "/v1/tasks", `null`, 400, ""},
		{"array body", "POST", "/v1/tasks", `[{"func":"f"}]`, 400, ""},
		{"wrong type depends_on", "POST", "/v1/tasks", `{"func":"f","depends_on":"a"}`, 400, ""},
		{"wrong type depends_on item", "POST", "/v1/tasks", `{"func":"f","depends_on":[1]}`, 400, ""},
		{"wrong type queue_name", "POST", "/v1/tasks", `{"func":"f","queue_name":5}`, 400, ""},
		{"wrong type id", "POST", "/v1/tasks", `{"id":5,"func":"f"}`, 400, ""},
		{"wrong type retries", "POST", "/v1/tasks", `{"func":"f","retries":"3"}`, 400, ""},
		{"wrong type kwargs", "POST", "/v1/tasks", `{"func":"f","kwargs":[1]}`, 400, ""},
		{"wrong type schedule", "POST", "/v1/tasks", `{"func":"f","schedule":[]}`, 400, ""},
		{"wrong type paused", "POST", "/v1/tasks", `{"func":"f","schedule":{"paused":"yes"}}`, 400, ""},
		{"wrong type ttl", "POST", "/v1/tasks", `{"func":"f","ttl":true}`, 400, ""},
		{"wrong type tasks", "POST", "/v1/tasks", `{"tasks":{"func":"f"}}`, 400, ""},
		{"complete attempt fractional", "POST", "/v1/tasks/a/complete", `{"attempt":1.5}`, 400, ""},
		{"complete attempt negative", "POST", "/v1/tasks/a/complete", `{"attempt":-1}`, 400, ""},
		{"complete attempt huge", "POST", "/v1/tasks/a/complete", `{"attempt":1e100}`, 400, ""},
		{"fail error not a string", "POST", "/v1/tasks/a/fail", `{"attempt":1,"error":{"msg":"x"}}`, 400, ""},
		{"complete result nested too deep", "POST", "/v1/tasks/a/complete", `{"attempt":1,"result":` + nested(40) + `}`, 400, "invalid_args"},
		{"complete result oversized", "POST", "/v1/tasks/a/complete", `{"attempt":1,"result":"` + mib + `"}`, 413, ""},
		// Not UTF-8.
		{"non-UTF-8 func", "POST", "/v1/tasks", "{\"func\":\"f\xff\"}", 400, ""},
		{"non-UTF-8 id", "POST", "/v1/tasks", "{\"id\":\"\xc3\x28\",\"func\":\"f\"}", 400, ""},
		{"non-UTF-8 queue", "POST", "/v1/tasks", "{\"func\":\"f\",\"queue_name\":\"q\xfe\"}", 400, ""},
		{"non-UTF-8 arg", "POST", "/v1/tasks", "{\"func\":\"f\",\"args\":[\"\xed\xa0\x80\"]}", 400, ""},
		{"overlong UTF-8", "POST", "/v1/tasks", "{\"func\":\"\xc0\xaf\"}", 400, ""},
		{"non-UTF-8 kwargs key", "POST", "/v1/tasks", "{\"func\":\"f\",\"kwargs\":{\"\xff\":1}}", 400, ""},
		{"lone surrogate in func", "POST", "/v1/tasks", `{"func":"f\ud800"}`, 400, ""},
		{"lone low surrogate in args", "POST", "/v1/tasks", `{"func":"f","args":["\udc00x"]}`, 400, ""},
		{"reversed surrogate pair", "POST", "/v1/tasks", `{"func":"f","args":["\udc00\ud800"]}`, 400, ""},
		{"non-UTF-8 result", "POST", "/v1/tasks/a/complete", "{\"attempt\":1,\"result\":\"\xff\"}", 400, ""},
		{"lone surrogate in a failure", "POST", "/v1/tasks/a/fail", `{"attempt":1,"error":"\ud83d"}`, 400, ""},
		// Huge names.
		{"queue name of 129 bytes", "POST", "/v1/tasks", `{"func":"f","queue_name":"` + strings.Repeat("q", 129) + `"}`, 400, "invalid_queue_name"},
		{"queue name of 1 MiB", "POST", "/v1/tasks", `{"func":"f","queue_name":"` + strings.Repeat("q", 1<<20) + `"}`, 400, "invalid_queue_name"},
		{"dequeue huge queue", "POST", "/v1/queues/" + strings.Repeat("q", 10_000) + "/dequeue", "", 400, "invalid_queue_name"},
		{"id of 129 bytes", "POST", "/v1/tasks", `{"id":"` + strings.Repeat("i", 129) + `","func":"f"}`, 400, "invalid_id"},
		{"id of 1 MiB", "POST", "/v1/tasks", `{"id":"` + strings.Repeat("i", 1<<20) + `","func":"f"}`, 400, "invalid_id"},
		{"func of 257 bytes", "POST", "/v1/tasks", `{"func":"` + strings.Repeat("f", 257) + `"}`, 400, "invalid_func"},
		{"depends_on id of 1 MiB", "POST", "/v1/tasks", `{"func":"f","depends_on":["` + strings.Repeat("d", 1<<20) + `"]}`, 400, "unknown_dependency"},
		{"complete without attempt", "POST", "/v1/tasks/a/complete", `{"result":1}`, 400, ""},
		{"complete bad json", "POST", "/v1/tasks/a/complete", `{"attempt":`, 400, ""},
		{"complete unknown field", "POST", "/v1/tasks/a/complete", `{"attempt":1,"error":"x"}`, 400, ""},
		{"complete attempt string", "POST", "/v1/tasks/a/complete", `{"attempt":"1"}`, 400, ""},
		{"fail unknown field", "POST", "/v1/tasks/a/fail", `{"attempt":1,"result":2}`, 400, ""},
		{"heartbeat empty", "POST", "/v1/tasks/a/heartbeat", ``, 400, ""},
		{"complete oversized", "POST", "/v1/tasks/a/complete", `{"attempt":1,"result":"` + strings.Repeat("x", maxBody) + `"}`, 413, ""},
		{"dequeue bad wait", "POST", "/v1/queues/default/dequeue?wait=forever", "", 400, ""},
		{"dequeue negative wait", "POST", "/v1/queues/default/dequeue?wait=-1s", "", 400, ""},
		{"dequeue n zero", "POST", "/v1/queues/default/dequeue?n=0", "", 400, ""},
		{"dequeue n huge", "POST", "/v1/queues/default/dequeue?n=100000", "", 400, ""},
		{"dequeue unknown param", "POST", "/v1/queues/default/dequeue?limit=1", "", 400, ""},
		{"dequeue repeated param", "POST", "/v1/queues/default/dequeue?n=1&n=2", "", 400, ""},
		{"dequeue bad queue", "POST", "/v1/queues/a%20b/dequeue", "", 400, "invalid_queue_name"},
		{"pause a plain task", "POST", "/v1/schedules/a/pause", "", 400, "not_schedule"},
		{"wrong method", "PATCH", "/v1/tasks/a", `{}`, 405, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := td.head()
			rec := td.call(tc.method, tc.path, tc.body)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %.300s", rec.Code, tc.status, rec.Body)
			}
			var body client.ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error.Code == "" || body.Error.Message == "" {
				t.Fatalf("error body %.300s", rec.Body)
			}
			if tc.reason != "" && body.Error.Reason != tc.reason {
				t.Errorf("reason %q, want %q (%.300s)", body.Error.Reason, tc.reason, body.Error.Message)
			}
			if len(body.Error.Message) > 1024 {
				t.Errorf("a %d-byte message echoes the input instead of saying what to fix: %.300s…", len(body.Error.Message), body.Error.Message)
			}
			if after := td.head(); after != before {
				t.Errorf("log head moved %d -> %d", before, after)
			}
		})
	}
}

func TestAPIAuth(t *testing.T) {
	td := newTestServer(t, Config{Token: "s3cret"})
	for _, path := range []string{"/v1/stats", "/readyz", "/metrics", "/openapi.json", "/v1/tasks/a", "/nowhere"} {
		rec := td.call("GET", path, "")
		td.wantError(rec, http.StatusUnauthorized, client.CodeUnauthorized)
		if rec.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", path)
		}
		td.wantError(td.call("GET", path, "", "Authorization", "Bearer wrong"), http.StatusUnauthorized, client.CodeUnauthorized)
		td.wantError(td.call("GET", path, "", "Authorization", "Basic s3cret"), http.StatusUnauthorized, client.CodeUnauthorized)
		td.wantError(td.call("GET", path, "", "Authorization", "Bearer s3cret-and-more"), http.StatusUnauthorized, client.CodeUnauthorized)
	}
	td.want(td.call("GET", "/healthz", ""), http.StatusOK, nil)
	td.want(td.call("GET", "/v1/stats", "", "Authorization", "Bearer s3cret"), http.StatusOK, nil)
	td.want(td.call("GET", "/v1/stats", "", "Authorization", "bearer s3cret"), http.StatusOK, nil)
	before := td.head()
	td.wantError(td.call("POST", "/v1/tasks", `{"func":"f"}`), http.StatusUnauthorized, client.CodeUnauthorized)
	if td.head() != before {
		t.Error("an unauthorized enqueue was appended")
	}
}

// The OpenAPI document lists exactly the routes the server serves.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openapiDoc, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi version %q", doc.OpenAPI)
	}
	var documented, served []string
	for path, ops := range doc.Paths {
		for method := range ops {
			switch method {
			case "get", "put", "post", "delete", "patch", "head", "options", "trace":
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
	}
	for _, rt := range apiRoutes(newAPI(Config{}), http.NotFoundHandler()) {
		served = append(served, rt.pattern())
	}
	sort.Strings(documented)
	sort.Strings(served)
	if strings.Join(documented, "\n") != strings.Join(served, "\n") {
		t.Errorf("routes and openapi.json differ:\nserved:\n  %s\ndocumented:\n  %s",
			strings.Join(served, "\n  "), strings.Join(documented, "\n  "))
	}
	// Every $ref points at something the document defines.
	var all map[string]any
	_ = json.Unmarshal(openapiDoc, &all)
	for _, ref := range refsIn(all) {
		parts := strings.Split(strings.TrimPrefix(ref, "#/"), "/")
		var node any = all
		for _, p := range parts {
			m, _ := node.(map[string]any)
			node = m[p]
		}
		if node == nil {
			t.Errorf("dangling $ref %s", ref)
		}
	}
}

func refsIn(v any) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if s, ok := e.(string); ok && k == "$ref" {
				out = append(out, s)
			}
			out = append(out, refsIn(e)...)
		}
	case []any:
		for _, e := range v {
			out = append(out, refsIn(e)...)
		}
	}
	return out
}

// A server serves one engine: Attach refuses none and a second one, and
// the first stays served.
func TestAttachOnce(t *testing.T) {
	td := newTestServer(t, Config{})
	if err := td.Attach(nil); !errors.Is(err, ErrNoEngine) {
		t.Errorf("Attach(nil) = %v, want ErrNoEngine", err)
	}
	other, err := engine.Open(context.Background(), memory.New())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := td.Attach(other); !errors.Is(err, ErrAttached) {
		t.Errorf("a second Attach = %v, want ErrAttached", err)
	}
	if td.api.engine() != td.q {
		t.Error("the second Attach replaced the engine")
	}
	td.want(td.call("GET", "/readyz", ""), http.StatusOK, nil)
	td.Drain()
	td.wantError(td.call("GET", "/readyz", ""), http.StatusServiceUnavailable, client.CodeUnavailable)
}
