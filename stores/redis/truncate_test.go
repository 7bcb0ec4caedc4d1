package redis_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/storetest"
)

func TestTruncateByEntry(t *testing.T) {
	ctx := context.Background()
	name := fmt.Sprintf("trunc_%d", time.Now().UnixNano())
	l := open(t, name)
	if first, err := l.First(ctx); err != nil || first != 1 {
		t.Fatalf("first of a new log = %d, %v; want 1", first, err)
	}
	head := storetest.AppendSizes(t, l, 3, 1, 4, 2, 5) // entries at 1, 4, 5, 9, 11; head 15
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
		storetest.CheckSpan(t, l, c.first, head)
	}
	got, err := l.Read(ctx, 2, 2)
	if err != nil || len(got) != 2 || got[0].Position != 11 || got[1].Position != 12 {
		t.Fatalf("read(2, 2) = %v, %v; want positions 11 and 12", got, err)
	}

	// Another handle sees the same log; truncating past the head removes
	// every entry and keeps the head.
	l2 := open(t, name)
	storetest.CheckSpan(t, l2, 11, head)
	if err := l2.TruncateBefore(ctx, math.MaxUint64); err != nil {
		t.Fatal(err)
	}
	storetest.CheckSpan(t, l, head+1, head)
	if first, err := l.Append(ctx, []events.Event{storetest.Event("after", 1)}); err != nil || first != head+1 {
		t.Fatalf("append after truncating everything = %d, %v; want %d", first, err, head+1)
	}
	storetest.CheckSpan(t, l2, head+1, head+1)
}

// TestTruncatedGapIsCorrupt: an entry missing after the first one is still
// corruption, truncation or not.
func TestTruncatedGapIsCorrupt(t *testing.T) {
	ctx := context.Background()
	l := open(t, fmt.Sprintf("trgap_%d", time.Now().UnixNano()))
	storetest.AppendSizes(t, l, 2, 2, 2, 2) // entries at 1, 3, 5, 7
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
