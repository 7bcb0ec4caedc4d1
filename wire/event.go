package wire

import "github.com/omniq/omniq/queue"

// Event is one event of a task's history in its wire form, as
// GET /v1/tasks/{id}/history reports it: a queue.Event whose JSON marks
// float payload values as floats (times RFC 3339, durations seconds).
type Event queue.Event

// History is the body of GET /v1/tasks/{id}/history.
type History struct {
	Events []Event `json:"events"`
}

// HistoryOf returns the wire body of a task's history.
func HistoryOf(evs []queue.Event) History {
	out := History{Events: make([]Event, len(evs))}
	for i, ev := range evs {
		out.Events[i] = Event(ev)
	}
	return out
}
