package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/omniq/omniq/client"
	"github.com/omniq/omniq/queue"
)

// A program on a remote queue: the same calls and handlers as on an
// embedded engine (engine.Open; both are a queue.Queue), against an omniqd
// server (make run starts one at 127.0.0.1:7070). It names its tasks with
// package queue, which the engine re-exports, so it links no engine. It needs that server, so it has no Output
// comment: go test compiles it but does not run it.
func ExampleNew() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	q, err := client.New("http://127.0.0.1:7070") // instead of engine.Open(ctx, store)
	if err != nil {
		log.Fatal(err)
	}
	defer q.Close()

	err = q.Register("add", func(ctx context.Context, t *queue.Task) (any, error) {
		return t.Args[0].(int64) + t.Args[1].(int64), nil
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := q.Enqueue(ctx, &queue.Task{Func: "add", Args: []any{10, 20}}); err != nil {
		log.Fatal(err)
	}
	work := make(chan error, 1)
	go func() {
		work <- q.Work(ctx, queue.WorkOptions{Concurrency: 8}) // long-polls the daemon; same handler shape
	}()
	_, err = q.GetTask(ctx, "nope")
	fmt.Println(errors.Is(err, queue.ErrNotFound)) // true

	cancel()
	if err := <-work; err != nil {
		log.Fatal(err)
	}
}
