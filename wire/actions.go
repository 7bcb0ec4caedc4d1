package wire

import (
	"slices"

	"github.com/omniq/omniq/queue"
)

// The operator actions over HTTP: retry and cancel of one task
// (POST /v1/tasks/{id}/retry|cancel, answered with the task), the same and
// delete of many tasks in one append (POST /v1/actions, answered per id),
// and pausing a queue (POST /v1/queues/{queue}/pause|resume, answered with
// the queue's state).

// Actions of POST /v1/actions.
const (
	ActionRetry  = "retry"
	ActionCancel = "cancel"
	ActionDelete = "delete"
)

// MaxActionIDs is the most ids one POST /v1/actions may carry: the
// engine's own bound on a batch action (engine.MaxActionBatch, which the
// server's tests keep equal), so a hostile request cannot make one append
// unbounded.
const MaxActionIDs = 1000

// ActionRequest is the body of POST /v1/actions: one action on many tasks,
// taken in one append.
type ActionRequest struct {
	Action string   `json:"action"` // ActionRetry, ActionCancel or ActionDelete
	IDs    []string `json:"ids"`    // required (an array, possibly empty), at most MaxActionIDs
}

// ActionAnswer is the answer of POST /v1/actions: per id, in the order sent,
// what became of it.
type ActionAnswer struct {
	Results []ActionResult `json:"results"`
}

// ActionResult is what became of one id of an ActionRequest. Error is null
// when the action was taken; otherwise it says why not (not_found,
// task_state, …), and nothing changed for that task. State, when the action
// was taken on a task that is still there (retry, cancel), is its state
// right after (pending, cancelled, …), as POST /v1/outcomes gives it.
type ActionResult struct {
	ID    string       `json:"id"`
	State string       `json:"state,omitempty"`
	Error *ErrorDetail `json:"error"`
}

// QueueState is the answer of POST /v1/queues/{queue}/pause and /resume:
// the queue as it stands after.
type QueueState struct {
	Name   string         `json:"name"`
	Paused bool           `json:"paused"`
	Counts map[string]int `json:"counts"` // state -> tasks, as GET /v1/stats counts them
}

// QueueStateOf returns the state of the queue name in s.
func QueueStateOf(s queue.Stats, name string) QueueState {
	out := QueueState{Name: name, Paused: slices.Contains(s.PausedQueues, name), Counts: map[string]int{}}
	for st, n := range s.Queues[name] {
		out.Counts[string(st)] = n
	}
	return out
}
