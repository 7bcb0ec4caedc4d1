package engine

import (
	"sync"
	"time"
)

// Clock is the engine's only source of time: time enters the state only
// through event timestamps the engine stamps, so that the fold of the log
// stays deterministic (docs/design.md, invariant 2).
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer that fires once, d from now.
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer of a Clock.
type Timer interface {
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it was active.
	Stop() bool
}

// SystemClock is the real clock, made immune to wall-clock jumps: it reads
// the wall clock once, when created, and from then on advances by the
// monotonic clock. A wall clock stepped by an operator or NTP therefore
// neither expires every lease at once nor holds them forever; the engine's
// time re-anchors to the wall clock when the process restarts.
// The zero value anchors at its first use. It is safe for concurrent use.
type SystemClock struct {
	once  sync.Once
	wall  time.Time // wall-clock reading at the anchor, monotonic part stripped
	mono  time.Time // the same instant with its monotonic reading
	clock func() time.Time
}

// NewSystemClock returns a SystemClock anchored now.
func NewSystemClock() *SystemClock { return newAnchoredClock(time.Now) }

// newAnchoredClock anchors at read(); tests pass a wall clock that jumps.
func newAnchoredClock(read func() time.Time) *SystemClock {
	c := &SystemClock{clock: read}
	c.anchor()
	return c
}

func (c *SystemClock) anchor() {
	c.once.Do(func() {
		if c.clock == nil {
			c.clock = time.Now
		}
		c.mono = time.Now()
		c.wall = c.clock().Round(0)
	})
}

// Now returns the anchor's wall time plus the monotonic time elapsed since.
func (c *SystemClock) Now() time.Time {
	c.anchor()
	return c.wall.Add(time.Since(c.mono))
}

// NewTimer returns a time.Timer (durations are monotonic already).
func (c *SystemClock) NewTimer(d time.Duration) Timer { return sysTimer{time.NewTimer(d)} }

// AfterFunc implements afterFuncClock: f runs in its own goroutine once d
// has passed; nothing waits for it meanwhile.
func (c *SystemClock) AfterFunc(d time.Duration, f func()) Timer {
	return sysTimer{time.AfterFunc(d, f)}
}

// afterFuncClock is an optional Clock capability: call f once d has passed
// without a goroutine parked on a timer meanwhile. The returned Timer's C is
// nil; Stop works as for NewTimer. A Clock without it gets the same effect
// from a goroutine per call.
type afterFuncClock interface {
	AfterFunc(d time.Duration, f func()) Timer
}

type sysTimer struct{ t *time.Timer }

func (t sysTimer) C() <-chan time.Time { return t.t.C }
func (t sysTimer) Stop() bool          { return t.t.Stop() }

// ManualClock is a Clock that moves only when told, for tests: timers fire
// when Advance or Set passes their time. Safe for concurrent use.
type ManualClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*manualTimer
}

// NewManualClock returns a clock stopped at start.
func NewManualClock(start time.Time) *ManualClock { return &ManualClock{now: start} }

// Now returns the clock's current time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d and fires the timers that became due.
func (c *ManualClock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// Set moves the clock to t (backwards too) and fires the timers now due.
func (c *ManualClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	var keep []*manualTimer
	for _, tm := range c.timers {
		if !tm.at.After(t) {
			tm.ch <- t
		} else {
			keep = append(keep, tm)
		}
	}
	c.timers = keep
	c.mu.Unlock()
}

// NewTimer implements Clock.
func (c *ManualClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	tm := &manualTimer{c: c, at: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		tm.ch <- c.now
		return tm
	}
	c.timers = append(c.timers, tm)
	return tm
}

type manualTimer struct {
	c  *ManualClock
	at time.Time
	ch chan time.Time
}

func (t *manualTimer) C() <-chan time.Time { return t.ch }

func (t *manualTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	for i, tm := range t.c.timers {
		if tm == t {
			t.c.timers = append(t.c.timers[:i], t.c.timers[i+1:]...)
			return true
		}
	}
	return false
}
