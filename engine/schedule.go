package engine

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// MaxCronLen bounds a cron expression.
const MaxCronLen = 256

// parseCron parses a standard 5-field cron expression (with optional
// CRON_TZ= prefix and @descriptors such as @hourly). Without a zone prefix it
// is evaluated in UTC, whatever the process's local zone.
func parseCron(spec string) (sched cron.Schedule, err error) {
	if len(spec) > MaxCronLen {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrInvalidCron, len(spec), MaxCronLen)
	}
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		if !strings.Contains(spec, " ") {
			return nil, fmt.Errorf("%w: %q: a zone prefix needs the fields after it", ErrInvalidCron, trunc(spec))
		}
	} else {
		spec = "CRON_TZ=UTC " + spec
	}
	defer func() {
		// The parser has panicked on malformed input before; bad input must
		// get a typed error, never crash the caller.
		if r := recover(); r != nil {
			sched, err = nil, fmt.Errorf("%w: %q", ErrInvalidCron, trunc(spec))
		}
	}()
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidCron, trunc(err.Error()))
	}
	return s, nil
}

// nextFire returns the first fire strictly after `after` for a cron spec or an
// interval anchored at `anchor` (a previous fire time). Missed fires are not
// replayed: after downtime the schedule fires once and continues from now
// (docs/design.md, "Recurring schedules").
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
