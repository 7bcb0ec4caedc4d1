package server

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browserPath finds a Chromium to drive. Without one the browser test
// skips, unless OMNIQ_TEST_BROWSER is set (as CI does): then it fails.
func browserPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium on PATH (looked for chromium, chromium-browser, google-chrome): install one (apt-get install chromium) to run the dashboard's browser test"
	if os.Getenv("OMNIQ_TEST_BROWSER") != "" {
		t.Fatal(msg + "; OMNIQ_TEST_BROWSER is set, so this is a failure")
	}
	t.Skip(msg)
	return ""
}

// browserTest skips a browser test in -short runs and returns the
// Chromium to drive (see browserPath).
func browserTest(t *testing.T) string {
	t.Helper()
	chrome := browserPath(t)
	if testing.Short() {
		t.Skip("the browser test is not short")
	}
	return chrome
}

// newBrowser starts headless Chromium with a window width pixels wide (900
// tall) for the rest of the test, and returns a context that drives it for
// at most timeout.
func newBrowser(t *testing.T, chrome string, width int, timeout time.Duration) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.WindowSize(width, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	if err := chromedp.Do(bctx); err != nil { // starts the browser, for the life of bctx
		t.Fatalf("start %s: %v", chrome, err)
	}
	ctx, cancelTime := context.WithTimeout(bctx, timeout)
	t.Cleanup(cancelTime)
	return ctx
}

// browserStep runs actions in the page and fails the test, naming what,
// if one fails.
func browserStep(ctx context.Context, t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// openAndPress opens the page at url and presses the button sel selects
// once it shows.
func openAndPress[S chromedp.Selectable](url string, sel S) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Navigate(url),
		chromedp.WaitVisible(sel),
		chromedp.Click(sel),
	)
}

// askConfirm opens the page at url and presses the button with the id
// button, one that asks before it acts, and waits for the confirmation to
// show.
func askConfirm(url, button string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(openAndPress(url, chromedp.ID(button)), chromedp.WaitVisible(chromedp.ID("confirm-yes")))
}

// markPage leaves a mark in the page that lasts only as long as the page
// is not reloaded: poll(`window.omniqMark === 1`) later checks that a
// change came in live.
func markPage() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[chromedp.Void](`window.omniqMark = 1`)(ctx, t)
		return err
	})
}

// poll waits until the JavaScript expression expr is truthy in the page.
func poll(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(15*time.Second))
}

// screenshot saves the page as name.png in $OMNIQ_TEST_SCREENSHOTS, when set.
func screenshot(name string) chromedp.Action[chromedp.Void] {
	dir := os.Getenv("OMNIQ_TEST_SCREENSHOTS")
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if dir == "" {
			return nil
		}
		png, err := chromedp.FullScreenshot(100)(ctx, t)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
	})
}

// text reads the text of the element sel selects.
func text(ctx context.Context, t *testing.T, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// The dashboard in headless Chromium: sign in with the token, see the
// queues' counts, watch them change without a reload as tasks are
// enqueued through the API (the page follows /v1/events), then a task's
// page with its timeline and dependency graph, which follows its tasks.
func TestUIInBrowser(t *testing.T) {
	chrome := browserTest(t)
	u := newUIServer(t, Config{Token: uiToken, UI: true})
	u.enqueue(`{"id":"first","func":"send","queue_name":"mail"}`)

	ctx := newBrowser(t, chrome, 1200, 90*time.Second)

	err := chromedp.Do(ctx,
		chromedp.Navigate(u.url+"/ui/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		screenshot("login"),
		chromedp.SendKeys(chromedp.ID("token"), uiToken),
		chromedp.Submit(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("queues")),
		poll(`document.getElementById("live-status").textContent === "live"`),
		markPage(),
	)
	if err != nil {
		t.Fatalf("sign in and overview: %v", err)
	}
	if got := text(ctx, t, `tr[data-queue="mail"] td[data-state="pending"]`); got != "1" {
		t.Fatalf("overview: mail pending %q, want 1", got)
	}

	u.enqueue(`{"id":"second","func":"send","queue_name":"mail"}`)
	u.enqueue(`{"id":"third","func":"report","queue_name":"mail","depends_on":["first","second"],"args":["<b>bold?</b>"]}`)
	err = chromedp.Do(ctx,
		poll(`document.querySelector('tr[data-queue="mail"] td[data-state="pending"]').textContent.trim() === "2"`),
		poll(`document.querySelector('tr[data-queue="mail"] td[data-state="waiting"]').textContent.trim() === "1"`),
		poll(`window.omniqMark === 1`),
		screenshot("overview"),
	)
	if err != nil {
		t.Fatalf("the overview did not follow the enqueues live: %v", err)
	}

	err = chromedp.Do(ctx,
		chromedp.Navigate(u.url+"/ui/tasks/third"),
		chromedp.WaitVisible(chromedp.ID("graph")),
		poll(`document.querySelector('#graph a[data-task="first"]') !== null && document.querySelector('#graph a[data-task="second"]') !== null`),
		poll(`document.querySelectorAll("#timeline li").length === 1`),
		poll(`document.getElementById("live-status").textContent === "live"`),
	)
	if err != nil {
		t.Fatalf("task page: %v", err)
	}
	if args := text(ctx, t, "#args"); !strings.Contains(args, "<b>bold?</b>") {
		t.Fatalf("task page: args %q", args)
	}

	// Its dependencies run: the graph and the state follow live.
	for _, id := range []string{"first", "second"} {
		resp := u.do("POST", "/v1/queues/mail/dequeue", "", bearerHeader())
		resp.Body.Close()
		resp = u.do("POST", "/v1/tasks/"+id+"/complete", `{"attempt":1,"result":"sent"}`, bearerHeader())
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("complete %s: %d", id, resp.StatusCode)
		}
	}
	err = chromedp.Do(ctx,
		poll(`document.querySelector('#graph a[data-task="first"]').getAttribute("class").includes("s-completed")`),
		poll(`document.getElementById("task-state").textContent === "pending"`),
		screenshot("task"),
	)
	if err != nil {
		t.Fatalf("the task page did not follow its dependencies: %v", err)
	}
}
