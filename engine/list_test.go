package engine_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/stores"
)

// listIDs pages through ListTasks under f to the end, whatever the pages
// hold, and returns the ids listed; it fails on ids out of order.
func listIDs(t *testing.T, e *engine.Engine, f engine.TaskFilter) []string {
	t.Helper()
	var ids []string
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatal("no end in sight")
		}
		tasks, next, err := e.ListTasks(context.Background(), f)
		if err != nil {
			t.Fatalf("ListTasks(%+v): %v", f, err)
		}
		for _, tk := range tasks {
			if len(ids) > 0 && tk.ID <= ids[len(ids)-1] {
				t.Fatalf("ListTasks(%+v): %s after %s", f, tk.ID, ids[len(ids)-1])
			}
			ids = append(ids, tk.ID)
		}
		if next == "" {
			return ids
		}
		if next <= f.After {
			t.Fatalf("ListTasks(%+v): cursor %q does not move", f, next)
		}
		f.After = next
	}
}

// listFixture holds tasks of every kind a filter tells apart, each
// enqueued a minute after the one before it:
//
//	a1   mail/send   args ["Hello World"]              completed
//	b2   mail/send   kwargs {"to": "Bob@Example.com"}  failed
//	c3   img/resize  meta {"tenant": "ACME"}           running
//	d4   img/resize  args [42]                         pending
//	XQ9  q/f         (an id to search)                 pending
//	e5   q/f         run at an hour after a1           waiting (delayed)
//	f6   q/f                                           deleted
func listFixture(t *testing.T) *fixture {
	f := newFixture(t, storeCases[0])
	specs := []*engine.Task{
		{ID: "a1", Func: "send", QueueName: "mail", Args: []any{"Hello World"}},
		{ID: "b2", Func: "send", QueueName: "mail", Kwargs: map[string]any{"to": "Bob@Example.com"}},
		{ID: "c3", Func: "resize", QueueName: "img", Meta: map[string]string{"tenant": "ACME"}},
		{ID: "d4", Func: "resize", QueueName: "img", Args: []any{42}},
		{ID: "XQ9", Func: "f", QueueName: "q"},
		{ID: "e5", Func: "f", QueueName: "q", Schedule: &engine.Schedule{RunAt: start.Add(time.Hour)}},
		{ID: "f6", Func: "f", QueueName: "q"},
	}
	for _, s := range specs {
		f.enqueue(s)
		f.clock.Advance(time.Minute)
	}
	a1 := f.dequeue("mail")
	if err := f.e.Complete(f.ctx, a1, "done"); err != nil {
		t.Fatal(err)
	}
	b2 := f.dequeue("mail")
	if err := f.e.Fail(f.ctx, b2, errors.New("no")); err != nil {
		t.Fatal(err)
	}
	if c3 := f.dequeue("img"); c3.ID != "c3" {
		t.Fatalf("dequeued %s", c3.ID)
	}
	if err := f.e.DeleteTask(f.ctx, "f6"); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestListTasksFilters(t *testing.T) {
	f := listFixture(t)
	at := func(min int) time.Time { return start.Add(time.Duration(min) * time.Minute) }
	cases := []struct {
		f    engine.TaskFilter
		want string
	}{
		{engine.TaskFilter{}, "[XQ9 a1 b2 c3 d4 e5]"},
		{engine.TaskFilter{Queue: "mail"}, "[a1 b2]"},
		{engine.TaskFilter{Func: "resize"}, "[c3 d4]"},
		{engine.TaskFilter{Queue: "img", Func: "send"}, "[]"},
		{engine.TaskFilter{State: engine.StateCompleted}, "[a1]"},
		{engine.TaskFilter{State: engine.StateFailed}, "[b2]"},
		{engine.TaskFilter{State: engine.StateRunning}, "[c3]"},
		{engine.TaskFilter{State: engine.StatePending}, "[XQ9 d4]"},
		{engine.TaskFilter{State: engine.StateWaiting}, "[e5]"},
		{engine.TaskFilter{State: engine.StateCancelled}, "[]"},
		{engine.TaskFilter{State: engine.StateScheduled}, "[]"},
		{engine.TaskFilter{Queue: "img", State: engine.StatePending}, "[d4]"},
		// Search: args, kwargs, meta, id; any case; JSON text.
		{engine.TaskFilter{Q: "hello w"}, "[a1]"},
		{engine.TaskFilter{Q: "BOB@example"}, "[b2]"},
		{engine.TaskFilter{Q: `"to":"bob`}, "[b2]"},
		{engine.TaskFilter{Q: "acme"}, "[c3]"},
		{engine.TaskFilter{Q: "tenant"}, "[c3]"},
		{engine.TaskFilter{Q: "[42]"}, "[d4]"},
		{engine.TaskFilter{Q: "xq"}, "[XQ9]"},
		{engine.TaskFilter{Q: "nowhere"}, "[]"},
		{engine.TaskFilter{Q: "done"}, "[]"}, // the result is not searched
		{engine.TaskFilter{Q: "o", Queue: "mail", State: engine.StateFailed}, "[b2]"},
		// Enqueue time: at or after, before.
		{engine.TaskFilter{EnqueuedAfter: at(2)}, "[XQ9 c3 d4 e5]"},
		{engine.TaskFilter{EnqueuedBefore: at(2)}, "[a1 b2]"},
		{engine.TaskFilter{EnqueuedAfter: at(1), EnqueuedBefore: at(4)}, "[b2 c3 d4]"},
		{engine.TaskFilter{EnqueuedAfter: at(1).Add(time.Second), EnqueuedBefore: at(2)}, "[]"},
		// Cursor.
		{engine.TaskFilter{After: "b2"}, "[c3 d4 e5]"},
		{engine.TaskFilter{After: "e5"}, "[]"},
	}
	check := func(when string) {
		t.Helper()
		for _, c := range cases {
			for _, limit := range []int{1, 2, 0} {
				lf := c.f
				lf.Limit = limit
				if got := listIDs(t, f.e, lf); fmt.Sprint(got) != c.want {
					t.Errorf("%s: ListTasks(%+v) = %v, want %s", when, lf, got, c.want)
				}
			}
		}
	}
	check("hot")
	tasks, _, err := f.e.ListTasks(f.ctx, engine.TaskFilter{Q: "hello"})
	if err != nil || len(tasks) != 1 || tasks[0].Args[0] != "Hello World" || tasks[0].State != engine.StateCompleted || !tasks[0].CreatedAt.Equal(start) {
		t.Fatalf("the task listed: %+v, %v", tasks, err)
	}

	// A restart from a snapshot: the ended tasks come back cold (their
	// records are searched as encoded in the snapshot).
	snap, err := f.e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.log.(stores.SnapshotStore).SaveSnapshot(f.ctx, f.e.Position(), snap); err != nil {
		t.Fatal(err)
	}
	f.restart()
	if st, err := f.e.Stats(f.ctx); err != nil || st.ColdTasks == 0 {
		t.Fatalf("after a restart: %d cold tasks, %v", st.ColdTasks, err)
	}
	check("restored")

	// Compaction drops what ended before its cut-off, and the lists follow.
	f.clock.Advance(time.Hour)
	if _, err := f.e.Compact(f.ctx, f.clock.Now().Add(-time.Minute), &sliceArchive{}); err != nil {
		t.Fatal(err)
	}
	if got := listIDs(t, f.e, engine.TaskFilter{}); fmt.Sprint(got) != "[XQ9 c3 d4 e5]" {
		t.Errorf("after compaction: %v", got)
	}
	if got := listIDs(t, f.e, engine.TaskFilter{Q: "hello"}); len(got) != 0 {
		t.Errorf("after compaction, search: %v", got)
	}
}

func TestListTasksRefusesBadFilters(t *testing.T) {
	f := listFixture(t)
	for _, bad := range []engine.TaskFilter{
		{Limit: engine.MaxListLimit + 1},
		{State: "nope"},
		{Q: strings.Repeat("q", 257)},
		{EnqueuedAfter: start, EnqueuedBefore: start},
		{EnqueuedAfter: start, EnqueuedBefore: start.Add(-time.Second)},
	} {
		if _, _, err := f.e.ListTasks(f.ctx, bad); !errors.Is(err, engine.ErrInvalidArgument) {
			t.Errorf("ListTasks(%+v): %v, want ErrInvalidArgument", bad, err)
		}
	}
}

// A page examines a bounded number of records: a selective filter gets
// partial pages, perhaps empty, whose cursor moves on, and only the last
// page has none.
func TestListTasksBoundedScan(t *testing.T) {
	defer engine.SetListBudgets(10, 4)()
	f := newFixture(t, storeCases[0])
	var batch []*engine.Task
	for i := range 35 {
		tk := &engine.Task{ID: fmt.Sprintf("t%02d", i), Func: "f"}
		if i == 23 || i == 31 {
			tk.Func, tk.Args = "rare", []any{"needle"}
		}
		batch = append(batch, tk)
	}
	if err := f.e.EnqueueBatch(f.ctx, batch); err != nil {
		t.Fatal(err)
	}
	page := func(lf engine.TaskFilter) ([]string, string) {
		t.Helper()
		tasks, next, err := f.e.ListTasks(f.ctx, lf)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, tk := range tasks {
			ids = append(ids, tk.ID)
		}
		return ids, next
	}
	for _, c := range []struct {
		f     engine.TaskFilter
		pages string
	}{
		// 10 records a page: t00..t09, t10..t19, t20..t29 (t23), t30..t34 (t31, the end).
		{engine.TaskFilter{Func: "rare"}, "[] t09 | [] t19 | [t23] t29 | [t31] "},
		// A search examines 4.
		{engine.TaskFilter{Q: "needle", After: "t19"}, "[t23] t23 | [] t27 | [t31] t31 | [] "},
		// A page that fills up before its bound ends at its last task.
		{engine.TaskFilter{Limit: 3}, "[t00 t01 t02] t02"},
	} {
		var got []string
		lf := c.f
		for {
			ids, next := page(lf)
			got = append(got, fmt.Sprintf("%v %s", ids, next))
			if next == "" || len(got) > 20 || lf.Limit == 3 {
				break
			}
			lf.After = next
		}
		if s := strings.Join(got, " | "); s != c.pages {
			t.Errorf("ListTasks(%+v) pages %s, want %s", c.f, s, c.pages)
		}
	}
}

// Pages stay right while tasks change state, end, are deleted and are
// enqueued between them, with ids in no particular order: every task
// there from start to end is listed exactly once, in id order.
func TestListTasksPagingWhileTasksChange(t *testing.T) {
	defer engine.SetListBudgets(25, 25)()
	f := newFixture(t, storeCases[0], engine.WithMaxBatch(1000))
	r := rand.New(rand.NewPCG(7, 7))
	var batch []*engine.Task
	for range 400 {
		batch = append(batch, &engine.Task{ID: fmt.Sprintf("%08x", r.Uint32()), Func: "f", QueueName: []string{"a", "b"}[r.IntN(2)], Retries: 1})
	}
	if err := f.e.EnqueueBatch(f.ctx, batch); err != nil {
		t.Fatal(err)
	}
	deleted := map[string]bool{}
	var ids []string
	lf := engine.TaskFilter{Limit: 9}
	for pages := 0; ; pages++ {
		tasks, next, err := f.e.ListTasks(f.ctx, lf)
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range tasks {
			ids = append(ids, tk.ID)
		}
		if next == "" {
			break
		}
		lf.After = next
		// Between pages: leases, completions, failures (retried, then
		// failed), deletes, and new tasks on both sides of the cursor.
		for range 5 {
			tk := f.dequeue([]string{"a", "b"}[r.IntN(2)])
			if tk == nil {
				continue
			}
			switch r.IntN(3) {
			case 0:
				err = f.e.Complete(f.ctx, tk, nil)
			case 1:
				err = f.e.Fail(f.ctx, tk, errors.New("x"))
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		victim := batch[r.IntN(len(batch))].ID
		if !deleted[victim] && f.e.DeleteTask(f.ctx, victim) == nil {
			deleted[victim] = true
		}
		f.enqueue(&engine.Task{ID: fmt.Sprintf("%08x", r.Uint32()), Func: "g", QueueName: "a"})
	}
	if !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
		t.Fatalf("ids repeated or out of order")
	}
	listed := map[string]bool{}
	for _, id := range ids {
		listed[id] = true
	}
	for _, tk := range batch {
		if !deleted[tk.ID] && !listed[tk.ID] {
			t.Errorf("task %s skipped", tk.ID)
		}
	}
}

// Tasks that ended while the engine ran go cold (compact records) past the
// few thousand the state keeps hot: filters and searches find them there.
func TestListTasksFindsRecentColdTasks(t *testing.T) {
	f := newFixture(t, storeCases[0], engine.WithMaxBatch(2000))
	const n = 9000
	for i := 0; i < n; i += 1000 {
		var batch []*engine.Task
		for j := i; j < i+1000; j++ {
			batch = append(batch, &engine.Task{ID: fmt.Sprintf("t%05d", j), Func: "f", Args: []any{fmt.Sprintf("Needle-%d", j)}})
		}
		if err := f.e.EnqueueBatch(f.ctx, batch); err != nil {
			t.Fatal(err)
		}
		leased, err := f.e.DequeueN(f.ctx, "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]engine.Outcome, len(leased))
		for j, tk := range leased {
			out[j] = engine.Outcome{Task: tk}
		}
		if _, err := f.e.CompleteBatch(f.ctx, out); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := f.e.Stats(f.ctx); err != nil || st.ColdTasks == 0 || st.HotTasks == 0 {
		t.Fatalf("%d hot, %d cold tasks, %v: want both", st.HotTasks, st.ColdTasks, err)
	}
	for _, c := range []struct {
		f    engine.TaskFilter
		want string
	}{
		{engine.TaskFilter{Q: `"needle-7"`}, "[t00007]"},    // cold
		{engine.TaskFilter{Q: `"NEEDLE-8999"`}, "[t08999]"}, // still hot
		{engine.TaskFilter{Q: `"needle-12"`, State: engine.StateCompleted}, "[t00012]"},
		{engine.TaskFilter{Q: `"needle-12"`, State: engine.StateCompleted, After: "t00012"}, "[]"},
	} {
		if got := listIDs(t, f.e, c.f); fmt.Sprint(got) != c.want {
			t.Errorf("ListTasks(%+v) = %v, want %s", c.f, got, c.want)
		}
	}
	got := listIDs(t, f.e, engine.TaskFilter{State: engine.StateCompleted, Limit: engine.MaxListLimit})
	if len(got) != n || got[0] != "t00000" || got[n-1] != fmt.Sprintf("t%05d", n-1) {
		t.Errorf("listed %d completed tasks, want %d", len(got), n)
	}
}
