package queue

import (
	"context"
	"time"
)

// TaskFilter selects the tasks ListTasks returns. Empty fields select
// every task; set fields must all match.
type TaskFilter struct {
	Queue string // QueueName
	State State  // as GetTask reports it (a delayed pending task is waiting)
	Func  string
	// Q searches: a task matches when its id contains Q, or when the JSON
	// text of its args, of its kwargs or of its meta contains Q (as
	// GetTask returns them; JSON strings are compared as written, without
	// their HTML escapes). Case-insensitive (Unicode lower case on both
	// sides). A search decodes every candidate's values, so the engine
	// examines fewer candidates per page for it (see ListTasks).
	Q string
	// EnqueuedAfter and EnqueuedBefore bound the task's enqueue time
	// (Task.CreatedAt): at or after EnqueuedAfter, strictly before
	// EnqueuedBefore. Zero: unbounded.
	EnqueuedAfter, EnqueuedBefore time.Time
	// After is the cursor: only tasks whose id sorts after it are listed.
	// The next page starts at the cursor the previous page returned.
	After string
	// Limit is the most tasks listed (<= 0: DefaultListLimit; at most
	// MaxListLimit).
	Limit int
}

// Bounds of ListTasks.
const (
	DefaultListLimit = 50
	MaxListLimit     = 1000
)

// TaskLister pages through the tasks a queue holds. Pages are cut by id:
// a page holds tasks in id order and returns the cursor of the next page
// (TaskFilter.After). A page may hold fewer than Limit tasks, none even,
// while more follow (the work one page may do is bounded, so a selective
// filter over many tasks returns partial pages): only an empty cursor
// means the end. A task that changes state between two pages is listed
// once, or not at all when it no longer matches when its page is read; no
// task is skipped or repeated because others moved.
type TaskLister interface {
	ListTasks(ctx context.Context, f TaskFilter) ([]*Task, string, error)
}
