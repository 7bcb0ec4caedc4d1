package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/omniq/omniq/client"
	"github.com/omniq/omniq/engine"
)

// A task that failed once, was retried by its backoff, lost a lease and
// then completed lists three attempts, each with its worker, times and
// outcome; the history read over the API (numbers as JSON floats) gives the
// same rows; and the task page shows them.
func TestUITaskAttempts(t *testing.T) {
	clk := engine.NewManualClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	u := newUIServer(t, Config{UI: true}, engine.WithClock(clk), engine.WithLeaseTimeout(30*time.Second))
	ctx := context.Background()
	if err := u.q.Enqueue(ctx, &engine.Task{ID: "job", Func: "f", Retries: 3}); err != nil {
		t.Fatal(err)
	}
	lease := func() *engine.Task {
		t.Helper()
		tk, err := u.q.Dequeue(ctx, "")
		if err != nil || tk == nil {
			t.Fatalf("lease: %v %v", tk, err)
		}
		return tk
	}
	first := lease()
	if err := u.q.Fail(ctx, first, errors.New("boom <b>")); err != nil {
		t.Fatal(err)
	}
	clk.Advance(5 * time.Minute) // past the backoff
	second := lease()
	clk.Advance(time.Minute) // past the lease
	if _, err := u.q.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Advance(5 * time.Minute)
	third := lease()
	if err := u.q.Complete(ctx, third, 42); err != nil {
		t.Fatal(err)
	}
	if err := u.q.Complete(ctx, second, 1); !errors.Is(err, engine.ErrStaleLease) {
		t.Fatalf("stale complete: %v", err)
	}

	hist, err := u.q.History(ctx, "job")
	if err != nil {
		t.Fatal(err)
	}
	rows := attemptsOf(hist)
	want := []struct {
		n       int
		outcome string
		err     string
	}{{1, "failed, retry scheduled", "boom <b>"}, {2, "lease expired", ""}, {3, "completed", ""}}
	if len(rows) != len(want) {
		t.Fatalf("attempts: %+v", rows)
	}
	for i, w := range want {
		r := rows[i]
		if r.N != w.n || r.Outcome != w.outcome || r.Error != w.err || r.Worker == "" || r.Start.IsZero() || r.End.Before(r.Start) {
			t.Errorf("attempt %d: %+v, want %+v", i+1, r, w)
		}
	}

	c, err := client.New(u.url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	remote, err := c.History(ctx, "job")
	if err != nil {
		t.Fatal(err)
	}
	if got := attemptsOf(remote); len(got) != 3 || got[1].Outcome != "lease expired" || got[2].N != 3 {
		t.Errorf("attempts from the API's history: %+v", got)
	}

	// At the position of the first lease, one attempt, running.
	if past := attemptsUpTo(hist, hist[1].Position); len(past) != 1 || past[0].Outcome != "running" || !past[0].End.IsZero() {
		t.Errorf("attempts at the first lease: %+v", past)
	}
	if code, body := u.page(fmt.Sprintf("/ui/tasks/job?position=%d", hist[1].Position), nil); code != 200 ||
		!strings.Contains(body, "<h2>Attempts</h2>") || !strings.Contains(body, "<td>running</td>") || strings.Contains(body, "lease expired") {
		t.Errorf("task page at the first lease: %d\n%s", code, body)
	}

	code, body := u.page("/ui/tasks/job", nil)
	if code != 200 || !strings.Contains(body, "<h2>Attempts</h2>") || !strings.Contains(body, "failed, retry scheduled") ||
		!strings.Contains(body, "boom &lt;b&gt;") || strings.Contains(body, "boom <b>") {
		t.Fatalf("task page: %d\n%s", code, body)
	}
}
