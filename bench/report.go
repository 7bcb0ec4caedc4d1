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
	// TaskTime: how long each handler waited (Config.TaskTime), 0 for none.
	TaskTimeMs float64 `json:"task_time_ms,omitempty"`
	// Rate: the steady load a continuous run offered (Config.Rate), tasks a
	// second; 0 when its producers ran as fast as the backlog let them.
	Rate      int `json:"rate,omitempty"`
	GoMaxProc int `json:"gomaxprocs"`

	// Nodes: engines that shared the log (Config.Nodes); Shared says
	// whether the store takes conditional appends, so that the engines ran
	// as on a shared log (tailing it, appending conditionally, bringing
	// reads to its head) — with one node as well.
	Nodes  int  `json:"nodes"`
	Shared bool `json:"shared"`
	// NodeStats: each node's share of the goroutines and what sharing the
	// log cost it over the whole run.
	NodeStats []NodeStats `json:"node_stats,omitempty"`
	// Conflicts: batches that lost a conditional append, all nodes, in the
	// measured phase (as EnqueueSeconds and WorkSeconds: insert and drain,
	// or the continuous window); ConflictsPerSec over that phase.
	Conflicts       uint64  `json:"conflicts"`
	ConflictsPerSec float64 `json:"conflicts_per_sec"`
	// Appends: the store appends the engines made in the measured phase,
	// all nodes (those that lost the race included), and per second;
	// AppendMs their mean duration; EventsPerAppend the mean events of
	// those that landed (how much group commit gathered into one).
	Appends         uint64  `json:"appends"`
	AppendsPerSec   float64 `json:"appends_per_sec"`
	AppendMs        float64 `json:"append_ms"`
	EventsPerAppend float64 `json:"events_per_append"`
	// CPUCores: CPU time this process used in the measured phase over its
	// length (GOMAXPROCS bounds it); MachineBusy: the fraction of all the
	// machine's cores busy meanwhile, every process counted (a store server
	// on the same host too).
	CPUCores    float64 `json:"cpu_cores"`
	MachineBusy float64 `json:"machine_busy"`

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

	// Recovery: one engine reopening the log, whatever Nodes wrote it.
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
	if r.Rate > 0 {
		row("offered load", "%s tasks/s, paced", thousands(float64(r.Rate)))
	}
	if r.TaskTimeMs > 0 {
		row("task time", "%.1f ms per task (per lease with batch), waiting", r.TaskTimeMs)
	}
	shared := "no: one writer"
	if r.Shared {
		shared = "yes"
	}
	row("nodes", "%d on one log (conditional appends: %s)", r.Nodes, shared)
	if r.Mode != ModeRecovery && r.Appends > 0 {
		row("appends (measured)", "%s (%s/s), %.2f ms each, %.0f events per append that landed", thousands(float64(r.Appends)), thousands(r.AppendsPerSec), r.AppendMs, r.EventsPerAppend)
		if r.Shared {
			row("conflicts (measured)", "%s batches lost the race (%s/s, %.0f%% of the appends)", thousands(float64(r.Conflicts)), thousands(r.ConflictsPerSec),
				100*float64(r.Conflicts)/float64(r.Appends))
		}
	}
	for _, n := range r.NodeStats {
		row("  "+n.Node, "producers %d, workers %d: %s appends, %s conflicts, %s events caught up, %s synced reads (whole run)", n.Producers, n.Workers,
			thousands(float64(n.Appends)), thousands(float64(n.Conflicts)), thousands(float64(n.CaughtUp)), thousands(float64(n.SyncedReads)))
	}
	if r.Mode != ModeRecovery {
		row("tasks", "enqueued %d, worked %d, completed %d", r.Enqueued, r.Worked, r.Completed)
		row("enqueue", "%s tasks/s (%.2fs)", thousands(r.EnqueuePerSec), r.EnqueueSeconds)
		row("worked", "%s tasks/s (%.2fs)", thousands(r.WorkedPerSec), r.WorkSeconds)
		row("end to end", "%s tasks/s", thousands(r.EndToEndPerSec))
		if r.CPUCores > 0 {
			row("CPU (measured phase)", "this process %.2f cores of %d; machine %.0f%% busy", r.CPUCores, r.GoMaxProc, 100*r.MachineBusy)
		}
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
		if r.Nodes > 1 {
			row("recovery", "one engine reopening the log the %d nodes wrote", r.Nodes)
		}
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
	r := &Report{Store: store, Mode: c.Mode, API: c.API, Workers: c.Workers, Producers: c.Producers, GoMaxProc: runtime.GOMAXPROCS(0), Nodes: c.Nodes, TaskTimeMs: ms(c.TaskTime), Rate: c.Rate}
	if c.Mode == ModeContinuous {
		r.IntervalSeconds = seconds(c.Interval)
	}
	if c.API.batchEnqueue() || c.Mode == ModeRecovery {
		r.Batch = c.Batch
	}
	return r
}
