package engine_test

// The random-workload harness the property tests of this package share:
// an engine on a memory log under a manual clock, the ids of the tasks
// it accepted, the refusals a step may meet, and the check that a log
// replayed from a snapshot taken part way gives back the live state.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"pgregory.net/rapid"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/projections"
	"github.com/omniq/omniq/stores/memory"
)

// propertyRun is one random workload: the engine it drives and what the
// steps remember between them.
type propertyRun struct {
	ctx    context.Context
	log    *memory.Log
	clock  *engine.ManualClock
	e      *engine.Engine
	ids    []string                // tasks the engine accepted, in order
	held   map[string]*engine.Task // leases handed out and not yet answered
	queues []string
}

// openPropertyRun opens an engine without automatic snapshots, a backoff
// of one second per attempt and a 20s lease; both close with rt.
func openPropertyRun(rt *rapid.T) *propertyRun {
	ctx := context.Background()
	log := memory.New()
	rt.Cleanup(func() { log.Close() })
	clock := engine.NewManualClock(start)
	e, err := engine.Open(ctx, log, engine.WithClock(clock), engine.WithSnapshotEvery(0),
		engine.WithBackoff(func(a int) time.Duration { return time.Duration(a) * time.Second }),
		engine.WithLeaseTimeout(20*time.Second))
	if err != nil {
		rt.Fatal(err)
	}
	rt.Cleanup(func() { e.Close() })
	return &propertyRun{ctx: ctx, log: log, clock: clock, e: e, held: map[string]*engine.Task{}, queues: []string{"a", "b"}}
}

// pickID draws one of the accepted ids, or "none" (an unknown id) before
// any was accepted.
func (r *propertyRun) pickID(rt *rapid.T, label string) string {
	if len(r.ids) == 0 {
		return "none"
	}
	return rapid.SampledFrom(r.ids).Draw(rt, label)
}

// advance moves the clock on by 1 to 25 seconds and runs what fell due.
func (r *propertyRun) advance(rt *rapid.T) {
	r.clock.Advance(time.Duration(rapid.IntRange(1, 25).Draw(rt, "secs")) * time.Second)
	for more := true; more; {
		var err error
		if more, err = r.e.RunDue(r.ctx); err != nil {
			rt.Fatal(err)
		}
	}
}

// checkReplay fails rt unless the live state equals, byte for byte in its
// snapshot, the state rebuilt from the whole log; it returns both.
func (r *propertyRun) checkReplay(rt *rapid.T) (live []byte, rebuilt *projections.State) {
	live, err := r.e.Snapshot()
	if err != nil {
		rt.Fatal(err)
	}
	rebuilt, err = engine.Replay(r.ctx, r.log, 0)
	if err != nil {
		rt.Fatal(err)
	}
	again, err := rebuilt.Snapshot()
	if err != nil {
		rt.Fatal(err)
	}
	if !bytes.Equal(live, again) {
		rt.Fatalf("live state (%d bytes) differs from the state rebuilt from %d events (%d bytes)", len(live), rebuilt.Position(), len(again))
	}
	return live, rebuilt
}

// refused fails rt unless err is nil or one of the allowed errors.
func refused(rt *rapid.T, err error, allowed ...error) {
	if err == nil {
		return
	}
	for _, a := range allowed {
		if errors.Is(err, a) {
			return
		}
	}
	rt.Fatal(err)
}

// checkSnapshotReplay saves a snapshot of the log replayed up to mid,
// reopens the log from it and fails rt unless the state equals live, and
// its dependency graph's reverse index (which a snapshot holds only in
// part) that of rebuilt, the state rebuilt from the whole log. what names
// the snapshot in the failure.
func (r *propertyRun) checkSnapshotReplay(rt *rapid.T, live []byte, rebuilt *projections.State, mid uint64, what string) {
	part, err := engine.Replay(r.ctx, r.log, mid)
	if err != nil {
		rt.Fatal(err)
	}
	data, err := part.Snapshot()
	if err != nil {
		rt.Fatal(err)
	}
	if err := r.log.SaveSnapshot(r.ctx, part.Position(), data); err != nil {
		rt.Fatal(err)
	}
	reopened, err := engine.Replay(r.ctx, r.log, 0)
	if err != nil {
		rt.Fatal(err)
	}
	if again, err := reopened.Snapshot(); err != nil || !bytes.Equal(live, again) {
		rt.Fatalf("live state differs from the state replayed from a %s at %d (%v)", what, part.Position(), err)
	}
	if got, want := edgesOf(reopened), edgesOf(rebuilt); got != want {
		rt.Fatalf("edges replayed from a %s at %d:\n %s\nwant\n %s", what, part.Position(), got, want)
	}
}

// edgesOf prints the reverse index of s's dependency graph.
func edgesOf(s *projections.State) string {
	var b strings.Builder
	for dep, ids := range s.Edges() {
		fmt.Fprintf(&b, "%s<-%v ", dep, ids)
	}
	return b.String()
}
