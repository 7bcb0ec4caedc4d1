package storetest

import (
	"context"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/omniq/omniq/events"
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

// PaddedBatch returns n events that each carry pad random bytes, as hex so
// that no store's compression hides the space they take, and the length of
// one event's record (events.Marshal). Tests of disk space use it.
func PaddedBatch(t testing.TB, n, pad int) ([]events.Event, int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(n), uint64(pad)))
	out := make([]events.Event, n)
	for i := range out {
		b := make([]byte, pad)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		out[i] = events.New(fmt.Sprintf("pad-%d", i), t0,
			&events.TaskEnqueued{Spec: events.TaskSpec{Func: "f", Queue: "default", Args: []any{hex.EncodeToString(b)}}})
	}
	rec, err := events.Marshal(nil, out[0])
	if err != nil {
		t.Fatal(err)
	}
	return out, len(rec)
}

// Retain drives l as retention at steady load does, only harder than the
// engine: rounds times, it appends batch and truncates all but the newest
// window events. From round warmup on, it calls sample every tenth round,
// for the caller to measure the space the log takes.
func Retain(t testing.TB, l interface {
	stores.Log
	stores.Truncater
}, batch []events.Event, window uint64, rounds, warmup int, sample func()) {
	t.Helper()
	ctx := context.Background()
	for r := range rounds {
		head := mustAppend(t, l, batch) + uint64(len(batch)) - 1
		if head > window {
			if err := l.TruncateBefore(ctx, head-window+1); err != nil {
				t.Fatalf("truncate before %d: %v", head-window+1, err)
			}
		}
		if r >= warmup && (r-warmup)%10 == 0 {
			sample()
		}
	}
}
