// Command gohelper is the Go side of the Python client's interoperability
// tests: it enqueues a task by func name through the Go client, or works
// tasks that a Python program enqueued.
//
//	gohelper enqueue URL QUEUE FUNC ARGS_JSON KWARGS_JSON   prints the task id
//	gohelper work URL QUEUE N                               runs N tasks, then exits
//	gohelper drop STORE_URL                                 drops the log on its server
//	gohelper leftovers STORE_URL                            prints what its server holds of the log
//
// work registers "go.add" (the sum of the integer args, as an integer) and
// "go.describe" (a map describing its args and kwargs, with Go's types).
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/omniq/omniq/client"
	"github.com/omniq/omniq/queue"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gohelper:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 2 && (args[0] == "drop" || args[0] == "leftovers") {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if args[0] == "drop" {
			return drop(ctx, args[1])
		}
		left, err := leftovers(ctx, args[1])
		for _, s := range left {
			fmt.Println(s)
		}
		return err
	}
	if len(args) < 3 {
		return fmt.Errorf("usage: gohelper enqueue|work URL QUEUE ...")
	}
	c, err := client.New(args[1])
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	switch args[0] {
	case "enqueue":
		if len(args) != 6 {
			return fmt.Errorf("usage: gohelper enqueue URL QUEUE FUNC ARGS_JSON KWARGS_JSON")
		}
		t := &queue.Task{Func: args[3], QueueName: args[2]}
		if err := decode(args[4], &t.Args); err != nil {
			return err
		}
		if err := decode(args[5], &t.Kwargs); err != nil {
			return err
		}
		if err := c.Enqueue(ctx, t); err != nil {
			return err
		}
		fmt.Println(t.ID)
		return nil
	case "work":
		n, err := strconv.Atoi(args[3])
		if err != nil {
			return err
		}
		var done atomic.Int64
		wctx, stop := context.WithCancel(ctx)
		finish := func() {
			if done.Add(1) >= int64(n) {
				stop()
			}
		}
		if err := c.Register("go.add", func(ctx context.Context, t *queue.Task) (any, error) {
			defer finish()
			var sum int64
			for _, a := range t.Args {
				v, ok := a.(int64)
				if !ok {
					return nil, fmt.Errorf("go.add: %v is a %T, not an int64", a, a)
				}
				sum += v
			}
			return sum, nil
		}); err != nil {
			return err
		}
		if err := c.Register("go.describe", func(ctx context.Context, t *queue.Task) (any, error) {
			defer finish()
			types := []any{}
			for _, a := range t.Args {
				types = append(types, fmt.Sprintf("%T", a))
			}
			return map[string]any{"types": types, "args": t.Args, "kwargs": t.Kwargs}, nil
		}); err != nil {
			return err
		}
		if err := c.Work(wctx, queue.WorkOptions{Queues: []string{args[2]}, Concurrency: 2}); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("timed out after %d of %d tasks", done.Load(), n)
		}
		return nil
	}
	return fmt.Errorf("unknown command %q", args[0])
}

// decode reads JSON as the API does (integers as int64, numbers with a
// point as float64).
func decode[T any](s string, v *T) error {
	x, err := client.DecodeValue([]byte(s))
	if err != nil {
		return fmt.Errorf("decode %q: %w", s, err)
	}
	if x == nil {
		return nil
	}
	got, ok := x.(T)
	if !ok {
		return fmt.Errorf("decode %q: a %T", s, x)
	}
	*v = got
	return nil
}
