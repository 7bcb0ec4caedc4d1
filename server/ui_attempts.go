package server

import (
	"math"
	"time"

	"github.com/omniq/omniq/queue"
)

// attemptRow is one attempt of a task, as its task page lists it: the
// lease that started it and the event that ended it.
type attemptRow struct {
	N       int
	Worker  string
	Start   time.Time
	End     time.Time // zero: still running
	Outcome string    // "running", "completed", "failed", "retry scheduled", "lease expired", …
	Error   string
}

// attemptsOf reads a task's attempts from its history (in log order): each
// task.leased starts one, and the attempt's outcome event (task.completed,
// task.failed, task.retry_scheduled, task.lease_expired, naming the same
// attempt) or the task's cancellation, expiry or deletion while it ran
// ends it.
func attemptsOf(history []queue.Event) []attemptRow { return attemptsUpTo(history, math.MaxUint64) }

// attemptsUpTo is attemptsOf of the events at or before log position upTo:
// the attempts as they stood then.
func attemptsUpTo(history []queue.Event, upTo uint64) []attemptRow {
	var out []attemptRow
	open := -1 // index in out of the attempt running, or -1
	end := func(ev queue.Event, outcome string) {
		if open < 0 {
			return
		}
		if n, ok := payloadInt(ev.Payload, "attempt"); ok && n != out[open].N {
			return // an answer to an earlier attempt: the log refused it as stale
		}
		out[open].End, out[open].Outcome = ev.Time, outcome
		if e, ok := ev.Payload["error"].(string); ok {
			out[open].Error = e
		}
		open = -1
	}
	for _, ev := range history {
		if ev.Position > upTo {
			break
		}
		switch ev.Type {
		case "task.leased":
			n, _ := payloadInt(ev.Payload, "attempt")
			w, _ := ev.Payload["worker"].(string)
			out = append(out, attemptRow{N: n, Worker: w, Start: ev.Time, Outcome: "running"})
			open = len(out) - 1
		case "task.completed":
			end(ev, "completed")
		case "task.failed":
			end(ev, "failed")
		case "task.retry_scheduled":
			end(ev, "failed, retry scheduled")
		case "task.lease_expired":
			end(ev, "lease expired")
		case "task.cancelled", "task.expired", "task.deleted":
			end(ev, ev.Type[len("task."):]+" while running")
		}
	}
	return out
}

// payloadInt returns the whole number at key of an event's payload.
func payloadInt(p map[string]any, key string) (int, bool) {
	switch v := p[key].(type) {
	case int:
		return v, true
	case int64:
		return int(v), true
	case uint64:
		return int(v), true
	case float64: // decoded from JSON
		return int(v), true
	}
	return 0, false
}
