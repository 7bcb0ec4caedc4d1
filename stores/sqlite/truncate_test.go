package sqlite

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"sync"
	"testing"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/storetest"
)

// appendSizes appends one batch per size and returns the head.
func appendSizes(t *testing.T, l *Log, sizes ...int) uint64 {
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
func checkSpan(t *testing.T, l *Log, first, head uint64) {
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
		if uint64(len(got)) != head-first+1 {
			t.Fatalf("read(%d) gave %d events, want %d", from, len(got), head-first+1)
		}
		for i, e := range got {
			if e.Position != first+uint64(i) {
				t.Fatalf("read(%d)[%d] at position %d", from, i, e.Position)
			}
		}
	}
}

func TestTruncateByBatch(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "trunc.db")
	l := openTest(t, path)
	head := appendSizes(t, l, 3, 1, 4, 2, 5) // batches at 1, 4, 5, 9, 11; head 15
	for _, c := range []struct {
		pos, first uint64
	}{
		{1, 1},
		{3, 1}, // inside the first batch: it stays whole
		{5, 5}, // a batch boundary: exactly the events before it go
		{4, 5}, // smaller than before: nothing happens
		{10, 9},
		{head + 100, 11}, // past the head: the last batch stays
	} {
		if err := l.TruncateBefore(ctx, c.pos); err != nil {
			t.Fatal(err)
		}
		checkSpan(t, l, c.first, head)
	}
	// A short read from before First still starts at First and stops at max.
	got, err := l.Read(ctx, 2, 2)
	if err != nil || len(got) != 2 || got[0].Position != 11 || got[1].Position != 12 {
		t.Fatalf("read(2, 2) = %v, %v; want positions 11 and 12", got, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, path)
	defer l.Close()
	checkSpan(t, l, 11, head)
	appendSizes(t, l, 2)
	checkSpan(t, l, 11, head+2)
}

// TestTruncateShared: a second handle (another process, as far as the log
// can tell) reading and appending while the first truncates sees gap-free
// runs from First, never an error.
func TestTruncateShared(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shared.db")
	a, b := openTest(t, path), openTest(t, path)
	defer a.Close()
	defer b.Close()
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
	for i := range 40 {
		head := appendSizes(t, b, 1+i%3)
		if err := a.TruncateBefore(ctx, head-uint64(i%4)); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	first, err := b.First(ctx)
	if err != nil || first < 2 {
		t.Fatalf("first through the other handle = %d, %v", first, err)
	}
}
