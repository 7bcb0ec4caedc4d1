package redis_test

import (
	"context"
	"errors"
	"testing"

	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/storetest"
)

func TestTruncateByEntry(t *testing.T) {
	name := storetest.UniqueName("trunc")
	l := open(t, name)
	head := storetest.TruncateBatches(t, l, storetest.TruncStep{Pos: 12, First: 11})

	// Another handle sees the same log; truncating past the head removes
	// every entry and keeps the head.
	l2 := open(t, name)
	storetest.CheckSpan(t, l2, 11, head)
	storetest.TruncatePastHead(t, l2, l, head, head+1)
}

// TestTruncatedGapIsCorrupt: an entry missing after the first one is still
// corruption, truncation or not.
func TestTruncatedGapIsCorrupt(t *testing.T) {
	ctx := context.Background()
	l := open(t, storetest.UniqueName("trgap"))
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
