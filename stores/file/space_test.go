package file

import (
	"os"
	"testing"

	"github.com/omniq/omniq/stores/storetest"
)

// dirSize returns the bytes of the files in dir (segments, FIRST, LOCK).
func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		n += info.Size()
	}
	return n
}

// TestTruncationSpacePlateaus runs retention at steady load
// (storetest.Retain) and checks that the directory stops growing: after the
// window of live events has filled, it holds them and at most about a
// segment more (the segment holding the first position is kept whole),
// although the run writes many times that.
func TestTruncationSpacePlateaus(t *testing.T) {
	const (
		batchLen = 20
		window   = 2000 // live events after each truncation
		rounds   = 1000
		warmup   = 200
		segment  = 256 << 10
	)
	dir := t.TempDir()
	l := mustOpen(t, dir, WithSegmentSize(segment))
	batch, recLen := storetest.PaddedBatch(t, batchLen, 512)
	live := int64(window * recLen)
	// At most one segment of older events stays, and the segment being
	// written is partly filled: twice each is generous.
	bound := 2*live + 2*segment
	written := int64(rounds * batchLen * recLen)
	if written < 4*bound {
		t.Fatalf("the run writes %d bytes, too few to tell a plateau under %d from growth", written, bound)
	}
	var peak int64
	storetest.Retain(t, l, batch, window, rounds, warmup, func() { peak = max(peak, dirSize(t, dir)) })
	t.Logf("live %d KiB, peak %d KiB after warm-up, bound %d KiB, written %d KiB",
		live>>10, peak>>10, bound>>10, written>>10)
	if peak > bound {
		t.Fatalf("the directory grew to %d bytes at steady load; live data is %d, the bound %d", peak, live, bound)
	}
}
