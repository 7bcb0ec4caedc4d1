package engine_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/omniq/omniq/engine"
)

// BenchmarkEngine measures tasks/s through enqueue → dequeue → complete on
// every store: one task per call from concurrent callers (group commit does
// the batching), and through the batch APIs.
func BenchmarkEngine(b *testing.B) {
	for _, sc := range allStoreCases() {
		b.Run(sc.name+"/single", func(b *testing.B) {
			e := benchEngine(b, sc)
			b.SetParallelism(32)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					q := fmt.Sprintf("q%p", pb) // one queue per caller: each dequeues its own task
					if err := e.Enqueue(ctx, &engine.Task{Func: "noop", QueueName: q}); err != nil {
						b.Error(err)
						return
					}
					task, err := e.Dequeue(ctx, q)
					if err != nil || task == nil {
						b.Errorf("dequeue: %v %v", task, err)
						return
					}
					if err := e.Complete(ctx, task, nil); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
		})
		b.Run(sc.name+"/batch1000", func(b *testing.B) {
			e := benchEngine(b, sc)
			const size = 1000
			b.ResetTimer()
			for b.Loop() {
				runBatch(b, e, size)
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "tasks/s")
		})
	}
}

// runBatch enqueues size no-op tasks in one call, leases them in one and
// completes them in one.
func runBatch(b *testing.B, e *engine.Engine, size int) {
	ctx := context.Background()
	tasks := make([]*engine.Task, size)
	for i := range tasks {
		tasks[i] = &engine.Task{Func: "noop"}
	}
	if err := e.EnqueueBatch(ctx, tasks); err != nil {
		b.Fatal(err)
	}
	leased, err := e.DequeueN(ctx, "", size)
	if err != nil || len(leased) != size {
		b.Fatalf("dequeue: %d %v", len(leased), err)
	}
	outcomes := make([]engine.Outcome, size)
	for i, t := range leased {
		outcomes[i] = engine.Outcome{Task: t}
	}
	if _, err := e.CompleteBatch(ctx, outcomes); err != nil {
		b.Fatal(err)
	}
}

func benchEngine(b *testing.B, sc storeCase) *engine.Engine {
	b.Helper()
	l, _ := sc.open(b)
	e, err := engine.Open(context.Background(), l, engine.WithSnapshotEvery(0))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close(); l.Close() })
	return e
}
