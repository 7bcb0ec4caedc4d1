package engine

import (
	"log/slog"
	"math/rand/v2"
	"time"
)

// Option configures an Engine.
type Option func(*config)

type config struct {
	clock         Clock
	backoff       func(attempt int) time.Duration
	leaseTimeout  time.Duration
	maxBatch      int
	maxPayload    int
	snapshotEvery uint64
	logger        *slog.Logger
	workerID      string
	nodeAddr      string // shown in the presence record (WithNodeAddr)
	observer      Observer
	retention     Retention
	runs          runSizes      // checkpoint runs (runs.go)
	compactHold   time.Duration // the Hold of this engine's log.compacting notices; 0: adaptive (compact_hold.go)
}

func defaultConfig() config {
	return config{
		clock:         NewSystemClock(),
		backoff:       DefaultBackoff,
		leaseTimeout:  30 * time.Second,
		maxBatch:      4096,
		maxPayload:    1 << 20,
		snapshotEvery: DefaultSnapshotEvery,
		logger:        slog.New(slog.DiscardHandler),
		observer:      nopObserver{},
		runs:          defaultRuns,
	}
}

// DefaultBackoff is the default retry delay: 1s doubling per attempt, capped
// at one hour, with ±20% jitter so that retries of a burst spread out.
func DefaultBackoff(attempt int) time.Duration {
	d := time.Second
	for i := 1; i < attempt && d < time.Hour; i++ {
		d *= 2
	}
	d = min(d, time.Hour)
	jitter := time.Duration(rand.Int64N(int64(d)/5*2+1)) - d/5
	return d + jitter
}

// WithBackoff sets the delay before retry number attempt (1 for the first
// retry). The delay is decided once and written into the retry's event.
func WithBackoff(f func(attempt int) time.Duration) Option {
	return func(c *config) {
		if f != nil {
			c.backoff = f
		}
	}
}

// WithLeaseTimeout sets how long a dequeued task stays leased without a
// heartbeat before it counts as a failed attempt (default 30s).
func WithLeaseTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.leaseTimeout = d
		}
	}
}

// WithClock replaces the system clock, for tests (see ManualClock).
func WithClock(clk Clock) Option {
	return func(c *config) {
		if clk != nil {
			c.clock = clk
		}
	}
}

// WithMaxBatch bounds how many commands share one append (default 4096).
func WithMaxBatch(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxBatch = n
		}
	}
}

// WithMaxPayload bounds the encoded size of one task's args and kwargs, and
// of one result, in bytes (default 1 MiB).
func WithMaxPayload(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxPayload = n
		}
	}
}

// DefaultSnapshotEvery is the default snapshot interval, in events. A
// snapshot at most this far behind the head bounds what Open replays (about
// a second's work at a million events a second).
const DefaultSnapshotEvery = 1_000_000

// WithSnapshotEvery writes a projection snapshot beside the log, when the
// log implements stores.SnapshotStore, after every n appended events (and
// no sooner than after as many events as the last one held tasks, so that a
// large state is not encoded whole over and over) and on Close (default
// DefaultSnapshotEvery); 0 writes none. A snapshot is a cache
// (docs/design.md, invariant 5): Open falls back to replaying the whole log when
// it is missing or unreadable. The committer only encodes a periodic
// snapshot (under the state's read lock); a background goroutine writes it,
// one at a time: a snapshot that falls due while the last is still being
// written is skipped.
// Compaction (Compact) is what bounds the log itself.
func WithSnapshotEvery(n uint64) Option {
	return func(c *config) { c.snapshotEvery = n }
}

// WithLogger sets the structured logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithWorkerID names this engine's workers in lease events (default: host-pid).
func WithWorkerID(id string) Option {
	return func(c *config) { c.workerID = id }
}
