package server

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/omniq/omniq/engine"
)

// The dashboard's screenshots in docs/img (docs/dashboard.md), made from an
// hour of realistic activity rather than a near-empty test state: four
// queues with a burst and a quiet spell, workers that lease and finish most
// tasks and fail some, TTL expiries, an extract → transform → load chain
// with a fan-out, two recurring schedules, a delayed task and a paused
// queue. `make screenshots` runs it; it runs only when
// OMNIQ_DOC_SCREENSHOTS names the directory to write the PNGs into.

// docShotMaxHeight caps a screenshot's height in CSS pixels: a long page is
// clipped to its top, which is what a reader of the docs looks at. A task's
// page gets more, for its history below the graph.
const (
	docShotMaxHeight = 1600
	docTaskMaxHeight = 2400
)

// docHour is the simulated hour: the engine, its clock, and the positions
// and ids the screenshots show.
type docHour struct {
	q   *engine.Engine
	clk *engine.ManualClock
	rng *rand.Rand
	// inflight are the leased tasks with the step at which their worker
	// finishes them.
	inflight []leasedTask
	step     int
	seq      map[string]int // per func, for readable task ids
	// burstPos is the log position in the middle of the burst (the time
	// travel shot).
	burstPos uint64
}

type leasedTask struct {
	t    *engine.Task
	done int
}

// Steps of the simulation: four a minute.
const (
	docStep        = 15 * time.Second
	docStepsPerMin = 4
	docMinutes     = 60
)

// The chain's ids: transform-eu is in its middle, the page task.png shows.
const (
	docExtract   = "etl-0600-extract"
	docTransform = "etl-0600-transform-eu"
	docLoad      = "etl-0600-load"
	docCheck     = "etl-0600-check-eu"
)

func TestDashboardScreenshots(t *testing.T) {
	dir := os.Getenv("OMNIQ_DOC_SCREENSHOTS")
	if dir == "" {
		t.Skip("OMNIQ_DOC_SCREENSHOTS is unset: set it to the directory the dashboard's screenshots go to (make screenshots writes docs/img)")
	}
	chrome := browserPath(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	// The overview's charts count the hour up to the server's wall clock,
	// so the simulated hour ends now: it starts 59 minutes before the
	// current minute.
	start := time.Now().UTC().Truncate(time.Minute).Add(-(docMinutes - 1) * time.Minute)
	clk := engine.NewManualClock(start)
	u := newPagesServer(t, engine.WithClock(clk),
		engine.WithLeaseTimeout(10*time.Minute),
		engine.WithBackoff(func(attempt int) time.Duration { return time.Duration(attempt) * 40 * time.Second }))
	h := &docHour{q: u.q, clk: clk, rng: rand.New(rand.NewPCG(2026, 12)), seq: map[string]int{}}
	h.run(t)

	ctx := newBrowser(t, chrome, 1280, 3*time.Minute)
	shot := func(name string) chromedp.Action[chromedp.Void] { return docScreenshot(dir, name, docShotMaxHeight) }

	// The overview: its first page starts reading the hour back from the
	// log; reload until the charts say they are done.
	deadline := time.Now().Add(60 * time.Second)
	for {
		browserStep(ctx, t, "overview",
			chromedp.Navigate(u.url+"/ui/"),
			chromedp.WaitVisible(chromedp.ID("chart-enqueued")),
		)
		done, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("charts-filling") === null`))
		if err != nil {
			t.Fatal(err)
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the overview's charts were still reading the hour back after 60s")
		}
		time.Sleep(250 * time.Millisecond)
	}
	bars, err := chromedp.Run(ctx, chromedp.Evaluate[int](`Array.from(document.querySelectorAll("#chart-enqueued rect.bar")).filter(r => +r.getAttribute("height") > 0).length`))
	if err != nil || bars < docMinutes/2 {
		t.Fatalf("the enqueued chart shows %d minutes with activity (%v), want most of the hour", bars, err)
	}
	browserStep(ctx, t, "overview",
		poll(`document.getElementById("live-status").textContent === "live"`),
		shot("overview"),
	)

	// A filtered task list, with its form.
	browserStep(ctx, t, "tasks",
		chromedp.Navigate(u.url+"/ui/tasks?queue=billing&func=billing.charge&limit=25"),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/ui/tasks/charge-inv-20931"]`)),
		shot("tasks"),
	)

	// The middle of the chain: its timeline and its graph, both sides.
	browserStep(ctx, t, "task page",
		chromedp.Navigate(u.url+"/ui/tasks/"+docTransform),
		chromedp.WaitVisible(chromedp.ID("graph")),
		poll(`document.querySelector('#graph a[data-task="`+docExtract+`"]') !== null && document.querySelector('#graph a[data-task="`+docLoad+`"]') !== null`+
			` && document.querySelector('#graph a[data-task="`+docCheck+`"]') !== null`),
		poll(`document.querySelectorAll("#timeline li").length >= 4`),
		docScreenshot(dir, "task", docTaskMaxHeight),
	)

	browserStep(ctx, t, "schedules",
		chromedp.Navigate(u.url+"/ui/schedules"),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-schedule="billing.sync"]`)),
		poll(`document.querySelectorAll('tr[data-schedule="billing.sync"] ol.fires a').length >= 3`),
		shot("schedules"),
	)

	// The overview as it stood in the middle of the burst.
	browserStep(ctx, t, "time travel",
		chromedp.Navigate(u.url+"/ui/at?position="+strconv.FormatUint(h.burstPos, 10)),
		chromedp.WaitVisible(chromedp.ID("travel-banner")),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-queue="emails"]`)),
		shot("time-travel"),
	)

	// The confirmation of a bulk cancel over the paused queue's backlog.
	browserStep(ctx, t, "bulk confirmation",
		askConfirm(u.url+"/ui/tasks?queue=reports&state=pending", "bulk-cancel"),
		shot("bulk-confirm"),
	)
}

// docScreenshot saves the page as name.png in dir, 1280 pixels wide and at
// most maxHeight tall.
func docScreenshot(dir, name string, maxHeight float64) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		height, err := chromedp.Evaluate[float64](`document.documentElement.scrollHeight`)(ctx, t)
		if err != nil {
			return err
		}
		height = min(height, maxHeight)
		if _, err := chromedp.EmulateViewport(1280, int64(height))(ctx, t); err != nil {
			return err
		}
		png, err := chromedp.CaptureScreenshot()(ctx, t)
		if err != nil {
			return err
		}
		if _, err := chromedp.EmulateViewport(1280, 900)(ctx, t); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
	})
}

// run builds the hour: minute by minute, four steps a minute, enqueues by
// each queue's rate, leases what each queue's workers can take, and
// finishes what they hold.
func (h *docHour) run(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	start := h.clk.Now()
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// Two recurring schedules: a cron every quarter hour, an interval of 5m.
	must("cron schedule", h.q.Enqueue(ctx, &engine.Task{ID: "reports.digest", Func: "reports.digest", QueueName: "reports",
		Kwargs: map[string]any{"period": "15m"}, Schedule: &engine.Schedule{Cron: "*/15 * * * *"}}))
	must("interval schedule", h.q.Enqueue(ctx, &engine.Task{ID: "billing.sync", Func: "billing.sync", QueueName: "billing",
		Schedule: &engine.Schedule{Interval: 5 * time.Minute}}))

	for minute := range docMinutes {
		for sub := range docStepsPerMin {
			h.enqueueStep(t, minute)
			h.chain(t, minute)
			h.finish(t)
			h.lease(t, minute)
			h.step++
			if minute == docMinutes-1 && sub == docStepsPerMin-1 {
				break // the hour ends in the wall clock's current minute
			}
			h.advance(t, docStep)
		}
		if minute == 20 {
			h.burstPos = h.q.Position()
		}
		if minute == 48 {
			must("pause reports", h.q.PauseQueue(ctx, "reports"))
		}
	}
	// A task delayed to tomorrow morning.
	runAt := start.Add(24 * time.Hour).Truncate(24 * time.Hour).Add(7 * time.Hour)
	must("delayed task", h.q.Enqueue(ctx, &engine.Task{ID: "emails.weekly-newsletter", Func: "emails.newsletter", QueueName: "emails",
		Kwargs: map[string]any{"segment": "active-30d", "template": "weekly-2026-49"}, Schedule: &engine.Schedule{RunAt: runAt}}))
}

// advance moves the clock and acts on everything then due (TTLs, retries,
// schedule fires) before the simulation goes on.
func (h *docHour) advance(t *testing.T, d time.Duration) {
	t.Helper()
	h.clk.Advance(d)
	for {
		more, err := h.q.RunDue(context.Background())
		if err != nil {
			t.Fatalf("run due: %v", err)
		}
		if !more {
			return
		}
	}
}

// rate is how many tasks a queue gets in a step of the given minute: a
// burst of emails from minute 12 to 22, a quiet spell from 32 to 42.
func (h *docHour) rate(queueName string, minute int) int {
	burst := minute >= 12 && minute < 22
	quiet := minute >= 32 && minute < 42
	var perMin float64
	switch queueName {
	case "emails":
		perMin = 8
		if burst {
			perMin = 34
		}
	case "billing":
		perMin = 3
	case "reports":
		perMin = 1.2
	}
	if quiet {
		perMin /= 5
	}
	mean := perMin / docStepsPerMin
	n := int(mean)
	if h.rng.Float64() < mean-float64(n) {
		n++
	}
	if n > 0 && h.rng.IntN(3) == 0 {
		n += h.rng.IntN(2)*2 - 1 // ±1, for a less regular shape
	}
	return n
}

func (h *docHour) nextID(prefix string) string {
	h.seq[prefix]++
	return fmt.Sprintf("%s-%04d", prefix, h.seq[prefix])
}

// enqueueStep enqueues a step's tasks on every queue.
func (h *docHour) enqueueStep(t *testing.T, minute int) {
	t.Helper()
	var batch []*engine.Task
	templates := []string{"welcome", "password-reset", "receipt", "digest"}
	for range h.rate("emails", minute) {
		tmpl := templates[h.rng.IntN(len(templates))]
		task := &engine.Task{ID: h.nextID("email"), Func: "emails.send", QueueName: "emails", Retries: 2,
			Args:   []any{fmt.Sprintf("user%d@example.com", 1000+h.rng.IntN(9000))},
			Kwargs: map[string]any{"template": tmpl}}
		if tmpl == "digest" && minute == 16 && h.rng.IntN(2) == 0 {
			task.TTL = 3 * time.Minute // a digest not sent soon is not worth sending
			task.Priority = -10
		}
		batch = append(batch, task)
	}
	for range h.rate("billing", minute) {
		n := h.seq["invoice"] + 20900
		id := h.nextID("invoice")
		if n == 20931 {
			id = "charge-inv-20931"
		}
		batch = append(batch, &engine.Task{ID: id, Func: "billing.charge", QueueName: "billing", Retries: 3 * min(n%5, 1), // every fifth charge is not retried
			Priority: 5,
			Args:     []any{fmt.Sprintf("cus_%05d", 10000+h.rng.IntN(90000)), 500 + h.rng.IntN(20000), "EUR"},
			Kwargs:   map[string]any{"invoice": fmt.Sprintf("inv_%d", n), "idempotency_key": fmt.Sprintf("charge-inv_%d-1", n)},
			Meta:     map[string]string{"tenant": []string{"acme", "globex", "initech"}[n%3], "trace_id": fmt.Sprintf("4bf92f3577b34da6a3ce929d0e0e%04x", n)}})
	}
	for range h.rate("reports", minute) {
		task := &engine.Task{ID: h.nextID("report"), Func: "reports.render", QueueName: "reports", Retries: 1,
			Kwargs: map[string]any{"format": []string{"pdf", "csv"}[h.rng.IntN(2)], "range": "last-7d"}}
		if minute >= 50 && h.rng.IntN(3) == 0 {
			task.Func, task.TTL = "reports.preview", 3*time.Minute // the queue is paused: these expire
		}
		batch = append(batch, task)
	}
	if len(batch) > 0 {
		if err := h.q.EnqueueBatch(context.Background(), batch); err != nil {
			t.Fatalf("enqueue minute %d: %v", minute, err)
		}
	}
}

// capacity is how many tasks a queue's workers lease a step.
func capacity(queueName string) int {
	switch queueName {
	case "emails":
		return 4 // 16 a minute: the burst builds a backlog
	case "billing":
		return 2
	default:
		return 1
	}
}

// lease leases what the workers of each queue can take and decides when
// each is finished.
func (h *docHour) lease(t *testing.T, minute int) {
	t.Helper()
	for _, name := range []string{"emails", "billing", "reports"} {
		if name == "reports" && minute >= 48 {
			continue // paused
		}
		got, err := h.q.DequeueN(context.Background(), name, capacity(name))
		if err != nil {
			t.Fatalf("dequeue %s: %v", name, err)
		}
		for _, task := range got {
			steps := 1 + h.rng.IntN(2)
			if task.Func == "reports.render" || task.Func == "reports.digest" {
				steps = 2 + h.rng.IntN(4)
			}
			h.inflight = append(h.inflight, leasedTask{t: task, done: h.step + steps})
		}
	}
}

// finish completes or fails the leased tasks whose time has come.
func (h *docHour) finish(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	keep := h.inflight[:0]
	for _, l := range h.inflight {
		if l.done > h.step {
			keep = append(keep, l)
			continue
		}
		var failure error
		var result any
		switch l.t.Func {
		case "emails.send":
			if h.rng.IntN(20) == 0 {
				failure = errors.New("smtp: 421 4.7.0 try again later")
			}
			result = map[string]any{"message_id": fmt.Sprintf("<%s@mail.example.com>", l.t.ID)}
		case "billing.charge":
			if l.t.ID == "charge-inv-20931" {
				break
			}
			switch h.rng.IntN(10) {
			case 0:
				failure = errors.New("card_declined: insufficient_funds")
			case 1:
				failure = errors.New("gateway timeout after 30s")
			}
			result = map[string]any{"charge_id": fmt.Sprintf("ch_%s", l.t.ID), "status": "succeeded"}
		case "reports.render":
			if h.rng.IntN(8) == 0 {
				failure = errors.New("query canceled: statement timeout")
			}
			result = map[string]any{"url": fmt.Sprintf("s3://reports/%s.pdf", l.t.ID)}
		default:
			result = "ok"
		}
		if l.t.ID == "charge-inv-20931" {
			result = map[string]any{"charge_id": "ch_3PzK8vL2eZvKYlo21x9GqQ7b", "status": "succeeded",
				"amount": 4999, "currency": "EUR", "receipt_url": "https://pay.example.com/receipts/rcpt_20931"}
		}
		var err error
		if failure != nil {
			err = h.q.Fail(ctx, l.t, failure)
		} else {
			err = h.q.Complete(ctx, l.t, result)
		}
		if err != nil {
			t.Fatalf("finish %s: %v", l.t.ID, err)
		}
	}
	h.inflight = keep
}

// chain runs two extract → transform (×3) → load chains on the etl queue
// (with a check after the eu transform),
// driven step by step: the first, at minute 5, runs through; the second,
// at minute 50, has its extract done, transform-eu failed once and running
// again, and its load still waiting when the hour ends.
func (h *docHour) chain(t *testing.T, minute int) {
	t.Helper()
	ctx := context.Background()
	sub := h.step % docStepsPerMin
	enqueue := func(prefix, date string) {
		regions := []string{"eu", "us", "apac"}
		tasks := []*engine.Task{{ID: prefix + "-extract", Func: "etl.extract", QueueName: "etl",
			Kwargs: map[string]any{"source": "postgres://orders", "since": date}, Meta: map[string]string{"pipeline": "orders-daily"}}}
		var transforms []string
		for _, r := range regions {
			id := prefix + "-transform-" + r
			transforms = append(transforms, id)
			tasks = append(tasks, &engine.Task{ID: id, Func: "etl.transform", QueueName: "etl", Retries: 2,
				Args: []any{r}, Kwargs: map[string]any{"partition": date, "dedupe": true, "currency_table": "fx.rates_daily"},
				DependsOn: []string{prefix + "-extract"}, Meta: map[string]string{"pipeline": "orders-daily"}})
		}
		// A check of the eu transform alone: the middle task fans out too.
		tasks = append(tasks, &engine.Task{ID: prefix + "-check-eu", Func: "etl.check", QueueName: "etl",
			Kwargs:    map[string]any{"rules": []any{"row_count_within_5pct", "no_null_order_id"}},
			DependsOn: []string{prefix + "-transform-eu"}, Meta: map[string]string{"pipeline": "orders-daily"}})
		tasks = append(tasks, &engine.Task{ID: prefix + "-load", Func: "etl.load", QueueName: "etl",
			Kwargs: map[string]any{"table": "warehouse.orders_daily"}, DependsOn: transforms, Meta: map[string]string{"pipeline": "orders-daily"}})
		if err := h.q.EnqueueBatch(ctx, tasks); err != nil {
			t.Fatalf("enqueue chain %s: %v", prefix, err)
		}
	}
	// work leases up to n etl tasks and finishes them at once, failing the
	// one named failID.
	work := func(n int, failID string) {
		got, err := h.q.DequeueN(ctx, "etl", n)
		if err != nil {
			t.Fatalf("dequeue etl: %v", err)
		}
		for _, task := range got {
			if task.ID == failID && task.Attempt == 1 {
				if err := h.q.Fail(ctx, task, errors.New("transform eu: schema mismatch on column discount_cents")); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if err := h.q.Complete(ctx, task, map[string]any{"rows": 10000 + h.rng.IntN(90000)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	switch {
	case minute == 5 && sub == 0:
		enqueue("etl-0500", "2026-12-05")
	case minute >= 6 && minute <= 9 && sub == 0:
		work(4, "")
	case minute == 50 && sub == 0:
		enqueue("etl-0600", "2026-12-06")
	case minute == 51 && sub == 0:
		work(1, "") // the extract
	case minute == 52 && sub == 0:
		work(2, docTransform) // transform-eu fails (retried), another completes
	case minute == 55 && sub == 0:
		// transform-eu runs again, and stays running; what else is
		// ready completes.
		got, err := h.q.DequeueN(ctx, "etl", 3)
		if err != nil {
			t.Fatalf("dequeue etl: %v", err)
		}
		leased := false
		for _, task := range got {
			if task.ID == docTransform {
				leased = true
				continue
			}
			if err := h.q.Complete(ctx, task, map[string]any{"rows": 10000 + h.rng.IntN(90000)}); err != nil {
				t.Fatal(err)
			}
		}
		if !leased {
			t.Fatalf("the retry of %s was not leased: %v", docTransform, got)
		}
	}
}
