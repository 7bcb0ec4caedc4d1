package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/omniq/omniq/engine"
)

// newPagesServer is newUIServer without a token, over an engine opened
// with opts.
func newPagesServer(t *testing.T, opts ...engine.Option) *uiServer {
	t.Helper()
	return newUIServer(t, Config{UI: true}, opts...)
}

// getPage GETs path and fails the test unless it answers want.
func (u *uiServer) getPage(path string, want int) string {
	u.t.Helper()
	code, body := u.page(path, nil)
	if code != want {
		u.t.Fatalf("GET %s: %d, want %d\n%s", path, code, want, body)
	}
	return body
}

// The schedules page lists every recurring schedule with its period and
// its recent fires (each a link to the task it enqueued), and the tasks
// held back until a time; a func or args holding markup show as text.
func TestUISchedulesPage(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clk := engine.NewManualClock(start)
	u := newPagesServer(t, engine.WithClock(clk))
	ctx := context.Background()
	evil := "<script>alert(1)</script>"
	if err := u.q.Enqueue(ctx, &engine.Task{ID: "tick", Func: evil, QueueName: "cron", Args: []any{evil},
		Schedule: &engine.Schedule{Interval: time.Minute}}); err != nil {
		t.Fatal(err)
	}
	if err := u.q.Enqueue(ctx, &engine.Task{ID: "nightly", Func: "report", Schedule: &engine.Schedule{Cron: "0 3 * * *"}}); err != nil {
		t.Fatal(err)
	}
	if err := u.q.Enqueue(ctx, &engine.Task{ID: "later", Func: evil, QueueName: "mail",
		Schedule: &engine.Schedule{RunAt: start.Add(2 * time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	// Three fires of tick.
	for i := 1; i <= 3; i++ {
		clk.Advance(time.Minute)
		waitFor(t, 10*time.Second, "tick's fire", func() bool {
			tk, err := u.q.GetTask(ctx, "tick")
			return err == nil && tk.Fires == i
		})
	}
	tt, err := u.q.Timetable(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	last := ""
	for _, sc := range tt.Schedules {
		if sc.ID == "tick" {
			last = sc.LastInstance
		}
	}

	body := u.getPage("/ui/schedules", 200)
	if strings.Contains(body, evil) {
		t.Fatal("the schedules page holds the func's markup unescaped")
	}
	if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Fatal("the schedules page does not show the func as text")
	}
	for _, want := range []string{
		`data-schedule="tick"`, `data-schedule="nightly"`, `every 1m0s`, `cron 0 3 * * *`,
		`href="/ui/tasks/tick"`, `data-task="later"`, `run_at`, `href="/ui/schedules"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the schedules page lacks %q", want)
		}
	}
	// The recent fires: the three tasks tick enqueued, newest first, as links.
	row := between(t, body, `data-schedule="tick"`, "</tr>")
	var fired []string
	for _, part := range strings.Split(row, `href="/ui/tasks/`)[1:] {
		id := part[:strings.Index(part, `"`)]
		if id != "tick" {
			fired = append(fired, id)
		}
	}
	if len(fired) != 3 || last == "" || fired[0] != last {
		t.Fatalf("recent fires of tick: %v (last instance %q)", fired, last)
	}
	if r := between(t, body, `data-schedule="nightly"`, "</tr>"); !strings.Contains(r, "none") {
		t.Errorf("nightly never fired: %s", r)
	}

	// The live part alone.
	frag := u.getPage("/ui/schedules?fragment=1", 200)
	if strings.Contains(frag, "<html") || !strings.Contains(frag, `data-schedule="tick"`) {
		t.Fatalf("fragment: %s", frag)
	}
}

// between returns the text of s from the first from up to the next to.
func between(t *testing.T, s, from, to string) string {
	t.Helper()
	i := strings.Index(s, from)
	if i < 0 {
		t.Fatalf("%q not found", from)
	}
	j := strings.Index(s[i:], to)
	if j < 0 {
		return s[i:]
	}
	return s[i : i+j]
}
