package client

import (
	"context"
	"net/http"

	"github.com/omniq/omniq/queue"
	"github.com/omniq/omniq/wire"
)

// TaskPage is the answer of GET /v1/tasks.
type TaskPage = wire.TaskPage

// ListTasks returns a page of the tasks that match f, in id order, and the
// cursor of the next page (GET /v1/tasks). As with the embedded engine, a
// page may hold fewer than f.Limit tasks while more follow: only an empty
// cursor means the end. Bad filters wrap queue.ErrInvalidArgument.
func (c *Client) ListTasks(ctx context.Context, f queue.TaskFilter) ([]*queue.Task, string, error) {
	var got TaskPage
	if err := c.do(ctx, http.MethodGet, "/v1/tasks", wire.ListQuery(f), nil, &got); err != nil {
		return nil, "", err
	}
	out := make([]*queue.Task, len(got.Tasks))
	for i := range got.Tasks {
		out[i] = got.Tasks[i].Engine()
	}
	return out, got.NextCursor, nil
}
