package engine

import (
	"context"
	"fmt"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/projections"
)

// TaskFilter selects the tasks ListTasks returns. Empty fields select
// every task.
type TaskFilter struct {
	Queue string // QueueName
	State State  // as GetTask reports it (a delayed pending task is waiting)
	Func  string
	// After is the cursor: only tasks whose id sorts after it are listed.
	// The next page starts after the last id of the previous one.
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

// ListTasks returns the tasks that match f, in id order, and the cursor of
// the next page ("" when this page is the last). It lists every task the
// state holds in any state (ended tasks too, however compact their
// records), but neither deleted tasks, tasks retention or compaction
// removed from the state, nor recurring schedules. Because pages are cut
// by id, a task that changes state between two pages is listed once, or
// not at all when it no longer matches the filter when its page is read:
// no task is skipped or repeated because others moved.
//
// It walks the state in id order from the cursor under the engine's read
// lock (projections.State.TasksAfter), decoding ended tasks as it goes:
// its cost grows with the tasks it passes over that do not match, and
// less steeply with the tasks before the cursor.
func (e *Engine) ListTasks(ctx context.Context, f TaskFilter) ([]*Task, string, error) {
	if f.Limit <= 0 {
		f.Limit = DefaultListLimit
	}
	if f.Limit > MaxListLimit {
		return nil, "", fmt.Errorf("%w: limit %d is more than %d", ErrInvalidArgument, f.Limit, MaxListLimit)
	}
	if err := e.syncRead(ctx); err != nil {
		return nil, "", err
	}
	now := events.At(e.now())
	e.mu.RLock()
	defer e.mu.RUnlock()
	var out []*Task
	next := ""
	e.state.TasksAfter(f.After, func(r *projections.Task) bool {
		if r.Status == projections.StatusDeleted ||
			f.Queue != "" && r.Queue() != f.Queue || f.Func != "" && r.Func() != f.Func {
			return true
		}
		t := taskFromRecord(r, now)
		if f.State != "" && t.State != f.State {
			return true
		}
		if len(out) == f.Limit {
			next = out[len(out)-1].ID
			return false
		}
		out = append(out, t)
		return true
	})
	return out, next, nil
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
// depends on (DependsOn), recursively; downstream, the tasks waiting for
// it, recursively. Downstream edges are those the state keeps: a task's
// dependants are known while it has not ended, so a task that ended shows
// none (its former dependants show it upstream). depth bounds the levels
// on each side and maxNodes the nodes (each at least 1). ErrNotFound when
// the state does not hold the task.
func (e *Engine) Graph(ctx context.Context, id string, depth, maxNodes int) (TaskGraph, error) {
	depth, maxNodes = max(depth, 1), max(maxNodes, 1)
	if err := e.syncRead(ctx); err != nil {
		return TaskGraph{}, err
	}
	now := events.At(e.now())
	e.mu.RLock()
	defer e.mu.RUnlock()
	r := e.state.Task(id)
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
		if r := e.state.Task(id); r != nil && r.Status != projections.StatusDeleted {
			t := taskFromRecord(r, now)
			n.Func, n.Queue, n.State = t.Func, t.QueueName, t.State
		}
		g.Nodes = append(g.Nodes, n)
		return true
	}
	add(id, 0)
	// Upstream, breadth first.
	frontier := []string{id}
	for level := 1; len(frontier) > 0; level++ {
		var next []string
		for _, cur := range frontier {
			r := e.state.Task(cur)
			if r == nil {
				continue
			}
			for _, dep := range r.DependsOn() {
				if level > depth {
					g.Truncated = true
					break
				}
				g.Edges = append(g.Edges, GraphEdge{From: cur, To: dep})
				if add(dep, -level) {
					next = append(next, dep)
				}
			}
		}
		frontier = next
	}
	// Downstream: the state's dependants, breadth first with their levels.
	levels := map[string]int{id: 0}
	for _, d := range e.state.Dependants(id) {
		level := levels[d.Via] + 1
		if level > depth {
			g.Truncated = true
			continue
		}
		levels[d.Task.ID] = level
		g.Edges = append(g.Edges, GraphEdge{From: d.Task.ID, To: d.Via})
		add(d.Task.ID, level)
	}
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
