package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/omniq/omniq/engine"
)

// Time travel: the overview (/ui/at) and a task's page
// (/ui/tasks/{id}?position=N) as they stood at a past log position or
// instant, rebuilt by replay (engine.StateAt). A page at a past point shows
// a banner, follows no events, and its links keep the point. The last few
// points rebuilt are kept (travelCache), so that moving between the pages
// of one point replays once.

// travelKeep is how many rebuilt points the dashboard keeps. Each holds a
// whole state as it stood then, so the bound is kept small.
const travelKeep = 2

// travelCache holds the last points rebuilt, newest first. One replay runs
// at a time: with the points kept, that bounds the states in memory to
// travelKeep+1.
type travelCache struct {
	mu     sync.Mutex
	points []*engine.PastState
}

// at returns the state at pos, from the cache or rebuilt (from the nearest
// earlier point kept, when there is one).
func (c *travelCache) at(ctx context.Context, q *engine.Engine, pos uint64) (*engine.PastState, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var base *engine.PastState
	for i, p := range c.points {
		if p.Position() == pos {
			copy(c.points[1:i+1], c.points[:i]) // the newest first
			c.points[0] = p
			return p, nil
		}
		if p.Position() < pos && (base == nil || p.Position() > base.Position()) {
			base = p
		}
	}
	p, err := q.StateAt(ctx, pos, base)
	if err != nil {
		return nil, err
	}
	c.points = append([]*engine.PastState{p}, c.points...)
	if len(c.points) > travelKeep {
		c.points[travelKeep] = nil
		c.points = c.points[:travelKeep]
	}
	return p, nil
}

// pointView is what the banner and the links of a page at a past point
// need.
type pointView struct {
	Position uint64
	Time     time.Time
	Head     uint64 // the log's head when the point was rebuilt
	Live     string // the same page, live
}

// Query returns "position=N", the query that keeps the point in a link.
func (p *pointView) Query() string { return "position=" + strconv.FormatUint(p.Position, 10) }

// pointOf reads the point a request asks for: position=N, time=RFC3339,
// or point= either (the header's form). ok is false when it asks for none.
func pointOf(ctx context.Context, q *engine.Engine, query url.Values) (pos uint64, ok bool, err error) {
	raw, kind := "", ""
	for _, k := range []string{"position", "time", "point"} {
		if v := strings.TrimSpace(query.Get(k)); v != "" {
			if raw != "" {
				return 0, false, fmt.Errorf("%w: give one of position, time or point, not %s and %s", engine.ErrInvalidArgument, kind, k)
			}
			raw, kind = v, k
		}
	}
	if raw == "" {
		return 0, false, nil
	}
	if kind != "time" && !strings.ContainsAny(raw, "-:T") {
		n, err := strconv.ParseUint(raw, 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("%w: position %q must be a log position (a whole number)", engine.ErrInvalidArgument, raw)
		}
		return n, true, nil
	}
	if kind == "position" {
		return 0, false, fmt.Errorf("%w: position %q must be a log position (a whole number)", engine.ErrInvalidArgument, raw)
	}
	t, err := time.Parse(time.RFC3339Nano, raw)
	if err != nil {
		return 0, false, fmt.Errorf("%w: time %q must be an RFC 3339 time such as 2026-01-02T15:04:05Z", engine.ErrInvalidArgument, raw)
	}
	pos, err = q.PositionAt(ctx, t)
	return pos, true, err
}

// travelErr turns a point that was compacted away into a page of its own
// (410 Gone); other errors pass through.
func travelErr(err error) error {
	if errors.Is(err, engine.ErrCompactedAway) {
		return &pageError{status: http.StatusGone, msg: "That point of the log was compacted away: the log keeps only the events after its first checkpoint, " +
			"and the history before it is in the archive. Pick a later position or time. (" + err.Error() + ")"}
	}
	return err
}

// pageError is an error a page answers with its own status and message.
type pageError struct {
	status int
	msg    string
}

func (e *pageError) Error() string { return e.msg }

// pastOverviewPage is the overview at a past point.
type pastOverviewPage struct {
	Queues    []queueRow
	Stats     engine.Stats
	Timetable engine.Timetable
	Leases    engine.Leases
}

// overviewAt serves /ui/at: the overview at the point asked for; without
// one, the form alone.
func (u *ui) overviewAt(r *http.Request, q *engine.Engine) (string, view, error) {
	pos, ok, err := pointOf(r.Context(), q, r.URL.Query())
	if err != nil {
		return "", view{}, travelErr(err)
	}
	if !ok {
		return "travel-form", view{Title: "Time travel", Page: q.Position()}, nil
	}
	p, err := u.travel.at(r.Context(), q, pos)
	if err != nil {
		return "", view{}, travelErr(err)
	}
	st := p.Stats()
	page := pastOverviewPage{Stats: st}
	for name, counts := range st.Queues {
		page.Queues = append(page.Queues, newQueueRow(name, counts))
	}
	sort.Slice(page.Queues, func(i, j int) bool { return page.Queues[i].Name < page.Queues[j].Name })
	if page.Timetable, err = p.Timetable(20); err != nil {
		return "", view{}, err
	}
	if page.Leases, err = p.Leases(10); err != nil {
		return "", view{}, err
	}
	at := &pointView{Position: p.Position(), Time: p.Time(), Head: p.Head(), Live: "/ui/"}
	return "travel-overview", view{Title: "Overview at position " + strconv.FormatUint(pos, 10), Position: pos, At: at, Page: page}, nil
}

// pastTaskPage is a task's page at a past point.
type pastTaskPage struct {
	Task    *engine.Task
	History []historyRow // the events up to the point
	Later   int          // events after the point, not shown
	// Attempts are the task's attempts as they stood at the point.
	Attempts []attemptRow
	Graph    graphView // the dependency graph at the point
	// HistoryErr says why the history could not be read ("" when it was).
	HistoryErr string
}

// taskAt serves a task's page at the point the request asks for; without
// one, live (live).
func (u *ui) taskAt(live pageFunc) pageFunc {
	return func(r *http.Request, q *engine.Engine) (string, view, error) {
		pos, ok, err := pointOf(r.Context(), q, r.URL.Query())
		if err != nil {
			return "", view{}, travelErr(err)
		}
		if !ok {
			name, v, err := live(r, q)
			v.TravelAction = taskURL(r.PathValue("id"))
			return name, v, err
		}
		p, err := u.travel.at(r.Context(), q, pos)
		if err != nil {
			return "", view{}, travelErr(err)
		}
		id := r.PathValue("id")
		t, err := p.GetTask(id)
		if errors.Is(err, engine.ErrNotFound) {
			return "", view{}, &pageError{status: http.StatusNotFound,
				msg: fmt.Sprintf("Task %q did not exist at position %d (or had been deleted).", id, pos)}
		}
		if err != nil {
			return "", view{}, err
		}
		page := pastTaskPage{Task: t}
		if g, err := p.Graph(id, graphDepth, graphNodes); err == nil {
			page.Graph = layoutGraph(g)
		} else if !errors.Is(err, engine.ErrNotFound) { // a schedule has no graph
			return "", view{}, err
		}
		if evs, err := q.History(r.Context(), id); err == nil {
			page.History, page.Later = historyRows(evs, pos)
			page.Attempts = attemptsUpTo(evs, pos)
		} else {
			page.HistoryErr = err.Error()
		}
		at := &pointView{Position: p.Position(), Time: p.Time(), Head: p.Head(), Live: taskURL(id)}
		return "travel-task", view{Title: "Task " + id + " at position " + strconv.FormatUint(pos, 10), Position: pos, At: at, TravelAction: taskURL(id), Page: page}, nil
	}
}

// taskListAt serves the task list at the point the request asks for;
// without one, live (live). Filters and pages work as live; every link
// keeps the point.
func (u *ui) taskListAt(live pageFunc) pageFunc {
	return func(r *http.Request, q *engine.Engine) (string, view, error) {
		query := r.URL.Query()
		pos, ok, err := pointOf(r.Context(), q, query)
		if err != nil {
			return "", view{}, travelErr(err)
		}
		if !ok {
			name, v, err := live(r, q)
			v.TravelAction = "/ui/tasks"
			return name, v, err
		}
		f, err := listFilter(query)
		if err != nil {
			return "", view{}, err
		}
		p, err := u.travel.at(r.Context(), q, pos)
		if err != nil {
			return "", view{}, travelErr(err)
		}
		tasks, next, err := p.ListTasks(f)
		if err != nil {
			return "", view{}, err
		}
		at := &pointView{Position: p.Position(), Time: p.Time(), Head: p.Head(), Live: listURL(f)}
		page := listPage{Filter: f, Tasks: tasks, At: at}
		if next != "" {
			nf := f
			nf.After = next
			page.Next = pastURL(listURL(nf), at)
		}
		for name := range p.Stats().Queues {
			page.Queues = append(page.Queues, name)
		}
		sort.Strings(page.Queues)
		return "tasks", view{Title: "Tasks at position " + strconv.FormatUint(pos, 10), Position: pos, At: at, TravelAction: "/ui/tasks", Page: page}, nil
	}
}

// pastURL is path with the point's query added (path alone when at is nil).
func pastURL(path string, at *pointView) string {
	if at == nil {
		return path
	}
	if strings.Contains(path, "?") {
		return path + "&" + at.Query()
	}
	return path + "?" + at.Query()
}

// tableRows is what the shared tables of schedules.html get: the rows,
// the past point their links keep (nil: live) and, for the schedules
// table, the recent fires by schedule (nil: none shown).
type tableRows struct {
	Rows  any
	At    *pointView
	Fires map[string][]engine.ScheduleFire
}

func rowsOf(rows any, at *pointView, fires map[string][]engine.ScheduleFire) tableRows {
	return tableRows{Rows: rows, At: at, Fires: fires}
}
