package server

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/omniq/omniq/queue"
)

// client.ListTasks against a real server: the filter goes over the wire
// and the pages come back as the engine's.
func TestClientListTasks(t *testing.T) {
	ts, url := startTestServer(t, Config{})
	c := newTestClient(t, url)
	ctx := context.Background()
	var batch []*queue.Task
	for i := range 7 {
		batch = append(batch, &queue.Task{ID: fmt.Sprintf("t%d", i), Func: "f", QueueName: []string{"a", "b"}[i%2], Args: []any{fmt.Sprintf("Arg%d", i)}})
	}
	if err := c.EnqueueBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	for _, f := range []queue.TaskFilter{
		{Limit: 2},
		{Queue: "b", State: queue.StatePending, Limit: 2},
		{Q: "ARG3"},
		{Func: "f", EnqueuedAfter: time.Now().Add(-time.Hour), EnqueuedBefore: time.Now().Add(time.Hour), Limit: 3},
	} {
		got := pageAll(t, c.ListTasks, f)
		want := pageAll(t, ts.q.ListTasks, f)
		if fmt.Sprint(got) != fmt.Sprint(want) || len(want) == 0 {
			t.Errorf("ListTasks(%+v) = %v, the engine lists %v", f, got, want)
		}
	}
	tasks, _, err := c.ListTasks(ctx, queue.TaskFilter{Q: "arg5"})
	if err != nil || len(tasks) != 1 || tasks[0].ID != "t5" || tasks[0].Args[0] != "Arg5" || tasks[0].QueueName != "b" || tasks[0].State != queue.StatePending {
		t.Fatalf("ListTasks(arg5) = %+v, %v", tasks, err)
	}
	if _, _, err := c.ListTasks(ctx, queue.TaskFilter{State: "nope"}); !errors.Is(err, queue.ErrInvalidArgument) {
		t.Errorf("a bad state: %v, want ErrInvalidArgument", err)
	}
}

// pageAll lists every page under f and returns "id/state" of each task,
// with a "|" where a page ends.
func pageAll(t *testing.T, list func(context.Context, queue.TaskFilter) ([]*queue.Task, string, error), f queue.TaskFilter) []string {
	t.Helper()
	var out []string
	for {
		tasks, next, err := list(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range tasks {
			out = append(out, tk.ID+"/"+string(tk.State))
		}
		out = append(out, "|")
		if next == "" {
			return out
		}
		f.After = next
	}
}
