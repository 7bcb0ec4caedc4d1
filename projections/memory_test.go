package projections

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/omniq/omniq/events"
)

// BenchmarkPendingTaskHeap reports the heap bytes the projection holds per
// pending task (a typical small task: a func name, one argument, a queue).
func BenchmarkPendingTaskHeap(b *testing.B) {
	const n = 200_000
	for b.Loop() {
		raw := make([][]byte, n)
		for i := range raw {
			ev := events.New(fmt.Sprintf("01JDTASK%018d", i), t0, &events.TaskEnqueued{Spec: events.TaskSpec{Func: "send_email", Queue: "default", Args: []any{int64(i)}}})
			raw[i], _ = events.Marshal(nil, ev)
		}
		held := heapHeld(func() any {
			s := New()
			// Decode as replay does, one event at a time.
			for i, r := range raw {
				ev, err := events.Unmarshal(r)
				if err != nil {
					b.Fatal(err)
				}
				ev.Position = uint64(i + 1)
				if err := s.Apply(ev); err != nil {
					b.Fatal(err)
				}
			}
			return s
		})
		b.ReportMetric(float64(held)/n, "bytes/task")
		runtime.KeepAlive(raw)
	}
}

// heapHeld returns the heap bytes that what build returns holds: the heap
// grown over build, measured after a collection on either side. What build
// reads that was allocated before it is counted only while the caller
// keeps it alive (runtime.KeepAlive after heapHeld returns).
func heapHeld(build func() any) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	v := build()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(v)
	return after.HeapAlloc - before.HeapAlloc
}

// BenchmarkFold reports the time the fold takes per event: a backlog of
// small tasks enqueued (the hot set grows to n); the backlog, then each of
// its tasks leased and completed (lookups in a large hot set); and tasks
// that run and complete while newer ones are enqueued (each task ends a
// thousand tasks after its enqueue, so the hot set stays small and ended
// tasks go cold).
func BenchmarkFold(b *testing.B) {
	const n = 200_000
	enqueue := func(id string, i int) events.Event {
		return events.New(id, t0, &events.TaskEnqueued{Spec: events.TaskSpec{Func: "send_email", Queue: "default", Args: []any{int64(i)}}})
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = events.NewID(t0.Add(time.Duration(i))).String()
	}
	backlog := make([]events.Event, n)
	for i, id := range ids {
		backlog[i] = enqueue(id, i)
	}
	drain := slices.Clone(backlog)
	for _, id := range ids {
		drain = append(drain,
			events.New(id, t0, &events.TaskLeased{Attempt: 1, Deadline: events.At(t0.Add(time.Minute)), Worker: "host-12345"}),
			events.New(id, t0, &events.TaskCompleted{Attempt: 1}))
	}
	const lag = 1000
	var lifecycle []events.Event
	for i := range n + lag {
		if i < n {
			lifecycle = append(lifecycle, enqueue(ids[i], i))
		}
		if j := i - lag; j >= 0 {
			lifecycle = append(lifecycle,
				events.New(ids[j], t0, &events.TaskLeased{Attempt: 1, Deadline: events.At(t0.Add(time.Minute)), Worker: "host-12345"}),
				events.New(ids[j], t0, &events.TaskCompleted{Attempt: 1}))
		}
	}
	for _, c := range []struct {
		name string
		evs  []events.Event
	}{{"backlog", backlog}, {"drain", drain}, {"lifecycle", lifecycle}} {
		for i := range c.evs {
			c.evs[i].Position = uint64(i + 1)
		}
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				s := New()
				for _, ev := range c.evs {
					if err := s.Apply(ev); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(c.evs)), "ns/event")
		})
	}
}
