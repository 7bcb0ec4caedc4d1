// Package memstat reads what the process holds in memory, for the daemon's
// metrics and the benchmarks: the Go heap in use without stopping the
// world, and the resident set the kernel reports.
package memstat

import (
	"bufio"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
)

// heapInuse sum to runtime.MemStats.HeapInuse: bytes in spans holding objects.
var heapInuse = []string{"/memory/classes/heap/objects:bytes", "/memory/classes/heap/unused:bytes"}

// HeapInuse returns the Go heap's in-use bytes (MemStats.HeapInuse),
// without a collection or a stop of the world.
func HeapInuse() uint64 {
	s := make([]metrics.Sample, len(heapInuse))
	for i, name := range heapInuse {
		s[i].Name = name
	}
	metrics.Read(s)
	var n uint64
	for _, m := range s {
		if m.Value.Kind() == metrics.KindUint64 {
			n += m.Value.Uint64()
		}
	}
	return n
}

// ProcStatus returns a field of /proc/self/status in bytes (VmHWM: peak
// resident set; VmRSS: current), or 0 where there is no such file (not
// Linux).
func ProcStatus(field string) uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}

// GoHeld returns the memory the Go runtime holds from the operating system
// and has not released ("/memory/classes/total:bytes" less
// "/memory/classes/heap/released:bytes"): the part of the resident set
// that Go accounts for. What the resident set holds beyond it was
// allocated outside Go (C code through cgo, such as a C library's malloc).
func GoHeld() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 || s[1].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64() - s[1].Value.Uint64()
}
