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
// per task id, and requests that fail while fail says so. With a lease,
// each leased task's lease runs out lease after it was leased or last
// heartbeated: the attempt expires and the task is put back as the next
// attempt, and a late outcome is refused as stale.
type source struct {
	mu       sync.Mutex
	backlog  []*queue.Task
	recorded map[string]int
	requests int
	fail     func(request int, outcomes int) error // nil: none fails
	all      chan struct{}                         // closed once every task has an outcome
	want     int
	out      int // tasks leased whose handler has not returned (see handled)
	mostOut  int // the most out at once: at most what the pool holds
	mostAsk  int // the most tasks one request asked for

	lease   time.Duration           // 0: leases do not run out
	leases  map[string]leaseOf      // current leases by task id
	beat    func(*queue.Task) error // nil: every current lease is extended
	beatErr error                   // when set, every heartbeat request fails whole
	beats   int                     // heartbeat requests
	beaten  int                     // leases extended
	refused map[string]int          // attempt refused by beat, by task id
	expired int                     // leases that ran out
	late    int                     // outcomes refused as stale
}

type leaseOf struct {
	attempt  int
	deadline time.Time
}

func newSource(n int) *source {
	s := &source{recorded: map[string]int{}, all: make(chan struct{}), want: n, leases: map[string]leaseOf{}, refused: map[string]int{}}
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
	s.mostAsk = max(s.mostAsk, n)
	s.expire()
	errs := make([]error, len(outcomes))
	for i, o := range outcomes {
		if s.lease > 0 {
			if l, ok := s.leases[o.Task.ID]; !ok || l.attempt != o.Task.Attempt {
				s.late++
				errs[i] = queue.ErrStaleLease
				continue
			}
			delete(s.leases, o.Task.ID)
		}
		s.recorded[o.Task.ID]++
	}
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
	if s.lease > 0 {
		now := time.Now()
		for _, t := range leased {
			t.UpdatedAt, t.LeaseDeadline = now, now.Add(s.lease)
			s.leases[t.ID] = leaseOf{t.Attempt, t.LeaseDeadline}
		}
	}
	s.mu.Unlock()
	if k == 0 && wait > 0 {
		select { // an idle long-poll: nothing comes
		case <-ctx.Done():
		case <-time.After(min(wait, 5*time.Millisecond)):
		}
	}
	return errs, leased, nil
}

// handled counts a handler that returned.
func (s *source) handled() {
	s.mu.Lock()
	s.out--
	s.mu.Unlock()
}

// expire ends the leases that ran out and puts their tasks back as the
// next attempt. REQUIRES: s.mu held.
func (s *source) expire() {
	now := time.Now()
	for id, l := range s.leases {
		if now.After(l.deadline) {
			s.expired++
			delete(s.leases, id)
			s.backlog = append(s.backlog, &queue.Task{ID: id, Func: "f", Attempt: l.attempt + 1})
		}
	}
}

func (s *source) HeartbeatBatch(ctx context.Context, tasks []*queue.Task) ([]error, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.beats++
	if s.beatErr != nil {
		return nil, s.beatErr
	}
	s.expire()
	errs := make([]error, len(tasks))
	now := time.Now()
	for i, t := range tasks {
		l, ok := s.leases[t.ID]
		if !ok || l.attempt != t.Attempt {
			errs[i] = queue.ErrStaleLease
			continue
		}
		if s.beat != nil {
			if errs[i] = s.beat(t); errs[i] != nil {
				if errors.Is(errs[i], queue.ErrStaleLease) {
					// The lease is lost: the task is leased again as
					// the next attempt.
					s.refused[t.ID] = t.Attempt
					delete(s.leases, t.ID)
					s.backlog = append(s.backlog, &queue.Task{ID: t.ID, Func: "f", Attempt: t.Attempt + 1})
				}
				continue
			}
		}
		s.beaten++
		t.UpdatedAt, t.LeaseDeadline = now, now.Add(s.lease)
		s.leases[t.ID] = leaseOf{t.Attempt, t.LeaseDeadline}
	}
	return errs, nil
}

// live reports whether task's lease is current and, give or take grace,
// has not run out.
func (s *source) live(task *queue.Task, grace time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.leases[task.ID]
	return ok && l.attempt == task.Attempt && time.Now().Before(l.deadline.Add(grace))
}

// run runs a pool of concurrency over s until every task has an outcome,
// and returns Run's error and the most handlers that ran at once.
func run(t *testing.T, s *source, concurrency int, fatal func(error) bool) (error, int32) {
	return runFor(t, s, concurrency, fatal, 100*time.Microsecond)
}

// runFor is run with handlers that take took each.
func runFor(t *testing.T, s *source, concurrency int, fatal func(error) bool, took time.Duration, opts ...func(*worker.Config)) (error, int32) {
	t.Helper()
	var running, most atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		cfg := worker.Config{
			Source: s, Queues: []string{queue.DefaultQueue}, Concurrency: concurrency, Wait: time.Second, Fatal: fatal,
			Run: func(task *queue.Task, _ time.Time) queue.Outcome {
				n := running.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				time.Sleep(took)
				running.Add(-1)
				s.handled()
				return queue.Outcome{Task: task, Result: task.ID}
			},
		}
		for _, o := range opts {
			o(&cfg)
		}
		done <- worker.Run(ctx, cfg)
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
// holds up to twice Concurrency tasks beyond its running ones, never running
// more than Concurrency nor asking for more than omniqd's bound in one
// request; with slow handlers it leases only for free slots.
func TestPoolLeasesAheadWhileHandlersAreQuick(t *testing.T) {
	s := newSource(3000)
	err, most := runFor(t, s, 8, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if most > 8 || s.mostOut <= 8 || s.mostOut > 3*8 {
		t.Fatalf("quick handlers: %d ran at once and %d tasks were held at once (running, waiting for a slot or being leased), want at most 8 and 9 to 24", most, s.mostOut)
	}
	if s.mostAsk > 8*3 {
		t.Fatalf("quick handlers: a request asked for %d tasks with a concurrency of 8", s.mostAsk)
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
		t.Fatalf("slow handlers: %d tasks were held at once with a concurrency of 8", s.mostOut)
	}

	s = newSource(20000)
	if err, most = runFor(t, s, 200, nil, 0); err != nil {
		t.Fatal(err)
	}
	if most > 200 || s.mostOut > 3*200 || s.mostAsk > 100 {
		t.Fatalf("concurrency 200: %d ran at once, %d tasks held at once, %d asked for in one request; want at most 200, 600, 100",
			most, s.mostOut, s.mostAsk)
	}
}

// TestPoolLeaseBounds: Config.LeaseAhead and Config.MaxLease move the
// bounds of leasing ahead: more tasks out than the default allows, never
// more than LeaseAhead times Concurrency, and no request asking for more
// than MaxLease.
func TestPoolLeaseBounds(t *testing.T) {
	s := newSource(6000)
	err, most := runFor(t, s, 8, nil, 0, func(c *worker.Config) { c.LeaseAhead, c.MaxLease = 8, 20 })
	if err != nil {
		t.Fatal(err)
	}
	if most > 8 || s.mostOut <= 3*8 || s.mostOut > 8*8 {
		t.Fatalf("LeaseAhead 8: %d ran at once and %d tasks were out at once, want at most 8 and 25 to 64", most, s.mostOut)
	}
	if s.mostAsk > 20 {
		t.Fatalf("MaxLease 20: a request asked for %d tasks", s.mostAsk)
	}
	for id, n := range s.recorded {
		if n != 1 {
			t.Fatalf("task %s: %d outcomes recorded", id, n)
		}
	}

	s = newSource(20000)
	if err, _ := runFor(t, s, 200, nil, 0, func(c *worker.Config) { c.LeaseAhead, c.MaxLease = 2, 300 }); err != nil {
		t.Fatal(err)
	}
	if s.mostOut > 2*200 || s.mostAsk > 300 || s.mostAsk <= 100 {
		t.Fatalf("LeaseAhead 2, MaxLease 300, concurrency 200: %d tasks out at once, %d asked for in one request; want at most 400, and 101 to 300",
			s.mostOut, s.mostAsk)
	}
}

// runTurningSlow runs a pool of concurrency over s, whose tasks t0 to
// t<quick-1> run at once and the others for slow each, until every task
// has an outcome. It returns how many handlers ran on a lease that was no
// longer current or had run out (give or take grace), and how many ran an
// attempt whose heartbeat s refused.
func runTurningSlow(t *testing.T, s *source, concurrency, quick int, slow time.Duration) (dead, ranRefused int) {
	t.Helper()
	const grace = 100 * time.Millisecond
	var deadRuns, refusedRuns atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- worker.Run(ctx, worker.Config{
			Source: s, Queues: []string{queue.DefaultQueue}, Concurrency: concurrency, Wait: time.Second,
			Run: func(task *queue.Task, _ time.Time) queue.Outcome {
				if !s.live(task, grace) {
					deadRuns.Add(1)
				}
				s.mu.Lock()
				if a, ok := s.refused[task.ID]; ok && a == task.Attempt {
					refusedRuns.Add(1)
				}
				s.mu.Unlock()
				var i int
				if _, err := fmt.Sscanf(task.ID, "t%d", &i); err != nil {
					t.Errorf("task id %q: %v", task.ID, err)
				}
				if i >= quick {
					time.Sleep(slow)
				}
				s.handled()
				return queue.Outcome{Task: task, Result: task.ID}
			},
		})
	}()
	select {
	case <-s.all:
		cancel()
	case err := <-done:
		t.Fatalf("Run = %v before every task had an outcome", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the pool did not finish the backlog")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return int(deadRuns.Load()), int(refusedRuns.Load())
}

// turningSlow runs runTurningSlow on new sources of 400 quick and 16 slow
// tasks with 1 s leases, set up by setup, with a pool of 4: check fails
// the test on what a run did, held reports whether the pool held tasks
// long enough for the run to tell. A handler slowed past quickHandler by a
// loaded machine can keep the pool from leasing ahead when the slow tasks
// come: the scenario is run again, at most three times in all.
func turningSlow(t *testing.T, slow time.Duration, setup func(*source), check func(s *source, dead, ranRefused int), held func(*source) bool) {
	t.Helper()
	const quick = 400
	for try := 1; ; try++ {
		s := newSource(quick + 16)
		s.lease = time.Second
		setup(s)
		dead, ranRefused := runTurningSlow(t, s, 4, quick, slow)
		s.mu.Lock()
		check(s, dead, ranRefused)
		ok := held(s)
		s.mu.Unlock()
		if ok {
			return
		}
		if try == 3 {
			t.Fatalf("in %d runs, the pool never held a task long enough (%d heartbeat requests, %d leases extended, %d refused, %d ran out)",
				try, s.beats, s.beaten, len(s.refused), s.expired)
		}
	}
}

// TestPoolExtendsHeldLeasesWhenHandlersTurnSlow: after quick handlers the
// pool holds tasks ahead of its slots; when handlers turn slow, those tasks
// wait for slots longer than their lease, and the pool extends their
// leases while they wait: none runs out, none runs on a dead lease.
func TestPoolExtendsHeldLeasesWhenHandlersTurnSlow(t *testing.T) {
	// A task held behind two rounds of 0.4 s handlers gets a slot 0.8 s
	// after it was leased and finishes 1.2 s after: past its 1 s lease
	// unless extended. One started at once finishes well inside it.
	turningSlow(t, 400*time.Millisecond, func(*source) {}, func(s *source, dead, _ int) {
		if s.expired != 0 || s.late != 0 || dead != 0 {
			t.Fatalf("%d leases ran out, %d outcomes came late, %d handlers ran on a dead lease (%d heartbeat requests extended %d leases)",
				s.expired, s.late, dead, s.beats, s.beaten)
		}
		for id, n := range s.recorded {
			if n != 1 {
				t.Fatalf("task %s: %d outcomes recorded", id, n)
			}
		}
	}, func(s *source) bool { return s.beaten > 0 })
}

// TestPoolDoesNotRunAHeldTaskWhoseLeaseIsLost: a held task whose heartbeat
// is refused as stale is dropped, not run; its next attempt runs.
func TestPoolDoesNotRunAHeldTaskWhoseLeaseIsLost(t *testing.T) {
	turningSlow(t, 400*time.Millisecond, func(s *source) {
		s.beat = func(task *queue.Task) error {
			var i int
			fmt.Sscanf(task.ID, "t%d", &i)
			if i%2 == 1 {
				return fmt.Errorf("injected: %w", queue.ErrStaleLease)
			}
			return nil
		}
	}, func(s *source, dead, ranRefused int) {
		if ranRefused != 0 || dead != 0 {
			t.Fatalf("%d handlers ran an attempt whose lease was lost (%d refused), %d ran on a dead lease", ranRefused, len(s.refused), dead)
		}
	}, func(s *source) bool { return len(s.refused) > 0 })
}

// TestPoolDropsAHeldTaskWhoseLeaseRanOut: while heartbeats fail, a held
// task whose lease runs out before it gets a slot is dropped, not run; its
// next attempt runs.
func TestPoolDropsAHeldTaskWhoseLeaseRanOut(t *testing.T) {
	// A task held behind two rounds of 0.6 s handlers would start 1.2 s
	// after it was leased, 0.2 s past its lease.
	turningSlow(t, 600*time.Millisecond, func(s *source) {
		s.beatErr = errors.New("injected: the source is unavailable")
	}, func(s *source, dead, _ int) {
		if dead != 0 {
			t.Fatalf("%d handlers ran on a dead lease (%d leases ran out)", dead, s.expired)
		}
	}, func(s *source) bool { return s.beats > 0 && s.expired > 0 })
}
