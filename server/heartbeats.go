package server

import (
	"fmt"
	"net/http"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/wire"
)

// heartbeats extends many leases in one append (engine.HeartbeatBatch),
// answered per lease as POST /v1/outcomes answers per outcome: each is
// fenced by its attempt, and a refused one (stale_lease, not_found, …, the
// codes POST /v1/tasks/{id}/heartbeat answers) is answered in its own entry
// and changes nothing; the others are extended and answered with their new
// deadline. A malformed request is refused whole (400) before anything
// changes.
func (a *api) heartbeats(w http.ResponseWriter, r *http.Request, q *engine.Engine) error {
	var req wire.HeartbeatsRequest
	if err := a.decodeBody(w, r, &req); err != nil {
		return err
	}
	if len(req.Heartbeats) == 0 {
		return fmt.Errorf("%w: heartbeats is required: a non-empty array", engine.ErrInvalidArgument)
	}
	if len(req.Heartbeats) > wire.MaxHeartbeats {
		return fmt.Errorf("%w: %d heartbeats, at most %d per request", engine.ErrInvalidArgument, len(req.Heartbeats), wire.MaxHeartbeats)
	}
	tasks := make([]*engine.Task, len(req.Heartbeats))
	for i, h := range req.Heartbeats {
		if h.ID == "" {
			return fmt.Errorf("%w: heartbeat %d: id is required", engine.ErrInvalidArgument, i)
		}
		if h.Attempt < 1 {
			return fmt.Errorf("%w: heartbeat %d: attempt is required: the lease's fencing token, as dequeue returned it", engine.ErrInvalidArgument, i)
		}
		tasks[i] = &engine.Task{ID: h.ID, Attempt: h.Attempt}
	}
	errs, err := q.HeartbeatBatch(r.Context(), tasks)
	if err != nil {
		return err
	}
	out := wire.HeartbeatsAnswer{Heartbeats: make([]wire.HeartbeatAnswer, len(tasks))}
	for i, err := range errs {
		if err != nil {
			out.Heartbeats[i].Error = itemError(err)
			continue
		}
		// Extended: the task's fields are the extended lease's.
		out.Heartbeats[i].LeaseDeadline = tasks[i].LeaseDeadline.UTC()
		out.Heartbeats[i].UpdatedAt = tasks[i].UpdatedAt.UTC()
	}
	return a.writeJSON(w, http.StatusOK, out)
}
