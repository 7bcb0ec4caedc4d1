package engine

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omniq/omniq/stores/memory"
)

// TestSystemClockIgnoresWallJumps: the engine's clock advances with the
// monotonic clock, whatever the wall clock does after the anchor.
func TestSystemClockIgnoresWallJumps(t *testing.T) {
	wall := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newAnchoredClock(func() time.Time { return wall })
	first := c.Now()
	wall = wall.Add(-time.Hour) // an operator steps the clock back an hour…
	second := c.Now()
	wall = wall.Add(48 * time.Hour) // …then forward two days
	third := c.Now()
	if second.Before(first) || third.Before(second) {
		t.Fatalf("clock went backwards: %v %v %v", first, second, third)
	}
	if third.Sub(first) > time.Minute {
		t.Fatalf("clock jumped with the wall clock: %v after %v", third, first)
	}
	if !first.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) && first.Sub(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) > time.Second {
		t.Fatalf("clock not anchored at the wall clock: %v", first)
	}
}

// jumpyClock is a manual clock that moves forward by jump right before it
// arms a timer of exactly armed: the clock moving between the timer loop
// reading the time and arming its timer.
type jumpyClock struct {
	*ManualClock
	armed time.Duration
	jump  time.Duration
	done  atomic.Bool
}

func (c *jumpyClock) NewTimer(d time.Duration) Timer {
	if d == c.armed && !c.done.Swap(true) {
		c.ManualClock.Advance(c.jump)
	}
	return c.ManualClock.NewTimer(d)
}

// A schedule fire is not a whole interval late when the clock passes it
// while the timer loop arms its timer: the loop sees the time has come and
// acts at once (a timer armed then counts from the new time).
func TestTimerArmedAfterTheClockPassedItsTime(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clk := &jumpyClock{ManualClock: NewManualClock(start), armed: 90 * time.Second, jump: 90 * time.Second}
	log := memory.New()
	e, err := Open(context.Background(), log, WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = e.Close(); _ = log.Close() }()
	ctx := context.Background()
	if err := e.Enqueue(ctx, &Task{ID: "tick", Func: "f", Schedule: &Schedule{Interval: 90 * time.Second}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if tk, err := e.GetTask(ctx, "tick"); err == nil && tk.Fires == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no fire at %v although the clock passed it (jumped: %v)", start.Add(90*time.Second), clk.done.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
