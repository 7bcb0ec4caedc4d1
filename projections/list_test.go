package projections

import (
	"fmt"
	"slices"
	"testing"
)

// TasksAfter lists what Tasks lists after the cursor, in the same order,
// whether the ended tasks are hot, recently cold or cold from a snapshot,
// and stops when asked.
func TestTasksAfterMatchesTasks(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		f := richHistory(t, seed, 400)
		recent := New()
		recent.keepEnded = 0
		for _, ev := range f.log {
			_ = recent.Apply(ev)
		}
		states := map[string]*State{"recent": recent, "restored": restoreOf(t, recent)}
		if _, c := recent.Residency(); c == 0 {
			t.Fatalf("seed %d: no cold task", seed)
		}
		for name, st := range states {
			var all []string
			st.Tasks(func(tk *Task) bool {
				all = append(all, tk.ID)
				return true
			})
			cursors := []string{"", all[0], all[len(all)/2], all[len(all)-1], all[len(all)/3] + "\x00", "\U0010ffff"}
			for _, after := range cursors {
				var want, got []string
				for _, id := range all {
					if id > after {
						want = append(want, id)
					}
				}
				st.TasksAfter(after, func(tk *Task) bool {
					got = append(got, tk.ID)
					return true
				})
				if !slices.Equal(got, want) {
					t.Fatalf("seed %d, %s, after %q: %d tasks %v…, want %d %v…", seed, name, after, len(got), firstIDs(got), len(want), firstIDs(want))
				}
			}
			n := 0
			st.TasksAfter("", func(*Task) bool {
				n++
				return n < 5
			})
			if n != 5 {
				t.Errorf("seed %d, %s: fn called %d times after asking to stop at 5", seed, name, n)
			}
		}
	}
}

func firstIDs(ids []string) string { return fmt.Sprint(ids[:min(len(ids), 5)]) }
