package queue

import "time"

// Event is one event of a task's history, as History reports it: the
// embedded engine from its log and archive, a remote client from
// GET /v1/tasks/{id}/history. A queue event (queue.paused, queue.resumed)
// has an empty TaskID; its payload names the queue ("queue").
type Event struct {
	Position uint64    `json:"position"` // place in the log (1 is the first event)
	ID       string    `json:"id"`       // the event's ULID
	Type     string    `json:"type"`     // "task.enqueued", "task.leased", "queue.paused", …
	Version  int       `json:"version"`  // schema version of the payload
	TaskID   string    `json:"task_id"`
	Time     time.Time `json:"time"`
	// Payload holds the event's fields in snake_case ("attempt", "deadline",
	// "result", "spec", …); times as time.Time, durations as seconds
	// (float64), and fields at their zero value are left out.
	Payload map[string]any `json:"payload,omitempty"`
}
