package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/omniq/omniq/internal/memstat"
)

// Interval is one slice of a continuous run: what was worked in it, and the
// process's and the engine's memory at its end.
type Interval struct {
	// At is the interval's end, in seconds since the run began; Seconds its
	// length (the last interval of a run can be shorter than the others).
	At      float64 `json:"at_seconds"`
	Seconds float64 `json:"seconds"`
	// Completed: main-phase tasks worked in the interval (as Report.Worked
	// counts them); PerSec is Completed over Seconds. Total is the count
	// since the run began, at the interval's end.
	Completed int64   `json:"completed"`
	PerSec    float64 `json:"per_sec"`
	Total     int64   `json:"total"`
	// Enqueued: main-phase tasks enqueued in the interval.
	Enqueued int64 `json:"enqueued"`
	// RSS is the process's resident set (VmRSS) at the interval's end;
	// HeapInuse the Go heap's in-use spans (runtime/metrics, as
	// MemStats.HeapInuse; no collection is forced).
	RSS       uint64 `json:"rss_bytes"`
	HeapInuse uint64 `json:"heap_inuse_bytes"`
	// GoHeld is the memory the Go runtime holds and has not released (see
	// memstat.GoHeld), at the interval's end: RSS beyond it is memory
	// allocated outside Go.
	GoHeld uint64 `json:"go_held_bytes"`
	// PeakRSS is the highest resident set during the interval (VmHWM, whose
	// mark is reset at each interval's start through /proc/self/clear_refs;
	// 0 where that is not possible). The sample at an interval's end lands
	// anywhere in a garbage collection's or a compaction's cycle; the peak
	// is what a memory limit must allow.
	PeakRSS uint64 `json:"peak_rss_bytes"`
	// StoreBytes: the files of the store's directory (the log on disk) at
	// the interval's end; 0 for a server store.
	StoreBytes uint64 `json:"store_bytes"`
	// HotTasks and ColdTasks: the engine's Stats at the interval's end
	// (tasks held as full records, and ended tasks held compact).
	HotTasks  int `json:"hot_tasks"`
	ColdTasks int `json:"cold_tasks"`
	// Compactions: the compactions retention has run since the run began,
	// at the interval's end (engine.RetentionStatus).
	Compactions int `json:"compactions"`
}

// intervals takes the samples of a continuous run.
type intervals struct {
	r        *runner
	began    time.Time
	last     time.Time
	worked   int64
	enqueued int64
	out      []Interval
}

func (r *runner) newIntervals(began time.Time) *intervals {
	peakRSS() // the first interval's peak starts now
	return &intervals{r: r, began: began, last: began}
}

// peakRSS returns the process's peak resident set since the last call (0
// when the kernel cannot reset the mark) and resets the mark.
func peakRSS() uint64 {
	hwm := procStatus("VmHWM")
	// "5" resets the peak resident set size (Linux 4.0 and later).
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return 0
	}
	return hwm
}

// sample closes the interval ending at now and returns the main-phase
// counts it read: tasks worked and enqueued since the run began.
func (iv *intervals) sample(ctx context.Context, now time.Time) (worked, enqueued int64) {
	worked, enqueued = iv.r.worked.Load(), iv.r.enqueued.Load()
	took := now.Sub(iv.last)
	st, _ := iv.r.e.Stats(ctx) // an engine's Stats do not fail
	s := Interval{
		At: seconds(now.Sub(iv.began)), Seconds: seconds(took),
		Completed: worked - iv.worked, PerSec: rate(worked-iv.worked, took), Total: worked,
		Enqueued: enqueued - iv.enqueued,
		RSS:      procStatus("VmRSS"), HeapInuse: memstat.HeapInuse(), GoHeld: memstat.GoHeld(), PeakRSS: peakRSS(), StoreBytes: dirBytes(iv.r.dir),
		HotTasks: st.HotTasks, ColdTasks: st.ColdTasks, Compactions: iv.r.e.RetentionStatus().Runs,
	}
	iv.out = append(iv.out, s)
	iv.last, iv.worked, iv.enqueued = now, worked, enqueued
	iv.r.cfg.progress("continuous: %s", s.line())
	return worked, enqueued
}

// line is the interval as one progress line.
func (s Interval) line() string {
	return fmt.Sprintf("%6s  completed %s (%s/s)  RSS %s (peak %s, Go %s)  heap in use %s  hot %s  cold %s  store %s",
		clock(s.At), thousands(float64(s.Completed)), thousands(s.PerSec), mib(s.RSS), mib(s.PeakRSS), mib(s.GoHeld), mib(s.HeapInuse),
		thousands(float64(s.HotTasks)), thousands(float64(s.ColdTasks)), mib(s.StoreBytes))
}

// clock writes seconds as m:ss (or h:mm:ss).
func clock(sec float64) string {
	d := time.Duration(sec*float64(time.Second)+0.5e9) / time.Second
	if d >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", d/3600, d/60%60, d%60)
	}
	return fmt.Sprintf("%d:%02d", d/60, d%60)
}

// WriteIntervals writes the per-interval curve of a continuous run as a
// table, one row per interval.
func WriteIntervals(w io.Writer, ivs []Interval) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "at\tcompleted\ttasks/s\tRSS MiB\tpeak RSS MiB\tGo held MiB\theap in use MiB\thot tasks\tcold tasks\tstore MiB\t")
	for _, s := range ivs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f\t%.1f\t%.1f\t%.1f\t%s\t%s\t%.1f\t\n", clock(s.At), thousands(float64(s.Completed)), thousands(s.PerSec),
			float64(s.RSS)/(1<<20), float64(s.PeakRSS)/(1<<20), float64(s.GoHeld)/(1<<20), float64(s.HeapInuse)/(1<<20), thousands(float64(s.HotTasks)), thousands(float64(s.ColdTasks)),
			float64(s.StoreBytes)/(1<<20))
	}
	return tw.Flush()
}
