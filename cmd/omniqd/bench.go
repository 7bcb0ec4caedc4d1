package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/omniq/omniq/bench"
	"github.com/omniq/omniq/engine"
)

func init() {
	commands["bench"] = command{summary: "run an end-to-end benchmark against a store (burn-down, continuous, recovery)",
		usage: "[--store URL | --remote URL] [--mode MODE] [--api API] [flags]", run: runBench}
}

func runBench(ctx context.Context, args []string) (err error) {
	fs := newFlagSet("bench")
	var c bench.Config
	d := bench.Config{}.Defaults()
	fs.StringVar(&c.Store, "store", "", `store URL; empty or "pebble://" (no path): a temporary Pebble directory; a server URL without a log name gets a unique one, dropped after`)
	fs.BoolVar(&c.RemoteUngathered, "ungathered", false, "with --remote: send every Enqueue call as a request of its own, as a client built with client.WithEnqueueGathering(false) does (default: concurrent calls share requests)")
	fs.StringVar(&c.Remote, "remote", "", "URL of a running omniqd (http://127.0.0.1:7070; start one with `omniqd serve --store pebble://DIR`): producers and workers go through the Go client instead of an embedded engine (burn-down only; --store, --nodes, the probe and recovery do not apply)")
	fs.BoolVar(&c.Keep, "keep", false, "keep the temporary directory or unique log after the run")
	fs.IntVar(&c.Nodes, "nodes", d.Nodes, "engines sharing the log, each on a store handle of its own (as separate processes), producers and workers dealt round-robin over them; more than one needs a store several processes can open: "+bench.SharedStores)
	mode := fs.String("mode", string(d.Mode), "burndown (insert --jobs, then drain), continuous (produce and work for --duration) or recovery (grow the log to --events, time reopening it)")
	api := fs.String("api", string(d.API), "single (Enqueue/DequeueWait/Complete, one task per call), batch (EnqueueBatch/DequeueWait N/CompleteBatch), work (Enqueue + the engine's Work pool) or work-batch (EnqueueBatch of --batch + the Work pool)")
	fs.IntVar(&c.Jobs, "jobs", d.Jobs, "tasks in a burn-down")
	fs.DurationVar(&c.Duration, "duration", d.Duration, "length of a continuous run")
	fs.IntVar(&c.Workers, "workers", 0, "worker goroutines; each leases one task at a time (single), up to --batch (batch), or Work's concurrency (work, work-batch) (default 64, 4 for batch)")
	fs.IntVar(&c.Producers, "producers", 0, "enqueueing goroutines (default: --workers for single and work, 4 for batch and work-batch)")
	fs.IntVar(&c.Batch, "batch", d.Batch, "tasks per EnqueueBatch, DequeueWait and CompleteBatch (batch API and recovery; EnqueueBatch only with work-batch)")
	fs.DurationVar(&c.TaskTime, "task-time", 0, "how long each task's handler waits, as one blocked on I/O would (batch: once per lease) (0: a no-op handler)")
	fs.IntVar(&c.Backlog, "backlog", d.Backlog, "continuous: most tasks enqueued and not yet worked")
	fs.IntVar(&c.Rate, "rate", 0, "continuous: a steady load of at most this many tasks enqueued a second, paced evenly (0: as fast as --backlog lets the producers)")
	fs.DurationVar(&c.Interval, "interval", d.Interval, "continuous: report throughput, RSS, heap in use and hot/cold tasks every interval (a line each, and in the report)")
	fs.DurationVar(&c.Retention, "retention", 0, "engine retention age: ended tasks older than it are archived (engine/archive) into a temporary directory, checked every twentieth of it (1s to 1m) (0: the engine's default; negative: keep everything)")
	checkPlateau := fs.Bool("check-plateau", false, fmt.Sprintf("continuous: after the run, fail unless its last minute (or last quarter of a shorter run) drained at least %.0f%% of its second, and RSS after warm-up (2m, or a quarter of a shorter run) stayed within ±%.0f%% of its level then", 100*bench.PlateauMinDrain, 100*bench.PlateauRSSBand))
	fs.IntVar(&c.ProbeTasks, "probe", d.ProbeTasks, "idle-worker probe tasks (-1: no probe)")
	fs.IntVar(&c.ProbeRate, "probe-rate", d.ProbeRate, "probe tasks enqueued per second")
	fs.Float64Var(&c.ScheduledFraction, "scheduled", d.ScheduledFraction, "fraction of probe tasks delayed with Schedule.RunAt")
	fs.DurationVar(&c.ScheduleAhead, "schedule-ahead", d.ScheduleAhead, "longest delay of a delayed probe task")
	fs.Uint64Var(&c.Events, "events", d.Events, "recovery: log size to reach (an existing log is reused)")
	snapshotEvery := fs.Int64("snapshot-every", engine.DefaultSnapshotEvery, "engine snapshot interval in events (0: no snapshots, as is -1)")
	fs.BoolVar(&c.SkipRecovery, "no-recovery", false, "skip the reopen and replay measurements")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the measured phase (not the probe or recovery) to this file")
	memprofile := fs.String("memprofile", "", "write a heap profile at the end of the run to this file")
	quiet := fs.Bool("q", false, "no progress lines on stderr")
	if _, err := parseArgs(fs, args, argSpec{}); err != nil {
		return err
	}
	c.SnapshotEvery = benchSnapshotEvery(*snapshotEvery)
	c.Mode, c.API = bench.Mode(*mode), bench.API(*api)
	if *checkPlateau && c.Mode != bench.ModeContinuous {
		return usageErrorf("--check-plateau needs --mode continuous")
	}
	if !*quiet {
		c.Progress = func(format string, args ...any) { fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...) }
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, f.Close()) }()
		c.CPUProfile = f
	}
	rep, err := bench.Run(ctx, c)
	if errors.Is(err, bench.ErrConfig) {
		return asUsageError(err) // a flag's value or a combination of flags
	}
	if err != nil {
		return err
	}
	if *memprofile != "" {
		f, err := os.Create(*memprofile)
		if err != nil {
			return err
		}
		if err := errors.Join(pprof.Lookup("heap").WriteTo(f, 0), f.Close()); err != nil {
			return err
		}
	}
	var flat error
	if *checkPlateau {
		rep.Plateau = bench.CheckPlateau(rep.Intervals, bench.RetentionSettle(c.Retention))
		flat = rep.Plateau.Err()
		if c.Progress != nil {
			for _, l := range rep.Plateau.Lines() {
				c.Progress("plateau: %s", l)
			}
		}
	}
	if *asJSON {
		err = rep.WriteJSON(cliOut)
	} else {
		err = rep.WriteTable(cliOut)
	}
	return errors.Join(err, flat)
}

// benchSnapshotEvery is bench.Config.SnapshotEvery for --snapshot-every n:
// n events between snapshots, and 0 (or less) none, as in serve; the
// Config's own 0 would be the engine's default.
func benchSnapshotEvery(n int64) int64 {
	if n <= 0 {
		return -1
	}
	return n
}
