package engine_test

import (
	"context"
	"fmt"
	"time"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/stores/memory"
)

// The seed's usage example, in Go: enqueue, schedule, dequeue, named queues
// with priorities, delete. Any stores.Log can replace memory.New().
func Example() {
	ctx := context.Background()
	log := memory.New()
	defer log.Close()
	q, err := engine.Open(ctx, log)
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
