package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/omniq/omniq/engine"
)

// runTask leases the next task of queue, which must be id, and completes it.
func (u *uiServer) runTask(queue, id string) {
	u.runTaskOn(nil, 0, queue, id, "ok")
}

// runTaskOn is runTask on the manual clock clk, which moves on step before
// the lease and again before the completion (a nil clk stays put); the
// task completes with result.
func (u *uiServer) runTaskOn(clk *engine.ManualClock, step time.Duration, queue, id string, result any) {
	u.t.Helper()
	ctx := context.Background()
	advance := func() {
		if clk != nil {
			clk.Advance(step)
		}
	}
	advance()
	tk, err := u.q.Dequeue(ctx, queue)
	if err != nil || tk == nil || tk.ID != id {
		u.t.Fatalf("dequeue: %v %v, want %s", tk, err, id)
	}
	advance()
	if err := u.q.Complete(ctx, tk, result); err != nil {
		u.t.Fatal(err)
	}
}

// graphOf returns the dependency graph's SVG of a task page.
func graphOf(t *testing.T, body string) string {
	t.Helper()
	return between(t, body, `<svg id="graph"`, "</svg>")
}

// The task page of a task that completed shows the tasks that depended
// on it downstream, ended or not, two levels deep.
func TestUITaskGraphOfEndedTask(t *testing.T) {
	u := newPagesServer(t)
	u.enqueue(`{"id":"a","func":"f","queue_name":"q"}`)
	u.enqueue(`{"id":"b","func":"f","queue_name":"q","depends_on":["a"]}`)
	u.enqueue(`{"id":"c","func":"f","queue_name":"q","depends_on":["b"]}`)
	u.runTask("q", "a")
	u.runTask("q", "b")
	body := u.getPage("/ui/tasks/a", 200)
	svg := graphOf(t, body)
	for _, want := range []string{`class="node s-completed self" data-task="a"`, `class="node s-completed" data-task="b"`, `class="node s-pending" data-task="c"`} {
		if !strings.Contains(svg, want) {
			t.Errorf("graph of a: no %s in\n%s", want, svg)
		}
	}
	if strings.Count(svg, `<line class="edge"`) != 2 {
		t.Errorf("graph of a: want 2 edges\n%s", svg)
	}
	if strings.Contains(body, `id="no-graph"`) || strings.Contains(body, "keeps no list of its dependants") {
		t.Error("the page of a says it has no downstream")
	}
	if !strings.Contains(body, "whatever their state") {
		t.Error("the graph's note does not say that ended dependants show")
	}
}

// At a past point, a task's page draws the graph as it stood then, and
// the task list lists the tasks as they stood then, with filters and
// pages; every link keeps the point.
func TestUIPastGraphAndTaskList(t *testing.T) {
	u := newPagesServer(t)
	u.enqueue(`{"id":"a","func":"f","queue_name":"q"}`)                       // 1
	u.enqueue(`{"id":"b","func":"f","queue_name":"q","depends_on":["a"]}`)    // 2
	u.enqueue(`{"id":"z","func":"g","queue_name":"other","args":["needle"]}`) // 3
	ctx := context.Background()
	tk, err := u.q.Dequeue(ctx, "q") // 4
	if err != nil || tk == nil || tk.ID != "a" {
		t.Fatalf("dequeue: %v %v", tk, err)
	}
	if err := u.q.Complete(ctx, tk, "ok"); err != nil { // 5, and b pending
		t.Fatal(err)
	}

	// The graph at 4: a running, b waiting; links keep the point.
	page := u.getPage("/ui/tasks/a?position=4", 200)
	svg := graphOf(t, page)
	for _, want := range []string{
		`href="/ui/tasks/a?position=4" class="node s-running self"`,
		`href="/ui/tasks/b?position=4" class="node s-waiting"`,
	} {
		if !strings.Contains(svg, want) {
			t.Errorf("graph of a at 4: no %s in\n%s", want, svg)
		}
	}
	if strings.Contains(page, "drawn on the live page only") {
		t.Error("the past page says the graph is drawn live only")
	}
	if svg := graphOf(t, u.getPage("/ui/tasks/a", 200)); !strings.Contains(svg, `href="/ui/tasks/b" class="node s-pending"`) {
		t.Errorf("live graph of a: b is not pending\n%s", svg)
	}

	// The list at 4.
	list := u.getPage("/ui/tasks?position=4", 200)
	rowState := func(body, id string) string {
		row := between(t, body, `<tr data-task="`+id+`">`, "</tr>")
		return between(t, row, `<td class="s-`, `</td>`)
	}
	for id, want := range map[string]string{"a": "running", "b": "waiting", "z": "pending"} {
		if got := rowState(list, id); !strings.HasSuffix(got, ">"+want) {
			t.Errorf("list at 4: %s is %q, want %s", id, got, want)
		}
	}
	for _, want := range []string{
		`id="travel-banner"`, `<h1>Tasks at position 4</h1>`, `href="/ui/tasks/a?position=4"`,
		`<input type="hidden" name="position" value="4">`, `href="/ui/tasks" id="back-to-live"`,
	} {
		if !strings.Contains(list, want) {
			t.Errorf("list at 4: no %s", want)
		}
	}
	if strings.Contains(list, "data-live=") || strings.Contains(list, `id="bulk"`) {
		t.Error("the list at a point follows events or offers bulk actions")
	}
	// The header's form on the live list goes to the list at the point.
	if live := u.getPage("/ui/tasks", 200); !strings.Contains(live, `action="/ui/tasks" id="travel-form"`) {
		t.Error("the live list's time travel form does not go to the list")
	}
	if s := u.getPage("/ui/tasks?point=4", 200); !strings.Contains(s, `<h1>Tasks at position 4</h1>`) {
		t.Error("point=4: not the list at 4")
	}
	// Filters at the point.
	running := u.getPage("/ui/tasks?position=4&state=running", 200)
	if !strings.Contains(running, `data-task="a"`) || strings.Contains(running, `data-task="b"`) {
		t.Error("state=running at 4: want a alone")
	}
	if live := u.getPage("/ui/tasks?state=running", 200); strings.Contains(live, `data-task="a"`) {
		t.Error("state=running live lists a, which completed")
	}
	if s := u.getPage("/ui/tasks?position=4&q=needle", 200); !strings.Contains(s, `data-task="z"`) || strings.Contains(s, `data-task="a"`) {
		t.Error("search at 4: want z alone")
	}
	if s := u.getPage("/ui/tasks?position=2", 200); strings.Contains(s, `data-task="z"`) || !strings.Contains(s, `data-task="b"`) {
		t.Error("list at 2: z did not exist yet")
	}
	// Pages: the next page's link keeps the point and the filter.
	first := u.getPage("/ui/tasks?position=4&queue=q&limit=1", 200)
	next := strings.TrimPrefix(between(t, first, `id="next-page" href="`, `">`), `id="next-page" href="`)
	next = strings.ReplaceAll(next, "&amp;", "&")
	if !strings.Contains(next, "position=4") || !strings.Contains(next, "after=a") || !strings.Contains(next, "queue=q") {
		t.Fatalf("next page link %q", next)
	}
	second := u.getPage(next, 200)
	if !strings.Contains(second, `data-task="b"`) || strings.Contains(second, `data-task="a"`) || strings.Contains(second, `id="next-page"`) {
		t.Error("second page at 4: want b alone, and no further page")
	}
	// The overview at the point links to the list there.
	if ov := u.getPage("/ui/at?position=4", 200); !strings.Contains(ov, `href="/ui/tasks?position=4" id="tasks-at"`) ||
		!strings.Contains(ov, `href="/ui/tasks?queue=q&amp;position=4"`) {
		t.Error("the overview at 4 does not link to the task list there")
	}
	// Bad filters and points are the caller's error.
	for _, q := range []string{"position=4&state=bogus", "position=99", "position=x"} {
		if code, _ := u.page("/ui/tasks?"+q, nil); code != 400 {
			t.Errorf("/ui/tasks?%s: %d, want 400", q, code)
		}
	}
	if frag := u.getPage("/ui/tasks?position=4&fragment=1", 200); !strings.Contains(frag, `data-task="a"`) || strings.Contains(frag, "<html") {
		t.Error("the list's fragment at 4")
	}
}
