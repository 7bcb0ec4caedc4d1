package engine

import (
	"testing"
	"time"
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
