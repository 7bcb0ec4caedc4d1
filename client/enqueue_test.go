package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omniq/omniq/queue"
)

// fakeEnqueueServer answers POST /v1/tasks as omniqd does, one task or a
// batch, naming each task "id-<func>". A task whose func starts with "bad"
// is refused (400), and a batch holding one is refused whole; a body over
// maxBody bytes is answered 413. Each request's task count is recorded,
// and hold, when set, is called before a request is answered.
type fakeEnqueueServer struct {
	mu       sync.Mutex
	requests []int // tasks in each request, in arrival order
	maxBody  int
	hold     func(tasks int)
}

func (f *fakeEnqueueServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(r.Body)
	var body json.RawMessage
	if err := dec.Decode(&body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if f.maxBody > 0 && len(body) > f.maxBody {
		writeFakeError(w, http.StatusRequestEntityTooLarge, "payload_too_large")
		return
	}
	var specs []TaskSpec
	batch := json.Unmarshal(body, &raw) == nil && raw["tasks"] != nil
	if batch {
		var b Batch
		if err := json.Unmarshal(body, &b); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		specs = b.Tasks
	} else {
		var s TaskSpec
		if err := json.Unmarshal(body, &s); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		specs = []TaskSpec{s}
	}
	f.mu.Lock()
	f.requests = append(f.requests, len(specs))
	hold := f.hold
	f.mu.Unlock()
	if hold != nil {
		hold(len(specs))
	}
	tasks := make([]Task, len(specs))
	for i, s := range specs {
		if strings.HasPrefix(s.Func, "bad") {
			writeFakeError(w, http.StatusBadRequest, "invalid_argument")
			return
		}
		tasks[i] = Task{TaskSpec: s, TaskInfo: TaskInfo{State: "pending"}}
		tasks[i].ID = "id-" + s.Func
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	if batch {
		_ = json.NewEncoder(w).Encode(TaskList{Tasks: tasks})
	} else {
		_ = json.NewEncoder(w).Encode(tasks[0])
	}
}

func writeFakeError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"code":%q,"message":"refused"}}`, code)
}

func (f *fakeEnqueueServer) seen() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.requests...)
}

// fillRequests starts gatherInFlight calls that the server holds until
// the returned release is called (at the latest when the test ends), and
// waits until they all are in flight.
func fillRequests(t *testing.T, c *Client, f *fakeEnqueueServer, done *sync.WaitGroup) (release func()) {
	t.Helper()
	held := make(chan struct{})
	release = sync.OnceFunc(func() { close(held) })
	t.Cleanup(release)
	arrived := make(chan struct{}, gatherInFlight)
	f.mu.Lock()
	holding := 0
	f.hold = func(int) {
		f.mu.Lock()
		mine := holding < gatherInFlight
		holding++
		f.mu.Unlock()
		if mine {
			arrived <- struct{}{}
			<-held
		}
	}
	f.mu.Unlock()
	for i := range gatherInFlight {
		done.Go(func() {
			task := &queue.Task{Func: fmt.Sprintf("held%d", i)}
			if err := c.Enqueue(context.Background(), task); err != nil || task.ID != "id-"+task.Func {
				t.Errorf("held call %d: id %q, %v", i, task.ID, err)
			}
		})
	}
	for range gatherInFlight {
		<-arrived
	}
	return release
}

// waitWaiting waits until n calls wait to be gathered.
func waitWaiting(t *testing.T, c *Client, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.gather.mu.Lock()
		got := len(c.gather.waiting)
		c.gather.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls waiting, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func newFakeClient(t *testing.T, f *fakeEnqueueServer, opts ...Option) *Client {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Calls made while the client's requests are all in flight go together in
// one request once one of them finishes, and each gets its own task back.
func TestEnqueueGathersConcurrentCalls(t *testing.T) {
	f := &fakeEnqueueServer{}
	c := newFakeClient(t, f)
	var wg sync.WaitGroup
	release := fillRequests(t, c, f, &wg)
	const waiting = 5
	tasks := make([]*queue.Task, waiting)
	errs := make([]error, waiting)
	for i := range tasks {
		tasks[i] = &queue.Task{Func: fmt.Sprintf("w%d", i)}
		wg.Go(func() { errs[i] = c.Enqueue(context.Background(), tasks[i]) })
	}
	waitWaiting(t, c, waiting)
	release()
	wg.Wait()
	for i, task := range tasks {
		if errs[i] != nil || task.ID != "id-"+task.Func || task.State != queue.StatePending {
			t.Errorf("call %d: id %q state %q, %v", i, task.ID, task.State, errs[i])
		}
	}
	got := f.seen()
	want := append(make([]int, gatherInFlight), waiting)
	for i := range gatherInFlight {
		want[i] = 1
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("tasks per request %v, want %v", got, want)
	}
}

// A gathered batch the server refuses is sent again call by call: a bad
// task fails only its own call, with the error it would have had alone.
func TestEnqueueRefusedBatchSendsEachAlone(t *testing.T) {
	f := &fakeEnqueueServer{}
	c := newFakeClient(t, f)
	var wg sync.WaitGroup
	release := fillRequests(t, c, f, &wg)
	funcs := []string{"a", "bad", "b"}
	errs := make([]error, len(funcs))
	tasks := make([]*queue.Task, len(funcs))
	for i, fn := range funcs {
		tasks[i] = &queue.Task{Func: fn}
		wg.Go(func() { errs[i] = c.Enqueue(context.Background(), tasks[i]) })
	}
	waitWaiting(t, c, len(funcs))
	release()
	wg.Wait()
	for i, fn := range funcs {
		if fn == "bad" {
			if !errors.Is(errs[i], queue.ErrInvalidArgument) || tasks[i].ID != "" {
				t.Errorf("bad task: id %q, err %v; want ErrInvalidArgument", tasks[i].ID, errs[i])
			}
			continue
		}
		if errs[i] != nil || tasks[i].ID != "id-"+fn {
			t.Errorf("task %s: id %q, %v", fn, tasks[i].ID, errs[i])
		}
	}
	// The held requests, the refused batch, then each of its tasks alone.
	got := f.seen()
	if len(got) != gatherInFlight+1+len(funcs) || got[gatherInFlight] != len(funcs) {
		t.Fatalf("tasks per request %v: want %d single, one batch of %d, %d single", got, gatherInFlight, len(funcs), len(funcs))
	}
}

// A 413 for a gathered batch, whose tasks then land each alone, halves the
// client's batch size in bytes. A 413 that one task gets alone too is that
// task's payload, not the batch's size: the bound stays, and only that
// call fails.
func TestEnqueueTooLarge(t *testing.T) {
	// round enqueues four tasks, gathered into one batch over the fake
	// server's 200 bytes, with args(i) as task i's args; it returns each
	// call's error and the client's bound after.
	round := func(args func(i int) []any) ([]error, int) {
		f := &fakeEnqueueServer{maxBody: 200}
		c := newFakeClient(t, f)
		var wg sync.WaitGroup
		release := fillRequests(t, c, f, &wg)
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() {
				task := &queue.Task{Func: fmt.Sprintf("t%d", i), Args: args(i)}
				if errs[i] = c.Enqueue(context.Background(), task); errs[i] == nil && task.ID != "id-"+task.Func {
					errs[i] = fmt.Errorf("task %d got id %q", i, task.ID)
				}
			})
		}
		waitWaiting(t, c, len(errs))
		release()
		wg.Wait()
		c.gather.mu.Lock()
		defer c.gather.mu.Unlock()
		return errs, c.gather.maxBytes
	}

	errs, limit := round(func(int) []any { return []any{strings.Repeat("x", 60)} })
	if err := errors.Join(errs...); err != nil {
		t.Errorf("tasks of a batch too large: %v", err)
	}
	if limit == 0 || limit >= gatherMaxBytes {
		t.Errorf("batch limit %d after a batch's 413, want it lowered", limit)
	}

	errs, limit = round(func(i int) []any {
		if i == 0 {
			return []any{strings.Repeat("x", 300)}
		}
		return nil
	})
	if !errors.Is(errs[0], queue.ErrPayloadTooLarge) {
		t.Errorf("the task too large alone: %v, want ErrPayloadTooLarge", errs[0])
	}
	if err := errors.Join(errs[1:]...); err != nil {
		t.Errorf("the other tasks: %v", err)
	}
	if limit != 0 {
		t.Errorf("batch limit %d after a task's own 413, want it unchanged", limit)
	}
}

// A call whose ctx ends while it waits to be gathered is withdrawn: its
// task is never sent.
func TestEnqueueWithdrawnWhileWaiting(t *testing.T) {
	f := &fakeEnqueueServer{}
	c := newFakeClient(t, f)
	var wg sync.WaitGroup
	release := fillRequests(t, c, f, &wg)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- c.Enqueue(ctx, &queue.Task{Func: "gone"}) }()
	waitWaiting(t, c, 1)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("withdrawn call: %v, want context.Canceled", err)
	}
	waitWaiting(t, c, 0)
	release()
	wg.Wait()
	if got := f.seen(); len(got) != gatherInFlight {
		t.Fatalf("tasks per request %v: the withdrawn task was sent", got)
	}
	// The slots are free again: a new call goes at once.
	if err := c.Enqueue(context.Background(), &queue.Task{Func: "after"}); err != nil {
		t.Fatal(err)
	}
}

// With gathering off every call is a request of its own.
func TestEnqueueGatheringOff(t *testing.T) {
	f := &fakeEnqueueServer{}
	c := newFakeClient(t, f, WithEnqueueGathering(false))
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			if err := c.Enqueue(context.Background(), &queue.Task{Func: fmt.Sprintf("f%d", i)}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, n := range f.seen() {
		if n != 1 {
			t.Fatalf("tasks per request %v, want one each", f.seen())
		}
	}
}
