package worker_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/omniq/omniq/queue"
	"github.com/omniq/omniq/worker"
)

// Held tasks and their leases, on synctest's clock: leases of 30 s, and
// waits of minutes that take no real time.

// pollSource leases its backlog for lease; its long poll waits for a task
// to be added (as the engine's and omniqd's do) and leases it then. Its
// heartbeats extend every lease, or fail whole with beatErr.
type pollSource struct {
	mu      sync.Mutex
	lease   time.Duration
	backlog []*queue.Task
	added   chan struct{}
	leased  map[string]time.Time
	beatErr error
	beatsAt []time.Time
}

func newPollSource(lease time.Duration, ids ...string) *pollSource {
	s := &pollSource{lease: lease, added: make(chan struct{}), leased: map[string]time.Time{}}
	for i := range 300 { // quick handlers: the pool leases ahead
		s.backlog = append(s.backlog, &queue.Task{ID: fmt.Sprintf("q%d", i), Func: "f", Attempt: 1})
	}
	for _, id := range ids {
		s.backlog = append(s.backlog, &queue.Task{ID: id, Func: "f", Attempt: 1})
	}
	return s
}

func (s *pollSource) add(t *queue.Task) {
	s.mu.Lock()
	s.backlog = append(s.backlog, t)
	s.mu.Unlock()
	s.added <- struct{}{}
}

func (s *pollSource) take(n int) []*queue.Task {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := min(n, len(s.backlog))
	leased := s.backlog[:k:k]
	s.backlog = s.backlog[k:]
	now := time.Now()
	for _, t := range leased {
		t.UpdatedAt, t.LeaseDeadline = now, now.Add(s.lease)
		s.leased[t.ID] = now
	}
	return leased
}

func (s *pollSource) FinishBatch(ctx context.Context, outcomes []queue.Outcome, queues []string, n int, wait time.Duration) ([]error, []*queue.Task, error) {
	leased := s.take(n)
	if len(leased) == 0 && n > 0 && wait > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		case <-s.added:
			leased = s.take(n)
		}
	}
	return make([]error, len(outcomes)), leased, nil
}

func (s *pollSource) HeartbeatBatch(ctx context.Context, tasks []*queue.Task) ([]error, error) {
	time.Sleep(10 * time.Millisecond) // a round trip
	s.mu.Lock()
	defer s.mu.Unlock()
	s.beatsAt = append(s.beatsAt, time.Now())
	if s.beatErr != nil {
		return nil, s.beatErr
	}
	now := time.Now()
	for _, t := range tasks {
		t.UpdatedAt, t.LeaseDeadline = now, now.Add(s.lease)
	}
	return make([]error, len(tasks)), nil
}

// runBlocked runs a pool of one slot on s until the task "block" has run
// and stop returns; "block" holds the slot until then. It returns the ids
// of the tasks whose handler ran.
func runBlocked(t *testing.T, s *pollSource, stop func()) map[string]bool {
	t.Helper()
	release := make(chan struct{})
	var mu sync.Mutex
	ran := map[string]bool{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- worker.Run(ctx, worker.Config{
			Source: s, Queues: []string{queue.DefaultQueue}, Concurrency: 1, Wait: time.Minute,
			Run: func(task *queue.Task, _ time.Time) queue.Outcome {
				mu.Lock()
				ran[task.ID] = true
				mu.Unlock()
				if task.ID == "block" {
					<-release
				}
				return queue.Outcome{Task: task, Result: task.ID}
			},
		})
	}()
	synctest.Wait() // "block" runs
	stop()
	close(release)
	synctest.Wait()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !ran["block"] {
		t.Fatal(`"block" never ran: the pool did not get that far`)
	}
	return ran
}

// A heartbeat for held tasks that fails is tried again after a tenth of
// the lease, not at once in a loop.
func TestPoolRetriesAFailedHeartbeatLater(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const lease = 30 * time.Second
		s := newPollSource(lease, "block", "h1", "h2")
		s.beatErr = errors.New("unavailable")
		runBlocked(t, s, func() { time.Sleep(2 * lease) }) // h1 and h2 are held all along
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.beatsAt) < 2 {
			t.Fatalf("%d heartbeat requests: no held task was heartbeated", len(s.beatsAt))
		}
		// Due at a third of the lease, then every tenth until it runs out:
		// about 8 requests.
		if len(s.beatsAt) > 20 {
			t.Fatalf("%d heartbeat requests within one %v lease, the second %v after the first: a failed heartbeat is retried at once",
				len(s.beatsAt), lease, s.beatsAt[1].Sub(s.beatsAt[0]))
		}
	})
}

// A task that a long poll leased 40 s after it left, with a lease of 30 s,
// and that is held behind a busy slot still has its lease: it runs, and
// is not dropped as if its lease had run out.
func TestPoolRunsATaskALongPollLeasedLate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const lease = 30 * time.Second
		s := newPollSource(lease, "block")
		ran := runBlocked(t, s, func() {
			time.Sleep(40 * time.Second) // the pool long-polls for the slots ahead
			s.add(&queue.Task{ID: "late", Func: "f", Attempt: 1})
			synctest.Wait() // "late" is held behind "block"
		})
		if !ran["late"] {
			s.mu.Lock()
			defer s.mu.Unlock()
			t.Fatalf("task late, leased %v after the poll left with a %v lease, never ran (%d heartbeat requests): dropped as run out",
				s.leased["late"].Sub(s.leased["block"]), lease, len(s.beatsAt))
		}
	})
}
