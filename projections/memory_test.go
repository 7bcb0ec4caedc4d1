package projections

import (
	"fmt"
	"runtime"
	"testing"

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
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
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
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/task")
		runtime.KeepAlive(s)
		runtime.KeepAlive(raw)
	}
}
