package projections

// indexedHeap is a binary min-heap (by less) whose items record their own
// index, so that any item can be removed or re-positioned in O(log n).
// idx returns a pointer to the item's index field for this heap; an item not in
// the heap has index -1. Indexes are int32: a heap holds < 2^31 items.
type indexedHeap[T any] struct {
	items []T
	less  func(a, b T) bool
	idx   func(T) *int32
}

func (h *indexedHeap[T]) Len() int { return len(h.items) }

func (h *indexedHeap[T]) contains(x T) bool { return *h.idx(x) >= 0 }

// peek returns the least item; REQUIRES: Len() > 0.
func (h *indexedHeap[T]) peek() T { return h.items[0] }

func (h *indexedHeap[T]) push(x T) {
	if h.contains(x) {
		h.fix(x)
		return
	}
	*h.idx(x) = int32(len(h.items))
	h.items = append(h.items, x)
	h.up(len(h.items) - 1)
}

func (h *indexedHeap[T]) pop() T {
	x := h.items[0]
	h.remove(x)
	return x
}

// remove takes x out of the heap; a no-op when x is not in it.
func (h *indexedHeap[T]) remove(x T) {
	i := int(*h.idx(x))
	if i < 0 {
		return
	}
	last := len(h.items) - 1
	if i != last {
		h.swap(i, last)
	}
	var zero T
	h.items[last] = zero
	h.items = h.items[:last]
	*h.idx(x) = -1
	if i != last {
		if !h.down(i) {
			h.up(i)
		}
	}
}

// fix restores heap order after x's key changed.
func (h *indexedHeap[T]) fix(x T) {
	i := int(*h.idx(x))
	if i < 0 {
		return
	}
	if !h.down(i) {
		h.up(i)
	}
}

func (h *indexedHeap[T]) swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	*h.idx(h.items[i]) = int32(i)
	*h.idx(h.items[j]) = int32(j)
}

func (h *indexedHeap[T]) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !h.less(h.items[j], h.items[i]) {
			break
		}
		h.swap(i, j)
		j = i
	}
}

func (h *indexedHeap[T]) down(i0 int) bool {
	i, n := i0, len(h.items)
	for {
		j := 2*i + 1
		if j >= n {
			break
		}
		if r := j + 1; r < n && h.less(h.items[r], h.items[j]) {
			j = r
		}
		if !h.less(h.items[j], h.items[i]) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > i0
}
