package engine_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/omniq/omniq/engine"
)

// graphNodes returns g's nodes as id → level/state.
func graphNodes(g engine.TaskGraph) string {
	nodes := map[string]string{}
	for _, n := range g.Nodes {
		nodes[n.ID] = fmt.Sprintf("%d/%s", n.Level, n.State)
	}
	return fmt.Sprint(nodes)
}

// TestGraphDownstreamOfEndedTasks: in a chain a <- b <- c where a and b
// completed, a's graph shows b and c downstream; so it does after a
// restart from a snapshot (a and b restored cold) and after a compaction
// that keeps them. A dependant that compaction drops leaves the graph.
func TestGraphDownstreamOfEndedTasks(t *testing.T) {
	f := newFixture(t, storeCases[0]) // memory: snapshots and truncation
	f.enqueue(&engine.Task{ID: "a", Func: "f"})
	f.enqueue(&engine.Task{ID: "b", Func: "f", DependsOn: []string{"a", "a"}})
	f.enqueue(&engine.Task{ID: "c", Func: "f", DependsOn: []string{"b"}})
	for _, id := range []string{"a", "b"} {
		tk := f.dequeue("")
		if tk == nil || tk.ID != id {
			t.Fatalf("dequeued %v, want %s", tk, id)
		}
		if err := f.e.Complete(f.ctx, tk, "ok"); err != nil {
			t.Fatal(err)
		}
	}
	const want = "map[a:0/completed b:1/completed c:2/pending]"
	check := func(when string) {
		t.Helper()
		g, err := f.e.Graph(f.ctx, "a", 4, 50)
		if err != nil {
			t.Fatal(err)
		}
		if got := graphNodes(g); got != want || fmt.Sprint(g.Edges) != "[{b a} {c b}]" || g.Truncated {
			t.Fatalf("%s: graph of a: %s %v (truncated %v), want %s", when, got, g.Edges, g.Truncated, want)
		}
		if g, _ := f.e.Graph(f.ctx, "a", 1, 50); !g.Truncated || graphNodes(g) != "map[a:0/completed b:1/completed]" {
			t.Fatalf("%s: depth 1: %s (truncated %v)", when, graphNodes(g), g.Truncated)
		}
	}
	check("live")
	if g, _ := f.e.Graph(f.ctx, "b", 4, 50); fmt.Sprint(g.Edges) != "[{b a} {c b}]" {
		t.Fatalf("graph of b, which names a twice: edges %v", g.Edges)
	}
	f.restart()
	check("after a restart from a snapshot")
	f.clock.Advance(time.Hour)
	if _, err := f.e.Compact(f.ctx, start.Add(-time.Minute), &sliceArchive{}); err != nil {
		t.Fatal(err)
	}
	check("after a compaction that keeps them")
	f.restart()
	check("after a compaction and a restart")

	// A dependant deleted, then dropped by compaction, leaves the graph.
	f.enqueue(&engine.Task{ID: "x", Func: "f", QueueName: "held"})
	f.enqueue(&engine.Task{ID: "y", Func: "f", DependsOn: []string{"x"}})
	if err := f.e.DeleteTask(f.ctx, "y"); err != nil {
		t.Fatal(err)
	}
	if g, _ := f.e.Graph(f.ctx, "x", 4, 50); graphNodes(g) != "map[x:0/pending y:1/]" {
		t.Fatalf("graph of x with y deleted: %s", graphNodes(g))
	}
	f.clock.Advance(time.Hour)
	if _, err := f.e.Compact(f.ctx, f.clock.Now().Add(-time.Minute), &sliceArchive{}); err != nil {
		t.Fatal(err)
	}
	if g, _ := f.e.Graph(f.ctx, "x", 4, 50); graphNodes(g) != "map[x:0/pending]" || len(g.Edges) != 0 {
		t.Fatalf("graph of x with y archived: %s %v", graphNodes(g), g.Edges)
	}
	f.restart()
	if g, _ := f.e.Graph(f.ctx, "x", 4, 50); graphNodes(g) != "map[x:0/pending]" {
		t.Fatalf("after a restart, graph of x with y archived: %s", graphNodes(g))
	}
}

// TestPastGraphAndList: at a point before a task completed, the graph and
// the task list show it as it was then.
func TestPastGraphAndList(t *testing.T) {
	f := newFixture(t, storeCases[0])
	f.enqueue(&engine.Task{ID: "a", Func: "f"})
	f.enqueue(&engine.Task{ID: "b", Func: "f", DependsOn: []string{"a"}})
	pending := f.head()
	tk := f.dequeue("")
	running := f.head()
	if err := f.e.Complete(f.ctx, tk, "ok"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		pos         uint64
		graph, list string
	}{
		{pending, "map[a:0/pending b:1/waiting]", "[a:pending b:waiting]"},
		{running, "map[a:0/running b:1/waiting]", "[a:running b:waiting]"},
		{f.head(), "map[a:0/completed b:1/pending]", "[a:completed b:pending]"},
	} {
		p, err := f.e.StateAt(f.ctx, c.pos, nil)
		if err != nil {
			t.Fatal(err)
		}
		g, err := p.Graph("a", 4, 50)
		if err != nil {
			t.Fatal(err)
		}
		if got := graphNodes(g); got != c.graph {
			t.Errorf("graph at %d: %s, want %s", c.pos, got, c.graph)
		}
		tasks, next, err := p.ListTasks(engine.TaskFilter{})
		if err != nil || next != "" {
			t.Fatalf("list at %d: next %q, %v", c.pos, next, err)
		}
		var got []string
		for _, tk := range tasks {
			got = append(got, fmt.Sprintf("%s:%s", tk.ID, tk.State))
		}
		if fmt.Sprint(got) != c.list {
			t.Errorf("list at %d: %v, want %s", c.pos, got, c.list)
		}
	}
	p, err := f.e.StateAt(f.ctx, running, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Filters and pages, as in the present.
	if tasks, next, err := p.ListTasks(engine.TaskFilter{State: engine.StateWaiting}); err != nil || len(tasks) != 1 || tasks[0].ID != "b" || next != "" {
		t.Fatalf("waiting at %d: %v %q %v", running, tasks, next, err)
	}
	tasks, next, err := p.ListTasks(engine.TaskFilter{Limit: 1})
	if err != nil || len(tasks) != 1 || next != "a" {
		t.Fatalf("first page: %v %q %v", tasks, next, err)
	}
	if tasks, next, err = p.ListTasks(engine.TaskFilter{Limit: 1, After: next}); err != nil || len(tasks) != 1 || tasks[0].ID != "b" || next != "" {
		t.Fatalf("second page: %v %q %v", tasks, next, err)
	}
	if _, err := p.Graph("nope", 4, 50); err == nil {
		t.Fatal("graph of an unknown task at a past point")
	}
	if _, _, err := p.ListTasks(engine.TaskFilter{State: "bogus"}); err == nil {
		t.Fatal("a bad filter at a past point")
	}
}
