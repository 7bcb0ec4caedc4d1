package engine_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/stores/memory"
)

// listAll pages through ListTasks under f, calling between after each
// page, and returns the ids in the order listed.
func listAll(t *testing.T, e *engine.Engine, f engine.TaskFilter, between func(page int)) []string {
	t.Helper()
	var ids []string
	for page := 0; ; page++ {
		tasks, next, err := e.ListTasks(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range tasks {
			ids = append(ids, tk.ID)
		}
		if next == "" {
			return ids
		}
		if len(tasks) != f.Limit || next != tasks[len(tasks)-1].ID {
			t.Fatalf("page %d: %d tasks, next %q", page, len(tasks), next)
		}
		if between != nil {
			between(page)
		}
		f.After = next
	}
}

func TestListTasksPagesStayCorrectWhileTasksMove(t *testing.T) {
	ctx := context.Background()
	e := openFollowEngine(t, memory.New())
	var want []string
	for i := range 10 {
		id := fmt.Sprintf("t%02d", i)
		want = append(want, id)
		q := "q"
		if i%3 == 0 {
			q = "other"
		}
		if err := e.Enqueue(ctx, &engine.Task{ID: id, Func: "f", QueueName: q}); err != nil {
			t.Fatal(err)
		}
	}
	// Between pages tasks are leased, completed and new ones enqueued
	// before the cursor: no page may repeat or skip one.
	got := listAll(t, e, engine.TaskFilter{Limit: 3}, func(page int) {
		tk, err := e.Dequeue(ctx, "q")
		if err != nil || tk == nil {
			t.Fatalf("dequeue: %v, %v", tk, err)
		}
		if page%2 == 0 {
			if err := e.Complete(ctx, tk, "ok"); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.Enqueue(ctx, &engine.Task{ID: fmt.Sprintf("a%d", page), Func: "f", QueueName: "q"}); err != nil {
			t.Fatal(err)
		}
	})
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("listed %v, want %v", got, want)
	}

	// Filters, ended tasks included.
	for _, c := range []struct {
		f    engine.TaskFilter
		want string
	}{
		{engine.TaskFilter{Queue: "other", Limit: 2}, "[t00 t03 t06 t09]"},
		{engine.TaskFilter{State: engine.StateCompleted, Limit: 1}, "[t01 t04]"},
		{engine.TaskFilter{State: engine.StateRunning}, "[t02]"},
		{engine.TaskFilter{Queue: "q", State: engine.StatePending}, "[a0 a1 a2 t05 t07 t08]"},
		{engine.TaskFilter{Func: "nope"}, "[]"},
	} {
		if got := listAll(t, e, c.f, nil); fmt.Sprint(got) != c.want {
			t.Errorf("ListTasks(%+v) = %v, want %s", c.f, got, c.want)
		}
	}
	if _, _, err := e.ListTasks(ctx, engine.TaskFilter{Limit: engine.MaxListLimit + 1}); !errors.Is(err, engine.ErrInvalidArgument) {
		t.Errorf("a limit past the most: %v", err)
	}
	if err := e.DeleteTask(ctx, "t07"); err != nil {
		t.Fatal(err)
	}
	if got := listAll(t, e, engine.TaskFilter{Queue: "q", State: engine.StatePending}, nil); fmt.Sprint(got) != "[a0 a1 a2 t05 t08]" {
		t.Errorf("after deleting t07: %v", got)
	}
}

func TestGraphUpstreamAndDownstream(t *testing.T) {
	ctx := context.Background()
	e := openFollowEngine(t, memory.New())
	for _, tk := range []*engine.Task{
		{ID: "root", Func: "f"},
		{ID: "mid", Func: "f", DependsOn: []string{"root"}},
		{ID: "side", Func: "f"},
		{ID: "leaf", Func: "f", DependsOn: []string{"mid", "side"}},
		{ID: "tail", Func: "f", DependsOn: []string{"leaf"}},
	} {
		if err := e.Enqueue(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	g, err := e.Graph(ctx, "mid", 4, 50)
	if err != nil {
		t.Fatal(err)
	}
	nodes := map[string]string{}
	for _, n := range g.Nodes {
		nodes[n.ID] = fmt.Sprintf("%d/%s", n.Level, n.State)
	}
	if want := "map[leaf:1/waiting mid:0/waiting root:-1/pending tail:2/waiting]"; fmt.Sprint(nodes) != want {
		t.Errorf("nodes %v, want %s", nodes, want)
	}
	if want := "[{mid root} {leaf mid} {tail leaf}]"; fmt.Sprint(g.Edges) != want {
		t.Errorf("edges %v, want %s", g.Edges, want)
	}
	if g.Truncated || g.Nodes[0].ID != "mid" {
		t.Errorf("truncated %v, first node %q", g.Truncated, g.Nodes[0].ID)
	}
	// Bounds.
	if g, _ := e.Graph(ctx, "leaf", 1, 50); !g.Truncated || len(g.Nodes) != 4 {
		t.Errorf("depth 1 of leaf: %+v", g)
	}
	if g, _ := e.Graph(ctx, "leaf", 4, 2); !g.Truncated || len(g.Nodes) != 2 || len(g.Edges) != 1 {
		t.Errorf("2 nodes of leaf: %+v", g)
	}
	if _, err := e.Graph(ctx, "nope", 4, 50); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("graph of an unknown task: %v", err)
	}
}
