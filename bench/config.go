package bench

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// ErrConfig: a Config field is out of range; the message says which.
var ErrConfig = errors.New("bench: bad config")

// Mode is the workload shape.
type Mode string

// Workload modes.
const (
	ModeBurndown   Mode = "burndown"   // enqueue Jobs, then drain them
	ModeContinuous Mode = "continuous" // producers and workers together for Duration
	ModeRecovery   Mode = "recovery"   // grow the log to Events, then time reopening it
)

// API is which engine calls producers and workers make.
type API string

// Engine APIs a run can drive.
const (
	// APISingle: Enqueue, DequeueWait(…, 1) and Complete, one task per call,
	// from many goroutines (group commit does the batching).
	APISingle API = "single"
	// APIBatch: EnqueueBatch, DequeueWait(…, Batch) and CompleteBatch.
	APIBatch API = "batch"
	// APIWork: Enqueue one task per call; the engine's own Register/Work
	// worker pool runs the handler and records the outcome.
	APIWork API = "work"
	// APIWorkBatch: EnqueueBatch of Batch tasks per call; the engine's Work
	// pool runs them, as a service enqueueing in bulk for a pool of workers.
	APIWorkBatch API = "work-batch"
)

// batchEnqueue says whether producers call EnqueueBatch (else Enqueue).
func (a API) batchEnqueue() bool { return a == APIBatch || a == APIWorkBatch }

// pool says whether the engine's Work pool runs the tasks (else the
// harness's own DequeueWait workers).
func (a API) pool() bool { return a == APIWork || a == APIWorkBatch }

// Config describes one run. The zero value of a field means its default
// (see Defaults); Run fills the defaults in before validating.
type Config struct {
	// Store is the store URL (stores/storeurl). Empty, or a local scheme
	// with no path ("pebble://", "file://", "sqlite://"), means a fresh
	// temporary directory removed after the run. On a shared server
	// (postgres, redis, nats) a URL that names no log gets a unique log name,
	// dropped after the run.
	Store string
	// Keep leaves a temporary directory or unique log in place after the run.
	Keep bool
	// Nodes is how many engines share the log (default 1). Each opens the
	// store URL itself, as a separate process would (a temporary directory
	// or unique log name is resolved once, for all), with a worker ID of
	// its own (engine.WithWorkerID); producers and workers are spread over
	// the nodes round-robin. The memory store has no URL to open twice:
	// its nodes share the one log. More than one node needs a store that
	// several processes can open (see SharedStores).
	Nodes int
	// Remote, when set, is the URL of an omniqd server
	// ("http://127.0.0.1:7070"): producers and workers go through
	// client.New(Remote) instead of an embedded engine, and Store, Nodes,
	// retention, snapshots, the probe and recovery do not apply. Burn-down
	// only.
	Remote string
	// RemoteUngathered sends every remote Enqueue call as a request of its
	// own (client.WithEnqueueGathering(false)).
	RemoteUngathered bool

	Mode Mode
	API  API
	// Jobs is the task count of a burn-down run (default 100,000).
	Jobs int
	// Duration of a continuous run (default 10s).
	Duration time.Duration
	// Workers is how many worker goroutines lease tasks: each leases one
	// task at a time with single, up to Batch with batch; with work and
	// work-batch it is Work's Concurrency (default 64, or 4 with batch).
	Workers int
	// Producers is how many goroutines enqueue (default: Workers for
	// single and work, 4 for batch and work-batch).
	Producers int
	// Batch is the size of one EnqueueBatch, one DequeueWait and one
	// CompleteBatch with APIBatch, of one EnqueueBatch with APIWorkBatch
	// (default 1000).
	Batch int
	// TaskTime is how long each task's handler takes, waiting as a task
	// blocked on I/O would (a call to another service, a query), without
	// using a core (default 0: a no-op handler). A worker of the batch API
	// runs the tasks of one lease side by side: it waits TaskTime once per
	// lease.
	TaskTime time.Duration
	// Backlog bounds enqueued-but-not-worked tasks in a continuous run
	// (default 20,000), as River's continuous mode keeps a bounded pool.
	Backlog int
	// Rate, when positive, is the steady load of a continuous run: the
	// producers together enqueue at most Rate tasks a second, paced evenly
	// (a batch waits for its share; no burst beyond one batch per
	// producer), still within Backlog. 0: as fast as Backlog lets them,
	// which measures the ceiling rather than a steady load.
	Rate int
	// Interval: a continuous run samples its throughput, resident set, heap
	// in use and the engine's hot and cold task counts every Interval
	// (default 10s) into Report.Intervals, and reports each as a progress
	// line.
	Interval time.Duration

	// Retention: 0 keeps the engine's default retention; a positive value
	// is passed as engine.Retention{Age: Retention, Every: Retention/20
	// (1s to 1m)} with an archive (engine/archive.Dir) in a temporary
	// directory, removed after the run unless Keep; a negative value turns
	// retention off (engine.KeepEverything).
	Retention time.Duration

	// ProbeTasks is how many tasks the idle-worker probe enqueues, one per
	// call at ProbeRate per second (defaults 1,000 and 200/s, slow enough
	// that the workers are idle when each arrives; -1 skips the probe).
	ProbeTasks int
	ProbeRate  int
	// ScheduledFraction of the probe tasks carry Schedule.RunAt up to
	// ScheduleAhead in the future (defaults 0.25 and 50ms).
	ScheduledFraction float64
	ScheduleAhead     time.Duration

	// Events is the log size a recovery run grows the log to (default
	// 1,000,000).
	Events uint64
	// SnapshotEvery is passed to engine.WithSnapshotEvery: 0 keeps the
	// engine's default, a negative value turns periodic snapshots off.
	SnapshotEvery int64
	// SkipRecovery skips the reopen and replay measurements.
	SkipRecovery bool

	// CPUProfile, when set, receives a CPU profile (runtime/pprof) of the
	// measured phase only: insert and drain, the continuous window, or the
	// log generation; not the probe, Close or the recovery measurements.
	CPUProfile io.Writer

	// Progress, when set, receives one line per phase as the run goes.
	Progress func(format string, args ...any)
}

// Defaults returns c with every zero field set to its default.
func (c Config) Defaults() Config {
	c.Nodes = cmp.Or(c.Nodes, 1)
	c.Mode = cmp.Or(c.Mode, ModeBurndown)
	c.API = cmp.Or(c.API, APIBatch)
	c.Jobs = cmp.Or(c.Jobs, 100_000)
	c.Duration = cmp.Or(c.Duration, 10*time.Second)
	if c.Workers == 0 {
		c.Workers = 64
		if c.API == APIBatch {
			c.Workers = 4
		}
	}
	c.Batch = cmp.Or(c.Batch, 1000)
	if c.Producers == 0 {
		c.Producers = c.Workers
		if c.API.batchEnqueue() {
			c.Producers = 4
		}
	}
	c.Backlog = cmp.Or(c.Backlog, 20_000)
	c.Interval = cmp.Or(c.Interval, 10*time.Second)
	c.ProbeTasks = cmp.Or(c.ProbeTasks, 1000)
	c.ProbeRate = cmp.Or(c.ProbeRate, 200)
	c.ScheduledFraction = cmp.Or(c.ScheduledFraction, 0.25)
	c.ScheduleAhead = cmp.Or(c.ScheduleAhead, 50*time.Millisecond)
	c.Events = cmp.Or(c.Events, 1_000_000)
	return c
}

// validate reports the first field out of range, wrapping ErrConfig.
// REQUIRES: c has its defaults.
func (c Config) validate() error {
	switch c.Mode {
	case ModeBurndown, ModeContinuous, ModeRecovery:
	default:
		return fmt.Errorf("%w: mode %q (want burndown, continuous or recovery)", ErrConfig, c.Mode)
	}
	switch c.API {
	case APISingle, APIBatch, APIWork, APIWorkBatch:
	default:
		return fmt.Errorf("%w: api %q (want single, batch, work or work-batch)", ErrConfig, c.API)
	}
	switch {
	case c.Jobs < 1:
		return fmt.Errorf("%w: jobs %d must be positive", ErrConfig, c.Jobs)
	case c.Duration < 0:
		return fmt.Errorf("%w: duration %s must be positive", ErrConfig, c.Duration)
	case c.TaskTime < 0:
		return fmt.Errorf("%w: task time %s must not be negative", ErrConfig, c.TaskTime)
	case c.Workers < 1 || c.Producers < 1:
		return fmt.Errorf("%w: workers %d and producers %d must be positive", ErrConfig, c.Workers, c.Producers)
	case c.Batch < 1:
		return fmt.Errorf("%w: batch %d must be positive", ErrConfig, c.Batch)
	case c.Interval < 0:
		return fmt.Errorf("%w: interval %s must be positive", ErrConfig, c.Interval)
	case c.Rate < 0:
		return fmt.Errorf("%w: rate %d must not be negative", ErrConfig, c.Rate)
	case c.Rate > 0 && c.Mode != ModeContinuous:
		return fmt.Errorf("%w: rate %d applies to a continuous run only (mode %s)", ErrConfig, c.Rate, c.Mode)
	case c.Backlog < c.Batch:
		return fmt.Errorf("%w: backlog %d must be at least the batch size %d", ErrConfig, c.Backlog, c.Batch)
	case c.ProbeRate < 1:
		return fmt.Errorf("%w: probe rate %d must be positive", ErrConfig, c.ProbeRate)
	case c.ScheduledFraction < 0 || c.ScheduledFraction > 1:
		return fmt.Errorf("%w: scheduled fraction %g must be within 0..1", ErrConfig, c.ScheduledFraction)
	case c.ScheduleAhead < 0:
		return fmt.Errorf("%w: schedule-ahead %s must not be negative", ErrConfig, c.ScheduleAhead)
	case c.Nodes < 1:
		return fmt.Errorf("%w: nodes %d must be positive", ErrConfig, c.Nodes)
	}
	if c.Remote != "" && (c.Mode != ModeBurndown || c.Nodes != 1) {
		return fmt.Errorf("%w: a remote run is a burn-down on the server's one node (mode %s, nodes %d)", ErrConfig, c.Mode, c.Nodes)
	}
	if c.Nodes > 1 {
		scheme, _, _ := strings.Cut(c.Store, "://")
		if c.Store == "" {
			scheme = "pebble"
		}
		if scheme == "file" || scheme == "pebble" {
			return fmt.Errorf("%w: %d nodes on %s://: one process owns a %s log (a lock in its directory refuses a second opener); several nodes can share %s",
				ErrConfig, c.Nodes, scheme, scheme, SharedStores)
		}
	}
	return nil
}

// SharedStores names the stores several nodes (Config.Nodes) can share.
const SharedStores = "postgres://, redis://, nats://, sqlite:// and memory://"

func (c Config) progress(format string, args ...any) {
	if c.Progress != nil {
		c.Progress(format, args...)
	}
}
