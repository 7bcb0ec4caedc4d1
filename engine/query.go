package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/projections"
)

// The work one ListTasks page may do is bounded, so that a selective
// filter over millions of tasks does not hold the read lock while it scans
// them all: a page examines at most listScanBudget records (matching or
// not), or listSearchBudget when it searches (Q decodes and encodes each
// candidate's values). A page that reaches its bound returns the tasks it
// found, perhaps none, with the cursor of the last record it examined.
var (
	listScanBudget   = 100_000
	listSearchBudget = 20_000
)

// maxListQ bounds TaskFilter.Q, in bytes.
const maxListQ = 256

// ListTasks returns the tasks that match f, in id order, and the cursor of
// the next page: "" only when this page is the last. A page may hold fewer
// than f.Limit tasks, even none, while more follow (see listScanBudget):
// page until the cursor is empty. It lists every task the state holds in
// any state (ended tasks too, however compact their records), but neither
// deleted tasks, tasks retention or compaction removed from the state, nor
// recurring schedules (State "scheduled" lists nothing). Because pages are
// cut by id, a task that changes state between two pages is listed once,
// or not at all when it no longer matches the filter when its page is
// read: no task is skipped or repeated because others moved.
//
// The cursor is sought in the state's id indexes (O(log n)); queue, func,
// state and enqueue time are tested on each record without decoding it
// (projections.State.ScanTasks); only candidates that pass are decoded,
// and searched when f.Q is set. Bad filters wrap ErrInvalidArgument.
func (e *Engine) ListTasks(ctx context.Context, f TaskFilter) ([]*Task, string, error) {
	sc, q, err := listScan(&f)
	if err != nil {
		return nil, "", err
	}
	if err := e.syncRead(ctx); err != nil {
		return nil, "", err
	}
	if f.State == StateScheduled {
		return nil, "", nil
	}
	now := events.At(e.now())
	e.mu.RLock()
	defer e.mu.RUnlock()
	return listTasks(e.state, f, sc, q, now)
}

// listTasks is ListTasks over st, reading tasks at now: f was checked and
// gave the scan sc and the search text q (listScan).
func listTasks(st *projections.State, f TaskFilter, sc projections.Scan, q string, now events.Timestamp) ([]*Task, string, error) {
	var m qMatcher
	var out []*Task
	full := false
	last, more := st.ScanTasks(sc, func(r *projections.Task) bool {
		if q != "" && !m.match(r, q) {
			return true
		}
		if f.State != "" && stateOf(r, now) != f.State {
			return true
		}
		if len(out) == f.Limit {
			full = true
			return false
		}
		out = append(out, taskFromRecord(r, now))
		return true
	})
	switch {
	case full:
		return out, out[len(out)-1].ID, nil
	case more:
		return out, last, nil
	}
	return out, "", nil
}

// listScan checks f, sets its default limit, and returns the scan that
// selects its candidates and the lower-cased search text.
func listScan(f *TaskFilter) (projections.Scan, string, error) {
	bad := func(format string, args ...any) (projections.Scan, string, error) {
		return projections.Scan{}, "", fmt.Errorf("%w: %s", ErrInvalidArgument, fmt.Sprintf(format, args...))
	}
	if f.Limit <= 0 {
		f.Limit = DefaultListLimit
	}
	if f.Limit > MaxListLimit {
		return bad("limit %d is more than %d", f.Limit, MaxListLimit)
	}
	if len(f.Q) > maxListQ {
		return bad("search text of %d bytes is more than %d", len(f.Q), maxListQ)
	}
	if !f.EnqueuedAfter.IsZero() && !f.EnqueuedBefore.IsZero() && !f.EnqueuedBefore.After(f.EnqueuedAfter) {
		return bad("enqueued before %s is not after enqueued after %s",
			f.EnqueuedBefore.Format(time.RFC3339Nano), f.EnqueuedAfter.Format(time.RFC3339Nano))
	}
	sc := projections.Scan{
		After: f.After, Queue: f.Queue, Func: f.Func,
		CreatedFrom: events.At(f.EnqueuedAfter), CreatedTo: events.At(f.EnqueuedBefore),
		Budget: listScanBudget,
	}
	if f.Q != "" {
		sc.Budget = listSearchBudget
	}
	switch st, one := statusOfState[f.State]; {
	case f.State == "", f.State == StateScheduled:
	case f.State == StateWaiting: // a delayed pending task reads as waiting
		sc.Statuses = projections.StatusBit(projections.StatusWaiting) | projections.StatusBit(projections.StatusPending)
	case one:
		sc.Statuses = projections.StatusBit(st)
	default:
		return bad("unknown state %q", f.State)
	}
	return sc, strings.ToLower(f.Q), nil
}

// statusOfState maps each listed state that reads one projection status
// to that status (waiting and scheduled read otherwise: see listScan).
var statusOfState = map[State]projections.Status{
	StatePending:   projections.StatusPending,
	StateRunning:   projections.StatusRunning,
	StateCompleted: projections.StatusCompleted,
	StateFailed:    projections.StatusFailed,
	StateExpired:   projections.StatusExpired,
	StateCancelled: projections.StatusCancelled,
}

// stateOf returns the state GetTask reports for r at now.
func stateOf(r *projections.Task, now events.Timestamp) State {
	switch r.Status {
	case projections.StatusPending:
		if r.ReadyAt > now {
			return StateWaiting
		}
		return StatePending
	case projections.StatusDeleted:
		return ""
	}
	return State(r.Status.String())
}

// GraphNode is one task of a dependency graph.
type GraphNode struct {
	ID    string
	Func  string
	Queue string
	State State // "" when the task is unknown (deleted, or never enqueued)
	// Level is the node's distance from the task the graph is of:
	// negative upstream (what it depends on), positive downstream (what
	// depends on it), 0 for the task itself.
	Level int
}

// GraphEdge says that task From depends on task To.
type GraphEdge struct {
	From, To string
}

// TaskGraph is the dependency graph around one task.
type TaskGraph struct {
	Nodes []GraphNode // the task first, then breadth first: upstream, then downstream
	Edges []GraphEdge
	// Truncated says that the graph had more than the nodes asked for, or
	// went deeper than the depth asked for: what lies past was left out.
	Truncated bool
}

// Graph returns the dependency graph of task id: upstream, the tasks it
// depends on (DependsOn), recursively; downstream, the tasks that depend
// on it, recursively, whatever their state and its own (a task that ended
// still shows the tasks that waited for it; projections.State.DependantsOf).
// Both sides are walked breadth first, a level at a time. depth bounds the
// levels on each side and maxNodes the nodes (each at least 1); upstream
// is walked first. A task that left the state (deleted, then compacted, or
// archived by retention) is no longer downstream of anything. ErrNotFound
// when the state does not hold the task.
func (e *Engine) Graph(ctx context.Context, id string, depth, maxNodes int) (TaskGraph, error) {
	if err := e.syncRead(ctx); err != nil {
		return TaskGraph{}, err
	}
	now := events.At(e.now())
	e.mu.RLock()
	defer e.mu.RUnlock()
	return graphOf(e.state, id, depth, maxNodes, now)
}

// graphOf is Graph over st, reading tasks at now.
func graphOf(st *projections.State, id string, depth, maxNodes int, now events.Timestamp) (TaskGraph, error) {
	depth, maxNodes = max(depth, 1), max(maxNodes, 1)
	r := st.Task(id)
	if r == nil || r.Status == projections.StatusDeleted {
		return TaskGraph{}, fmt.Errorf("%w: task %q", ErrNotFound, id)
	}
	var g TaskGraph
	seen := map[string]bool{}
	add := func(id string, level int) bool {
		if seen[id] {
			return false
		}
		if len(g.Nodes) == maxNodes {
			g.Truncated = true
			return false
		}
		seen[id] = true
		n := GraphNode{ID: id, Level: level}
		if r := st.Task(id); r != nil && r.Status != projections.StatusDeleted {
			t := taskFromRecord(r, now)
			n.Func, n.Queue, n.State = t.Func, t.QueueName, t.State
		}
		g.Nodes = append(g.Nodes, n)
		return true
	}
	add(id, 0)
	// walk goes breadth first from id, to the neighbours of each node, at
	// levels sign×1, sign×2, …; edge is the edge between a node and one of
	// its neighbours.
	walk := func(neighbours func(string) []string, sign int, edge func(cur, n string) GraphEdge) {
		frontier := []string{id}
		for level := 1; len(frontier) > 0; level++ {
			var next []string
			for _, cur := range frontier {
				for _, n := range neighbours(cur) {
					if level > depth {
						g.Truncated = true
						break
					}
					g.Edges = append(g.Edges, edge(cur, n))
					if add(n, sign*level) {
						next = append(next, n)
					}
				}
			}
			frontier = next
		}
	}
	walk(func(cur string) []string {
		r := st.Task(cur)
		if r == nil {
			return nil
		}
		var deps []string // once each, as downstream
		for i, dep := range r.DependsOn() {
			if slices.Index(r.DependsOn(), dep) == i {
				deps = append(deps, dep)
			}
		}
		return deps
	}, -1, func(cur, dep string) GraphEdge { return GraphEdge{From: cur, To: dep} })
	walk(st.DependantsOf, 1, func(cur, d string) GraphEdge { return GraphEdge{From: d, To: cur} })
	// Edges to nodes left out go too.
	kept := g.Edges[:0]
	for _, ed := range g.Edges {
		if seen[ed.From] && seen[ed.To] {
			kept = append(kept, ed)
		}
	}
	g.Edges = kept
	return g, nil
}
