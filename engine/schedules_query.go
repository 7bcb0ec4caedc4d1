package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/projections"
	"github.com/omniq/omniq/stores"
)

// This file holds the read-only queries of what is due later: recurring
// schedules, tasks held back until a time, the leases running, and the
// fires a schedule made. They read the state under the read lock, as
// query.go does, and are what the dashboard's schedules page and overview
// show. Each works on any state (see the *Of functions), so that a state
// rebuilt at a past point (travel.go) answers them too.

// ScheduleInfo is one recurring schedule.
type ScheduleInfo struct {
	ID       string
	Func     string
	Queue    string
	Args     []any
	Cron     string        // "" for an interval schedule
	Interval time.Duration // 0 for a cron schedule
	Paused   bool
	NextFire time.Time // zero while paused
	Fires    int       // fires so far
	// LastInstance is the task the last fire enqueued ("": none yet).
	LastInstance string
	CreatedAt    time.Time
}

// DelayedTask is a pending task held back until ReadyAt: its run-at time,
// or the backoff after a failed attempt (Retry).
type DelayedTask struct {
	ID      string
	Func    string
	Queue   string
	ReadyAt time.Time
	Retry   bool // held back by a retry backoff, not by its run-at
	Attempt int  // attempts made so far
}

// Timetable is what is due later, as of Position.
type Timetable struct {
	Position  uint64
	Schedules []ScheduleInfo // every schedule not deleted, by next fire (paused last), then id
	// Delayed holds the first tasks held back, by ReadyAt then id; there
	// are DelayedTotal in all.
	Delayed      []DelayedTask
	DelayedTotal int
}

// LeaseInfo is one running task's lease.
type LeaseInfo struct {
	ID       string
	Func     string
	Queue    string
	Worker   string
	Attempt  int
	Deadline time.Time
}

// Leases is the running tasks: Count in all, and the First whose lease
// deadlines come soonest (the leases held longest without a heartbeat).
type Leases struct {
	Position uint64
	Count    int
	First    []LeaseInfo
}

// ScheduleFire is one fire of a recurring schedule.
type ScheduleFire struct {
	Position uint64    // of its schedule.fired event
	Time     time.Time // when the event was written
	FireTime time.Time // the time the fire was for
	Instance string    // the task the fire enqueued
}

// Bounds of the queries below.
const (
	// MaxTimetableDelayed is the most delayed tasks Timetable lists.
	MaxTimetableDelayed = 1000
	// fireScanLimit bounds how many events RecentFires reads back from the
	// log's head: the fires older than that are not found.
	fireScanLimit = 1 << 18
	fireScanPage  = 4096
)

// Timetable returns every recurring schedule and the first limit tasks
// held back until a time (1 to MaxTimetableDelayed; 0 is 100).
func (e *Engine) Timetable(ctx context.Context, limit int) (Timetable, error) {
	if limit == 0 {
		limit = 100
	}
	if limit < 0 || limit > MaxTimetableDelayed {
		return Timetable{}, fmt.Errorf("%w: limit %d is not between 1 and %d", ErrInvalidArgument, limit, MaxTimetableDelayed)
	}
	if err := e.syncRead(ctx); err != nil {
		return Timetable{}, err
	}
	now := events.At(e.now())
	e.mu.RLock()
	defer e.mu.RUnlock()
	return timetableOf(e.state, now, limit), nil
}

// NextFires returns the first n recurring schedules to fire (paused ones
// never), soonest first; n is 1 to MaxListLimit. Unlike Timetable it does
// not look at the tasks held back, so its cost grows with the schedules
// alone.
func (e *Engine) NextFires(ctx context.Context, n int) ([]ScheduleInfo, error) {
	if n < 1 || n > MaxListLimit {
		return nil, fmt.Errorf("%w: %d schedules asked for, want 1 to %d", ErrInvalidArgument, n, MaxListLimit)
	}
	if err := e.syncRead(ctx); err != nil {
		return nil, err
	}
	e.mu.RLock()
	all := schedulesOf(e.state)
	e.mu.RUnlock()
	i := slices.IndexFunc(all, func(sc ScheduleInfo) bool { return sc.Paused })
	if i < 0 {
		i = len(all)
	}
	return slices.Clip(all[:min(n, i)]), nil
}

// timetableOf is Timetable over st at now. REQUIRES: st is not written meanwhile.
func timetableOf(st *projections.State, now events.Timestamp, limit int) Timetable {
	tt := Timetable{Position: st.Position(), Schedules: schedulesOf(st)}
	byTime := func(a, b DelayedTask) int {
		if c := a.ReadyAt.Compare(b.ReadyAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	}
	// The delayed heap may still hold tasks whose time has come (nothing
	// promoted them yet): those are ready, not held back. Only the first
	// limit are kept: the list is cut back whenever it doubles.
	st.DelayedTasks(func(t *projections.Task) bool {
		if t.Status != projections.StatusPending || t.ReadyAt <= now {
			return true
		}
		tt.DelayedTotal++
		tt.Delayed = append(tt.Delayed, DelayedTask{
			ID: t.ID, Func: t.Func(), Queue: t.Queue(), ReadyAt: t.ReadyAt.Time(),
			Retry: t.Attempt > 0, Attempt: t.Attempt,
		})
		if len(tt.Delayed) >= 2*limit {
			slices.SortFunc(tt.Delayed, byTime)
			tt.Delayed = tt.Delayed[:limit]
		}
		return true
	})
	slices.SortFunc(tt.Delayed, byTime)
	if len(tt.Delayed) > limit {
		tt.Delayed = tt.Delayed[:limit]
	}
	tt.Delayed = slices.Clip(tt.Delayed)
	return tt
}

// schedulesOf lists st's schedules not deleted, by next fire (paused ones
// last), then id. REQUIRES: st is not written meanwhile.
func schedulesOf(st *projections.State) []ScheduleInfo {
	var out []ScheduleInfo
	st.Schedules(func(sc *projections.Schedule) bool {
		if sc.Deleted {
			return true
		}
		info := ScheduleInfo{
			ID: sc.ID, Func: sc.Template.Func, Queue: sc.Template.Queue, Args: sc.Template.Args,
			Cron: sc.Cron, Interval: time.Duration(sc.Interval), Paused: sc.Paused,
			Fires: sc.Fires, LastInstance: sc.LastInstance, CreatedAt: sc.CreatedAt.Time(),
		}
		if !sc.Paused {
			info.NextFire = sc.NextFire.Time()
		}
		out = append(out, info)
		return true
	})
	slices.SortStableFunc(out, func(a, b ScheduleInfo) int {
		switch {
		case a.Paused != b.Paused:
			if a.Paused {
				return 1
			}
			return -1
		case !a.NextFire.Equal(b.NextFire):
			return a.NextFire.Compare(b.NextFire)
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// Leases returns how many tasks hold a lease and the first n of them by
// lease deadline (n from 0 to MaxListLimit).
func (e *Engine) Leases(ctx context.Context, n int) (Leases, error) {
	if n < 0 || n > MaxListLimit {
		return Leases{}, fmt.Errorf("%w: %d leases asked for, at most %d", ErrInvalidArgument, n, MaxListLimit)
	}
	if err := e.syncRead(ctx); err != nil {
		return Leases{}, err
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	return leasesOf(e.state, n), nil
}

// leasesOf is Leases over st. REQUIRES: st is not written meanwhile.
func leasesOf(st *projections.State, n int) Leases {
	ls := Leases{Position: st.Position(), Count: st.LeasedLen()}
	var all []LeaseInfo
	st.LeasedTasks(func(t *projections.Task) bool {
		all = append(all, LeaseInfo{
			ID: t.ID, Func: t.Func(), Queue: t.Queue(), Worker: t.Worker(),
			Attempt: t.Attempt, Deadline: t.LeaseDeadline.Time(),
		})
		return true
	})
	slices.SortFunc(all, func(a, b LeaseInfo) int {
		if c := a.Deadline.Compare(b.Deadline); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	ls.First = all[:min(n, len(all))]
	return ls
}

// RecentFires returns, for each schedule of ids, its last n fires (newest
// first), read from the schedules' history in the log. It reads the log
// backwards from its head, a page at a time, and stops once every
// schedule has n fires (or all it ever made, as its fire count says), at
// the log's first event, or after 262144 events: fires older than that,
// or compacted away, are not listed. n is 1 to 100.
//
// The answer is remembered per schedule with the fire count it was found
// at (fireMemos): a later call reads back only to the fires made since, so
// a page that asks again at every event does not read the log again.
func (e *Engine) RecentFires(ctx context.Context, ids []string, n int) (map[string][]ScheduleFire, error) {
	if n < 1 || n > 100 {
		return nil, fmt.Errorf("%w: %d fires asked for, want 1 to 100", ErrInvalidArgument, n)
	}
	if err := e.syncRead(ctx); err != nil {
		return nil, err
	}
	want := map[string]int{}  // fires still to find per schedule
	count := map[string]int{} // each schedule's fire count at head
	e.mu.RLock()
	head := e.state.Position()
	for _, id := range ids {
		if sc := e.state.Schedule(id); sc != nil && sc.Fires > 0 {
			count[id] = sc.Fires
		}
	}
	e.mu.RUnlock()
	out := make(map[string][]ScheduleFire, len(ids))
	known := e.fires.known(count, n) // fires found by an earlier call
	for id, c := range count {
		want[id] = min(n, c-known[id].fires)
	}
	for id, w := range want {
		if w == 0 {
			out[id] = known[id].list[:min(n, len(known[id].list))]
			delete(want, id)
		}
	}
	if len(want) == 0 {
		return out, nil
	}
	first := uint64(1)
	if tr, ok := e.log.(stores.Truncater); ok {
		f, err := tr.First(ctx)
		if err != nil {
			return nil, fmt.Errorf("engine: recent fires: %w", err)
		}
		first = max(f, 1)
	}
	left := len(want)
	for end := head; end >= first && head-end < fireScanLimit && left > 0; {
		from := first
		if end-first+1 > fireScanPage {
			from = end - fireScanPage + 1
		}
		var page []ScheduleFire
		var owners []string
		err := stores.ReadAll(ctx, capped(e.log, end), from, fireScanPage, func(ev events.Event) error {
			if p, ok := ev.Payload.(*events.ScheduleFired); ok && want[ev.TaskID] > 0 {
				page = append(page, ScheduleFire{Position: ev.Position, Time: ev.Time, FireTime: p.FireTime.Time(), Instance: p.Instance})
				owners = append(owners, ev.TaskID)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("engine: recent fires: %w", err)
		}
		for i := len(page) - 1; i >= 0; i-- { // newest first
			id := owners[i]
			if want[id] == 0 {
				continue
			}
			out[id] = append(out[id], page[i])
			if want[id]--; want[id] == 0 {
				left--
			}
		}
		if from == first {
			break
		}
		end = from - 1
	}
	for id := range want {
		// The fires before the new ones are those found earlier, when they
		// are the fires just before (nothing was missed in between).
		if k := known[id]; len(out[id]) == count[id]-k.fires {
			out[id] = append(out[id], k.list...)
		}
		out[id] = out[id][:min(n, len(out[id]))]
	}
	e.fires.remember(out, count)
	return out, nil
}

// fireMemos remembers, per schedule, the recent fires RecentFires found
// and the schedule's fire count then. INVARIANT: list holds the newest
// fires of the schedule at that count, newest first, as many as were
// asked for (or all there are).
type fireMemos struct {
	mu sync.Mutex
	m  map[string]fireMemo
}

type fireMemo struct {
	fires int
	list  []ScheduleFire
}

// known returns the memos of the schedules of count that are still of use:
// they hold n fires or all there were, and no fewer fires than now.
func (f *fireMemos) known(count map[string]int, n int) map[string]fireMemo {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]fireMemo{}
	for id, c := range count {
		if m, ok := f.m[id]; ok && m.fires <= c && (len(m.list) >= n || len(m.list) == m.fires) {
			out[id] = m
		}
	}
	return out
}

// remember records the fires found for each schedule at its count, and
// forgets the schedules that are gone.
func (f *fireMemos) remember(found map[string][]ScheduleFire, count map[string]int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]fireMemo{}
	}
	for id, list := range found {
		f.m[id] = fireMemo{fires: count[id], list: list}
	}
	if len(f.m) > 4*len(count)+64 {
		for id := range f.m {
			if _, ok := count[id]; !ok {
				delete(f.m, id)
			}
		}
	}
}

// headCapped is a log whose head is at most max, so that stores.ReadAll
// reads one range of it.
type headCapped struct {
	stores.Log
	max uint64
}

func capped(log stores.Log, max uint64) stores.Log { return headCapped{log, max} }

func (c headCapped) Head(ctx context.Context) (uint64, error) {
	h, err := c.Log.Head(ctx)
	return min(h, c.max), err
}
