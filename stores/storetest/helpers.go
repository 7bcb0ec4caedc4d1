package storetest

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/omniq/omniq/stores"
)

// AppendSizes appends one batch per size to l and returns the head. Backend
// tests use it to lay out batch boundaries.
func AppendSizes(t testing.TB, l stores.Log, sizes ...int) uint64 {
	t.Helper()
	var head uint64
	for i, n := range sizes {
		first := mustAppend(t, l, batch(fmt.Sprintf("t%d", i), n))
		head = first + uint64(n) - 1
	}
	return head
}

// CheckSpan fails the test unless the truncatable log l reports first and
// head, and a read from any position up to first gives first..head.
func CheckSpan(t testing.TB, l interface {
	stores.Log
	stores.Truncater
}, first, head uint64) {
	t.Helper()
	ctx := context.Background()
	if got, err := l.First(ctx); err != nil || got != first {
		t.Fatalf("first = %d, %v; want %d", got, err, first)
	}
	if got, err := l.Head(ctx); err != nil || got != head {
		t.Fatalf("head = %d, %v; want %d", got, err, head)
	}
	for _, from := range []uint64{0, 1, first} {
		got, err := l.Read(ctx, from, math.MaxInt)
		if err != nil {
			t.Fatalf("read(%d): %v", from, err)
		}
		want := uint64(0)
		if head >= first {
			want = head - first + 1
		}
		if uint64(len(got)) != want {
			t.Fatalf("read(%d) gave %d events, want %d", from, len(got), want)
		}
		for i, e := range got {
			if e.Position != first+uint64(i) {
				t.Fatalf("read(%d)[%d] at position %d", from, i, e.Position)
			}
		}
	}
}
