package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omniq/omniq/client"
	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/queue"
	"github.com/omniq/omniq/stores/memory"
)

// startTestServer serves a test server (newTestServer) on a loopback
// listener that checks every exchange against openapi.json, and returns
// it and the listener's URL.
func startTestServer(t *testing.T, cfg Config, opts ...engine.Option) (*testServer, string) {
	t.Helper()
	ts := newTestServer(t, cfg, opts...)
	return ts, checkedServer(t, ts.Server)
}

// newTestClient returns a client of url. Over plain HTTP its exchanges are
// checked against openapi.json on the client's side (checkingTransport);
// opts may replace the HTTP client.
func newTestClient(t *testing.T, url string, opts ...client.Option) *client.Client {
	t.Helper()
	if strings.HasPrefix(url, "http://") {
		opts = append([]client.Option{client.WithHTTPClient(&http.Client{Transport: newCheckingTransport(t)})}, opts...)
	}
	c, err := client.New(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

var sentinels = []struct {
	name string
	err  error
}{
	{"ErrNotFound", engine.ErrNotFound}, {"ErrStaleLease", engine.ErrStaleLease}, {"ErrClosed", engine.ErrClosed},
	{"ErrInvalidCron", engine.ErrInvalidCron}, {"ErrDuplicateID", engine.ErrDuplicateID}, {"ErrInvalidArgs", engine.ErrInvalidArgs},
	{"ErrNotSchedule", engine.ErrNotSchedule}, {"ErrInvalidQueueName", engine.ErrInvalidQueueName},
	{"ErrInvalidHandler", engine.ErrInvalidHandler}, {"ErrUnknownDependency", engine.ErrUnknownDependency},
	{"ErrInvalidMeta", engine.ErrInvalidMeta}, {"ErrInvalidArgument", engine.ErrInvalidArgument},
}

// errName names the most specific sentinel err matches.
func errName(err error) string {
	if err == nil {
		return "ok"
	}
	var names []string
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			names = append(names, s.name)
		}
	}
	if len(names) == 0 {
		return "unexpected: " + err.Error()
	}
	return strings.Join(names, "+")
}

// transcript drives q through the task API and writes down what it
// answers, leaving out what differs between runs (ids, times).
func transcript(t *testing.T, q queue.Queue) []string {
	ctx := context.Background()
	var out []string
	say := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }

	simple := &engine.Task{Func: "add", Args: []any{10, 20}, Kwargs: map[string]any{"scale": 1.5},
		Meta: map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}
	say("enqueue simple: %s %s id=%v", errName(q.Enqueue(ctx, simple)), simple.State, simple.ID != "")
	later := &engine.Task{ID: "later", Func: "f", Schedule: &engine.Schedule{RunAt: time.Now().Add(time.Hour)}}
	say("enqueue scheduled: %s %s", errName(q.Enqueue(ctx, later)), later.State)
	say("bad cron: %s", errName(q.Enqueue(ctx, &engine.Task{Func: "f", Schedule: &engine.Schedule{Cron: "nope"}})))
	say("duplicate id: %s", errName(q.Enqueue(ctx, &engine.Task{ID: "later", Func: "f"})))
	say("unencodable args: %s", errName(q.Enqueue(ctx, &engine.Task{Func: "f", Args: []any{make(chan int)}})))
	say("unknown dependency: %s", errName(q.Enqueue(ctx, &engine.Task{Func: "f", DependsOn: []string{"ghost"}})))
	say("bad meta: %s", errName(q.Enqueue(ctx, &engine.Task{Func: "f", Meta: map[string]string{"a key": "v"}})))

	task, err := q.Dequeue(ctx, "")
	if err != nil || task == nil {
		t.Fatalf("dequeue: %v %v", task, err)
	}
	say("dequeued: %s attempt=%d args=%s kwargs=%s meta=%v same=%v", task.Func, task.Attempt, typed(task.Args), typed(task.Kwargs), task.Meta, task.ID == simple.ID)
	say("heartbeat: %s", errName(q.Heartbeat(ctx, task)))
	stale := *task
	stale.Attempt = 2
	say("stale complete: %s", errName(q.Complete(ctx, &stale, 1)))
	say("complete: %s %s", errName(q.Complete(ctx, task, map[string]any{"sum": 30, "avg": 15.0})), task.State)
	got, err := q.GetTask(ctx, simple.ID)
	say("get: %s %s result=%s", errName(err), got.State, typed(got.Result))

	high := &engine.Task{Func: "high", QueueName: "hp", Priority: 10}
	low := &engine.Task{Func: "low", QueueName: "hp", Priority: 1}
	say("batch: %s %s %s", errName(q.EnqueueBatch(ctx, []*engine.Task{low, high})), low.State, high.State)
	first, _ := q.Dequeue(ctx, "hp")
	say("dequeue hp: %s", first.Func)
	say("fail: %s %s %q", errName(q.Fail(ctx, first, errors.New("boom"))), first.State, first.Error)

	say("delete: %s", errName(q.DeleteTask(ctx, simple.ID)))
	_, err = q.GetTask(ctx, simple.ID)
	say("get deleted: %s", errName(err))
	say("delete again: %s", errName(q.DeleteTask(ctx, simple.ID)))
	none, err := q.Dequeue(ctx, "empty")
	say("dequeue empty: %v %s", none == nil, errName(err))
	_, err = q.Dequeue(ctx, "a b")
	say("dequeue bad queue: %s", errName(err))

	say("pause: %s", errName(q.PauseSchedule(ctx, "later")))
	say("pause again: %s", errName(q.PauseSchedule(ctx, "later")))
	say("resume: %s", errName(q.ResumeSchedule(ctx, "later")))
	say("pause unknown: %s", errName(q.PauseSchedule(ctx, "ghost")))
	say("register empty: %s", errName(q.Register("", nil)))
	say("register: %s", errName(q.Register("f", func(context.Context, *engine.Task) (any, error) { return nil, nil })))
	say("register twice: %s", errName(q.Register("f", func(context.Context, *engine.Task) (any, error) { return nil, nil })))
	return out
}

// The client answers exactly as the embedded engine does, errors included.
func TestClientMatchesEmbeddedEngine(t *testing.T) {
	log := memory.New()
	defer log.Close()
	q, err := engine.Open(context.Background(), log)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	embedded := transcript(t, q)

	_, url := startTestServer(t, Config{})
	remote := transcript(t, newTestClient(t, url))

	if !reflect.DeepEqual(embedded, remote) {
		t.Errorf("embedded and remote differ:\n%s", diffLines(embedded, remote))
	}
	if want := "args=[int64(10) int64(20)] kwargs={scale:float64(1.5)} meta=map[traceparent:00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01]"; !strings.Contains(strings.Join(remote, "\n"), want) {
		t.Errorf("remote transcript lacks %q:\n%s", want, strings.Join(remote, "\n"))
	}
}

// typed renders v with the Go type of every scalar in it.
func typed(v any) string {
	switch v := v.(type) {
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = typed(e)
		}
		return "[" + strings.Join(parts, " ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + ":" + typed(v[k])
		}
		return "{" + strings.Join(parts, " ") + "}"
	}
	return fmt.Sprintf("%T(%v)", v, v)
}

func diffLines(a, b []string) string {
	var sb strings.Builder
	for i := 0; i < max(len(a), len(b)); i++ {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		mark := "  "
		if x != y {
			mark = "! "
		}
		fmt.Fprintf(&sb, "%sembedded: %s\n%s  remote: %s\n", mark, x, mark, y)
	}
	return sb.String()
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestClientWork(t *testing.T) {
	_, url := startTestServer(t, Config{})
	c := newTestClient(t, url, client.WithPollWait(2*time.Second))
	ctx := context.Background()
	if err := c.Register("add", func(ctx context.Context, t *engine.Task) (any, error) {
		return t.Args[0].(int64) + t.Args[1].(int64), nil
	}); err != nil {
		t.Fatal(err)
	}
	_ = c.Register("panic", func(context.Context, *engine.Task) (any, error) { panic("kaboom") })
	_ = c.Register("flaky", func(ctx context.Context, t *engine.Task) (any, error) {
		if t.Attempt == 1 {
			return nil, errors.New("first try fails")
		}
		return "ok", nil
	})

	wctx, stop := context.WithCancel(ctx)
	worked := make(chan error, 1)
	go func() {
		worked <- c.Work(wctx, engine.WorkOptions{Queues: []string{"default", "other"}, Concurrency: 4})
	}()

	var adds []*engine.Task
	for i := 0; i < 20; i++ {
		tk := &engine.Task{Func: "add", Args: []any{i, 100}}
		if i%2 == 1 {
			tk.QueueName = "other"
		}
		if err := c.Enqueue(ctx, tk); err != nil {
			t.Fatal(err)
		}
		adds = append(adds, tk)
	}
	boom := &engine.Task{Func: "panic"}
	orphan := &engine.Task{Func: "nobody-handles-this"}
	flaky := &engine.Task{Func: "flaky", Retries: 1}
	for _, tk := range []*engine.Task{boom, orphan, flaky} {
		if err := c.Enqueue(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	all := append(append([]*engine.Task{}, adds...), boom, orphan, flaky)
	// flaky's retry waits ~1s of backoff (the engine's default).
	waitFor(t, 15*time.Second, "every task to finish", func() bool {
		for _, tk := range all {
			got, err := c.GetTask(ctx, tk.ID)
			if err != nil || !got.State.Terminal() {
				return false
			}
		}
		return true
	})
	for i, tk := range adds {
		got, _ := c.GetTask(ctx, tk.ID)
		if got.State != engine.StateCompleted || got.Result != int64(i+100) {
			t.Errorf("add %d: %s %v", i, got.State, got.Result)
		}
	}
	if got, _ := c.GetTask(ctx, boom.ID); got.State != engine.StateFailed || !strings.Contains(got.Error, "handler panic: kaboom") {
		t.Errorf("panicking handler: %s %q", got.State, got.Error)
	}
	if got, _ := c.GetTask(ctx, orphan.ID); got.State != engine.StateFailed || !strings.Contains(got.Error, "no handler") {
		t.Errorf("unhandled func: %s %q", got.State, got.Error)
	}
	if got, _ := c.GetTask(ctx, flaky.ID); got.State != engine.StateCompleted || got.Attempt != 2 || got.Result != "ok" {
		t.Errorf("flaky: %s attempt %d %v", got.State, got.Attempt, got.Result)
	}

	stop()
	workReturned(t, worked, 5*time.Second)
}

// workReturned waits up to timeout for the Work call whose error comes on
// worked to return after its context ended, and for it to return nil.
func workReturned(t *testing.T, worked <-chan error, timeout time.Duration) {
	t.Helper()
	select {
	case err := <-worked:
		if err != nil {
			t.Errorf("Work returned %v", err)
		}
	case <-time.After(timeout):
		t.Fatal("Work did not return after its context ended")
	}
}

// A remote handler's context ends when its lease does, and heartbeats
// keep it alive.
func TestClientWorkLeases(t *testing.T) {
	_, url := startTestServer(t, Config{}, engine.WithLeaseTimeout(time.Second))
	c := newTestClient(t, url, client.WithPollWait(time.Second))
	ctx := context.Background()
	var expired atomic.Bool
	_ = c.Register("hang", func(ctx context.Context, _ *engine.Task) (any, error) {
		select {
		case <-ctx.Done():
			expired.Store(true)
			return nil, ctx.Err()
		case <-time.After(20 * time.Second):
			return nil, errors.New("the lease never ran out")
		}
	})
	var beatErr error
	var beatOnce sync.Once
	_ = c.Register("beat", func(hctx context.Context, t *engine.Task) (any, error) {
		end := time.Now().Add(2500 * time.Millisecond) // 2.5 lease timeouts
		for time.Now().Before(end) {
			if err := c.Heartbeat(ctx, t); err != nil {
				beatOnce.Do(func() { beatErr = err })
				return nil, err
			}
			select {
			case <-hctx.Done():
				return nil, errors.New("context cancelled despite heartbeats")
			case <-time.After(200 * time.Millisecond):
			}
		}
		return "alive", nil
	})
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = c.Work(wctx, engine.WorkOptions{Concurrency: 2}) }()

	hang := &engine.Task{Func: "hang"}
	beat := &engine.Task{Func: "beat"}
	if err := c.EnqueueBatch(ctx, []*engine.Task{hang, beat}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "both tasks to finish", func() bool {
		h, _ := c.GetTask(ctx, hang.ID)
		b, _ := c.GetTask(ctx, beat.ID)
		return h != nil && b != nil && h.State.Terminal() && b.State.Terminal()
	})
	if !expired.Load() {
		t.Error("the hanging handler's context was not cancelled at lease expiry")
	}
	if h, _ := c.GetTask(ctx, hang.ID); h.State != engine.StateFailed {
		t.Errorf("hang: %s %q", h.State, h.Error)
	}
	if b, _ := c.GetTask(ctx, beat.ID); b.State != engine.StateCompleted || b.Result != "alive" {
		t.Errorf("beat: %s %v %q (heartbeat error %v)", b.State, b.Result, b.Error, beatErr)
	}
}

func TestClientErrorsFromServer(t *testing.T) {
	ctx := context.Background()
	_, url := startTestServer(t, Config{Token: "tok"})
	if _, err := newTestClient(t, url).Stats(ctx); !errors.Is(err, client.ErrUnauthorized) {
		t.Errorf("no token: %v", err)
	}
	if _, err := newTestClient(t, url, client.WithToken("nope")).Stats(ctx); !errors.Is(err, client.ErrUnauthorized) {
		t.Errorf("wrong token: %v", err)
	}
	c := newTestClient(t, url, client.WithToken("tok"))
	if _, err := c.Stats(ctx); err != nil {
		t.Errorf("right token: %v", err)
	}
	var apiErr *client.Error
	if _, err := c.GetTask(ctx, "ghost"); !errors.As(err, &apiErr) || apiErr.Status != 404 || apiErr.Code != client.CodeNotFound {
		t.Errorf("get ghost: %#v", err)
	}

	// Before the engine has opened, the API is unavailable.
	early := New(nil, Config{})
	earlyClient := newTestClient(t, checkedServer(t, early))
	if _, err := earlyClient.Stats(ctx); !errors.Is(err, client.ErrUnavailable) {
		t.Errorf("before open: %v", err)
	}
	attachTestEngine(t, early)
	if _, err := earlyClient.Stats(ctx); err != nil {
		t.Errorf("after open: %v", err)
	}

	// Nobody listening: a transport error, not an API error.
	dead := newTestClient(t, "http://127.0.0.1:1")
	if _, err := dead.GetTask(ctx, "x"); err == nil || errors.As(err, &apiErr) {
		t.Errorf("dead server: %v", err)
	}
}

func TestClientDequeueWaitAndHistory(t *testing.T) {
	ctx := context.Background()
	_, url := startTestServer(t, Config{})
	c := newTestClient(t, url)
	tasks, err := c.DequeueWait(ctx, "q", 3, 20*time.Millisecond)
	if err != nil || len(tasks) != 0 {
		t.Fatalf("empty queue: %v %v", tasks, err)
	}
	for i := 0; i < 5; i++ {
		if err := c.Enqueue(ctx, &engine.Task{Func: "f", QueueName: "q", Priority: i}); err != nil {
			t.Fatal(err)
		}
	}
	tasks, err = c.DequeueWait(ctx, "q", 3, time.Second)
	if err != nil || len(tasks) != 3 || tasks[0].Priority != 4 || tasks[2].Priority != 2 {
		t.Fatalf("dequeue 3: %v %v", tasks, err)
	}
	if err := c.Complete(ctx, tasks[0], []any{1, "two", 3.0}); err != nil {
		t.Fatal(err)
	}
	if tasks[0].State != engine.StateCompleted || !reflect.DeepEqual(tasks[0].Result, []any{int64(1), "two", 3.0}) {
		t.Errorf("completed task: %s %#v", tasks[0].State, tasks[0].Result)
	}
	evs, err := c.History(ctx, tasks[0].ID)
	if err != nil || len(evs) != 3 || evs[0].Type != "task.enqueued" || evs[1].Type != "task.leased" || evs[2].Type != "task.completed" {
		t.Fatalf("history: %+v %v", evs, err)
	}
	if evs[1].Payload["attempt"] != int64(1) || evs[0].Position >= evs[2].Position {
		t.Errorf("history payloads: %+v", evs)
	}
	st, err := c.Stats(ctx)
	if err != nil || st.Queues["q"][engine.StateCompleted] != 1 || st.Queues["q"][engine.StateRunning] != 2 || st.Queues["q"][engine.StatePending] != 2 {
		t.Errorf("stats: %+v %v", st, err)
	}
}
