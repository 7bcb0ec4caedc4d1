package engine_test

import (
	"testing"
	"time"

	"github.com/omniq/omniq/engine"
)

// TestSeedExampleOnEveryStore runs the usage example of the core queue API
// (see Example and omniqd demo) on every backend and checks what it would
// print.
func TestSeedExampleOnEveryStore(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		f := newFixture(t, sc)
		simple := f.enqueue(&engine.Task{Func: "my_simple_func", Args: []any{10, 20}})
		scheduled := f.enqueue(&engine.Task{Func: "my_scheduled_func", Schedule: &engine.Schedule{RunAt: start.Add(5 * time.Second)}})
		if simple.State != engine.StatePending || scheduled.State != engine.StateWaiting {
			t.Fatalf("enqueued: %s, %s", simple.State, scheduled.State)
		}
		task := f.dequeue("")
		if task == nil || task.ID != simple.ID {
			t.Fatalf("dequeued %+v, want the simple task", task)
		}
		sum := task.Args[0].(int64) + task.Args[1].(int64)
		if err := f.e.Complete(f.ctx, task, sum); err != nil {
			t.Fatal(err)
		}
		if err := f.e.EnqueueBatch(f.ctx, []*engine.Task{
			{Func: "high", QueueName: "high_priority", Priority: 10},
			{Func: "low", QueueName: "low_priority", Priority: 1},
		}); err != nil {
			t.Fatal(err)
		}
		if high := f.dequeue("high_priority"); high == nil || high.Func != "high" {
			t.Fatalf("from high_priority: %+v", high)
		}
		if err := f.e.DeleteTask(f.ctx, simple.ID); err != nil {
			t.Fatal(err)
		}
		f.advance(5 * time.Second)
		if later := f.dequeue(""); later == nil || later.ID != scheduled.ID {
			t.Fatalf("scheduled task at its time: %+v", later)
		}
		f.restart()
		if _, err := f.e.GetTask(f.ctx, simple.ID); err == nil {
			t.Fatal("deleted task came back after restart")
		}
		if f.state(scheduled.ID) != engine.StateRunning {
			t.Fatalf("scheduled task after restart: %s", f.state(scheduled.ID))
		}
	})
}
