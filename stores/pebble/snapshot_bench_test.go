package pebble

import (
	"context"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"
)

// BenchmarkSaveSnapshotHeap measures the Go heap a snapshot of 64 MiB costs
// beyond its data, written as one batch and as an ingested table: the peak
// of the heap's objects during SaveSnapshot, and what is still live after
// it returned and a collection ran, both over the data's size.
func BenchmarkSaveSnapshotHeap(b *testing.B) {
	for _, tc := range []struct {
		name     string
		batchMax int
	}{{"batch", 1 << 40}, {"ingested", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			l, err := Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			l.snapshotBatchMax = tc.batchMax
			data := make([]byte, 64<<20)
			for i := range data {
				data[i] = byte(i * 7 / 3)
			}
			var peak, left float64
			for i := 0; b.Loop(); i++ {
				base := liveHeap()
				stop := sampleHeap()
				if err := l.SaveSnapshot(context.Background(), uint64(i+1), data); err != nil {
					b.Fatal(err)
				}
				peak = max(peak, float64(stop()-base)/float64(len(data)))
				left = max(left, float64(liveHeap()-base)/float64(len(data)))
			}
			b.ReportMetric(peak, "peak/data")
			b.ReportMetric(left, "left/data")
		})
	}
}

func liveHeap() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// sampleHeap samples the heap's objects every millisecond until stop is
// called, which returns the largest sample.
func sampleHeap() (stop func() uint64) {
	var m uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(s)
			m = max(m, s[0].Value.Uint64())
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 { close(done); wg.Wait(); return m }
}
