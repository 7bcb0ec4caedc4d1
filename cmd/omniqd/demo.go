package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/stores/storeurl"
)

func init() {
	commands["demo"] = command{summary: "run the core queue API's usage example against a store", usage: "[--store URL]", run: runDemo}
}

func runDemo(ctx context.Context, args []string) error {
	fs := newFlagSet("demo")
	store := fs.String("store", envOr("OMNIQ_STORE", storeurl.Default), "store URL (env OMNIQ_STORE)")
	if _, err := parseArgs(fs, args, argSpec{}); err != nil {
		return err
	}
	log, err := storeurl.Open(ctx, *store)
	if err != nil {
		return err
	}
	defer log.Close()
	q, err := engine.Open(ctx, log)
	if err != nil {
		return err
	}
	defer q.Close()
	return demo(ctx, q, stdout)
}

// demo is the core queue API's usage example: simple, scheduled and
// prioritised tasks through enqueue, dequeue, get and delete, printed as it goes.
func demo(ctx context.Context, q *engine.Engine, out io.Writer) error {
	simple := &engine.Task{Func: "my_simple_func", Args: []any{10, 20}}
	if err := q.Enqueue(ctx, simple); err != nil {
		return err
	}
	fmt.Fprintf(out, "Enqueued simple task: %s\n", simple.ID)

	future := time.Now().UTC().Add(5 * time.Second)
	scheduled := &engine.Task{Func: "my_scheduled_func", Schedule: &engine.Schedule{RunAt: future}}
	if err := q.Enqueue(ctx, scheduled); err != nil {
		return err
	}
	fmt.Fprintf(out, "Enqueued scheduled task: %s to run at %s\n", scheduled.ID, future.Format(time.RFC3339))

	task, err := q.Dequeue(ctx, "")
	if err != nil {
		return err
	}
	if task != nil {
		fmt.Fprintf(out, "Dequeued task: %s\n", task.ID)
		result, err := runDemoFunc(task)
		if err != nil {
			_ = q.Fail(ctx, task, err)
			return err
		}
		fmt.Fprintf(out, "Task result: %v\n", result)
		if err := q.Complete(ctx, task, result); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(out, "No tasks in queue.")
	}

	high := &engine.Task{Func: "high_prio", QueueName: "high_priority", Priority: 10}
	low := &engine.Task{Func: "low_prio", QueueName: "low_priority", Priority: 1}
	if err := q.Enqueue(ctx, high); err != nil {
		return err
	}
	if err := q.Enqueue(ctx, low); err != nil {
		return err
	}
	fmt.Fprintln(out, "Enqueued tasks to named queues.")

	if t, err := q.Dequeue(ctx, "high_priority"); err != nil {
		return err
	} else if t != nil {
		result, _ := runDemoFunc(t)
		fmt.Fprintf(out, "Dequeued from high_priority: %v\n", result)
		if err := q.Complete(ctx, t, result); err != nil {
			return err
		}
	}

	if err := q.DeleteTask(ctx, simple.ID); err != nil {
		return err
	}
	fmt.Fprintf(out, "Deleted task %s\n", simple.ID)
	return nil
}

// runDemoFunc plays the example's functions: a Go process runs handlers by name.
func runDemoFunc(t *engine.Task) (any, error) {
	switch t.Func {
	case "my_simple_func":
		x, _ := t.Args[0].(int64)
		y, _ := t.Args[1].(int64)
		return x + y, nil
	case "high_prio":
		return "High Prio", nil
	case "low_prio":
		return "Low Prio", nil
	case "my_scheduled_func":
		return "Scheduled task executed!", nil
	}
	return nil, fmt.Errorf("%w: %q", engine.ErrNoHandler, t.Func)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
