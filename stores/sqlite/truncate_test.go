package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/omniq/omniq/stores/storetest"
)

func TestTruncateByBatch(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "trunc.db")
	l := openTest(t, path)
	head := storetest.AppendSizes(t, l, 3, 1, 4, 2, 5) // batches at 1, 4, 5, 9, 11; head 15
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
	l = openTest(t, path)
	defer l.Close()
	storetest.CheckSpan(t, l, 11, head)
	storetest.AppendSizes(t, l, 2)
	storetest.CheckSpan(t, l, 11, head+2)
}
