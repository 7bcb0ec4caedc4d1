package engine_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/stores/memory"
	"github.com/omniq/omniq/stores/pebble"
)

// The API driven by hand: enqueue, schedule, dequeue, named queues
// with priorities, delete. Any stores.Log can replace memory.New().
func Example() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	q, err := engine.Open(ctx, store)
	if err != nil {
		panic(err)
	}
	defer q.Close()

	// A simple task.
	simple := &engine.Task{Func: "my_simple_func", Args: []any{10, 20}}
	if err := q.Enqueue(ctx, simple); err != nil {
		panic(err)
	}
	fmt.Println("Enqueued simple task:", simple.State)

	// A scheduled task: not handed out before its time.
	future := time.Now().Add(5 * time.Second)
	scheduled := &engine.Task{Func: "my_scheduled_func", Schedule: &engine.Schedule{RunAt: future}}
	if err := q.Enqueue(ctx, scheduled); err != nil {
		panic(err)
	}
	fmt.Println("Enqueued scheduled task:", scheduled.State)

	// Dequeue a task, as a worker would, run it and record the result.
	task, err := q.Dequeue(ctx, "")
	if err != nil {
		panic(err)
	}
	if task != nil {
		sum := task.Args[0].(int64) + task.Args[1].(int64)
		fmt.Println("Dequeued:", task.Func, "attempt", task.Attempt)
		fmt.Println("Task result:", sum)
		if err := q.Complete(ctx, task, sum); err != nil {
			panic(err)
		}
	} else {
		fmt.Println("No tasks in queue.")
	}

	// Named queues are independent; higher priority runs first.
	high := &engine.Task{Func: "high", QueueName: "high_priority", Priority: 10}
	low := &engine.Task{Func: "low", QueueName: "low_priority", Priority: 1}
	if err := q.EnqueueBatch(ctx, []*engine.Task{high, low}); err != nil {
		panic(err)
	}
	fmt.Println("Enqueued tasks to named queues.")
	fromHigh, _ := q.Dequeue(ctx, "high_priority")
	fmt.Println("Dequeued from high_priority:", fromHigh.Func)

	// Clean up (delete) a task.
	if err := q.DeleteTask(ctx, simple.ID); err != nil {
		panic(err)
	}
	_, err = q.GetTask(ctx, simple.ID)
	fmt.Println("Deleted task; get says:", err != nil)

	// Output:
	// Enqueued simple task: pending
	// Enqueued scheduled task: waiting
	// Dequeued: my_simple_func attempt 1
	// Task result: 30
	// Enqueued tasks to named queues.
	// Dequeued from high_priority: high
	// Deleted task; get says: true
}

// The engine embedded in a program, on the default store: handlers, a task,
// a recurring schedule, a task that waits for another, and a pool of workers.
// README.md shows it from pebble.Open to q.Work; here the log is in a
// temporary directory instead of ./omniq-data.
func ExampleOpen() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, err := os.MkdirTemp("", "omniq-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	store, err := pebble.Open(dir) // or memory.New(), file.Open(dir), sqlite.Open(path),
	if err != nil {                // postgres.Open(ctx, dsn), redis.Open(ctx, opts), nats.Open(ctx, servers)
		log.Fatal(err)
	}
	defer store.Close()
	q, err := engine.Open(ctx, store)
	if err != nil {
		log.Fatal(err)
	}
	defer q.Close()

	err = q.Register("add", func(ctx context.Context, t *engine.Task) (any, error) {
		return t.Args[0].(int64) + t.Args[1].(int64), nil
	})
	if err != nil {
		log.Fatal(err)
	}
	err = q.Register("report", func(ctx context.Context, t *engine.Task) (any, error) {
		return "written", nil
	})
	if err != nil {
		log.Fatal(err)
	}

	sum := &engine.Task{Func: "add", Args: []any{10, 20}}
	if err := q.Enqueue(ctx, sum); err != nil {
		log.Fatal(err)
	}
	nightly := &engine.Task{Func: "report", QueueName: "nightly",
		Schedule: &engine.Schedule{Cron: "0 2 * * *"}} // each fire enqueues a new task
	if err := q.Enqueue(ctx, nightly); err != nil {
		log.Fatal(err)
	}
	first := &engine.Task{Func: "add", Args: []any{1, 2}}
	if err := q.Enqueue(ctx, first); err != nil {
		log.Fatal(err)
	}
	then := &engine.Task{Func: "add", Args: []any{3, 4}, DependsOn: []string{first.ID}, // waits for first
		Retries: 3, TTL: time.Hour}
	if err := q.Enqueue(ctx, then); err != nil {
		log.Fatal(err)
	}

	work := make(chan error, 1)
	go func() {
		work <- q.Work(ctx, engine.WorkOptions{Queues: []string{"default", "nightly"}, Concurrency: 8})
	}()

	for _, id := range []string{sum.ID, first.ID, then.ID} {
		t := waitDone(ctx, q, id)
		fmt.Println(t.Func, t.Args, "→", t.State, t.Result)
	}
	cancel() // Work returns once its running handlers have
	if err := <-work; err != nil {
		log.Fatal(err)
	}

	// Output:
	// add [10 20] → completed 30
	// add [1 2] → completed 3
	// add [3 4] → completed 7
}

// waitDone polls until the task has ended.
func waitDone(ctx context.Context, q *engine.Engine, id string) *engine.Task {
	deadline := time.Now().Add(10 * time.Second)
	for {
		t, err := q.GetTask(ctx, id)
		if err != nil {
			log.Fatal(err)
		}
		if t.State.Terminal() || time.Now().After(deadline) {
			return t
		}
		time.Sleep(5 * time.Millisecond)
	}
}
