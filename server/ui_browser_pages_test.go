package server

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/omniq/omniq/engine"
)

// The schedules, cluster and time travel pages and the overview's charts
// in headless Chromium: each page loads and shows what the engine holds,
// markup in a schedule's func shows as text, and the header's time travel
// form (driven from the keyboard) takes a task's page back to before the
// task completed, with the banner, and back to live.
func TestUIPagesInBrowser(t *testing.T) {
	chrome := browserTest(t)
	start := time.Now().UTC().Add(-10 * time.Minute).Truncate(time.Second)
	clk := engine.NewManualClock(start)
	u := newPagesServer(t, engine.WithClock(clk))
	ctx0 := context.Background()
	evil := "<script>alert(1)</script>"
	if err := u.q.Enqueue(ctx0, &engine.Task{ID: "tick", Func: evil, QueueName: "cron", Schedule: &engine.Schedule{Interval: time.Minute}}); err != nil {
		t.Fatal(err) // position 1
	}
	clk.Advance(time.Minute) // the fire: positions 2 and 3
	waitFor(t, 10*time.Second, "tick's fire", func() bool { return u.q.Position() == 3 })
	if err := u.q.Enqueue(ctx0, &engine.Task{ID: "job", Func: "send", QueueName: "mail"}); err != nil {
		t.Fatal(err) // 4
	}
	u.runTaskOn(clk, time.Second, "mail", "job", "sent") // 5 and 6

	ctx := newBrowser(t, chrome, 1200, 90*time.Second)

	// Schedules.
	browserStep(ctx, t, "schedules page",
		chromedp.Navigate(u.url+"/ui/schedules"),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-schedule="tick"]`)),
		poll(`document.getElementById("live-status").textContent === "live"`),
		poll(`document.querySelectorAll('tr[data-schedule="tick"] ol.fires a').length === 1`),
		screenshot("schedules"),
	)
	if got := text(ctx, t, `tr[data-schedule="tick"] td:nth-child(2)`); got != evil {
		t.Fatalf("schedules: func %q, want the markup as text", got)
	}
	if got := text(ctx, t, `tr[data-schedule="tick"] td:nth-child(7)`); got != "1" {
		t.Fatalf("schedules: fires %q", got)
	}

	// Cluster.
	browserStep(ctx, t, "cluster page",
		chromedp.Navigate(u.url+"/ui/cluster"),
		chromedp.WaitVisible(chromedp.ID("cluster-node")),
		screenshot("cluster"),
	)
	if got := text(ctx, t, "#cluster-position"); got != "6" {
		t.Fatalf("cluster: position %q, want 6", got)
	}

	// The overview's charts and leases.
	browserStep(ctx, t, "overview charts",
		chromedp.Navigate(u.url+"/ui/"),
		chromedp.WaitVisible(chromedp.ID("chart-enqueued")),
		poll(`document.querySelectorAll("figure.chart").length === 4`),
		poll(`document.querySelectorAll("#chart-enqueued rect.bar").length === 60`),
		screenshot("overview-charts"),
	)

	// Time travel from a task's page, through the header's form, by keyboard.
	browserStep(ctx, t, "time travel from the task page",
		chromedp.Navigate(u.url+"/ui/tasks/job"),
		chromedp.WaitVisible(chromedp.ID("task-state")),
		poll(`document.getElementById("task-state").textContent === "completed"`),
		chromedp.SendKeys(chromedp.ID("travel-point"), "5"+kb.Enter),
		chromedp.WaitVisible(chromedp.ID("travel-banner")),
		screenshot("task-travel"),
	)
	if got := text(ctx, t, "#task-state"); got != "running" {
		t.Fatalf("job at position 5: %q, want running", got)
	}
	if got := text(ctx, t, "#travel-position"); got != "5" {
		t.Fatalf("banner position %q", got)
	}
	if hasLive, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("[data-live]") !== null || document.getElementById("live-status") !== null`)); err != nil || hasLive {
		t.Fatalf("the page at a past point follows events (%v)", err)
	}
	browserStep(ctx, t, "back to live",
		chromedp.Click(chromedp.ID("back-to-live")),
		chromedp.WaitVisible(chromedp.ID("live-status")),
		poll(`document.getElementById("travel-banner") === null`),
		poll(`document.getElementById("task-state").textContent === "completed"`),
	)

	// The time travel page's own form: the overview before the job completed.
	browserStep(ctx, t, "overview at a point",
		chromedp.Navigate(u.url+"/ui/at"),
		chromedp.WaitVisible(chromedp.ID("travel-position-input")),
		chromedp.SendKeys(chromedp.ID("travel-position-input"), "4"),
		chromedp.Submit(chromedp.ID("travel-page-form")),
		chromedp.WaitVisible(chromedp.ID("travel-banner")),
		screenshot("overview-travel"),
	)
	if got := text(ctx, t, `tr[data-queue="mail"] td[data-state="pending"]`); got != "1" {
		t.Fatalf("overview at 4: mail pending %q, want 1", got)
	}
	if got := text(ctx, t, `tr[data-queue="mail"] td[data-state="completed"]`); got != "0" {
		t.Fatalf("overview at 4: mail completed %q, want 0", got)
	}

	// A narrow window: the pages still fit (tables scroll in their box).
	browserStep(ctx, t, "narrow window",
		chromedp.EmulateViewport(420, 900),
		chromedp.Navigate(u.url+"/ui/schedules"),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-schedule="tick"]`)),
		screenshot("schedules-narrow"),
	)
	wide, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`))
	if err != nil || wide {
		t.Fatalf("the schedules page is wider than a 420px window (%v)", err)
	}
}
