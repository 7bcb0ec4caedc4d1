package engine_test

import (
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/file"
	"github.com/omniq/omniq/stores/memory"
	"github.com/omniq/omniq/stores/pebble"
	"github.com/omniq/omniq/stores/sqlite"
)

// storeCase opens a fresh log for one test; reopen opens the same log again
// after the first was closed (a process restart).
type storeCase struct {
	name string
	open func(t testing.TB) (log stores.Log, reopen func() stores.Log)
}

// storeCases lists every backend the engine suite runs on. Server-backed
// stores join when their OMNIQ_TEST_* variable is set (see servers_test.go).
var storeCases = []storeCase{
	{"memory", func(t testing.TB) (stores.Log, func() stores.Log) {
		// The memory log lives as long as the value: a "process restart"
		// closes nothing and opens a view of the same records.
		l := memory.New()
		t.Cleanup(func() { l.Close() })
		return reopenedMemory{l}, func() stores.Log { return reopenedMemory{l} }
	}},
	dirStore("file", func(dir string) (stores.Log, error) { return file.Open(dir) }),
	dirStore("pebble", func(dir string) (stores.Log, error) { return pebble.Open(dir) }),
	dirStore("sqlite", func(dir string) (stores.Log, error) { return sqlite.Open(filepath.Join(dir, "omniq.db")) }),
}

// dirStore is a store case for a backend that lives in a directory.
func dirStore(name string, open func(dir string) (stores.Log, error)) storeCase {
	return storeCase{name, func(t testing.TB) (stores.Log, func() stores.Log) {
		dir := t.TempDir()
		mustOpen := func() stores.Log {
			l, err := open(dir)
			if err != nil {
				t.Fatalf("open %s store: %v", name, err)
			}
			return l
		}
		return mustOpen(), mustOpen
	}}
}

// reopenedMemory lets a test close an engine's log and open it again.
type reopenedMemory struct{ *memory.Log }

func (reopenedMemory) Close() error { return nil }

// forEachStore runs fn as a subtest on every store.
func forEachStore(t *testing.T, fn func(t *testing.T, sc storeCase)) {
	for _, sc := range allStoreCases() {
		t.Run(sc.name, func(t *testing.T) { fn(t, sc) })
	}
}

// appendCounter counts the engine's appends, to observe group commit.
type appendCounter struct{ n atomic.Int64 }

func (c *appendCounter) Appended(int, time.Duration, error) { c.n.Add(1) }
func (c *appendCounter) LeasesExpired(int)                  {}
func (c *appendCounter) Replayed(uint64, time.Duration)     {}
