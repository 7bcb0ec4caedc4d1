package server

import (
	"context"
	"fmt"
	"net/http"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/wire"
)

// The operator actions: retry or cancel one task, retry, cancel or delete
// many in one append, and pause or resume a queue. Each is the engine's
// action of the same name (engine/actions.go); these handlers only decode,
// call it and answer.

// retryTask gives a failed, expired or cancelled task a new attempt and
// answers with the task as GET /v1/tasks/{id} would.
func (a *api) retryTask(w http.ResponseWriter, r *http.Request, q *engine.Engine) error {
	return a.actOnTask(w, r, q, (*engine.Engine).Retry)
}

// cancelTask cancels a task that has not started (and the tasks that
// depend on it) and answers with the task as GET /v1/tasks/{id} would.
func (a *api) cancelTask(w http.ResponseWriter, r *http.Request, q *engine.Engine) error {
	return a.actOnTask(w, r, q, (*engine.Engine).Cancel)
}

// actOnTask takes the engine's action act on the task the path names and
// answers with the task as it stands after.
func (a *api) actOnTask(w http.ResponseWriter, r *http.Request, q *engine.Engine, act func(*engine.Engine, context.Context, string) error) error {
	id := r.PathValue("id")
	if err := act(q, r.Context(), id); err != nil {
		return err
	}
	return a.writeTaskAfter(w, r, q, &engine.Task{ID: id})
}

// batchActions are the engine's batch forms, by the action's wire name.
var batchActions = map[string]func(*engine.Engine, context.Context, []string) ([]error, error){
	wire.ActionRetry:  (*engine.Engine).RetryTasks,
	wire.ActionCancel: (*engine.Engine).CancelTasks,
	wire.ActionDelete: (*engine.Engine).DeleteTasks,
}

// actions takes one action on many tasks in one append, answered per id as
// POST /v1/outcomes answers per outcome: a refused id (not_found,
// task_state, …) is answered in its own entry and changes nothing, the
// others are taken. A request malformed as a whole is refused (400) before
// anything changes.
func (a *api) actions(w http.ResponseWriter, r *http.Request, q *engine.Engine) error {
	var req wire.ActionRequest
	if err := a.decodeBody(w, r, &req); err != nil {
		return err
	}
	act, ok := batchActions[req.Action]
	if !ok {
		return fmt.Errorf("%w: action %q: want %s, %s or %s", engine.ErrInvalidArgument,
			trimForMessage(req.Action), wire.ActionRetry, wire.ActionCancel, wire.ActionDelete)
	}
	if req.IDs == nil {
		return fmt.Errorf("%w: ids is required (an array, possibly empty)", engine.ErrInvalidArgument)
	}
	if len(req.IDs) > wire.MaxActionIDs {
		return fmt.Errorf("%w: %d ids, at most %d per request", engine.ErrInvalidArgument, len(req.IDs), wire.MaxActionIDs)
	}
	out := wire.ActionAnswer{Results: make([]wire.ActionResult, len(req.IDs))}
	for i, id := range req.IDs {
		out.Results[i].ID = id
	}
	if len(req.IDs) == 0 {
		return a.writeJSON(w, http.StatusOK, out)
	}
	errs, err := act(q, r.Context(), req.IDs)
	if err != nil {
		return err
	}
	// INVARIANT: the engine answers one error (or nil) per id, in order.
	if len(errs) != len(req.IDs) {
		return fmt.Errorf("%s of %d ids: the engine answered %d results", req.Action, len(req.IDs), len(errs))
	}
	for i, err := range errs {
		if err != nil {
			out.Results[i].Error = itemError(err)
			continue
		}
		if req.Action != wire.ActionDelete {
			if t, err := q.GetTask(r.Context(), req.IDs[i]); err == nil {
				out.Results[i].State = string(t.State)
			}
		}
	}
	return a.writeJSON(w, http.StatusOK, out)
}

// trimForMessage cuts a value quoted in an error message.
func trimForMessage(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// pauseQueue stops workers from leasing tasks of the queue and answers
// with the queue's state, as the schedule pause answers with the schedule.
func (a *api) pauseQueue(w http.ResponseWriter, r *http.Request, q *engine.Engine) error {
	return a.actOnQueue(w, r, q, (*engine.Engine).PauseQueue)
}

// resumeQueue undoes pauseQueue and answers with the queue's state.
func (a *api) resumeQueue(w http.ResponseWriter, r *http.Request, q *engine.Engine) error {
	return a.actOnQueue(w, r, q, (*engine.Engine).ResumeQueue)
}

// actOnQueue takes the engine's action act on the queue the path names (a
// malformed name is refused first) and answers with the queue's state.
func (a *api) actOnQueue(w http.ResponseWriter, r *http.Request, q *engine.Engine, act func(*engine.Engine, context.Context, string) error) error {
	name := r.PathValue("queue")
	if err := engine.ValidateQueueName(name); err != nil {
		return err
	}
	if err := act(q, r.Context(), name); err != nil {
		return err
	}
	return a.writeQueueState(w, r, q, name)
}

// writeQueueState answers with the queue name as it stands now.
func (a *api) writeQueueState(w http.ResponseWriter, r *http.Request, q *engine.Engine, name string) error {
	st, err := q.Stats(r.Context())
	if err != nil {
		return err
	}
	return a.writeJSON(w, http.StatusOK, wire.QueueStateOf(st, name))
}
