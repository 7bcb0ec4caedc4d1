package file

import (
	"testing"

	"github.com/omniq/omniq/stores/storetest"
)

// TestTruncationSpacePlateaus runs retention at steady load
// (storetest.Retain) and checks that the directory stops growing: after the
// window of live events has filled, it holds them and at most about a
// segment more (the segment holding the first position is kept whole),
// although the run writes many times that.
func TestTruncationSpacePlateaus(t *testing.T) {
	const segment = 256 << 10
	dir := t.TempDir()
	l := mustOpen(t, dir, WithSegmentSize(segment))
	storetest.SpacePlateaus(t, l, dir, storetest.Plateau{
		BatchLen: 20, Pad: 512, Window: 2000, Rounds: 1000, Warmup: 200,
		// At most one segment of older events stays, and the segment being
		// written is partly filled: twice each is generous.
		Bound:  func(live int64) int64 { return 2*live + 2*segment },
		Margin: 4,
	})
}
