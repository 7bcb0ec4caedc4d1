package audit_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/omniq/omniq/engine/audit"
	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/projections"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/memory"
)

var start = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// rawLog is a memory log filled by hand, one event per append unless told.
type rawLog struct {
	t   *testing.T
	log *memory.Log
	now time.Time
}

func newRawLog(t *testing.T) *rawLog {
	l := memory.New()
	t.Cleanup(func() { l.Close() })
	return &rawLog{t: t, log: l, now: start}
}

// at moves the time the next events are stamped with.
func (r *rawLog) at(d time.Duration) *rawLog { r.now = start.Add(d); return r }

// add appends the events (id, payload, id, payload, …) as one batch.
func (r *rawLog) add(pairs ...any) uint64 {
	r.t.Helper()
	var batch []events.Event
	for i := 0; i < len(pairs); i += 2 {
		batch = append(batch, events.New(pairs[i].(string), r.now, pairs[i+1].(events.Payload)))
	}
	first, err := r.log.Append(context.Background(), batch)
	if err != nil {
		r.t.Fatal(err)
	}
	return first
}

func enq(spec events.TaskSpec) *events.TaskEnqueued {
	if spec.Func == "" {
		spec.Func = "f"
	}
	if spec.Queue == "" {
		spec.Queue = "default"
	}
	return &events.TaskEnqueued{Spec: spec}
}

func lease(a int) *events.TaskLeased {
	return &events.TaskLeased{Attempt: a, Deadline: events.At(start.Add(time.Hour)), Worker: "w"}
}

// stateOf returns the snapshot of the state evs fold into.
func stateOf(t *testing.T, evs []events.Event) []byte {
	t.Helper()
	st := projections.New()
	for _, ev := range evs {
		if err := st.Apply(ev); err != nil {
			t.Fatal(err)
		}
	}
	b, err := st.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// enqueued returns the events that enqueue the tasks ids at positions 1,
// 2, …
func enqueued(ids ...string) []events.Event {
	evs := make([]events.Event, len(ids))
	for i, id := range ids {
		evs[i] = events.New(id, start, enq(events.TaskSpec{}))
		evs[i].Position = uint64(i + 1)
	}
	return evs
}

func verify(t *testing.T, log stores.Log, opts audit.Options) *audit.Report {
	t.Helper()
	rep, err := audit.Verify(context.Background(), log, opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// describe renders a report for a failure message.
func describe(r *audit.Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "head %d, events %d, applied %d, ignored %d, breaches %d\n", r.Head, r.Events, r.Applied, r.Ignored, r.BreachCount)
	for _, br := range r.Breaches {
		fmt.Fprintf(&b, "  breach %s\n", br)
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(&b, "  warning %s %s ×%d (first #%d: %s)\n", w.Type, w.Reason, w.Count, w.First, w.Example)
	}
	return b.String()
}

// gapLog hides the event at one position, as a store that lost it would.
type gapLog struct {
	stores.Log
	skip uint64
}

func (g gapLog) Read(ctx context.Context, from uint64, max int) ([]events.Event, error) {
	evs, err := g.Log.Read(ctx, from, max)
	out := evs[:0:0]
	for _, ev := range evs {
		if ev.Position != g.skip {
			out = append(out, ev)
		}
	}
	return out, err
}

// badLog fails to decode the event at one position, as a store holding an
// event written by a newer build does.
type badLog struct {
	stores.Log
	bad uint64
}

func (b badLog) Read(ctx context.Context, from uint64, max int) ([]events.Event, error) {
	if from <= b.bad && b.bad < from+uint64(max) {
		return nil, fmt.Errorf("test: read position %d: %w: %w: type 99", b.bad, stores.ErrCorrupt, events.ErrUnknownType)
	}
	return b.Log.Read(ctx, from, max)
}
