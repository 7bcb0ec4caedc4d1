package engine

import (
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/omniq/omniq/events"
)

// validateID checks a caller-chosen task id.
func validateID(id string) error {
	if len(id) > MaxIDLen || !utf8.ValidString(id) {
		return fmt.Errorf("%w: %q must be valid UTF-8 of at most %d bytes", ErrInvalidID, trunc(id), MaxIDLen)
	}
	for _, r := range id {
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == '/' {
			return fmt.Errorf("%w: %q must not contain spaces, control characters or '/'", ErrInvalidID, trunc(id))
		}
	}
	return nil
}

func queueOrDefault(q string) string {
	if q == "" {
		return DefaultQueue
	}
	return q
}

// specFromTask validates the caller's fields and builds the event spec, with
// arguments normalized to what the log gives back. It checks nothing that
// depends on the state (ids in use, dependencies); prepare does that.
func (e *Engine) specFromTask(t *Task, now time.Time) (events.TaskSpec, error) {
	var s events.TaskSpec
	if t == nil {
		return s, fmt.Errorf("%w: nil task", ErrInvalidArgument)
	}
	if t.ID != "" {
		if err := validateID(t.ID); err != nil {
			return s, err
		}
	}
	if t.Func == "" || len(t.Func) > MaxFuncLen || !utf8.ValidString(t.Func) {
		return s, fmt.Errorf("%w: func must be a UTF-8 name of 1 to %d bytes", ErrInvalidFunc, MaxFuncLen)
	}
	if err := ValidateQueueName(t.QueueName); err != nil {
		return s, err
	}
	if t.Priority < MinPriority || t.Priority > MaxPriority {
		return s, fmt.Errorf("%w: %d is outside %d..%d", ErrInvalidPriority, t.Priority, MinPriority, MaxPriority)
	}
	if t.TTL < 0 || t.TTL > MaxDuration {
		return s, fmt.Errorf("%w: %s must be between 0 and %s", ErrInvalidTTL, t.TTL, MaxDuration)
	}
	if t.Retries < 0 || t.MaxRetries < 0 {
		return s, fmt.Errorf("%w: retries %d and max_retries %d must not be negative", ErrInvalidRetries, t.Retries, t.MaxRetries)
	}
	if t.MaxRetries > 0 && t.Retries > t.MaxRetries {
		return s, fmt.Errorf("%w: retries %d exceeds max_retries %d", ErrInvalidRetries, t.Retries, t.MaxRetries)
	}
	if len(t.DependsOn) > MaxDependencies {
		return s, fmt.Errorf("%w: %d dependencies, at most %d", ErrInvalidArgument, len(t.DependsOn), MaxDependencies)
	}
	args, err := events.Normalize(t.Args)
	if err != nil {
		return s, fmt.Errorf("%w: %w", ErrInvalidArgs, err)
	}
	kwargs, err := events.Normalize(t.Kwargs)
	if err != nil {
		return s, fmt.Errorf("%w: %w", ErrInvalidArgs, err)
	}
	s = events.TaskSpec{
		Func: t.Func, Queue: queueOrDefault(t.QueueName), Priority: t.Priority, TTL: t.TTL,
		Retries: t.Retries, MaxRetries: t.MaxRetries, DependsOn: dedupe(t.DependsOn),
	}
	if args != nil {
		s.Args = args.([]any)
	}
	if kwargs != nil {
		s.Kwargs = kwargs.(map[string]any)
	}
	if size, err := payloadSize(s.Args, s.Kwargs); err != nil {
		return s, fmt.Errorf("%w: %w", ErrInvalidArgs, err)
	} else if size > e.cfg.maxPayload {
		return s, fmt.Errorf("%w: args and kwargs encode to %d bytes, limit %d", ErrPayloadTooLarge, size, e.cfg.maxPayload)
	}
	if sc := t.Schedule; sc != nil {
		if sc.Cron != "" && sc.Interval != 0 {
			return s, fmt.Errorf("%w: set cron or interval, not both", ErrInvalidSchedule)
		}
		if sc.Interval < 0 || (sc.Interval > 0 && sc.Interval < MinInterval) || sc.Interval > MaxDuration {
			return s, fmt.Errorf("%w: interval %s must be between %s and %s", ErrInvalidSchedule, sc.Interval, MinInterval, MaxDuration)
		}
		if !sc.RunAt.IsZero() && (sc.RunAt.Before(MinRunAt) || sc.RunAt.After(MaxRunAt)) {
			return s, fmt.Errorf("%w: run_at %s must be between %s and %s", ErrInvalidSchedule,
				sc.RunAt.Format(time.RFC3339), MinRunAt.Format(time.RFC3339), MaxRunAt.Format(time.RFC3339))
		}
		if sc.Cron != "" {
			if _, err := parseCron(sc.Cron); err != nil {
				return s, err
			}
		}
		if (sc.Cron != "" || sc.Interval != 0) && len(s.DependsOn) > 0 {
			return s, fmt.Errorf("%w: a recurring task cannot depend on other tasks", ErrInvalidSchedule)
		}
		s.RunAt, s.Paused = events.At(sc.RunAt), sc.Paused
	}
	return s, nil
}

func payloadSize(args []any, kwargs map[string]any) (int, error) {
	if args == nil && kwargs == nil {
		return 0, nil
	}
	b, err := events.MarshalValue([]any{args, kwargs})
	return len(b), err
}

func dedupe(ids []string) []string {
	if len(ids) == 0 {
		return nil
	}
	out := make([]string, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

func trunc(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
