package engine_test

import (
	"context"
	"testing"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/internal/benchstate"
	"github.com/omniq/omniq/stores/memory"
)

// build1M opens an engine on a memory log holding the state of
// benchstate.FillHalfEnded of n tasks.
func build1M(n int) (*engine.Engine, error) {
	ctx := context.Background()
	e, err := engine.Open(ctx, memory.New(), engine.WithSnapshotEvery(0), engine.WithMaxBatch(10000))
	if err != nil {
		return nil, err
	}
	if err := benchstate.FillHalfEnded(ctx, e, n); err != nil {
		return nil, err
	}
	return e, nil
}

// BenchmarkListTasks1M measures the server time of what a dashboard shows
// over a state of a million tasks: Stats, and one page of ListTasks under
// each kind of filter, from the start and from a cursor in the middle.
// A search that matches nothing examines its whole budget: its ns/record
// is what searching one record costs (decoding a cold record, encoding its
// values as JSON).
//
//	go test -run '^$' -bench BenchmarkListTasks1M -benchtime 20x ./engine/
func BenchmarkListTasks1M(b *testing.B) {
	ctx := context.Background()
	e, err := build1M(1_000_000)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = e.Close() })
	st, err := e.Stats(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%d hot, %d cold tasks", st.HotTasks, st.ColdTasks)
	// A cursor half way: the id of the task enqueued in the middle.
	mid := ""
	for f := (engine.TaskFilter{Q: `"user-500000"`, Limit: 1}); mid == ""; {
		tasks, next, err := e.ListTasks(ctx, f)
		if err != nil || next == "" && len(tasks) == 0 {
			b.Fatalf("no middle task: %v", err)
		}
		if len(tasks) > 0 {
			mid = tasks[0].ID
		}
		f.After = next
	}
	b.Run("Stats", func(b *testing.B) {
		for b.Loop() {
			if _, err := e.Stats(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, c := range []struct {
		name string
		f    engine.TaskFilter
	}{
		{"all", engine.TaskFilter{}},
		{"all-mid", engine.TaskFilter{After: mid}},
		{"queue+pending", engine.TaskFilter{Queue: "q2", State: engine.StatePending}},
		{"queue+completed", engine.TaskFilter{Queue: "q2", State: engine.StateCompleted}},
		{"queue+failed", engine.TaskFilter{Queue: "q1", State: engine.StateFailed}},
		{"queue+running", engine.TaskFilter{Queue: "q1", State: engine.StateRunning}},
		{"func", engine.TaskFilter{Func: "q3.f1"}},
		{"func-mid", engine.TaskFilter{Func: "q3.f1", After: mid}},
		{"func-nomatch", engine.TaskFilter{Func: "nope"}},
		{"q-args", engine.TaskFilter{Q: "USER-77"}},
		{"q-completed", engine.TaskFilter{Q: "user-4", State: engine.StateCompleted}},
		{"q-nomatch", engine.TaskFilter{Q: "no such text"}},
		{"q-nomatch-completed", engine.TaskFilter{Q: "no such text", State: engine.StateCompleted}},
	} {
		b.Run(c.name, func(b *testing.B) {
			n := 0
			for b.Loop() {
				tasks, _, err := e.ListTasks(ctx, c.f)
				if err != nil {
					b.Fatal(err)
				}
				n = len(tasks)
			}
			b.ReportMetric(float64(n), "tasks/page")
			if n == 0 && c.f.Q != "" {
				_, search := engine.ListBudgets()
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(search), "ns/record")
			}
		})
	}
}
