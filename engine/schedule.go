package engine

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// parseCron parses a standard 5-field cron expression (with optional
// CRON_TZ= prefix and @descriptors such as @hourly).
func parseCron(spec string) (cron.Schedule, error) {
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrInvalidCron, trunc(spec), err)
	}
	return s, nil
}

// nextFire returns the first fire strictly after `after` for a cron spec or an
// interval anchored at `anchor` (a previous fire time). Missed fires are not
// replayed: after downtime the schedule fires once and continues from now
// (DESIGN.md, "Recurring schedules").
func nextFire(cronSpec string, interval time.Duration, anchor, after time.Time) (time.Time, error) {
	if cronSpec != "" {
		s, err := parseCron(cronSpec)
		if err != nil {
			return time.Time{}, err
		}
		next := s.Next(after.UTC())
		if next.IsZero() {
			return time.Time{}, fmt.Errorf("%w: %q never fires", ErrInvalidCron, cronSpec)
		}
		return next, nil
	}
	if !anchor.After(after) {
		steps := after.Sub(anchor)/interval + 1
		anchor = anchor.Add(steps * interval)
	}
	return anchor, nil
}

// firstFire returns a new schedule's first fire time.
func firstFire(sc *Schedule, now time.Time) (time.Time, error) {
	if sc.Cron != "" {
		after := now
		if sc.RunAt.After(now) {
			after = sc.RunAt.Add(-time.Nanosecond)
		}
		return nextFire(sc.Cron, 0, time.Time{}, after)
	}
	if !sc.RunAt.IsZero() {
		return sc.RunAt, nil
	}
	return now.Add(sc.Interval), nil
}
