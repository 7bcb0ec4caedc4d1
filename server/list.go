package server

import (
	"net/http"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/wire"
)

// listTasks answers GET /v1/tasks: a page of the tasks that match the
// query's filter (wire.ParseListQuery), in id order, with the cursor of
// the next page (engine.ListTasks says what a page holds).
func (a *api) listTasks(w http.ResponseWriter, r *http.Request, q *engine.Engine) error {
	f, err := wire.ParseListQuery(r.URL.Query())
	if err != nil {
		return err
	}
	tasks, next, err := q.ListTasks(r.Context(), f)
	if err != nil {
		return err
	}
	page := wire.TaskPage{Tasks: make([]wire.Task, len(tasks)), NextCursor: next}
	for i, t := range tasks {
		page.Tasks[i] = wire.TaskOf(t)
	}
	return a.writeJSON(w, http.StatusOK, page)
}
