package engine_test

import (
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/queue"
)

// TestMetaTravelsWithTheTask: a task's Meta is stored with its enqueue and
// comes back from GetTask, Dequeue and History, unchanged by what callers
// do to their maps afterwards; tasks a schedule fires inherit the
// schedule's; all of it survives a restart, from a snapshot or from the
// log alone. Bad Meta appends nothing.
func TestMetaTravelsWithTheTask(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, snapshots := range []bool{true, false} {
		name := "snapshots"
		var opts []engine.Option
		if !snapshots {
			name, opts = "replay", []engine.Option{engine.WithSnapshotEvery(0)}
		}
		t.Run(name, func(t *testing.T) {
			forEachStore(t, func(t *testing.T, sc storeCase) {
				f := newFixture(t, sc, opts...)
				meta := map[string]string{"traceparent": tp, "tracestate": "rojo=00f067aa0ba902b7"}
				want := maps.Clone(meta)
				task := f.enqueue(&engine.Task{Func: "f", Meta: meta})
				meta["traceparent"] = "changed by the caller"
				done := f.enqueue(&engine.Task{Func: "f", QueueName: "done", Meta: map[string]string{"k": "v"}})
				plain := f.enqueue(&engine.Task{Func: "f", QueueName: "plain"})
				sched := f.enqueue(&engine.Task{Func: "g", QueueName: "sched", Meta: map[string]string{"origin": "schedule"},
					Schedule: &engine.Schedule{Interval: time.Minute}})

				head := f.head()
				for _, bad := range []map[string]string{{"": "v"}, {"k": strings.Repeat("v", queue.MaxMetaValueLen+1)}} {
					err := f.e.Enqueue(f.ctx, &engine.Task{Func: "f", Meta: bad})
					if !errors.Is(err, queue.ErrInvalidMeta) || !errors.Is(err, engine.ErrInvalidArgument) {
						t.Fatalf("bad meta %v: %v", bad, err)
					}
				}
				if h := f.head(); h != head {
					t.Fatalf("bad meta appended: head %d, was %d", h, head)
				}

				got, err := f.e.GetTask(f.ctx, task.ID)
				if err != nil || !maps.Equal(got.Meta, want) {
					t.Fatalf("GetTask meta = %v (%v), want %v", got.Meta, err, want)
				}
				got.Meta["traceparent"] = "changed by a reader"
				leased := f.dequeue("")
				if leased == nil || leased.ID != task.ID || !maps.Equal(leased.Meta, want) {
					t.Fatalf("Dequeue = %+v, want meta %v", leased, want)
				}
				d := f.dequeue("done")
				if err := f.e.Complete(f.ctx, d, "ok"); err != nil {
					t.Fatal(err)
				}
				if p, _ := f.e.GetTask(f.ctx, plain.ID); p.Meta != nil {
					t.Fatalf("a task enqueued without meta has %v", p.Meta)
				}

				f.advance(time.Minute)
				fired := f.dequeue("sched")
				if fired == nil || fired.ScheduleID != sched.ID || fired.Meta["origin"] != "schedule" {
					t.Fatalf("fired task = %+v, want the schedule's meta", fired)
				}

				check := func(when string) {
					t.Helper()
					for id, w := range map[string]map[string]string{
						task.ID: want, done.ID: {"k": "v"}, sched.ID: {"origin": "schedule"}, fired.ID: {"origin": "schedule"},
					} {
						g, err := f.e.GetTask(f.ctx, id)
						if err != nil || !maps.Equal(g.Meta, w) {
							t.Fatalf("%s: task %s meta = %v (%v), want %v", when, id, g.Meta, err, w)
						}
					}
					h, err := f.e.History(f.ctx, task.ID)
					if err != nil {
						t.Fatal(err)
					}
					spec, _ := h[0].Payload["spec"].(map[string]any)
					if m, _ := spec["meta"].(map[string]any); h[0].Type != "task.enqueued" || m["traceparent"] != tp {
						t.Fatalf("%s: History's task.enqueued = %+v, want meta with the traceparent", when, h[0])
					}
				}
				check("before restart")
				f.restart()
				check("after restart")
			})
		})
	}
}
