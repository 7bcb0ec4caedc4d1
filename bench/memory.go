package bench

import (
	"runtime"

	"github.com/omniq/omniq/internal/memstat"
)

// procStatus returns a field of /proc/self/status in bytes (see
// memstat.ProcStatus).
func procStatus(field string) uint64 { return memstat.ProcStatus(field) }

// heapAfterGC collects garbage and returns the live heap.
func heapAfterGC() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
