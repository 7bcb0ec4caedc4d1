package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omniq/omniq/client"
	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/wire"
)

// heartbeatsBody is a POST /v1/heartbeats body naming the leases of specs
// ("id:attempt" each).
func heartbeatsBody(specs ...string) string {
	items := make([]string, len(specs))
	for i, s := range specs {
		id, attempt, _ := strings.Cut(s, ":")
		items[i] = fmt.Sprintf(`{"id":%q,"attempt":%s}`, id, attempt)
	}
	return `{"heartbeats":[` + strings.Join(items, ",") + `]}`
}

// Every lease of a good batch is extended by the lease timeout, from the
// time of the one append that extends them all.
func TestHeartbeatsRoute(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clk := engine.NewManualClock(start)
	td := newTestServer(t, Config{}, engine.WithClock(clk), engine.WithLeaseTimeout(30*time.Second))
	for _, id := range []string{"a", "b", "c"} {
		td.enqueue(fmt.Sprintf(`{"id":%q,"func":"f"}`, id))
	}
	td.leaseAll("default", 3)
	clk.Advance(10 * time.Second)
	head := td.head()

	var got client.HeartbeatsAnswer
	td.want(td.call("POST", "/v1/heartbeats", heartbeatsBody("a:1", "b:1", "c:1")), http.StatusOK, &got)
	if len(got.Heartbeats) != 3 {
		t.Fatalf("answers %+v", got.Heartbeats)
	}
	now, deadline := start.Add(10*time.Second), start.Add(40*time.Second)
	for i, id := range []string{"a", "b", "c"} {
		h := got.Heartbeats[i]
		if h.Error != nil || !h.LeaseDeadline.Equal(deadline) || !h.UpdatedAt.Equal(now) {
			t.Errorf("%s: %+v, want deadline %s at %s", id, h, deadline, now)
		}
		var tk client.Task
		td.want(td.call("GET", "/v1/tasks/"+id, ""), http.StatusOK, &tk)
		if tk.State != "running" || tk.Attempt != 1 || !tk.LeaseDeadline.Equal(deadline) {
			t.Errorf("%s after the heartbeat: %s attempt %d, deadline %s", id, tk.State, tk.Attempt, tk.LeaseDeadline)
		}
	}
	// One append for the batch: the three heartbeats follow one another.
	if h := td.head(); h != head+3 {
		t.Errorf("the log moved from %d to %d, want 3 heartbeat events", head, h)
	}
	// The leases outlast the first deadline: nothing expires at it.
	clk.Advance(25 * time.Second)
	var a client.Task
	td.want(td.call("GET", "/v1/tasks/a", ""), http.StatusOK, &a)
	if a.State != "running" || a.Attempt != 1 {
		t.Errorf("a past its first deadline: %s attempt %d", a.State, a.Attempt)
	}
}

// A batch of good, stale and unknown leases extends the good ones and
// answers each other one with the error the single heartbeat gives it,
// changing nothing for it.
func TestHeartbeatsRouteMixed(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clk := engine.NewManualClock(start)
	td := newTestServer(t, Config{}, engine.WithClock(clk), engine.WithLeaseTimeout(30*time.Second))
	for _, id := range []string{"a", "b", "c", "d"} {
		td.enqueue(fmt.Sprintf(`{"id":%q,"func":"f"}`, id))
	}
	td.leaseAll("default", 3) // a, b, c at attempt 1; d pending
	td.want(td.call("POST", "/v1/tasks/b/complete", `{"attempt":1}`), http.StatusOK, nil)
	clk.Advance(10 * time.Second)

	specs := []string{"a:1", "b:1", "c:7", "nope:1", "d:1", "c:1"}
	var got client.HeartbeatsAnswer
	td.want(td.call("POST", "/v1/heartbeats", heartbeatsBody(specs...)), http.StatusOK, &got)
	if len(got.Heartbeats) != len(specs) {
		t.Fatalf("answers %+v", got.Heartbeats)
	}
	deadline := start.Add(40 * time.Second)
	for i, want := range []string{"", wire.CodeStaleLease, wire.CodeStaleLease, wire.CodeNotFound, wire.CodeStaleLease, ""} {
		h := got.Heartbeats[i]
		switch {
		case want == "" && (h.Error != nil || !h.LeaseDeadline.Equal(deadline)):
			t.Errorf("%s: %+v, want extended to %s", specs[i], h, deadline)
		case want != "" && (h.Error == nil || h.Error.Code != want || !h.LeaseDeadline.IsZero()):
			t.Errorf("%s: %+v, want %s", specs[i], h, want)
		}
		// The single heartbeat refuses the same lease with the same code.
		id, attempt, _ := strings.Cut(specs[i], ":")
		if want != "" {
			td.wantError(td.call("POST", "/v1/tasks/"+id+"/heartbeat", `{"attempt":`+attempt+`}`), wire.StatusOf(want), want)
		}
	}
	for id, want := range map[string]string{"b": "completed", "c": "running", "d": "pending"} {
		var tk client.Task
		td.want(td.call("GET", "/v1/tasks/"+id, ""), http.StatusOK, &tk)
		if tk.State != want || (id == "c") != !tk.LeaseDeadline.IsZero() {
			t.Errorf("%s: %s, deadline %s; want %s", id, tk.State, tk.LeaseDeadline, want)
		}
		if id == "c" && !tk.LeaseDeadline.Equal(deadline) {
			t.Errorf("c: deadline %s, want %s (extended once, by its current lease)", tk.LeaseDeadline, deadline)
		}
	}
}

// A request malformed as a whole is refused with 400 and appends nothing.
func TestHeartbeatsRouteBadInput(t *testing.T) {
	td := newTestServer(t, Config{})
	td.enqueue(`{"id":"a","func":"f"}`)
	td.leaseAll("default", 1) // a at attempt 1
	var tooMany []string
	for range wire.MaxHeartbeats + 1 {
		tooMany = append(tooMany, "a:1")
	}
	td.wantRefused("/v1/heartbeats",
		`{"heartbeats":[]}`,        // empty
		`{"heartbeats":null}`,      // none
		`{}`,                       // nor here
		heartbeatsBody(tooMany...), // past the bound
		`{"heartbeats":[{"id":"a","attempt":1},{"id":"a"}]}`,             // no attempt
		`{"heartbeats":[{"id":"a","attempt":1},{"id":"a","attempt":0}]}`, // attempt 0
		`{"heartbeats":[{"id":"a","attempt":1},{"attempt":1}]}`,          // no id
		`{"heartbeats":[{"id":"a","attempt":1,"extra":true}]}`,           // unknown field
		`{"heartbeats":[{"id":"a","attempt":1}],"extra":1}`,              // unknown field
		`{"heartbeats":{"id":"a","attempt":1}}`,                          // not an array
		`{"heartbeats":[{"id":"a","attempt":"1"}]}`,                      // attempt not a number
		`[]`,
		``,
	)
	// The bound itself is allowed: a lease named many times is extended.
	var got client.HeartbeatsAnswer
	td.want(td.call("POST", "/v1/heartbeats", heartbeatsBody(tooMany[1:]...)), http.StatusOK, &got)
	if len(got.Heartbeats) != wire.MaxHeartbeats || got.Heartbeats[0].Error != nil || got.Heartbeats[wire.MaxHeartbeats-1].Error != nil {
		t.Errorf("%d heartbeats at the bound: %d answers, first %+v", wire.MaxHeartbeats, len(got.Heartbeats), got.Heartbeats[0])
	}
}

// heartbeatRequests counts, of the requests h serves, the batch and the
// single heartbeats.
type heartbeatRequests struct {
	h             http.Handler
	batch, single atomic.Int64
}

func (c *heartbeatRequests) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/v1/heartbeats":
		c.batch.Add(1)
	case strings.HasSuffix(r.URL.Path, "/heartbeat"):
		c.single.Add(1)
	}
	c.h.ServeHTTP(w, r)
}

// The client's HeartbeatBatch extends many leases in one request, and
// fills each extended task's lease from the answer; a refused one gets its
// sentinel and keeps its fields.
func TestClientHeartbeatBatch(t *testing.T) {
	td := newTestServer(t, Config{}, engine.WithLeaseTimeout(time.Minute))
	counted := &heartbeatRequests{h: td.Server}
	c := newTestClient(t, checkedServer(t, counted))
	ctx := context.Background()
	const n = 50
	var specs []*engine.Task
	for i := range n {
		specs = append(specs, &engine.Task{ID: fmt.Sprintf("t%02d", i), Func: "f"})
	}
	if err := c.EnqueueBatch(ctx, specs); err != nil {
		t.Fatal(err)
	}
	var leased []*engine.Task
	for len(leased) < n {
		got, err := c.DequeueN(ctx, "", n-len(leased))
		if err != nil || len(got) == 0 {
			t.Fatalf("lease: %d tasks, %v", len(got), err)
		}
		leased = append(leased, got...)
	}
	before := make([]time.Time, n)
	for i, tk := range leased {
		before[i] = tk.LeaseDeadline
	}
	time.Sleep(5 * time.Millisecond) // the server's clock moves on: each extended deadline is later
	stale := &engine.Task{ID: leased[0].ID, Attempt: leased[0].Attempt + 1}
	tasks := append([]*engine.Task{stale, nil, {ID: "nope", Attempt: 1}}, leased...)
	counted.batch.Store(0)
	errs, err := c.HeartbeatBatch(ctx, tasks)
	if err != nil {
		t.Fatal(err)
	}
	if b, s := counted.batch.Load(), counted.single.Load(); b != 1 || s != 0 {
		t.Errorf("%d tasks took %d batch and %d single heartbeat requests, want one batch", len(tasks), b, s)
	}
	if len(errs) != len(tasks) || !errors.Is(errs[0], engine.ErrStaleLease) ||
		!errors.Is(errs[1], engine.ErrInvalidArgument) || !errors.Is(errs[2], engine.ErrNotFound) {
		t.Fatalf("errors %v", errs[:min(3, len(errs))])
	}
	if !stale.LeaseDeadline.IsZero() {
		t.Errorf("the stale lease got a deadline: %s", stale.LeaseDeadline)
	}
	for i, tk := range leased {
		if errs[3+i] != nil {
			t.Errorf("%s: %v", tk.ID, errs[3+i])
			continue
		}
		if !tk.LeaseDeadline.After(before[i]) || tk.LeaseDeadline.Sub(tk.UpdatedAt) != time.Minute {
			t.Errorf("%s: lease %s (at %s), was %s", tk.ID, tk.LeaseDeadline, tk.UpdatedAt, before[i])
		}
		got, err := c.GetTask(ctx, tk.ID)
		if err != nil || !got.LeaseDeadline.Equal(tk.LeaseDeadline) {
			t.Errorf("%s: the server has %v (%v), the client %s", tk.ID, got, err, tk.LeaseDeadline)
		}
	}
	// Nothing to send: no request.
	counted.batch.Store(0)
	if errs, err := c.HeartbeatBatch(ctx, []*engine.Task{nil}); err != nil || len(errs) != 1 || !errors.Is(errs[0], engine.ErrInvalidArgument) || counted.batch.Load() != 0 {
		t.Errorf("only a nil task: %v %v, %d requests", errs, err, counted.batch.Load())
	}
}

// Past the server's bound, HeartbeatBatch splits the tasks into as few
// requests as the bound allows.
func TestClientHeartbeatBatchSplits(t *testing.T) {
	td := newTestServer(t, Config{})
	counted := &heartbeatRequests{h: td.Server}
	c := newTestClient(t, checkedServer(t, counted))
	tasks := make([]*engine.Task, 2*wire.MaxHeartbeats+1)
	for i := range tasks {
		tasks[i] = &engine.Task{ID: fmt.Sprintf("gone-%d", i), Attempt: 1}
	}
	errs, err := c.HeartbeatBatch(context.Background(), tasks)
	if err != nil {
		t.Fatal(err)
	}
	if b := counted.batch.Load(); b != 3 {
		t.Errorf("%d tasks took %d requests, want 3", len(tasks), b)
	}
	for i, err := range errs {
		if !errors.Is(err, engine.ErrNotFound) {
			t.Fatalf("task %d: %v", i, err)
		}
	}
}

// BenchmarkClientHeartbeatBatch extends the leases of 100 tasks per
// operation through the client, over loopback HTTP.
func BenchmarkClientHeartbeatBatch(b *testing.B) {
	s := New(nil, Config{})
	_, q := attachTestEngine(b, s)
	srv := httptest.NewServer(s)
	b.Cleanup(srv.Close)
	c, err := client.New(srv.URL)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	const n = 100
	tasks := make([]*engine.Task, n)
	for i := range tasks {
		tasks[i] = &engine.Task{ID: fmt.Sprintf("t%03d", i), Func: "f"}
	}
	if err := q.EnqueueBatch(ctx, tasks); err != nil {
		b.Fatal(err)
	}
	leased, err := q.DequeueN(ctx, "", n)
	if err != nil || len(leased) != n {
		b.Fatalf("lease: %d tasks, %v", len(leased), err)
	}
	b.ReportAllocs()
	for b.Loop() {
		errs, err := c.HeartbeatBatch(ctx, leased)
		if err != nil || errs[n-1] != nil {
			b.Fatal(err, errs[n-1])
		}
	}
}
