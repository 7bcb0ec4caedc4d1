package storetest

import (
	"context"
	"math"
	"testing"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
)

// runReadInto checks a stores.PageReader: ReadInto gives what Read gives,
// in dst's array whenever dst has room, whatever dst held before.
func runReadInto(t *testing.T, h Harness) {
	ctx := context.Background()
	l, _ := h.open(t)
	pr := ability[stores.PageReader](t, l)
	const total = 12
	mustAppend(t, l, batch("p", total))
	stale := Event("stale", 99)
	for from := uint64(0); from <= total+1; from++ {
		for _, limit := range []int{0, 1, 5, total, math.MaxInt} {
			want, err := l.Read(ctx, from, limit)
			if err != nil {
				t.Fatalf("read(%d, %d): %v", from, limit, err)
			}
			for _, capacity := range []int{0, len(want) - 1, len(want), total + 3} {
				if capacity < 0 {
					continue
				}
				dst := make([]events.Event, min(2, capacity), capacity)
				for i := range dst {
					dst[i] = stale
				}
				got, err := pr.ReadInto(ctx, dst, from, limit)
				if err != nil {
					t.Fatalf("read into cap %d from %d, max %d: %v", capacity, from, limit, err)
				}
				if len(got) != len(want) {
					t.Fatalf("read into cap %d from %d, max %d: %d events, want %d", capacity, from, limit, len(got), len(want))
				}
				for i := range want {
					if got[i].Position != want[i].Position || !sameEvent(got[i], want[i]) {
						t.Fatalf("read into cap %d from %d, max %d: event %d is %v, want %v", capacity, from, limit, i, got[i], want[i])
					}
				}
				if len(got) > 0 && cap(dst) >= len(want) && &got[0] != &dst[:1][0] {
					t.Fatalf("read into cap %d from %d, max %d: %d events not stored in dst", cap(dst), from, limit, len(got))
				}
			}
		}
	}
}
