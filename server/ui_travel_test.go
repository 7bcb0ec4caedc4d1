package server

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/events"
)

// memArchive keeps the events a compaction archives.
type memArchive struct{ evs []events.Event }

func (a *memArchive) Write(_ context.Context, evs []events.Event) error {
	a.evs = append(a.evs, evs...)
	return nil
}
func (a *memArchive) Sync(context.Context) error { return nil }
func (a *memArchive) String() string             { return "memory" }

// taskState reads the task-state cell of a task page.
func taskState(t *testing.T, body string) string {
	t.Helper()
	return strings.TrimPrefix(between(t, body, `id="task-state">`, "</td>"), `id="task-state">`)
}

// A task page and the overview at a past position show the task as it
// was then (not completed before its completion), live ones as it is; a
// time maps to the last event at or before it; a page at a point carries
// the banner, follows nothing, and its links keep the point.
func TestUITimeTravel(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clk := engine.NewManualClock(start)
	// The lease outlasts the minutes the clock moves: the engine's timer
	// would otherwise expire it (and fail the task) before the completion.
	u := newPagesServer(t, engine.WithClock(clk), engine.WithLeaseTimeout(time.Hour))
	ctx := context.Background()
	evil := "<script>alert(1)</script>"
	job := &engine.Task{ID: "job", Func: evil, QueueName: "mail", Args: []any{evil}}
	if err := u.q.Enqueue(ctx, job); err != nil { // position 1
		t.Fatal(err)
	}
	if err := u.q.Enqueue(ctx, &engine.Task{ID: "next", Func: "f", QueueName: "mail", DependsOn: []string{"job"}}); err != nil { // 2
		t.Fatal(err)
	}
	u.runTaskOn(clk, time.Minute, "mail", "job", "done") // 3 and 4
	if p := u.q.Position(); p != 4 {
		t.Fatalf("position %d, want 4", p)
	}

	live := u.getPage("/ui/tasks/job", 200)
	if got := taskState(t, live); got != "completed" {
		t.Fatalf("live: job %q, want completed", got)
	}
	if strings.Contains(live, `id="travel-banner"`) {
		t.Fatal("the live page shows the time travel banner")
	}
	for pos, want := range map[string]string{"1": "pending", "3": "running", "4": "completed"} {
		body := u.getPage("/ui/tasks/job?position="+pos, 200)
		if got := taskState(t, body); got != want {
			t.Errorf("at %s: job %q, want %q", pos, got, want)
		}
		if !strings.Contains(body, `id="travel-banner"`) || !strings.Contains(body, `id="travel-position">`+pos+`<`) ||
			!strings.Contains(body, `href="/ui/tasks/job" id="back-to-live"`) {
			t.Errorf("at %s: no banner with the position and the way back to live", pos)
		}
		if strings.Contains(body, "data-live=") {
			t.Errorf("at %s: the page follows events", pos)
		}
		if strings.Contains(body, evil) {
			t.Errorf("at %s: markup of the func or args unescaped", pos)
		}
	}
	// Its history stops at the point.
	at3 := u.getPage("/ui/tasks/job?position=3", 200)
	if strings.Contains(at3, `data-type="task.completed"`) || !strings.Contains(at3, `data-type="task.leased"`) {
		t.Error("history at 3: want the lease and not the completion")
	}
	if !strings.Contains(at3, `id="later-events"`) {
		t.Error("history at 3 does not say later events exist")
	}

	// The overview at a point: counts then, links that keep the point.
	ov := u.getPage("/ui/at?position=3", 200)
	row := between(t, ov, `data-queue="mail"`, "</tr>")
	for state, want := range map[string]string{"running": "1", "waiting": "1", "completed": "0"} {
		if got := strings.TrimPrefix(between(t, row, `data-state="`+state+`">`, "</td>"), `data-state="`+state+`">`); got != want {
			t.Errorf("overview at 3: %s %q, want %q", state, got, want)
		}
	}
	if !strings.Contains(ov, `href="/ui/tasks/job?position=3"`) {
		t.Error("overview at 3: the lease's link does not keep the point")
	}
	ov4 := u.getPage("/ui/at?position=4", 200)
	if got := strings.TrimPrefix(between(t, between(t, ov4, `data-queue="mail"`, "</tr>"), `data-state="completed">`, "</td>"), `data-state="completed">`); got != "1" {
		t.Errorf("overview at 4: completed %q", got)
	}

	// A time: the last event at or before it.
	for at, want := range map[time.Time]string{
		start.Add(30 * time.Second): "2",
		start.Add(time.Minute):      "3",
		start.Add(time.Hour):        "4",
		start.Add(-time.Hour):       "0",
	} {
		body := u.getPage("/ui/at?time="+url.QueryEscape(at.Format(time.RFC3339)), 200)
		if !strings.Contains(body, `id="travel-position">`+want+`<`) {
			t.Errorf("time %s: want position %s", at.Format(time.RFC3339), want)
		}
	}
	// The header form's field, on a task page.
	if got := taskState(t, u.getPage("/ui/tasks/job?point=3", 200)); got != "running" {
		t.Errorf("point=3: %q", got)
	}

	// Bad points are the caller's error, not the server's.
	for _, q := range []string{"position=x", "time=yesterday", "position=99", "position=1&time=2026-03-01T12:00:00Z"} {
		if code, _ := u.page("/ui/at?"+q, nil); code != 400 {
			t.Errorf("/ui/at?%s: %d, want 400", q, code)
		}
	}
	if code, body := u.page("/ui/tasks/nope?position=2", nil); code != 404 || !strings.Contains(body, "did not exist at position 2") {
		t.Errorf("unknown task at 2: %d", code)
	}
}

// A position compaction removed gets a clear message (410), not a 500.
func TestUITimeTravelCompacted(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clk := engine.NewManualClock(start)
	u := newPagesServer(t, engine.WithClock(clk))
	ctx := context.Background()
	for _, id := range []string{"a", "b"} {
		if err := u.q.Enqueue(ctx, &engine.Task{ID: id, Func: "f"}); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(time.Hour)
	res, err := u.q.Compact(ctx, clk.Now(), &memArchive{})
	if err != nil {
		t.Fatal(err)
	}
	if res.First < 2 {
		t.Fatalf("compaction left the log starting at %d", res.First)
	}
	for _, path := range []string{"/ui/at?position=1", "/ui/tasks/a?position=1", "/ui/at?time=2026-03-01T11:00:00Z"} {
		code, body := u.page(path, nil)
		if code != 410 || !strings.Contains(body, "compacted away") {
			t.Errorf("%s: %d, want 410 saying it was compacted away\n%s", path, code, body)
		}
	}
	// The checkpoint itself, and after, still travel.
	body := u.getPage("/ui/tasks/a?position="+strconv.FormatUint(res.Checkpoint, 10), 200)
	if got := taskState(t, body); got != "pending" {
		t.Errorf("at the checkpoint: a %q", got)
	}
}

// The cache keeps the last points rebuilt: asking again for one returns
// it without a replay, and it holds no more than travelKeep.
func TestUITravelCache(t *testing.T) {
	u := newPagesServer(t)
	for _, id := range []string{"a", "b", "c"} {
		u.enqueue(`{"id":"` + id + `","func":"f"}`)
	}
	ctx := context.Background()
	var c travelCache
	p1, err := c.at(ctx, u.q, 1)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := c.at(ctx, u.q, 1); again != p1 {
		t.Fatal("the same point was rebuilt")
	}
	p2, _ := c.at(ctx, u.q, 2)
	p3, _ := c.at(ctx, u.q, 3) // from p2, the nearest earlier point
	if p2 == nil || p3 == nil || p3.Position() != 3 || len(c.points) != travelKeep {
		t.Fatalf("points kept: %d", len(c.points))
	}
	if _, err := p3.GetTask("c"); err != nil {
		t.Fatalf("at 3, c: %v", err)
	}
	if _, err := p2.GetTask("c"); err == nil {
		t.Fatal("at 2, c exists")
	}
	if again, _ := c.at(ctx, u.q, 1); again == p1 {
		t.Fatal("point 1 was kept past the bound")
	}
}
