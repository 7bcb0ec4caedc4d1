package postgres

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores/storetest"
)

func TestTruncateByBatch(t *testing.T) {
	dsn := testDSN(t)
	ctx := context.Background()
	name := logName(fmt.Sprintf("trunc_%d", time.Now().UnixNano()))
	l := openTest(t, dsn, name)
	defer l.Close()
	if first, err := l.First(ctx); err != nil || first != 1 {
		t.Fatalf("first of a new log = %d, %v; want 1", first, err)
	}
	head := storetest.AppendSizes(t, l, 3, 1, 4, 2, 5) // batches at 1, 4, 5, 9, 11; head 15
	for _, c := range []struct {
		pos, first uint64
	}{
		{1, 1},
		{3, 1}, // inside the first batch: it stays whole
		{5, 5}, // a batch boundary: exactly the events before it go
		{4, 5}, // smaller than before: nothing happens
		{10, 9},
		{12, 11},
	} {
		if err := l.TruncateBefore(ctx, c.pos); err != nil {
			t.Fatal(err)
		}
		storetest.CheckSpan(t, l, c.first, head)
	}
	// A short read from before First still starts at First and stops at max.
	got, err := l.Read(ctx, 2, 2)
	if err != nil || len(got) != 2 || got[0].Position != 11 || got[1].Position != 12 {
		t.Fatalf("read(2, 2) = %v, %v; want positions 11 and 12", got, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// Another handle (a restart) sees the same log; truncating past the head
	// removes every batch and keeps the head.
	l2 := openTest(t, dsn, name)
	defer l2.Close()
	storetest.CheckSpan(t, l2, 11, head)
	if err := l2.TruncateBefore(ctx, math.MaxUint64); err != nil {
		t.Fatal(err)
	}
	storetest.CheckSpan(t, l2, head+1, head)
	if first, err := l2.Append(ctx, []events.Event{storetest.Event("after", 1)}); err != nil || first != head+1 {
		t.Fatalf("append after truncating everything = %d, %v; want %d", first, err, head+1)
	}
	storetest.CheckSpan(t, l2, head+1, head+1)
}
