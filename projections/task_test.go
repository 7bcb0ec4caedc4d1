package projections

import (
	"math"
	"slices"
	"testing"
	"unsafe"

	"github.com/omniq/omniq/events"
)

// TestTaskRecordSize: a hot record fits the allocator's 128-byte size
// class (the next one is 144: BenchmarkPendingTaskHeap would pay 16 bytes).
func TestTaskRecordSize(t *testing.T) {
	if n := unsafe.Sizeof(Task{}); n > 128 {
		t.Fatalf("Task is %d bytes, over the 128-byte size class", n)
	}
}

// TestSpecValuesAroundInlineWidth: priorities and retries that fit the
// record's 16 bits and those that do not (kept in the spec record) read
// back, order a queue, and survive a snapshot; arguments keep their
// values, and whether they are nil.
func TestSpecValuesAroundInlineWidth(t *testing.T) {
	f := newFolder(t)
	prios := []int{0, math.MaxInt16, math.MaxInt16 + 1, math.MinInt16, math.MinInt16 - 1, 1 << 20, -1 << 20, math.MaxInt64, math.MinInt64, -1}
	ids := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}
	args := [][]any{nil, {}, {int64(1)}, {"x", int64(2)}}
	for i, id := range ids {
		spec := events.TaskSpec{Func: "f", Queue: "q", Priority: prios[i], Retries: prios[len(prios)-1-i], Args: args[i%len(args)]}
		f.must(id, 0, &events.TaskEnqueued{Spec: spec})
	}
	for name, s := range map[string]*State{"folded": f.s, "restored": restoreOf(t, f.s)} {
		for i, id := range ids {
			tk := s.Task(id)
			if tk.Priority() != prios[i] || tk.Retries() != prios[len(prios)-1-i] {
				t.Errorf("%s: %s has priority %d retries %d, want %d %d", name, id, tk.Priority(), tk.Retries(), prios[i], prios[len(prios)-1-i])
			}
			want := args[i%len(args)]
			if name == "restored" && len(want) == 0 {
				want = nil // a snapshot holds no empty argument list
			}
			if got := tk.Args(); !slices.Equal(got, want) || (got == nil) != (want == nil) || cap(got) != len(want) {
				t.Errorf("%s: %s has args %#v (cap %d), want %#v", name, id, got, cap(got), want)
			}
		}
		var got []int
		for tk := s.TakeReady("q", 0); tk != nil; tk = s.TakeReady("q", 0) {
			got = append(got, tk.Priority())
		}
		want := slices.Clone(prios)
		slices.SortStableFunc(want, func(a, b int) int {
			switch {
			case a > b:
				return -1
			case a < b:
				return 1
			}
			return 0
		})
		if !slices.Equal(got, want) {
			t.Errorf("%s: taken in priority order %v, want %v", name, got, want)
		}
	}
}
