package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/omniq/omniq/engine"
)

// The overview's charts: enqueues, starts and completions per minute, and
// the mean time from enqueue to first start, over the last hour. The
// dashboard follows the engine's activity (engine.FollowActivity) into a
// ring of 60 per-minute buckets, so its memory does not grow; on its first
// page it reads the last hour back from the log (engine.PositionAt), up to
// backfillMax events, and says on the chart from when it counts.

// Sizes of the activity ring and its drawing.
const (
	chartMinutes = 60
	// backfillMax bounds the events read back at the start: past it the
	// charts start later than an hour ago, and say so.
	backfillMax = 500_000
	// readyKeep bounds the enqueue times kept to measure the wait of tasks
	// not started yet; past it they start over (and the tasks enqueued
	// before go unmeasured).
	readyKeep            = 100_000
	chartW, chartH       = 600, 120 // the plot, in SVG user units
	chartBar             = chartW / chartMinutes
	chartPadL, chartPadB = 44, 18
)

// minuteBucket counts one minute's activity.
type minuteBucket struct {
	Minute    int64 // Unix minute the counts are of (0: the slot is empty)
	Enqueued  int
	Started   int
	Completed int
	Failed    int
	WaitSum   time.Duration // enqueue (or run-at) to first start, summed over WaitN first starts
	WaitN     int
}

// activityRing holds the last hour of activity, a bucket per minute.
type activityRing struct {
	mu      sync.Mutex
	buckets [chartMinutes]minuteBucket // by Unix minute mod 60
	ready   map[string]time.Time       // task → when it could first start, until it does
	// since is the time from which the ring has counted everything (zero
	// until the follower starts); an hour back or later.
	since time.Time
	// stopped says why the follower stopped ("": it runs).
	stopped string
	filling bool      // the last hour is being read back from the log
	started sync.Once // the follower, started by the first overview
}

func newActivityRing() *activityRing {
	return &activityRing{ready: map[string]time.Time{}}
}

// add counts a.
func (r *activityRing) add(a engine.Activity) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch a.Kind {
	case engine.ActivityEnqueued:
		if len(r.ready) >= readyKeep {
			clear(r.ready)
		}
		r.ready[a.TaskID] = a.ReadyAt
	case engine.ActivityStarted:
		ready, ok := r.ready[a.TaskID]
		delete(r.ready, a.TaskID)
		b := r.bucket(a.Time)
		if b == nil {
			return
		}
		b.Started++
		if ok && a.Attempt == 1 && !a.Time.Before(ready) {
			b.WaitSum += a.Time.Sub(ready)
			b.WaitN++
		}
		return
	case engine.ActivityCompleted, engine.ActivityFailed:
		delete(r.ready, a.TaskID)
	}
	b := r.bucket(a.Time)
	if b == nil {
		return
	}
	switch a.Kind {
	case engine.ActivityEnqueued:
		b.Enqueued++
	case engine.ActivityCompleted:
		b.Completed++
	case engine.ActivityFailed:
		b.Failed++
	}
}

// bucket returns the bucket of t's minute, emptied when it held an older
// minute; nil when t is older than the ring holds. REQUIRES: r.mu held.
func (r *activityRing) bucket(t time.Time) *minuteBucket {
	m := t.Unix() / 60
	b := &r.buckets[m%chartMinutes]
	switch {
	case b.Minute == m:
	case b.Minute < m:
		*b = minuteBucket{Minute: m}
	default:
		return nil // an older minute whose slot a newer one holds
	}
	return b
}

// last returns the 60 minutes up to now's, oldest first; minutes without
// activity are empty buckets.
func (r *activityRing) last(now time.Time) []minuteBucket {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := now.Unix() / 60
	out := make([]minuteBucket, chartMinutes)
	for i := range out {
		m := cur - int64(chartMinutes-1-i)
		if b := r.buckets[m%chartMinutes]; b.Minute == m {
			out[i] = b
		} else {
			out[i] = minuteBucket{Minute: m}
		}
	}
	return out
}

// follow feeds the ring from the engine's activity until ctx ends or the
// engine closes: first the last hour back from the log (at most
// backfillMax events), then what it appends.
func (r *activityRing) follow(ctx context.Context, q *engine.Engine, now time.Time) error {
	head := q.Position()
	from, since := head, now // without the last hour: from now on
	if pos, err := q.PositionAt(ctx, now.Add(-time.Hour)); err == nil {
		from, since = pos, now.Add(-time.Hour)
		if head > pos && head-pos > backfillMax {
			from, since = head-backfillMax, time.Time{} // the first event read says
		}
	}
	r.mu.Lock()
	r.since, r.filling = since, from < head
	r.mu.Unlock()
	err := q.ReadActivity(ctx, from, head, func(a engine.Activity) error {
		if since.IsZero() {
			since = a.Time
		}
		r.add(a)
		return nil
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	r.mu.Lock()
	switch {
	case err != nil: // counted from the start only
		r.since = now
	case since.IsZero():
		r.since = now
	default:
		r.since = since
	}
	r.filling = false
	r.mu.Unlock()
	after := head
	for {
		err := q.FollowActivity(ctx, after, func(a engine.Activity) error {
			r.add(a)
			after = a.Position
			return nil
		})
		if ctx.Err() != nil || errors.Is(err, engine.ErrClosed) {
			return err
		}
		r.mu.Lock()
		r.stopped = fmt.Sprint(err)
		r.mu.Unlock()
		select { // the log failed: try again shortly, from where it stopped
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
		r.mu.Lock()
		r.stopped = ""
		r.mu.Unlock()
	}
}

// startCharts starts the follower of the charts once, on the first page
// served with an engine; it ends when the server drains or the engine
// closes.
func (u *ui) startCharts(q *engine.Engine) {
	u.activity.started.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		context.AfterFunc(u.a.stopping, cancel)
		go func() {
			defer cancel()
			if err := u.activity.follow(ctx, q, time.Now()); err != nil && ctx.Err() == nil && !errors.Is(err, engine.ErrClosed) {
				u.a.logger.Warn("dashboard charts stopped", "err", err)
			}
		}()
	})
}

// chartView is one chart of the overview, drawn as bars.
type chartView struct {
	ID, Title, Unit string
	Width, Height   int // of the whole drawing
	PlotH, PadL     int
	Bars            []barView // 60, oldest first
	Max             float64   // the value of a full-height bar
	MaxLabel        string    // Max as the axis shows it (fmtValue)
	Total           string    // the hour's sum or mean, for the caption
}

// barView is one minute of a chart.
type barView struct {
	X, Y, W, H int
	Value      float64
	Label      string // the minute and its value, for the tooltip
}

// chartsView is the overview's charts.
type chartsView struct {
	Charts []chartView
	// Since is from when the charts count everything ("": the last hour,
	// whole); Filling says the last hour is still being read back from
	// the log; Stopped says why they stopped following, if they did.
	Since   string
	Filling bool
	Stopped string
}

// charts draws the ring's last hour up to now.
func (r *activityRing) charts(now time.Time) chartsView {
	bs := r.last(now)
	r.mu.Lock()
	since, stopped, filling := r.since, r.stopped, r.filling
	r.mu.Unlock()
	v := chartsView{Stopped: stopped, Filling: filling || since.IsZero()}
	if !v.Filling && since.After(now.Add(-time.Hour)) {
		v.Since = when(since)
	}
	count := func(f func(minuteBucket) int) func(minuteBucket) (float64, bool) {
		return func(b minuteBucket) (float64, bool) { return float64(f(b)), true }
	}
	v.Charts = []chartView{
		drawChart("chart-enqueued", "Enqueued per minute", "tasks", bs, count(func(b minuteBucket) int { return b.Enqueued }), false),
		drawChart("chart-started", "Started per minute", "tasks", bs, count(func(b minuteBucket) int { return b.Started }), false),
		drawChart("chart-completed", "Completed per minute", "tasks", bs, count(func(b minuteBucket) int { return b.Completed }), false),
		drawChart("chart-wait", "Enqueue to first start, mean per minute", "s", bs, func(b minuteBucket) (float64, bool) {
			if b.WaitN == 0 {
				return 0, false
			}
			return (b.WaitSum / time.Duration(b.WaitN)).Seconds(), true
		}, true),
	}
	return v
}

// drawChart lays out one series of 60 minutes as bars. mean says the
// caption gives the hour's mean rather than its sum.
func drawChart(id, title, unit string, bs []minuteBucket, value func(minuteBucket) (float64, bool), mean bool) chartView {
	c := chartView{ID: id, Title: title, Unit: unit, Width: chartPadL + chartW + 4, Height: chartH + chartPadB, PlotH: chartH, PadL: chartPadL}
	var sum float64
	n := 0
	vals := make([]float64, len(bs))
	for i, b := range bs {
		v, ok := value(b)
		vals[i] = v
		if ok {
			sum += v
			n++
		}
		c.Max = max(c.Max, v)
	}
	c.MaxLabel = fmtValue(c.Max)
	scale := c.Max
	if scale == 0 {
		scale = 1
	}
	for i, b := range bs {
		h := int(vals[i] / scale * float64(chartH))
		if vals[i] > 0 {
			h = max(h, 1)
		}
		minute := time.Unix(b.Minute*60, 0).UTC().Format("15:04")
		c.Bars = append(c.Bars, barView{
			X: chartPadL + i*chartBar, Y: chartH - h, W: chartBar - 1, H: h, Value: vals[i],
			Label: fmt.Sprintf("%s UTC: %s %s", minute, fmtValue(vals[i]), unit),
		})
	}
	switch {
	case mean && n > 0:
		c.Total = fmt.Sprintf("mean %s %s", fmtValue(sum/float64(n)), unit)
	case mean:
		c.Total = "no task started"
	default:
		c.Total = fmt.Sprintf("%s %s in the hour", fmtValue(sum), unit)
	}
	return c
}

// fmtValue renders a chart value: whole numbers as such, others to 3
// significant digits.
func fmtValue(v float64) string {
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%.3g", v)
}

// overviewExtra is the overview's part below the counts: the charts, the
// leases running, and the schedules due next.
type overviewExtra struct {
	Charts    chartsView
	Leases    engine.Leases
	Schedules []engine.ScheduleInfo // the next to fire
	Err       string                // why the leases or schedules could not be read
}

// Bounds of the overview's lists.
const (
	overviewLeases    = 5
	overviewSchedules = 5
)

// overviewExtraOf reads the overview's extra part.
func (u *ui) overviewExtraOf(ctx context.Context, q *engine.Engine) overviewExtra {
	u.startCharts(q)
	x := overviewExtra{Charts: u.activity.charts(time.Now())}
	var err error
	if x.Leases, err = q.Leases(ctx, overviewLeases); err != nil {
		x.Err = err.Error()
	}
	if x.Schedules, err = q.NextFires(ctx, overviewSchedules); err != nil {
		x.Err = err.Error()
	}
	return x
}
