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
	l, err := pebble.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	e, err := engine.Open(ctx, l, append([]engine.Option{engine.WithSnapshotEvery(0), engine.WithRetention(engine.Retention{Age: engine.KeepEverything})}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
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
