package wire

import (
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/omniq/omniq/queue"
)

// TaskPage is the answer of GET /v1/tasks: a page of tasks in id order and
// the cursor of the next page. NextCursor is "" only at the end; a page may
// hold fewer tasks than its limit, none even, before it (the server bounds
// the work of one page).
type TaskPage struct {
	Tasks      []Task `json:"tasks"`
	NextCursor string `json:"next_cursor"`
}

// The query parameters of GET /v1/tasks, one per field of
// queue.TaskFilter. Times are RFC 3339.
const (
	ListQueue          = "queue"
	ListState          = "state"
	ListFunc           = "func"
	ListQ              = "q"
	ListEnqueuedAfter  = "enqueued_after"
	ListEnqueuedBefore = "enqueued_before"
	ListCursor         = "cursor"
	ListLimit          = "limit"
)

// ListQuery returns the query of GET /v1/tasks that asks for f.
func ListQuery(f queue.TaskFilter) url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set(ListQueue, f.Queue)
	set(ListState, string(f.State))
	set(ListFunc, f.Func)
	set(ListQ, f.Q)
	if !f.EnqueuedAfter.IsZero() {
		v.Set(ListEnqueuedAfter, f.EnqueuedAfter.Format(time.RFC3339Nano))
	}
	if !f.EnqueuedBefore.IsZero() {
		v.Set(ListEnqueuedBefore, f.EnqueuedBefore.Format(time.RFC3339Nano))
	}
	set(ListCursor, f.After)
	if f.Limit != 0 {
		v.Set(ListLimit, strconv.Itoa(f.Limit))
	}
	return v
}

// ParseListQuery reads the filter a GET /v1/tasks query asks for. A
// parameter that does not parse (a time that is not RFC 3339, a limit that
// is not a positive integer, a parameter given twice or unknown) wraps
// queue.ErrInvalidArgument; the engine checks the rest (state names, the
// limit's bound).
func ParseListQuery(v url.Values) (queue.TaskFilter, error) {
	var f queue.TaskFilter
	bad := func(format string, args ...any) (queue.TaskFilter, error) {
		return queue.TaskFilter{}, fmt.Errorf("%w: %s", queue.ErrInvalidArgument, fmt.Sprintf(format, args...))
	}
	for k, vals := range v {
		switch k {
		case ListQueue, ListState, ListFunc, ListQ, ListEnqueuedAfter, ListEnqueuedBefore, ListCursor, ListLimit:
		default:
			return bad("unknown query parameter %q", k)
		}
		if len(vals) > 1 {
			return bad("query parameter %q given %d times", k, len(vals))
		}
	}
	f.Queue, f.State, f.Func, f.Q, f.After = v.Get(ListQueue), queue.State(v.Get(ListState)), v.Get(ListFunc), v.Get(ListQ), v.Get(ListCursor)
	for _, tp := range []struct {
		key string
		to  *time.Time
	}{{ListEnqueuedAfter, &f.EnqueuedAfter}, {ListEnqueuedBefore, &f.EnqueuedBefore}} {
		if s := v.Get(tp.key); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return bad("%s=%q is not an RFC 3339 time", tp.key, s)
			}
			*tp.to = t
		}
	}
	if s := v.Get(ListLimit); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return bad("%s=%q is not a positive integer", ListLimit, s)
		}
		f.Limit = n
	}
	return f, nil
}
