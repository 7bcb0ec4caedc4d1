package bench

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuMark is a reading of the CPU time this process used and of the
// machine's CPU counters, to compare with a later one.
type cpuMark struct {
	at          time.Time
	proc        time.Duration // user + system time of this process
	busy, total uint64        // the machine's non-idle and all ticks (/proc/stat), 0 when unreadable
}

func markCPU() cpuMark {
	m := cpuMark{at: time.Now()}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		m.proc = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	m.busy, m.total = machineTicks()
	return m
}

// since returns the cores this process kept busy on average from m0 to m,
// and the fraction of all the machine's cores busy (any process, PostgreSQL
// on the same host included; 0 when /proc/stat is unreadable).
func (m cpuMark) since(m0 cpuMark) (cores, machine float64) {
	if d := m.at.Sub(m0.at); d > 0 {
		cores = (m.proc - m0.proc).Seconds() / d.Seconds()
	}
	if m.total > m0.total {
		machine = float64(m.busy-m0.busy) / float64(m.total-m0.total)
	}
	return cores, machine
}

// machineTicks reads the first line of /proc/stat: user nice system idle
// iowait irq softirq steal (guest time is counted in user already).
func machineTicks() (busy, total uint64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0
	}
	var idle uint64
	for i, s := range f[1:9] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, 0
		}
		total += v
		if i == 3 || i == 4 { // idle, iowait
			idle += v
		}
	}
	return total - idle, total
}
