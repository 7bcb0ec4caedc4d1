package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what one run measured. Rates are per second; latencies are in
// milliseconds; sizes in bytes. A figure a mode does not measure is zero.
type Report struct {
	Store     string `json:"store"`
	Mode      Mode   `json:"mode"`
	API       API    `json:"api"`
	Workers   int    `json:"workers"`
	Producers int    `json:"producers"`
	Batch     int    `json:"batch,omitempty"`
	GoMaxProc int    `json:"gomaxprocs"`

	// Enqueued and Worked count the main phase's tasks (the probe's are
	// separate); Completed is what the engine's Stats say completed.
	Enqueued  int64 `json:"enqueued"`
	Worked    int64 `json:"worked"`
	Completed int   `json:"completed"`

	// EnqueueSeconds: the burn-down's insert phase, or the continuous run.
	EnqueueSeconds float64 `json:"enqueue_seconds"`
	EnqueuePerSec  float64 `json:"enqueue_per_sec"`
	// WorkSeconds: the burn-down's drain, or the continuous run.
	WorkSeconds  float64 `json:"work_seconds"`
	WorkedPerSec float64 `json:"worked_per_sec"`
	// EndToEndPerSec: tasks enqueued, leased and completed per second of
	// the whole main phase (insert + drain for a burn-down).
	EndToEndPerSec float64 `json:"end_to_end_per_sec"`

	// StartLatency: created_at to lease, for the main phase's tasks (under
	// load: in a burn-down this is mostly time spent queued).
	StartLatency Latency `json:"start_latency"`
	// IdleStartLatency: created_at to lease for the probe's undelayed
	// tasks, enqueued one at a time while the workers are idle.
	IdleStartLatency Latency `json:"idle_start_latency"`
	// ScheduledLateness: lease time minus Schedule.RunAt, for the probe's
	// delayed tasks.
	ScheduledLateness Latency `json:"scheduled_lateness"`

	// HeapPerPending: live-heap growth per task while Jobs tasks were
	// pending with no worker (burn-down only; with the memory store it
	// includes the log's own copy of the events).
	HeapPerPending float64 `json:"heap_bytes_per_pending"`
	// RSSPending: resident set with Jobs tasks pending (burn-down only).
	RSSPending uint64 `json:"rss_pending_bytes"`
	// PeakRSS: the process's peak resident set (VmHWM) at the end of the
	// main phase and probe, before the recovery measurements; for a
	// recovery run, at the very end.
	PeakRSS uint64 `json:"peak_rss_bytes"`

	// Retention: what the run passed engine.WithRetention (Config.Retention),
	// empty for the engine's default.
	Retention string `json:"retention,omitempty"`
	// Intervals: a continuous run's curve, one entry per Config.Interval
	// (IntervalSeconds); their Completed counts add up to the tasks worked
	// within Duration (WorkedPerSec × WorkSeconds).
	IntervalSeconds float64    `json:"interval_seconds,omitempty"`
	Intervals       []Interval `json:"intervals,omitempty"`
	// Plateau: the verdict of CheckPlateau on Intervals, when asked for.
	Plateau *Plateau `json:"plateau,omitempty"`

	Recovery *Recovery `json:"recovery,omitempty"`
	// Generated: events a recovery run appended to reach Config.Events (0
	// when the store already held them), and how long that took.
	Generated        uint64  `json:"generated_events,omitempty"`
	GenerateSeconds  float64 `json:"generate_seconds,omitempty"`
	GenerateTasksSec float64 `json:"generate_tasks_per_sec,omitempty"`
}

// Recovery is the cost of reopening the log a run produced.
type Recovery struct {
	Events uint64 `json:"events"`
	// CrashSeconds: engine.Open after a simulated crash, from the last
	// periodic snapshot (taken at SnapshotPosition, 0 for none) plus the
	// events after it.
	CrashSeconds     float64 `json:"crash_open_seconds"`
	SnapshotPosition uint64  `json:"crash_snapshot_position"`
	// CleanSeconds: engine.Open after Close wrote a snapshot at the head.
	CleanSeconds float64 `json:"clean_open_seconds"`
	// ReplaySeconds: engine.Replay of the whole log with the snapshot
	// hidden; ReplayPerSec is events per second.
	ReplaySeconds float64 `json:"replay_seconds"`
	ReplayPerSec  float64 `json:"replay_events_per_sec"`
	// LogOpenSeconds: opening the store itself (storeurl.Open) on restart.
	LogOpenSeconds float64 `json:"log_open_seconds"`
	// HeapAfterOpen: live heap of the reopened engine's state.
	HeapAfterOpen uint64 `json:"heap_after_open_bytes"`
}

// WriteJSON writes r as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes r as an aligned two-column table.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name, format string, args ...any) {
		fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{name}, args...)...)
	}
	lat := func(name string, l Latency) {
		if l.Count > 0 {
			row(name, "p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms  (n=%d)", l.P50, l.P90, l.P99, l.Max, l.Count)
		}
	}
	row("store", "%s", r.Store)
	row("mode / api", "%s / %s (workers %d, producers %d, batch %d, GOMAXPROCS %d)", r.Mode, r.API, r.Workers, r.Producers, r.Batch, r.GoMaxProc)
	if r.Mode != ModeRecovery {
		row("tasks", "enqueued %d, worked %d, completed %d", r.Enqueued, r.Worked, r.Completed)
		row("enqueue", "%s tasks/s (%.2fs)", thousands(r.EnqueuePerSec), r.EnqueueSeconds)
		row("worked", "%s tasks/s (%.2fs)", thousands(r.WorkedPerSec), r.WorkSeconds)
		row("end to end", "%s tasks/s", thousands(r.EndToEndPerSec))
		lat("start latency (load)", r.StartLatency)
		lat("start latency (idle)", r.IdleStartLatency)
		lat("scheduled lateness", r.ScheduledLateness)
		if r.HeapPerPending > 0 {
			row("heap per pending", "%.0f bytes", r.HeapPerPending)
			row("RSS with all pending", "%s", mib(r.RSSPending))
		}
		row("peak RSS", "%s", mib(r.PeakRSS))
		if r.Retention != "" {
			row("retention", "%s", r.Retention)
		}
		if p := r.Plateau; p != nil {
			for _, l := range p.Lines() {
				row("plateau", "%s", l)
			}
		}
	} else {
		if r.Generated > 0 {
			row("generated", "%d events in %.1fs (%s tasks/s)", r.Generated, r.GenerateSeconds, thousands(r.GenerateTasksSec))
		}
		row("peak RSS", "%s", mib(r.PeakRSS))
	}
	if rc := r.Recovery; rc != nil {
		row("log", "%d events", rc.Events)
		row("store open", "%.3fs", rc.LogOpenSeconds)
		row("recovery after crash", "%.3fs (snapshot at %d, replayed %d)", rc.CrashSeconds, rc.SnapshotPosition, rc.Events-rc.SnapshotPosition)
		row("recovery after close", "%.3fs (snapshot at head)", rc.CleanSeconds)
		row("full replay", "%.3fs (%s events/s)", rc.ReplaySeconds, thousands(rc.ReplayPerSec))
		row("heap of the state", "%s", mib(rc.HeapAfterOpen))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Intervals) > 0 {
		fmt.Fprintf(w, "\nper interval (%s):\n", time.Duration(r.IntervalSeconds*float64(time.Second)))
		return WriteIntervals(w, r.Intervals)
	}
	return nil
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// thousands formats f rounded, with thin separators: 123,456.
func thousands(f float64) string {
	s := fmt.Sprintf("%.0f", f)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func seconds(d time.Duration) float64 { return d.Seconds() }

func newReport(c Config, store string) *Report {
	r := &Report{Store: store, Mode: c.Mode, API: c.API, Workers: c.Workers, Producers: c.Producers, GoMaxProc: runtime.GOMAXPROCS(0)}
	if c.Mode == ModeContinuous {
		r.IntervalSeconds = seconds(c.Interval)
	}
	if c.API.batchEnqueue() || c.Mode == ModeRecovery {
		r.Batch = c.Batch
	}
	return r
}
