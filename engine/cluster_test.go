package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/engine/archive"
	"github.com/omniq/omniq/engine/audit"
	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/projections"
	"github.com/omniq/omniq/stores"
)

// cluster is several engines on one shared log, each with its own handle
// (as separate processes would have), all on one manual clock.
type cluster struct {
	t     *testing.T
	ctx   context.Context
	clock *engine.ManualClock
	log   stores.Log // the first handle, for reading the log in checks
	nodes []*engine.Engine
}

// openCluster opens n engines on one log of sc, or skips when sc is a store
// that refuses a second opener (file, Pebble).
func openCluster(t *testing.T, sc storeCase, n int, opts ...engine.Option) *cluster {
	t.Helper()
	first, reopen := sc.open(t)
	if _, ok := first.(stores.Conditional); !ok {
		first.Close()
		t.Skipf("%s: one process owns the log; nothing to share", sc.name)
	}
	c := &cluster{t: t, ctx: context.Background(), clock: engine.NewManualClock(start), log: first}
	for i := range n {
		l := first
		if i > 0 {
			l = reopen()
		}
		e, err := engine.Open(c.ctx, l, append([]engine.Option{
			engine.WithClock(c.clock),
			engine.WithLeaseTimeout(30 * time.Second),
			engine.WithBackoff(func(int) time.Duration { return 10 * time.Second }),
			engine.WithWorkerID(fmt.Sprintf("node%d", i)),
			engine.WithRetention(engine.Retention{Age: engine.KeepEverything}),
		}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, e)
		t.Cleanup(func() { e.Close(); l.Close() })
	}
	return c
}

// settle waits until every node has folded in the whole log.
func (c *cluster) settle() uint64 {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		head, err := c.log.Head(c.ctx)
		if err != nil {
			c.t.Fatal(err)
		}
		behind := false
		for _, e := range c.nodes {
			if e.Position() < head {
				behind = true
			}
		}
		if !behind {
			return head
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("nodes did not reach head %d", head)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sameState checks that every node holds the same state (snapshot bytes)
// and that the log verifies strictly: no event any node wrote was ignored
// by the fold, and no invariant is breached.
func (c *cluster) sameState() {
	c.t.Helper()
	c.settle()
	want, err := c.nodes[0].Snapshot()
	if err != nil {
		c.t.Fatal(err)
	}
	for i, e := range c.nodes[1:] {
		got, err := e.Snapshot()
		if err != nil {
			c.t.Fatal(err)
		}
		if string(got) != string(want) {
			c.t.Fatalf("node %d's state differs from node 0's at position %d", i+1, e.Position())
		}
	}
	rep, err := audit.Verify(c.ctx, c.log, audit.Options{Strict: true})
	if err != nil {
		c.t.Fatal(err)
	}
	if rep.BreachCount > 0 {
		c.t.Fatalf("verify: %d breaches, first: %+v", rep.BreachCount, rep.Breaches[0])
	}
}

// runDueEverywhere runs every node's timers at the same instant, as their
// timer loops would when a deadline passes.
func (c *cluster) runDueEverywhere() {
	var wg sync.WaitGroup
	for _, e := range c.nodes {
		wg.Go(func() {
			if _, err := e.RunDue(c.ctx); err != nil {
				c.t.Error(err)
			}
		})
	}
	wg.Wait()
}

// count returns how many events of the log match.
func (c *cluster) count(match func(events.Event) bool) int {
	c.t.Helper()
	n := 0
	if err := stores.ReadAll(c.ctx, c.log, 1, 1024, func(ev events.Event) error {
		if match(ev) {
			n++
		}
		return nil
	}); err != nil {
		c.t.Fatal(err)
	}
	return n
}

func TestClusterReadsItsWritesAnywhere(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		c := openCluster(t, sc, 2)
		a, b := c.nodes[0], c.nodes[1]
		for i := range 5 {
			if err := a.Enqueue(c.ctx, &engine.Task{ID: fmt.Sprintf("t%d", i), Func: "f"}); err != nil {
				t.Fatal(err)
			}
			// Read through the other node at once: no wait, no 404.
			got, err := b.GetTask(c.ctx, fmt.Sprintf("t%d", i))
			if err != nil {
				t.Fatalf("node b after an enqueue through a: %v", err)
			}
			if got.State != engine.StatePending {
				t.Fatalf("t%d on b: %s", i, got.State)
			}
		}
		// A dependency on a task enqueued through the other node resolves.
		if err := b.Enqueue(c.ctx, &engine.Task{ID: "d", Func: "f", DependsOn: []string{"t0"}}); err != nil {
			t.Fatalf("dependency across nodes: %v", err)
		}
		// A dequeue through b sees a's tasks at once, and a's own answer
		// to an unknown id is a confirmed 404, not a stale one.
		got, err := b.Dequeue(c.ctx, "")
		if err != nil || got == nil || got.ID != "t0" {
			t.Fatalf("dequeue through b: %v, %v", got, err)
		}
		if err := a.Complete(c.ctx, got, "ok"); err != nil {
			t.Fatalf("complete through a of b's lease: %v", err)
		}
		if _, err := a.GetTask(c.ctx, "nope"); !errors.Is(err, engine.ErrNotFound) {
			t.Fatalf("unknown id: %v", err)
		}
		d, err := b.GetTask(c.ctx, "d")
		if err != nil || d.State != engine.StatePending {
			t.Fatalf("d after its dependency completed through the other node: %v, %v", d, err)
		}
		if s := stats(a.Stats(c.ctx)); s.Queues[engine.DefaultQueue][engine.StateCompleted] != 1 {
			t.Fatalf("stats through a: %+v", s.Queues)
		}
		c.sameState()
	})
}

func TestClusterFencesOutcomes(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		c := openCluster(t, sc, 2)
		a, b := c.nodes[0], c.nodes[1]
		if err := a.Enqueue(c.ctx, &engine.Task{ID: "x", Func: "f", Retries: 1}); err != nil {
			t.Fatal(err)
		}
		first, err := a.Dequeue(c.ctx, "")
		if err != nil || first == nil {
			t.Fatalf("dequeue: %v, %v", first, err)
		}
		// The lease runs out: both nodes' timers fire at once.
		c.clock.Advance(31 * time.Second)
		c.runDueEverywhere()
		c.settle()
		if n := c.count(func(ev events.Event) bool { _, ok := ev.Payload.(*events.TaskLeaseExpired); return ok }); n != 1 {
			t.Fatalf("the lease expired %d times", n)
		}
		// The retry's backoff passes; b leases attempt 2.
		c.clock.Advance(11 * time.Second)
		var second *engine.Task
		for second == nil {
			if second, err = b.Dequeue(c.ctx, ""); err != nil {
				t.Fatal(err)
			}
			if second == nil {
				if _, err := b.RunDue(c.ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
		if second.Attempt != 2 {
			t.Fatalf("second attempt is %d", second.Attempt)
		}
		// The first worker wakes up and reports through either node:
		// refused on both, however far behind the node it asks is.
		for i, e := range c.nodes {
			if err := e.Complete(c.ctx, first, "late"); !errors.Is(err, engine.ErrStaleLease) {
				t.Fatalf("node %d took attempt 1's outcome: %v", i, err)
			}
		}
		// The current attempt completes once; a retry of that request
		// through the other node is refused.
		if err := a.Complete(c.ctx, second, "ok"); err != nil {
			t.Fatal(err)
		}
		if err := b.Complete(c.ctx, second, "again"); err == nil {
			t.Fatal("a second outcome for attempt 2 was accepted")
		}
		if n := c.count(func(ev events.Event) bool { _, ok := ev.Payload.(*events.TaskCompleted); return ok }); n != 1 {
			t.Fatalf("%d completions written", n)
		}
		c.sameState()
	})
}

func TestClusterFiresEachSlotOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		c := openCluster(t, sc, 3)
		if err := c.nodes[0].Enqueue(c.ctx, &engine.Task{ID: "tick", Func: "f", Schedule: &engine.Schedule{Interval: 2 * time.Second}}); err != nil {
			t.Fatal(err)
		}
		for range 10 {
			c.clock.Advance(2 * time.Second)
			c.runDueEverywhere()
		}
		c.settle()
		slots := map[events.Timestamp]int{}
		c.count(func(ev events.Event) bool {
			if f, ok := ev.Payload.(*events.ScheduleFired); ok {
				slots[f.FireTime]++
			}
			return false
		})
		if len(slots) != 10 {
			t.Fatalf("%d slots fired, want 10", len(slots))
		}
		for at, n := range slots {
			if n != 1 {
				t.Fatalf("slot %v fired %d times", at.Time(), n)
			}
		}
		// Deleted through one node, it fires no more through any.
		if err := c.nodes[2].DeleteTask(c.ctx, "tick"); err != nil {
			t.Fatal(err)
		}
		c.clock.Advance(2 * time.Second)
		for _, e := range c.nodes {
			if _, err := e.RunDue(c.ctx); err != nil {
				t.Fatal(err)
			}
		}
		c.settle()
		if n := c.count(func(ev events.Event) bool { _, ok := ev.Payload.(*events.ScheduleFired); return ok }); n != 10 {
			t.Fatalf("%d fires after the delete, want 10", n)
		}
		c.sameState()
	})
}

// TestClusterUnderLoad has producers and workers on every node at once:
// each task ends exactly once, and the nodes agree.
func TestClusterUnderLoad(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		c := openCluster(t, sc, 3)
		const perNode = 150
		var wg sync.WaitGroup
		for i, e := range c.nodes {
			wg.Go(func() {
				for j := range perNode {
					task := &engine.Task{ID: fmt.Sprintf("n%d-%d", i, j), Func: "f"}
					if j > 0 && j%10 == 0 {
						// Depend on a task of the next node (enqueued or not yet).
						dep := fmt.Sprintf("n%d-%d", (i+1)%len(c.nodes), j-10)
						if _, err := e.GetTask(c.ctx, dep); err == nil {
							task.DependsOn = []string{dep}
						}
					}
					if err := e.Enqueue(c.ctx, task); err != nil {
						t.Errorf("enqueue %s: %v", task.ID, err)
						return
					}
				}
			})
		}
		done := make(chan struct{})
		var workers sync.WaitGroup
		for _, e := range c.nodes {
			for range 2 {
				workers.Go(func() {
					for {
						ctx, cancel := context.WithTimeout(c.ctx, 50*time.Millisecond)
						got, err := e.DequeueWait(ctx, "", 4, 0)
						cancel()
						if err != nil {
							t.Errorf("dequeue: %v", err)
							return
						}
						for _, task := range got {
							if err := e.Complete(c.ctx, task, nil); err != nil {
								t.Errorf("complete %s: %v", task.ID, err)
							}
						}
						select {
						case <-done:
							if len(got) == 0 {
								return
							}
						default:
						}
					}
				})
			}
		}
		wg.Wait()
		close(done)
		workers.Wait()
		c.settle()
		ends := map[string]int{}
		c.count(func(ev events.Event) bool {
			if _, ok := ev.Payload.(*events.TaskCompleted); ok {
				ends[ev.TaskID]++
			}
			return false
		})
		if len(ends) != perNode*len(c.nodes) {
			t.Fatalf("%d tasks completed, want %d", len(ends), perNode*len(c.nodes))
		}
		for id, n := range ends {
			if n != 1 {
				t.Fatalf("%s completed %d times", id, n)
			}
		}
		c.sameState()
	})
}

// TestClusterIdleNodeFollows: a node that writes nothing still sees other
// nodes' tasks, and its waiting workers get them.
func TestClusterIdleNodeFollows(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		c := openCluster(t, sc, 2)
		a, b := c.nodes[0], c.nodes[1]
		got := make(chan []*engine.Task, 1)
		go func() {
			ctx, cancel := context.WithTimeout(c.ctx, 20*time.Second)
			defer cancel()
			tasks, err := b.DequeueWait(ctx, "", 1, 0)
			if err != nil {
				t.Error(err)
			}
			got <- tasks
		}()
		time.Sleep(20 * time.Millisecond) // b's dequeue parks
		if err := a.Enqueue(c.ctx, &engine.Task{ID: "w", Func: "f"}); err != nil {
			t.Fatal(err)
		}
		tasks := <-got
		if len(tasks) != 1 || tasks[0].ID != "w" {
			t.Fatalf("idle node's waiting worker got %v", tasks)
		}
		if err := a.Enqueue(c.ctx, &engine.Task{ID: "w2", Func: "f"}); err != nil {
			t.Fatal(err)
		}
		// Without a read through b, b's position follows the log.
		deadline := time.Now().Add(10 * time.Second)
		for b.Position() < a.Position() {
			if time.Now().After(deadline) {
				t.Fatalf("idle node at %d, log at %d", b.Position(), a.Position())
			}
			time.Sleep(5 * time.Millisecond)
		}
		if st := b.ClusterCounters(); !st.Shared || st.CaughtUp == 0 || st.Lag != 0 || st.Nodes != nil {
			t.Fatalf("cluster counters %+v", st)
		}
		// b lists a (from a's presence record) and itself.
		deadline = time.Now().Add(10 * time.Second)
		for {
			st, _ := b.Cluster(c.ctx) // does not fail: NodesErr says why nodes are missing
			if len(st.Nodes) == 2 && st.Nodes[0].Node == "node0" && !st.Nodes[0].Self &&
				st.Nodes[1].Node == "node1" && st.Nodes[1].Self {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster status %+v", st)
			}
			time.Sleep(5 * time.Millisecond)
		}
		c.sameState()
	})
}

// TestClusterCompactsOnce: three nodes run retention passes at the same
// instant into one archive directory. The first checkpoint wins and the
// others write nothing; the archive holds each removed event once; every
// node (and a node opened afresh on the compacted log) agrees with the
// others, and the archive followed by the log verifies.
func TestClusterCompactsOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		dir := filepath.Join(t.TempDir(), "archive")
		const age = time.Hour
		var archives []*archive.Dir
		for range 3 {
			ar, err := archive.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			archives = append(archives, ar)
		}
		// Each node its own Dir on the one directory, as separate
		// processes would have.
		first, reopen := sc.open(t)
		if _, ok := first.(stores.Conditional); !ok {
			first.Close()
			t.Skipf("%s: one process owns the log; nothing to share", sc.name)
		}
		if _, ok := first.(stores.Truncater); !ok {
			t.Skipf("%s: no compaction", sc.name)
		}
		c := &cluster{t: t, ctx: context.Background(), clock: engine.NewManualClock(start), log: first}
		for i := range 3 {
			l := first
			if i > 0 {
				l = reopen()
			}
			e, err := engine.Open(c.ctx, l, engine.WithClock(c.clock), engine.WithWorkerID(fmt.Sprintf("node%d", i)),
				engine.WithRetention(engine.Retention{Age: age, Every: time.Hour, Archive: archives[i]}))
			if err != nil {
				t.Fatal(err)
			}
			c.nodes = append(c.nodes, e)
			t.Cleanup(func() { e.Close(); l.Close() })
		}
		for i := range 30 {
			e := c.nodes[i%3]
			if err := e.Enqueue(c.ctx, &engine.Task{ID: fmt.Sprintf("old%d", i), Func: "f"}); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 30 {
			e := c.nodes[(i+1)%3]
			got, err := e.Dequeue(c.ctx, "")
			if err != nil || got == nil {
				t.Fatalf("dequeue: %v %v", got, err)
			}
			if err := e.Complete(c.ctx, got, i); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.nodes[0].Enqueue(c.ctx, &engine.Task{ID: "stays", Func: "f"}); err != nil {
			t.Fatal(err)
		}
		c.clock.Advance(age + age/4 + time.Minute)
		if err := c.nodes[2].Enqueue(c.ctx, &engine.Task{ID: "late", Func: "f"}); err != nil {
			t.Fatal(err)
		}
		results := make([]engine.CompactResult, 3)
		var wg sync.WaitGroup
		for i, e := range c.nodes {
			wg.Go(func() {
				var err error
				if results[i], err = e.Retain(c.ctx); err != nil {
					t.Errorf("node %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		compacted := 0
		for _, r := range results {
			if r.Checkpoint != 0 {
				compacted++
				if r.Dropped != 30 {
					t.Fatalf("dropped %d, want 30", r.Dropped)
				}
			}
		}
		if compacted != 1 {
			t.Fatalf("%d nodes compacted: %+v", compacted, results)
		}
		c.settle()
		if n := c.count(func(ev events.Event) bool { return projections.StartsCheckpoint(ev) }); n != 1 {
			t.Fatalf("%d checkpoints in the log", n)
		}
		for i, e := range c.nodes {
			if _, err := e.GetTask(c.ctx, "old3"); !errors.Is(err, engine.ErrNotFound) {
				t.Fatalf("node %d, a compacted task: %v", i, err)
			}
			if got, err := e.GetTask(c.ctx, "stays"); err != nil || got.State != engine.StatePending {
				t.Fatalf("node %d, a kept task: %v %v", i, got, err)
			}
		}
		// Work goes on across the compaction.
		got, err := c.nodes[1].Dequeue(c.ctx, "")
		if err != nil || got == nil {
			t.Fatalf("dequeue after compaction: %v %v", got, err)
		}
		if err := c.nodes[2].Complete(c.ctx, got, "after"); err != nil {
			t.Fatal(err)
		}
		c.sameState()
		// A node opened now starts from the checkpoint and agrees.
		freshLog := reopen()
		defer freshLog.Close()
		fresh, err := engine.Open(c.ctx, freshLog, engine.WithClock(c.clock), engine.WithRetention(engine.Retention{Age: engine.KeepEverything}))
		if err != nil {
			t.Fatal(err)
		}
		defer fresh.Close()
		want, _ := c.nodes[0].Snapshot()
		if got, _ := fresh.Snapshot(); !bytes.Equal(got, want) {
			t.Fatal("a node opened on the compacted log differs")
		}
		// The archive holds each removed position once, 1.. up to the log.
		var last uint64
		if err := archive.Read(c.ctx, dir, func(ev events.Event) error {
			if ev.Position != last+1 {
				return fmt.Errorf("archive: #%d after #%d", ev.Position, last)
			}
			last = ev.Position
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		first2, err := first.(stores.Truncater).First(c.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if last+1 != first2 {
			t.Fatalf("archive ends at %d, the log starts at %d", last, first2)
		}
		joined, err := archive.Join(first, dir)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := audit.Verify(c.ctx, joined, audit.Options{Strict: true})
		if err != nil {
			t.Fatal(err)
		}
		if rep.BreachCount > 0 {
			t.Fatalf("verify archive+log: %+v", rep.Breaches[0])
		}
	})
}
