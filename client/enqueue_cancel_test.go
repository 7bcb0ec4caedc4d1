package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/omniq/omniq/queue"
)

// Gathered enqueues whose ctx ends, at the moments a goroutine can be
// caught at: the interleavings are forced with channels inside synctest
// bubbles (their clock is synctest's), not left to the scheduler.

// heldRequest is one enqueue request the heldTransport holds: the funcs of
// its tasks, answered once release is closed.
type heldRequest struct {
	funcs   []string
	release chan struct{}
}

// heldTransport is an in-process omniqd (fakeEnqueueServer) whose requests
// are announced on arrived and held until released, or until their
// context ends.
type heldTransport struct {
	server  fakeEnqueueServer
	arrived chan *heldRequest
}

func (h *heldTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	var one TaskSpec
	var batch Batch
	hr := &heldRequest{release: make(chan struct{})}
	if json.Unmarshal(body, &batch) == nil && batch.Tasks != nil {
		for _, s := range batch.Tasks {
			hr.funcs = append(hr.funcs, s.Func)
		}
	} else if json.Unmarshal(body, &one) == nil {
		hr.funcs = []string{one.Func}
	}
	select {
	case h.arrived <- hr:
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	select {
	case <-hr.release:
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	rec := httptest.NewRecorder()
	h.server.ServeHTTP(rec, httptest.NewRequest(r.Method, r.URL.String(), bytes.NewReader(body)))
	return rec.Result(), nil
}

func newHeldClient(t *testing.T) (*Client, *heldTransport) {
	t.Helper()
	tr := &heldTransport{arrived: make(chan *heldRequest)}
	c, err := New("http://omniq.test", WithHTTPClient(&http.Client{Transport: tr}))
	if err != nil {
		t.Fatal(err)
	}
	return c, tr
}

// occupy starts gatherInFlight calls whose requests the transport holds,
// so that further calls wait and gather; it returns those requests.
func occupy(c *Client, tr *heldTransport) []*heldRequest {
	held := make([]*heldRequest, gatherInFlight)
	for i := range held {
		go func() { _ = c.Enqueue(context.Background(), &queue.Task{Func: "held"}) }()
		held[i] = <-tr.arrived
	}
	return held
}

// gatheredBatch sets up a batch [lead follower], sent by the lead with
// lctx, the follower's ctx fctx, and held by the transport. It returns
// the batch's request, the request still holding the other slot, and the
// channels the two calls answer on.
func gatheredBatch(t *testing.T, lctx, fctx context.Context) (batch, other *heldRequest, lead, follower chan error) {
	t.Helper()
	c, tr := newHeldClient(t)
	held := occupy(c, tr)
	lead, follower = make(chan error, 1), make(chan error, 1)
	go func() { lead <- c.Enqueue(lctx, &queue.Task{Func: "lead"}) }()
	synctest.Wait()
	go func() { follower <- c.Enqueue(fctx, &queue.Task{Func: "follower"}) }()
	synctest.Wait()
	close(held[0].release)
	batch = <-tr.arrived
	if !slices.Equal(batch.funcs, []string{"lead", "follower"}) {
		t.Fatalf("gathered request %v, want [lead follower]", batch.funcs)
	}
	return batch, held[1], lead, follower
}

// The call that sends a gathered batch returns when its ctx ends, while
// the batch, which another call still waits for, is held by the server.
func TestEnqueueSenderReturnsWhenItsCtxEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lctx, cancel := context.WithCancel(context.Background())
		batch, other, lead, follower := gatheredBatch(t, lctx, context.Background())
		cancel()
		synctest.Wait()
		select {
		case err := <-lead:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("sender: %v, want context.Canceled", err)
			}
		default:
			t.Errorf("the sender is still blocked after its ctx ended: it waits for the batch the server holds")
		}
		close(batch.release)
		if err := <-follower; err != nil {
			t.Errorf("follower: %v", err)
		}
		close(other.release)
		synctest.Wait()
	})
}

// A sender whose deadline passes gets its own deadline's error, not the
// shared request's cancellation.
func TestEnqueueSenderGetsItsDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lctx, stop := context.WithTimeout(context.Background(), time.Second)
		defer stop()
		fctx, cancel := context.WithCancel(context.Background())
		_, other, lead, follower := gatheredBatch(t, lctx, fctx)
		cancel()
		if err := <-follower; !errors.Is(err, context.Canceled) {
			t.Errorf("follower: %v, want context.Canceled", err)
		}
		time.Sleep(2 * time.Second) // synctest's clock: the deadline passes
		if err := <-lead; !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("sender past its deadline: %v, want context.DeadlineExceeded", err)
		}
		close(other.release)
		synctest.Wait()
	})
}

// gatedCtx holds the first caller of Done until gate is closed: a call
// caught between joining the waiting calls and its select, as a
// preemption would leave it.
type gatedCtx struct {
	context.Context
	entered, gate chan struct{}
	first         atomic.Bool
}

func newGatedCtx() (*gatedCtx, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	return &gatedCtx{Context: ctx, entered: make(chan struct{}), gate: make(chan struct{})}, cancel
}

func (g *gatedCtx) Done() <-chan struct{} {
	if g.first.CompareAndSwap(false, true) {
		close(g.entered)
		<-g.gate
	}
	return g.Context.Done()
}

// A call whose ctx ended before its batch's request was made is left out
// of the request, and returns its ctx's error.
func TestEnqueueEndedCallLeftOutOfBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, tr := newHeldClient(t)
		held := occupy(c, tr)
		gctx, cancel := newGatedCtx()
		gone := make(chan error, 1)
		go func() { gone <- c.Enqueue(gctx, &queue.Task{Func: "gone"}) }()
		<-gctx.entered
		follower := make(chan error, 1)
		go func() { follower <- c.Enqueue(context.Background(), &queue.Task{Func: "f"}) }()
		synctest.Wait()
		cancel()
		close(held[0].release) // "gone" becomes the sender of [gone f]
		synctest.Wait()
		close(gctx.gate)
		synctest.Wait()
		b := <-tr.arrived
		if slices.Contains(b.funcs, "gone") {
			t.Errorf("request %v holds a task whose call's ctx ended while it waited", b.funcs)
		}
		close(b.release)
		if err := <-gone; !errors.Is(err, context.Canceled) {
			t.Errorf("call whose ctx ended: %v, want context.Canceled", err)
		}
		if err := <-follower; err != nil {
			t.Errorf("follower: %v", err)
		}
		close(held[1].release)
		synctest.Wait()
	})
}

// A call answered before it sees its ctx end returns the answer.
func TestEnqueueAnswerBeatsLateCancel(t *testing.T) {
	for range 32 { // the select it is caught before would pick either way
		synctest.Test(t, func(t *testing.T) {
			c, tr := newHeldClient(t)
			held := occupy(c, tr)
			lead := make(chan error, 1)
			go func() { lead <- c.Enqueue(context.Background(), &queue.Task{Func: "lead"}) }()
			synctest.Wait()
			gctx, cancel := newGatedCtx()
			follower := make(chan error, 1)
			go func() { follower <- c.Enqueue(gctx, &queue.Task{Func: "f"}) }()
			<-gctx.entered
			close(held[0].release)
			b := <-tr.arrived // [lead f]
			close(b.release)
			if err := <-lead; err != nil {
				t.Fatal(err)
			}
			synctest.Wait() // the request is over and both calls answered
			cancel()
			close(gctx.gate)
			if err := <-follower; err != nil {
				t.Errorf("a call answered before its ctx ended returned %v", err)
			}
			close(held[1].release)
			synctest.Wait()
		})
	}
}
