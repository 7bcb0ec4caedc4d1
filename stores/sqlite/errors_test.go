package sqlite

import (
	"errors"
	"strings"
	"testing"

	sqlite3 "modernc.org/sqlite/lib"

	"github.com/omniq/omniq/stores"
)

func TestSentinelForCode(t *testing.T) {
	for _, c := range []struct {
		name  string
		code  int
		write bool
		want  error
	}{
		{"busy", sqlite3.SQLITE_BUSY, true, stores.ErrUnavailable},
		{"busy snapshot (extended)", sqlite3.SQLITE_BUSY_SNAPSHOT, false, stores.ErrUnavailable},
		{"locked", sqlite3.SQLITE_LOCKED, true, stores.ErrUnavailable},
		{"disk full", sqlite3.SQLITE_FULL, true, stores.ErrUnavailable},
		{"corrupt", sqlite3.SQLITE_CORRUPT, false, stores.ErrCorrupt},
		{"corrupt index (extended)", sqlite3.SQLITE_CORRUPT_INDEX, false, stores.ErrCorrupt},
		{"not a database", sqlite3.SQLITE_NOTADB, false, stores.ErrCorrupt},
		{"read-only", sqlite3.SQLITE_READONLY, true, stores.ErrReadOnly},
		{"fsync failed", sqlite3.SQLITE_IOERR_FSYNC, true, stores.ErrReadOnly},
		{"write failed", sqlite3.SQLITE_IOERR_WRITE, true, stores.ErrReadOnly},
		{"read failed", sqlite3.SQLITE_IOERR_READ, false, stores.ErrUnavailable},
		{"constraint", sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, true, nil},
		{"misuse", sqlite3.SQLITE_MISUSE, false, nil},
	} {
		if got := sentinelForCode(c.code, c.write); got != c.want {
			t.Errorf("%s (%d): %v, want %v", c.name, c.code, got, c.want)
		}
	}
}

func TestInterpretErrorClosed(t *testing.T) {
	open, closed := &Log{}, &Log{}
	closed.closed.Store(true)
	cause := errors.New("sql: database is closed")
	if got := closed.interpretError("op", false, cause); !errors.Is(got, stores.ErrClosed) || !strings.HasPrefix(got.Error(), "sqlite: op: ") {
		t.Errorf("after close: %v, want ErrClosed with the prefix", got)
	}
	got := open.interpretError("op", false, cause)
	if !errors.Is(got, cause) || errors.Is(got, stores.ErrClosed) || errors.Is(got, stores.ErrUnavailable) {
		t.Errorf("unknown error: %v, want it wrapped and mapped to no sentinel", got)
	}
	if open.interpretError("op", true, nil) != nil {
		t.Error("nil error mapped to non-nil")
	}
}
