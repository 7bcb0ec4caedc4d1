package postgres

import (
	"testing"

	"github.com/omniq/omniq/stores/storetest"
)

func TestTruncateByBatch(t *testing.T) {
	dsn := testDSN(t)
	name := logName(storetest.UniqueName("trunc"))
	l := openTest(t, dsn, name)
	defer l.Close()
	head := storetest.TruncateBatches(t, l, storetest.TruncStep{Pos: 12, First: 11})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// Another handle (a restart) sees the same log; truncating past the head
	// removes every batch and keeps the head.
	l2 := openTest(t, dsn, name)
	defer l2.Close()
	storetest.CheckSpan(t, l2, 11, head)
	storetest.TruncatePastHead(t, l2, l2, head, head+1)
}
