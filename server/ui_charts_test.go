package server

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/omniq/omniq/engine"
)

var barRe = regexp.MustCompile(`<rect class="bar" [^>]*data-value="([^"]*)"`)

// renderChart renders one chart as the overview does.
func renderChart(t *testing.T, c chartView) string {
	t.Helper()
	u := newUI(newAPI(Config{}), "", nil)
	var b strings.Builder
	if err := u.pages.ExecuteTemplate(&b, "chart", c); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// The ring counts what it is fed into per-minute buckets, and each chart
// draws the last 60 minutes, one bar each, oldest first.
func TestUIChartsCountActivity(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 30, 20, 0, time.UTC)
	r := newActivityRing()
	feed := []engine.Activity{
		{Kind: engine.ActivityEnqueued, TaskID: "a", Time: now.Add(-5 * time.Minute), ReadyAt: now.Add(-5 * time.Minute)},
		{Kind: engine.ActivityEnqueued, TaskID: "b", Time: now.Add(-5 * time.Minute), ReadyAt: now.Add(-5 * time.Minute)},
		{Kind: engine.ActivityEnqueued, TaskID: "c", Time: now.Add(-time.Minute), ReadyAt: now.Add(-time.Minute)},
		{Kind: engine.ActivityStarted, TaskID: "a", Time: now.Add(-5*time.Minute + 2*time.Second), Attempt: 1},
		{Kind: engine.ActivityStarted, TaskID: "b", Time: now.Add(-5*time.Minute + 4*time.Second), Attempt: 1},
		{Kind: engine.ActivityCompleted, TaskID: "a", Time: now},
		{Kind: engine.ActivityEnqueued, TaskID: "old", Time: now.Add(-2 * time.Hour)}, // outside the hour
	}
	for _, a := range feed {
		r.add(a)
	}
	v := r.charts(now)
	if len(v.Charts) != 4 {
		t.Fatalf("%d charts", len(v.Charts))
	}
	want := map[string]map[int]string{ // chart → bar index (59 = now's minute) → value
		"chart-enqueued":  {54: "2", 58: "1"},
		"chart-started":   {54: "2"},
		"chart-completed": {59: "1"},
		"chart-wait":      {54: "3"}, // (2s + 4s) / 2
	}
	for _, c := range v.Charts {
		svg := renderChart(t, c)
		bars := barRe.FindAllStringSubmatch(svg, -1)
		if len(bars) != chartMinutes {
			t.Fatalf("%s: %d bars, want %d", c.ID, len(bars), chartMinutes)
		}
		total := 0
		for i, b := range bars {
			w, ok := want[c.ID][i]
			if !ok {
				w = "0"
			}
			if b[1] != w {
				t.Errorf("%s: bar %d is %s, want %s", c.ID, i, b[1], w)
			}
			if b[1] != "0" {
				total++
			}
		}
		if total != len(want[c.ID]) {
			t.Errorf("%s: %d bars not empty, want %d", c.ID, total, len(want[c.ID]))
		}
		if !strings.Contains(svg, `role="img"`) || !strings.Contains(svg, `aria-labelledby="`+c.ID+`-title"`) {
			t.Errorf("%s: no accessible name", c.ID)
		}
	}
	// An hour later the same ring has forgotten all of it.
	for _, c := range r.charts(now.Add(time.Hour)).Charts {
		for _, b := range barRe.FindAllStringSubmatch(renderChart(t, c), -1) {
			if b[1] != "0" {
				t.Fatalf("%s: an hour later a bar still holds %s", c.ID, b[1])
			}
		}
	}
}

// The overview draws the charts from the engine's events: the enqueues
// made through the API show up in the current minute's bar.
func TestUIOverviewCharts(t *testing.T) {
	u := newPagesServer(t)
	u.enqueue(`{"id":"a","func":"f","queue_name":"mail"}`)
	u.getPage("/ui/", 200) // starts following the log
	u.enqueue(`{"id":"b","func":"f","queue_name":"mail"}`)
	u.enqueue(`{"id":"c","func":"f","queue_name":"mail"}`)
	var body string
	waitFor(t, 10*time.Second, "the enqueues in the chart", func() bool {
		body = u.getPage("/ui/", 200)
		sum := 0
		for _, b := range barRe.FindAllStringSubmatch(between(t, body, `id="chart-enqueued"`, "</svg>"), -1) {
			if b[1] != "0" {
				sum += int(b[1][0] - '0')
			}
		}
		return sum == 3
	})
	if n := len(barRe.FindAllString(body, -1)); n != 4*chartMinutes {
		t.Fatalf("%d bars on the overview, want %d", n, 4*chartMinutes)
	}
	for _, want := range []string{`id="leases"`, `id="lease-count">0<`, `id="due"`} {
		if !strings.Contains(body, want) {
			t.Errorf("overview lacks %q", want)
		}
	}
	// A lease shows in the running leases.
	resp := u.do("POST", "/v1/queues/mail/dequeue", "", nil)
	resp.Body.Close()
	body = u.getPage("/ui/", 200)
	if !strings.Contains(body, `id="lease-count">1<`) || !strings.Contains(between(t, body, `id="lease-list"`, "</table>"), `data-task="a"`) {
		t.Error("the overview does not show the running lease of a")
	}
}

// The axis shows the tallest bar's value as the captions do: a mean of a
// fraction of a second is 0.455, not 0.45454545454545453.
func TestUIChartAxisLabel(t *testing.T) {
	bs := make([]minuteBucket, 60)
	c := drawChart("wait", "Wait", "s", bs, func(b minuteBucket) (float64, bool) { return 5.0 / 11, true }, true)
	out := renderChart(t, c)
	if !strings.Contains(out, `text-anchor="end">0.455</text>`) {
		t.Fatalf("axis label not formatted: %s", out)
	}
}
