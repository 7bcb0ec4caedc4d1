package projections

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestHotTable drives the table as the state does (tasks appended to
// order and indexed, removed as they go cold, order swept, ids coming back
// as new records) and checks it against a map after each step: every id
// finds its record, no other id finds anything, and the slots keep Robin
// Hood order.
func TestHotTable(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h hotTable
	var order []*Task
	want := map[string]*Task{}
	frozen := 0
	check := func(step int) {
		t.Helper()
		if h.len() != len(want) {
			t.Fatalf("step %d: %d entries, want %d", step, h.len(), len(want))
		}
		for id, tk := range want {
			if got := h.get(order, id); got != tk {
				t.Fatalf("step %d: %s finds %p, want %p", step, id, got, tk)
			}
		}
		for i := range 50 {
			if id := fmt.Sprint("absent", step, i); h.get(order, id) != nil {
				t.Fatalf("step %d: absent id %s found", step, id)
			}
		}
		mask := len(h.slots) - 1
		n := 0
		for p, v := range h.slots {
			if v == 0 {
				continue
			}
			n++
			// An entry is at most one slot further from home than the
			// entry before it, and at home after an empty slot.
			prev := h.slots[(p-1)&mask]
			if d := h.dist(p, v); (prev == 0 && d != 0) || (prev != 0 && d > h.dist((p-1)&mask, prev)+1) {
				t.Fatalf("step %d: slot %d is %d from home after %#x", step, p, d, prev)
			}
			if tk := h.at(order, p); tk.flags&flagFrozen != 0 || want[tk.ID] != tk {
				t.Fatalf("step %d: slot %d points at %s, not its hot record", step, p, tk.ID)
			}
		}
		if n != h.n {
			t.Fatalf("step %d: %d slots used, count %d", step, n, h.n)
		}
	}
	add := func(id string) {
		tk := &Task{}
		tk.init(id)
		order = append(order, tk)
		if !h.insert(order, len(order)-1) {
			t.Fatalf("insert of new id %s refused", id)
		}
		want[id] = tk
	}
	next := 0
	for step := range 400 {
		switch op := rng.IntN(10); {
		case op < 5 || len(want) == 0: // enqueue a burst
			for range rng.IntN(200) + 1 {
				add(fmt.Sprintf("t%06d", next))
				next++
			}
		case op < 8: // some go cold
			for id, tk := range want {
				if rng.IntN(3) == 0 {
					p := h.find(order, id)
					if p < 0 || h.at(order, p) != tk {
						t.Fatalf("step %d: %s not found to remove", step, id)
					}
					h.remove(p)
					tk.flags |= flagFrozen
					frozen++
					delete(want, id)
				}
			}
		case op < 9: // some come back, as new records
			for range rng.IntN(20) {
				if id := fmt.Sprintf("t%06d", rng.IntN(next)); want[id] == nil {
					add(id)
				}
			}
		default: // sweep
			to := make([]uint32, len(order))
			kept := order[:0]
			for i, tk := range order {
				if tk.flags&flagFrozen == 0 {
					to[i] = uint32(len(kept))
					kept = append(kept, tk)
				}
			}
			clear(order[len(kept):])
			order = kept
			frozen = 0
			h.renumber(to)
		}
		check(step)
		for id, tk := range want {
			// A known id is refused, and the table does not change.
			if h.insert(append(order, &Task{ID: id}), len(order)) || h.get(order, id) != tk {
				t.Fatalf("step %d: a second %s was indexed", step, id)
			}
			break
		}
	}
	// Everything goes cold, then the sweep shrinks the table.
	for id := range want {
		h.remove(h.find(order, id))
		delete(want, id)
	}
	h.renumber(make([]uint32, len(order)))
	order = nil
	if len(h.slots) != hotTableMin {
		t.Fatalf("empty table kept %d slots", len(h.slots))
	}
	check(-1)
}
