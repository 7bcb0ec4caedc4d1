package redis_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/redis"
	"github.com/omniq/omniq/stores/storetest"
)

// appendSizes appends one batch per size and returns the head.
func appendSizes(t *testing.T, l *redis.Log, sizes ...int) uint64 {
	t.Helper()
	var head uint64
	for i, n := range sizes {
		evs := make([]events.Event, n)
		for j := range evs {
			evs[j] = storetest.Event(fmt.Sprintf("t%d-%d", i, j), j+1)
		}
		first, err := l.Append(context.Background(), evs)
		if err != nil {
			t.Fatal(err)
		}
		head = first + uint64(n) - 1
	}
	return head
}

// checkSpan fails the test unless l reports first and head, and a read from
// any position before first gives first..head.
func checkSpan(t *testing.T, l *redis.Log, first, head uint64) {
	t.Helper()
	ctx := context.Background()
	if got, err := l.First(ctx); err != nil || got != first {
		t.Fatalf("first = %d, %v; want %d", got, err, first)
	}
	if got, err := l.Head(ctx); err != nil || got != head {
		t.Fatalf("head = %d, %v; want %d", got, err, head)
	}
	want := uint64(0)
	if head >= first {
		want = head - first + 1
	}
	for _, from := range []uint64{0, 1, first} {
		got, err := l.Read(ctx, from, 1000)
		if err != nil {
			t.Fatalf("read(%d): %v", from, err)
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

func TestTruncateByEntry(t *testing.T) {
	ctx := context.Background()
	name := fmt.Sprintf("trunc_%d", time.Now().UnixNano())
	l := open(t, name)
	if first, err := l.First(ctx); err != nil || first != 1 {
		t.Fatalf("first of a new log = %d, %v; want 1", first, err)
	}
	head := appendSizes(t, l, 3, 1, 4, 2, 5) // entries at 1, 4, 5, 9, 11; head 15
	for _, c := range []struct {
		pos, first uint64
	}{
		{0, 1},
		{3, 1}, // inside the first entry: it stays whole
		{5, 5}, // an entry boundary: exactly the events before it go
		{4, 5}, // smaller than before: nothing happens
		{10, 9},
		{12, 11},
	} {
		if err := l.TruncateBefore(ctx, c.pos); err != nil {
			t.Fatal(err)
		}
		checkSpan(t, l, c.first, head)
	}
	got, err := l.Read(ctx, 2, 2)
	if err != nil || len(got) != 2 || got[0].Position != 11 || got[1].Position != 12 {
		t.Fatalf("read(2, 2) = %v, %v; want positions 11 and 12", got, err)
	}

	// Another handle sees the same log; truncating past the head removes
	// every entry and keeps the head.
	l2 := open(t, name)
	checkSpan(t, l2, 11, head)
	if err := l2.TruncateBefore(ctx, math.MaxUint64); err != nil {
		t.Fatal(err)
	}
	checkSpan(t, l, head+1, head)
	if first, err := l.Append(ctx, []events.Event{storetest.Event("after", 1)}); err != nil || first != head+1 {
		t.Fatalf("append after truncating everything = %d, %v; want %d", first, err, head+1)
	}
	checkSpan(t, l2, head+1, head+1)
}

// TestTruncateShared: a second handle reading and appending while the first
// truncates sees gap-free runs from First, never an error.
func TestTruncateShared(t *testing.T) {
	ctx := context.Background()
	name := fmt.Sprintf("trshared_%d", time.Now().UnixNano())
	a, b := open(t, name), open(t, name)
	appendSizes(t, a, 2, 3, 1)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := stores.ReadAll(ctx, b, 1, 4, func(events.Event) error { return nil }); err != nil {
				t.Errorf("read during truncation: %v", err)
				return
			}
		}
	})
	for i := range 60 {
		head := appendSizes(t, b, 1+i%3)
		if err := a.TruncateBefore(ctx, head-uint64(i%4)); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}

// TestTruncatedGapIsCorrupt: an entry missing after the first one is still
// corruption, truncation or not.
func TestTruncatedGapIsCorrupt(t *testing.T) {
	ctx := context.Background()
	l := open(t, fmt.Sprintf("trgap_%d", time.Now().UnixNano()))
	appendSizes(t, l, 2, 2, 2, 2) // entries at 1, 3, 5, 7
	if err := l.TruncateBefore(ctx, 3); err != nil {
		t.Fatal(err)
	}
	c := rawClient(t, serverOptions(t))
	if err := c.XDel(ctx, l.Keys()[0], "5-1").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Read(ctx, 1, 10); !errors.Is(err, stores.ErrCorrupt) {
		t.Fatalf("read across a missing entry = %v, want ErrCorrupt", err)
	}
}
