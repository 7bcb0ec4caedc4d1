package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/omniq/omniq/engine"
)

// flashHas waits until the page shows a flash message holding s (the page
// the action's redirect led to). It tries again while the page navigates,
// which ends the evaluations of the page before.
func flashHas(s string) chromedp.Action[chromedp.Void] {
	return settle(fmt.Sprintf(`(document.getElementById("flash") || {textContent: ""}).textContent.includes(%q)`, s))
}

// settle waits until expr is true in the page, trying again through
// navigations, for at most 15 seconds.
func settle(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		deadline := time.Now().Add(15 * time.Second)
		var last error
		for time.Now().Before(deadline) {
			ok, err := chromedp.Evaluate[bool](expr)(ctx, t)
			if err == nil && ok {
				return nil
			}
			if err != nil {
				last = err
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
		return fmt.Errorf("%s did not hold within 15s (last error: %v)", expr, last)
	})
}

// The dashboard's actions in headless Chromium, signed in with the token:
// retry a failed task, cancel a pending one, delete every task a filter
// matches (over more than one page, through the confirmation), pause a
// queue and a schedule, each by clicking the page's buttons and each
// checked through the engine; then a task page that follows an action
// made elsewhere without a reload.
func TestUIActionsInBrowser(t *testing.T) {
	chrome := browserTest(t)
	smallBulk(t, bulkLimit) // pages of 50: the bulk delete walks two
	u := newUIServer(t, Config{Token: uiToken, UI: true})
	bg := context.Background()
	u.put("broken", "mail", engine.StateFailed)
	u.put("idle", "mail", engine.StatePending)
	u.put("watched", "mail", engine.StatePending)
	u.failMany("old", "bulk", 60)
	if err := u.q.Enqueue(bg, &engine.Task{ID: "hourly", Func: "tick", Schedule: &engine.Schedule{Interval: time.Hour}}); err != nil {
		t.Fatal(err)
	}

	ctx := newBrowser(t, chrome, 1200, 120*time.Second)

	browserStep(ctx, t, "sign in",
		chromedp.Navigate(u.url+"/ui/tasks/broken"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), uiToken),
		chromedp.Submit(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("action-retry")),
		screenshot("task-actions"),
	)

	browserStep(ctx, t, "retry a failed task",
		chromedp.Click(chromedp.ID("action-retry")),
		flashHas("The task broken was retried"),
		poll(`document.getElementById("task-state").textContent === "pending"`),
		screenshot("task-retried"),
	)
	u.wantState("broken", engine.StatePending, "the retry")

	browserStep(ctx, t, "cancel a pending task",
		openAndPress(u.url+"/ui/tasks/idle", chromedp.ID("action-cancel")),
		flashHas("The task idle was cancelled"),
	)
	u.wantState("idle", engine.StateCancelled, "the cancel")

	browserStep(ctx, t, "ask to delete over a filter",
		askConfirm(u.url+"/ui/tasks?queue=bulk&state=failed", "bulk-delete"),
		screenshot("bulk-confirm"),
	)
	if got := text(ctx, t, "#bulk-count"); !strings.Contains(got, "60 tasks match now") {
		t.Fatalf("confirmation: %q", got)
	}
	if n := u.countIn("bulk", engine.StateFailed); n != 60 {
		t.Fatalf("the confirmation deleted: %d left", n)
	}
	browserStep(ctx, t, "confirm the bulk delete",
		chromedp.Click(chromedp.ID("confirm-yes")),
		flashHas("60 deleted, 0 refused"),
	)
	if n := u.countIn("bulk", engine.StateFailed); n != 0 {
		t.Fatalf("%d tasks left after the bulk delete of 60", n)
	}

	browserStep(ctx, t, "pause a queue",
		openAndPress(u.url+"/ui/", chromedp.CSS(`tr[data-queue="mail"] button.queue-pause`)),
		flashHas("Queue mail paused"),
		poll(`document.querySelector('tr[data-queue="mail"].paused .badge') !== null`),
	)
	if st, err := u.q.Stats(bg); err != nil || !slices.Equal(st.PausedQueues, []string{"mail"}) {
		t.Fatalf("paused queues %v (%v)", st.PausedQueues, err)
	}

	browserStep(ctx, t, "pause a schedule",
		openAndPress(u.url+"/ui/schedules", chromedp.CSS(`tr[data-schedule="hourly"] button.schedule-pause`)),
		flashHas("The schedule hourly was paused"),
	)
	if task, err := u.q.GetTask(bg, "hourly"); err != nil || !task.Schedule.Paused {
		t.Fatalf("hourly not paused: %v", err)
	}

	// An action made elsewhere shows on the open page, without a reload:
	// its state changes and its buttons with it.
	browserStep(ctx, t, "open a pending task",
		chromedp.Navigate(u.url+"/ui/tasks/watched"),
		chromedp.WaitVisible(chromedp.ID("action-cancel")),
		poll(`document.getElementById("live-status").textContent === "live"`),
		markPage(),
	)
	if err := u.q.Cancel(bg, "watched"); err != nil {
		t.Fatal(err)
	}
	browserStep(ctx, t, "the page follows the cancel made elsewhere",
		poll(`document.getElementById("task-state").textContent === "cancelled"`),
		poll(`document.getElementById("action-retry") !== null && document.getElementById("action-cancel") === null`),
		poll(`window.omniqMark === 1`),
	)
	// And the button the live part brought works.
	browserStep(ctx, t, "retry from the refreshed part",
		chromedp.Click(chromedp.ID("action-retry")),
		flashHas("The task watched was retried"),
	)
	u.wantState("watched", engine.StatePending, "the retry")
}
