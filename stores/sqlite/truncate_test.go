package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/omniq/omniq/stores/storetest"
)

func TestTruncateByBatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trunc.db")
	l := openTest(t, path)
	head := storetest.TruncateBatches(t, l, storetest.TruncStep{Pos: 115, First: 11}) // past the head: the last batch stays
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, path)
	defer l.Close()
	storetest.CheckSpan(t, l, 11, head)
	storetest.AppendSizes(t, l, 2)
	storetest.CheckSpan(t, l, 11, head+2)
}
