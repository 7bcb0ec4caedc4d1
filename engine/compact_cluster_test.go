package engine_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
)

// A compaction on a shared log while another node keeps appending, with the
// checkpoint in one batch and in runs: the other node holds its appends
// back while the checkpoint goes in (compact_hold.go), so it lands, and
// both nodes agree after it. Without the hold the checkpoint lost the log's
// head to the busy node at every try.
func TestClusterCompactsUnderLoad(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []engine.Option
	}{
		{"one batch", nil},
		{"runs", []engine.Option{engine.WithCheckpointRuns(1<<20, 1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachStore(t, func(t *testing.T, sc storeCase) {
				c := openCluster(t, sc, 2, tc.opts...)
				if _, ok := c.log.(stores.Truncater); !ok {
					t.Skipf("%s: no compaction", sc.name)
				}
				fillForCompaction(t, c)
				var stop atomic.Bool
				var wg sync.WaitGroup
				var enqueued atomic.Int64
				wg.Go(func() {
					for i := 0; !stop.Load(); i++ {
						if err := c.nodes[1].Enqueue(c.ctx, &engine.Task{ID: fmt.Sprintf("load%d", i), Func: "h", QueueName: "load"}); err != nil {
							t.Error(err)
							return
						}
						enqueued.Add(1)
					}
				})
				for enqueued.Load() < 20 {
					time.Sleep(time.Millisecond)
				}
				res, err := c.nodes[0].Compact(c.ctx, c.clock.Now(), &sliceArchive{})
				stop.Store(true)
				wg.Wait()
				if err != nil {
					t.Fatalf("compaction beside a busy node: %v", err)
				}
				if res.Dropped != 10 || (tc.opts != nil && res.Parts < 2) {
					t.Fatalf("compaction: %+v, want 10 dropped (and parts, in runs)", res)
				}
				c.sameState()
			})
		})
	}
}

// fillForCompaction gives c's log 300 pending tasks of 8 KiB (a state of a
// few checkpoint parts) and 10 completed ones, then moves the clock on.
func fillForCompaction(t *testing.T, c *cluster) {
	t.Helper()
	big := strings.Repeat("x", 8<<10)
	for i := range 300 {
		if err := c.nodes[0].Enqueue(c.ctx, &engine.Task{ID: fmt.Sprintf("big%d", i), Func: "f", Args: []any{big}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		if err := c.nodes[1].Enqueue(c.ctx, &engine.Task{ID: fmt.Sprintf("done%d", i), Func: "g", QueueName: "small"}); err != nil {
			t.Fatal(err)
		}
		got, err := c.nodes[1].Dequeue(c.ctx, "small")
		if err != nil || got == nil {
			t.Fatalf("dequeue: %v %v", got, err)
		}
		if err := c.nodes[1].Complete(c.ctx, got, i); err != nil {
			t.Fatal(err)
		}
	}
	c.clock.Advance(time.Second)
}

// notice appends a log.compacting notice to c's log as another node would.
func (c *cluster) notice(hold time.Duration) {
	c.t.Helper()
	head, err := c.log.Head(c.ctx)
	if err != nil {
		c.t.Fatal(err)
	}
	ev := events.New("", c.clock.Now(), &events.LogCompacting{Hold: hold})
	if _, err := c.log.(stores.Conditional).AppendAt(c.ctx, head, []events.Event{ev}); err != nil {
		c.t.Fatal(err)
	}
}

// A node that folded another's log.compacting notice appends nothing until
// that node's checkpoint is in the log; then its command goes through.
func TestClusterHoldsForACheckpoint(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		gated := &gatedCheckpoint{reached: make(chan struct{}), gate: make(chan struct{})}
		c := openCluster(t, storeCase{sc.name, func(tb testing.TB) (stores.Log, func() stores.Log) {
			first, reopen := sc.open(tb)
			gated.Log = first
			if _, ok := first.(stores.Conditional); !ok {
				return first, reopen // one process owns the log: openCluster skips
			}
			return gated, reopen
		}}, 2)
		if _, ok := gated.Log.(stores.Truncater); !ok {
			t.Skipf("%s: no compaction", sc.name)
		}
		release := sync.OnceFunc(func() { close(gated.gate) })
		defer release() // a failing test lets the compaction end, so that Close does not wait for it
		compacted := make(chan error, 1)
		go func() {
			_, err := c.nodes[0].Compact(c.ctx, c.clock.Now(), &sliceArchive{})
			compacted <- err
		}()
		<-gated.reached // node 0's notice is in the log, its checkpoint is not
		c.settle()
		done := make(chan error, 1)
		go func() { done <- c.nodes[1].Enqueue(c.ctx, &engine.Task{ID: "waits", Func: "f"}) }()
		select {
		case err := <-done:
			t.Fatalf("an enqueue during another node's compaction was answered (%v) before its checkpoint", err)
		case <-time.After(200 * time.Millisecond):
		}
		release()
		if err := <-compacted; err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("the enqueue held back: %v", err)
		}
		c.sameState()
	})
}

// gatedCheckpoint holds a checkpoint's append until gate is closed, and
// closes reached when one comes.
type gatedCheckpoint struct {
	stores.Log
	reached, gate chan struct{}
	once          sync.Once
}

func (l *gatedCheckpoint) AppendAt(ctx context.Context, after uint64, b []events.Event) (uint64, error) {
	for _, ev := range b {
		switch ev.Payload.(type) {
		case *events.LogCheckpoint, *events.LogCheckpointPart:
			l.once.Do(func() { close(l.reached) })
			<-l.gate
		}
	}
	return l.Log.(stores.Conditional).AppendAt(ctx, after, b)
}

func (l *gatedCheckpoint) TruncateBefore(ctx context.Context, pos uint64) error {
	return l.Log.(stores.Truncater).TruncateBefore(ctx, pos)
}

func (l *gatedCheckpoint) First(ctx context.Context) (uint64, error) {
	return l.Log.(stores.Truncater).First(ctx)
}

// A compactor that goes quiet after its notice (it died, or froze) holds the
// others up for its Hold only.
func TestClusterHoldEndsWhenTheCompactorGoesQuiet(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		c := openCluster(t, sc, 2)
		if _, ok := c.log.(stores.Truncater); !ok {
			t.Skipf("%s: no compaction", sc.name)
		}
		c.notice(300 * time.Millisecond)
		c.settle()
		ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
		defer cancel()
		if err := c.nodes[1].Enqueue(ctx, &engine.Task{ID: "after", Func: "f"}); err != nil {
			t.Fatalf("an enqueue after a compactor went quiet: %v", err)
		}
		c.sameState()
	})
}
