package engine_test

import (
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores/pebble"
)

// discardArchive takes the events a compaction removes and keeps none: the
// benchmark measures the checkpoint, not the archive's files.
type discardArchive struct{}

func (discardArchive) Write(context.Context, []events.Event) error { return nil }
func (discardArchive) Sync(context.Context) error                  { return nil }
func (discardArchive) String() string                              { return "discard" }

// heapPeak samples the Go heap's live objects every millisecond until
// stopped and reports the largest sample.
type heapPeak struct {
	stop chan struct{}
	done sync.WaitGroup
	max  uint64
}

func startHeapPeak() *heapPeak {
	p := &heapPeak{stop: make(chan struct{})}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(s)
			p.max = max(p.max, s[0].Value.Uint64())
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return p
}

func (p *heapPeak) end() uint64 {
	close(p.stop)
	p.done.Wait()
	return p.max
}

func heapObjects() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// BenchmarkCompactHeap measures what a compaction costs in memory beyond
// the state it compacts, on Pebble: an engine holding n ended tasks writes
// a checkpoint that keeps all of them (the steady state of retention: each
// compaction rewrites the tasks that ended within the retention age). It
// reports the peak of the Go heap's objects during Compact over the heap
// held before it (peak/held), and both per kept task. The second
// compaction is the steady one: its state is the first checkpoint plus the
// tasks that ended since.
func BenchmarkCompactHeap(b *testing.B) {
	for _, n := range []int{500_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				compactHeapOnce(b, n)
			}
		})
		// The same checkpoint appended in runs of 8 MiB (as one over
		// 256 MiB is, in runs of 64 MiB).
		b.Run(fmt.Sprint(n, "/runs"), func(b *testing.B) {
			for b.Loop() {
				compactHeapOnce(b, n, engine.WithCheckpointRuns(8<<20, 8<<20))
			}
		})
	}
}

func compactHeapOnce(b *testing.B, n int, opts ...engine.Option) {
	ctx := context.Background()
	e, closeAll := openCompactBench(b, opts...)
	defer closeAll()
	fill := func(k int) {
		for done := 0; done < k; done += 1000 {
			runBatch(b, e, 1000)
		}
	}
	keepAll := time.Unix(0, 0)
	var peak, held float64
	for round := 0; round < 2; round++ {
		b.StopTimer()
		fill(n / 2)
		before := heapObjects()
		p := startHeapPeak()
		b.StartTimer()
		if _, err := e.Compact(ctx, keepAll, discardArchive{}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		top := p.end()
		peak, held = float64(top), float64(before)
	}
	b.ReportMetric(peak/held, "peak/held")
	b.ReportMetric(held/float64(n), "held-B/task")
	b.ReportMetric(peak/float64(n), "peak-B/task")
	b.StartTimer()
}

// BenchmarkCompactRetained measures what a compaction leaves live: the Go
// heap's objects after Compact and a collection, over those before it
// (after a collection too), as retention runs it: tasks end between
// compactions and each compaction drops those that ended two rounds
// before, so from the third round on each keeps as much as it drops. A
// compaction that keeps nothing of the state it replaced leaves about 2/3
// of what it found (left/held, the largest of rounds 3 to 5): the old
// state held three rounds of tasks, the new one two. "runs" appends the
// checkpoint in runs of 8 MiB (as one over 256 MiB is, in runs of 64
// MiB); "load" keeps two callers enqueueing, leasing and completing
// during each compaction, with periodic snapshots on.
func BenchmarkCompactRetained(b *testing.B) {
	const n = 200_000 // tasks ending between two compactions
	for _, v := range []struct {
		name string
		load bool
		opts []engine.Option
	}{
		{"batch", false, nil},
		{"runs", false, []engine.Option{engine.WithCheckpointRuns(8<<20, 8<<20)}},
		{"load", true, []engine.Option{engine.WithSnapshotEvery(engine.DefaultSnapshotEvery)}},
	} {
		b.Run(v.name, func(b *testing.B) {
			for b.Loop() {
				compactRetainedOnce(b, n, v.load, v.opts...)
			}
		})
	}
}

func compactRetainedOnce(b *testing.B, n int, load bool, opts ...engine.Option) {
	ctx := context.Background()
	e, closeAll := openCompactBench(b, opts...)
	defer closeAll()
	var cuts []time.Time
	var worst float64
	for round := 0; round < 5; round++ {
		b.StopTimer()
		for done := 0; done < n; done += 1000 {
			runBatch(b, e, 1000)
		}
		cuts = append(cuts, time.Now())
		time.Sleep(time.Millisecond)
		before := time.Unix(0, 0)
		if len(cuts) > 2 {
			before = cuts[len(cuts)-3]
		}
		held := heapObjects()
		b.StartTimer()
		stop := make(chan struct{})
		var callers sync.WaitGroup
		for range 2 * btoi(load) {
			callers.Add(1)
			go func() {
				defer callers.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					runBatch(b, e, 500)
				}
			}()
		}
		if _, err := e.Compact(ctx, before, discardArchive{}); err != nil {
			b.Fatal(err)
		}
		close(stop)
		callers.Wait()
		b.StopTimer()
		left := heapObjects()
		if round >= 2 {
			worst = max(worst, float64(left)/float64(held))
		}
		b.Logf("round %d: held %d MB, left %d MB", round, held>>20, left>>20)
	}
	b.ReportMetric(worst, "left/held")
	b.StartTimer()
}

func btoi(v bool) int {
	if v {
		return 1
	}
	return 0
}

// openCompactBench opens an engine on a fresh Pebble log with neither
// periodic snapshots nor retention, so that only the benchmark compacts,
// and returns it with what closes both (each iteration closes its own, so
// that no earlier engine's heap counts in the next one's figures).
func openCompactBench(b *testing.B, opts ...engine.Option) (*engine.Engine, func()) {
	b.Helper()
	l, err := pebble.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	e, err := engine.Open(context.Background(), l, append([]engine.Option{engine.WithSnapshotEvery(0), engine.WithRetention(engine.Retention{Age: engine.KeepEverything})}, opts...)...)
	if err != nil {
		l.Close()
		b.Fatal(err)
	}
	return e, func() { e.Close(); l.Close() }
}
