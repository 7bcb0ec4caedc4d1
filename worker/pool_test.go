package worker_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omniq/omniq/queue"
	"github.com/omniq/omniq/worker"
)

// source is an in-memory Source: a backlog of tasks, the outcomes recorded
// per task id, and requests that fail while fail says so.
type source struct {
	mu       sync.Mutex
	backlog  []*queue.Task
	recorded map[string]int
	requests int
	fail     func(request int, outcomes int) error // nil: none fails
	all      chan struct{}                         // closed once every task has an outcome
	want     int
	out      int // tasks leased and not yet recorded
	mostOut  int // the most out at once
}

func newSource(n int) *source {
	s := &source{recorded: map[string]int{}, all: make(chan struct{}), want: n}
	for i := range n {
		s.backlog = append(s.backlog, &queue.Task{ID: fmt.Sprintf("t%d", i), Func: "f", Attempt: 1})
	}
	return s
}

func (s *source) FinishBatch(ctx context.Context, outcomes []queue.Outcome, queues []string, n int, wait time.Duration) ([]error, []*queue.Task, error) {
	s.mu.Lock()
	s.requests++
	if s.fail != nil {
		if err := s.fail(s.requests, len(outcomes)); err != nil {
			s.mu.Unlock()
			return nil, nil, err // nothing recorded, nothing leased
		}
	}
	for _, o := range outcomes {
		s.recorded[o.Task.ID]++
	}
	s.out -= len(outcomes)
	if len(s.recorded) == s.want && len(outcomes) > 0 {
		select {
		case <-s.all:
		default:
			close(s.all)
		}
	}
	k := min(n, len(s.backlog))
	leased := s.backlog[:k:k]
	s.backlog = s.backlog[k:]
	s.out += k
	s.mostOut = max(s.mostOut, s.out)
	s.mu.Unlock()
	if k == 0 && wait > 0 {
		select { // an idle long-poll: nothing comes
		case <-ctx.Done():
		case <-time.After(min(wait, 5*time.Millisecond)):
		}
	}
	return make([]error, len(outcomes)), leased, nil
}

// run runs a pool of concurrency over s until every task has an outcome,
// and returns Run's error and the most handlers that ran at once.
func run(t *testing.T, s *source, concurrency int, fatal func(error) bool) (error, int32) {
	return runFor(t, s, concurrency, fatal, 100*time.Microsecond)
}

// runFor is run with handlers that take took each.
func runFor(t *testing.T, s *source, concurrency int, fatal func(error) bool, took time.Duration) (error, int32) {
	t.Helper()
	var running, most atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- worker.Run(ctx, worker.Config{
			Source: s, Queues: []string{queue.DefaultQueue}, Concurrency: concurrency, Wait: time.Second, Fatal: fatal,
			Run: func(task *queue.Task, _ time.Time) queue.Outcome {
				n := running.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				time.Sleep(took)
				running.Add(-1)
				return queue.Outcome{Task: task, Result: task.ID}
			},
		})
	}()
	select {
	case <-s.all:
		cancel()
	case err := <-done:
		return err, most.Load()
	case <-time.After(20 * time.Second):
		t.Fatal("the pool did not finish the backlog")
	}
	return <-done, most.Load()
}

// TestPoolRunsEveryTaskOnce: every leased task runs and its outcome is
// recorded once, with at most Concurrency handlers at a time, and Run
// returns nil when ctx ends.
func TestPoolRunsEveryTaskOnce(t *testing.T) {
	s := newSource(2000)
	err, most := run(t, s, 8, nil)
	if err != nil {
		t.Fatal(err)
	}
	if most > 8 || most < 1 {
		t.Fatalf("%d handlers ran at once with a concurrency of 8", most)
	}
	for id, n := range s.recorded {
		if n != 1 {
			t.Fatalf("task %s: %d outcomes recorded", id, n)
		}
	}
	if s.requests >= 2*2000 {
		t.Fatalf("%d requests for 2000 tasks: outcomes and leases are not batched", s.requests)
	}
}

// TestPoolResendsAfterAFailedRequest: outcomes of a request that failed as
// a whole are sent again, so none is lost.
func TestPoolResendsAfterAFailedRequest(t *testing.T) {
	s := newSource(300)
	failures := 0
	s.fail = func(request, outcomes int) error {
		if outcomes > 0 && failures < 3 {
			failures++
			return errors.New("injected: the source is unavailable")
		}
		return nil
	}
	err, _ := run(t, s, 4, func(error) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	if failures != 3 || len(s.recorded) != 300 {
		t.Fatalf("%d failures injected, %d of 300 tasks recorded", failures, len(s.recorded))
	}
}

// TestPoolEndsOnAFatalError: an error Fatal accepts ends the pool, returned
// once the running handlers are done.
func TestPoolEndsOnAFatalError(t *testing.T) {
	s := newSource(100)
	errGone := errors.New("injected: closed")
	s.fail = func(request, outcomes int) error {
		if outcomes > 0 {
			return errGone
		}
		return nil
	}
	err, _ := run(t, s, 4, func(err error) bool { return errors.Is(err, errGone) })
	if !errors.Is(err, errGone) {
		t.Fatalf("Run = %v, want the fatal error", err)
	}
}

// TestPoolLeasesAheadWhileHandlersAreQuick: with quick handlers the pool
// holds up to Concurrency tasks beyond its running ones, never running more
// than Concurrency; with slow handlers it leases only for free slots.
func TestPoolLeasesAheadWhileHandlersAreQuick(t *testing.T) {
	s := newSource(3000)
	err, most := runFor(t, s, 8, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if most > 8 || s.mostOut <= 8 || s.mostOut > 16 {
		t.Fatalf("quick handlers: %d ran at once and %d tasks were out at once, want at most 8 and 9 to 16", most, s.mostOut)
	}
	for id, n := range s.recorded {
		if n != 1 {
			t.Fatalf("task %s: %d outcomes recorded", id, n)
		}
	}

	s = newSource(200)
	if err, _ := runFor(t, s, 8, nil, 5*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if s.mostOut > 8 {
		t.Fatalf("slow handlers: %d tasks were out at once with a concurrency of 8", s.mostOut)
	}
}
