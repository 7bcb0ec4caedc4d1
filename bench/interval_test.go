package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

// TestIntervals: a continuous run samples every Interval, the last sample
// at the run's end, and the samples' counts add up to what the run worked
// within Duration.
func TestIntervals(t *testing.T) {
	for _, api := range []API{APIBatch, APIWorkBatch} {
		t.Run(string(api), func(t *testing.T) {
			cfg := tiny(ModeContinuous, api)
			cfg.Duration, cfg.Interval = time.Second, 200*time.Millisecond
			cfg.ProbeTasks, cfg.SkipRecovery = -1, true
			var lines []string
			cfg.Progress = func(format string, args ...any) {
				if format == "continuous: %s" { // an interval
					lines = append(lines, format)
				}
			}
			rep, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			ivs := rep.Intervals
			if len(ivs) != 5 || len(lines) != 5 {
				t.Fatalf("%d intervals, %d progress lines for 1s at 200ms: want 5 each", len(ivs), len(lines))
			}
			if rep.IntervalSeconds != 0.2 {
				t.Errorf("report says interval %gs, want 0.2", rep.IntervalSeconds)
			}
			var sum, enq int64
			var secs, prev float64
			for i, s := range ivs {
				sum += s.Completed
				enq += s.Enqueued
				secs += s.Seconds
				if s.At <= prev || s.Seconds <= 0 || s.Completed < 0 || s.Total != sum {
					t.Errorf("interval %d out of order or miscounted: %+v (previous end %g, running total %d)", i, s, prev, sum)
				}
				if s.RSS == 0 || s.HeapInuse == 0 {
					t.Errorf("interval %d has no memory figures: %+v", i, s)
				}
				if s.HotTasks+s.ColdTasks < int(s.Total) {
					t.Errorf("interval %d: the engine holds %d hot + %d cold tasks, fewer than the %d worked", i, s.HotTasks, s.ColdTasks, s.Total)
				}
				prev = s.At
			}
			last := ivs[len(ivs)-1]
			if sum < 1 || sum > rep.Worked || enq > rep.Enqueued {
				t.Errorf("intervals completed %d and enqueued %d; the run worked %d and enqueued %d", sum, enq, rep.Worked, rep.Enqueued)
			}
			if window := int64(math.Round(rep.WorkedPerSec * rep.WorkSeconds)); sum != window {
				t.Errorf("intervals completed %d, the run's window %d", sum, window)
			}
			if math.Abs(last.At-rep.WorkSeconds) > 1e-9 || math.Abs(secs-last.At) > 1e-6 {
				t.Errorf("the last interval ends at %gs, lengths add up to %gs; the run took %gs", last.At, secs, rep.WorkSeconds)
			}
		})
	}
}

// TestIntervalsInReport: the intervals are in the JSON report and the table.
func TestIntervalsInReport(t *testing.T) {
	rep := &Report{Mode: ModeContinuous, IntervalSeconds: 10, Intervals: flat(3, 10, 1000, 500<<20)}
	var js, table bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Intervals) != 3 || back.Intervals[2] != rep.Intervals[2] {
		t.Fatalf("JSON round trip: %v, %+v", err, back.Intervals)
	}
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"per interval (10s):", "0:30", "10,000", "1,000", "500.0"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
}

// flat returns n intervals of step seconds, each completing perSec tasks a
// second, with a resident set of rss bytes.
func flat(n int, step, perSec float64, rss uint64) []Interval {
	ivs := make([]Interval, n)
	var total int64
	for i := range ivs {
		c := int64(perSec * step)
		total += c
		ivs[i] = Interval{At: float64(i+1) * step, Seconds: step, Completed: c, PerSec: perSec, Total: total,
			RSS: rss, HeapInuse: rss / 2, HotTasks: 20_000, ColdTasks: int(total)}
	}
	return ivs
}

func TestCheckPlateau(t *testing.T) {
	const mib = 1 << 20
	// 30 minutes of 10 s intervals.
	steady := flat(180, 10, 100_000, 800*mib)
	// Warm-up: RSS climbs over the first two minutes, then stays; a ±5%
	// wobble and a slower first minute change nothing.
	warm := flat(180, 10, 100_000, 800*mib)
	for i := range warm {
		switch {
		case warm[i].At <= 120:
			warm[i].RSS = uint64(float64(300*mib) + float64(500*mib)*warm[i].At/120)
		case i%2 == 0:
			warm[i].RSS = 840 * mib
		default:
			warm[i].RSS = 770 * mib
		}
		if warm[i].At <= 60 {
			warm[i].Completed /= 2
		}
	}
	// Throughput declines linearly to half; memory stays flat.
	declining := flat(180, 10, 100_000, 800*mib)
	for i := range declining {
		declining[i].Completed = int64(float64(declining[i].Completed) * (1 - 0.5*declining[i].At/1800))
	}
	// Throughput holds; RSS grows by 1% a minute after warm-up.
	leaking := flat(180, 10, 100_000, 800*mib)
	for i := range leaking {
		leaking[i].RSS = uint64(float64(800*mib) * (1 + 0.01*math.Max(0, leaking[i].At-120)/60))
	}
	// The sample at each interval's end swings ±40% (a collection's or a
	// compaction's cycle) while the peak holds: the peak is judged.
	sawtooth := flat(180, 10, 100_000, 800*mib)
	for i := range sawtooth {
		sawtooth[i].PeakRSS = 900 * mib
		if i%2 == 1 {
			sawtooth[i].RSS = 480 * mib
		}
	}
	// A peak that grows fails even when the samples at the ends do not.
	peakLeak := flat(180, 10, 100_000, 800*mib)
	for i := range peakLeak {
		peakLeak[i].PeakRSS = uint64(float64(900*mib) * (1 + 0.01*math.Max(0, peakLeak[i].At-120)/60))
	}
	// A two-minute run: windows and warm-up shrink to 30 s.
	short := flat(12, 10, 100_000, 800*mib)
	shortDeclining := flat(12, 10, 100_000, 800*mib)
	shortDeclining[9].Completed, shortDeclining[10].Completed, shortDeclining[11].Completed = 800_000, 800_000, 800_000

	for name, c := range map[string]struct {
		ivs  []Interval
		fail []string // substrings of the failures, one each; none: passes
	}{
		"steady":              {ivs: steady},
		"warm-up":             {ivs: warm},
		"declining":           {ivs: declining, fail: []string{"throughput"}},
		"leaking":             {ivs: leaking, fail: []string{"RSS"}},
		"sawtooth, flat peak": {ivs: sawtooth},
		"leaking peak":        {ivs: peakLeak, fail: []string{"RSS"}},
		"short steady":        {ivs: short},
		"short declining":     {ivs: shortDeclining, fail: []string{"throughput"}},
		"too few intervals":   {ivs: flat(7, 10, 100_000, 800*mib), fail: []string{"too few"}},
		"no RSS":              {ivs: flat(12, 10, 100_000, 0), fail: []string{"RSS: no figures"}},
		"nothing drained":     {ivs: flat(12, 10, 0, 800*mib), fail: []string{"throughput"}},
		"declining, leaking":  {ivs: both(declining, leaking), fail: []string{"throughput", "RSS"}},
	} {
		t.Run(name, func(t *testing.T) {
			p := CheckPlateau(c.ivs, 0)
			err := p.Err()
			if len(c.fail) == 0 {
				if err != nil || !p.OK() {
					t.Fatalf("a flat curve failed: %v (%+v)", err, p)
				}
				return
			}
			if !errors.Is(err, ErrNotFlat) || p.OK() {
				t.Fatalf("Err() = %v, want ErrNotFlat (%+v)", err, p)
			}
			if len(p.Failures) != len(c.fail) {
				t.Fatalf("failures %q, want %d", p.Failures, len(c.fail))
			}
			for i, want := range c.fail {
				if !strings.Contains(p.Failures[i], want) {
					t.Errorf("failure %q does not mention %q", p.Failures[i], want)
				}
			}
		})
	}

	p := CheckPlateau(declining, 0)
	if p.WindowSeconds != 60 || p.WarmUpSeconds != 120 {
		t.Errorf("30-minute run: window %gs, warm-up %gs; want 60 and 120", p.WindowSeconds, p.WarmUpSeconds)
	}
	// Second minute at ~96.7% of the start rate, last minute at ~50.8%.
	if p.Ratio < 0.5 || p.Ratio > 0.55 {
		t.Errorf("declining: ratio %.3f, want about 0.525", p.Ratio)
	}
	if p := CheckPlateau(short, 0); p.WindowSeconds != 30 || p.WarmUpSeconds != 30 || p.Reference != 3_000_000 || p.Last != 3_000_000 {
		t.Errorf("two-minute run: window %gs, warm-up %gs, drained %g then %g; want 30, 30, 3M, 3M", p.WindowSeconds, p.WarmUpSeconds, p.Reference, p.Last)
	}
	// The level after warm-up is the median of the minute that follows it.
	if p := CheckPlateau(leaking, 0); p.BaseRSS < 800*mib || p.BaseRSS > 810*mib || p.MaxRSS <= p.BaseRSS || p.Deviation < 0.25 {
		t.Errorf("leaking: base %d, max %d, deviation %.3f: want 800-810 MiB, more, about 0.27", p.BaseRSS, p.MaxRSS, p.Deviation)
	}
}

// TestCheckPlateauSettle: a run whose memory climbs for five minutes (a
// retention of about that age) fails the default two-minute warm-up and
// holds its plateau once warm-up lasts as long as retention takes to act;
// warm-up never takes more than half the run.
func TestCheckPlateauSettle(t *testing.T) {
	const mib = 1 << 20
	slow := flat(180, 10, 100_000, 800*mib) // 30 minutes
	for i := range slow {
		if slow[i].At <= 300 {
			slow[i].RSS = uint64(float64(300*mib) + float64(500*mib)*slow[i].At/300)
		}
	}
	if p := CheckPlateau(slow, 0); p.OK() || p.WarmUpSeconds != 120 {
		t.Fatalf("default warm-up: %+v, want a failure on RSS after 120 s", p)
	}
	settle := RetentionSettle(3*time.Minute + 40*time.Second)
	if settle != 4*time.Minute+35*time.Second+2*11*time.Second {
		t.Fatalf("RetentionSettle(3m40s) = %s", settle)
	}
	if p := CheckPlateau(slow, settle); !p.OK() || p.WarmUpSeconds != settle.Seconds() {
		t.Fatalf("warm-up of %s: %+v, want the plateau held", settle, p)
	}
	if p := CheckPlateau(slow, time.Hour); p.WarmUpSeconds != 900 {
		t.Fatalf("warm-up of an hour in a 30-minute run: %gs, want 900", p.WarmUpSeconds)
	}
	// Minute-long intervals: the one that began during warm-up (2:00-3:00,
	// warm-up ending at 2:42) holds retention's first, largest compaction;
	// the level is taken from the intervals that begin after warm-up.
	minutes := flat(30, 60, 30_000, 0)
	for i := range minutes {
		minutes[i].PeakRSS = 3400 * mib
		if i%2 == 1 {
			minutes[i].PeakRSS = 3600 * mib
		}
	}
	minutes[2].PeakRSS = 4600 * mib
	if p := CheckPlateau(minutes, RetentionSettle(2*time.Minute)); !p.OK() || p.BaseRSS != 3600*mib || p.MaxRSS != 3600*mib {
		t.Fatalf("first compaction inside warm-up: %+v, want the plateau held at 3600 MiB", p)
	}
	// Retention's first compaction ends late (in 4:00-5:00, say on a busy
	// machine): warm-up lasts until the interval in which it ended, whose
	// peak is not the level. Without the count, that peak is judged.
	late := flat(30, 60, 30_000, 0)
	for i := range late {
		late[i].PeakRSS = 3400 * mib
	}
	late[4].PeakRSS = 5400 * mib
	if p := CheckPlateau(late, RetentionSettle(2*time.Minute)); p.OK() || p.WarmUpSeconds != 162 {
		t.Fatalf("a late first compaction, not counted: %+v, want the 5400 MiB peak judged", p)
	}
	for i := range late {
		if late[i].At >= 300 {
			late[i].Compactions = 1 + int(late[i].At-300)/30
		}
	}
	if p := CheckPlateau(late, RetentionSettle(2*time.Minute)); !p.OK() || p.WarmUpSeconds != 300 || p.MaxRSS != 3400*mib {
		t.Fatalf("a late first compaction: %+v, want warm-up to 5:00 and the plateau held at 3400 MiB", p)
	}
	// A curve of minutes whose first minute after warm-up was its lowest
	// (the peaks, in tenths of a MiB, of a 30-minute Pebble soak at a steady
	// load, whose ticks ran a millisecond late every other minute): the
	// level is the median of five minutes (472.0 MiB, from which the highest
	// minute is 10% off), not that one minute (451.2 MiB: 15.1% off).
	soak := flat(30, 60, 580_000, 0)
	for i, peak := range []uint64{1839, 4420, 8158, 4512, 4770, 4788, 4720, 4684, 5086, 4878, 5065, 5143, 5067, 4974, 5192, 4993, 5011, 5042, 4877, 4891, 5186, 4972, 5043, 4983, 4969, 5021, 5021, 5051, 5103, 5017} {
		soak[i].PeakRSS = peak * mib / 10
		if i%2 == 0 {
			soak[i].At += 0.001
		}
	}
	soak[2].Compactions = 1
	if p := CheckPlateau(soak, RetentionSettle(2*time.Minute)); !p.OK() || p.BaseRSS != 4720*mib/10 || p.MaxRSS != 5192*mib/10 {
		t.Fatalf("steady soak: %+v, want the plateau held at a level of 472.0 MiB", p)
	}
	if RetentionSettle(0) != 0 || RetentionSettle(-time.Second) != 0 {
		t.Fatal("no retention needs no settling")
	}
}

// both takes the throughput of a and the RSS of b.
func both(a, b []Interval) []Interval {
	out := append([]Interval(nil), a...)
	for i := range out {
		out[i].RSS = b[i].RSS
	}
	return out
}

// TestDrained: an interval straddling a window's edge counts in proportion.
func TestDrained(t *testing.T) {
	ivs := []Interval{{At: 10, Seconds: 10, Completed: 100}, {At: 20, Seconds: 10, Completed: 200}, {At: 25, Seconds: 5, Completed: 50}}
	for _, c := range []struct{ from, to, want float64 }{
		{0, 25, 350}, {5, 15, 150}, {15, 25, 150}, {20, 22.5, 25}, {25, 30, 0}, {-5, 0, 0},
	} {
		if got := drained(ivs, c.from, c.to); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("drained(%g, %g) = %g, want %g", c.from, c.to, got, c.want)
		}
	}
}

func TestWriteCurves(t *testing.T) {
	for _, n := range []int{1, 12, 180} {
		ivs := flat(n, 10, 100_000, 800<<20)
		var b bytes.Buffer
		if err := WriteCurves(&b, "soak <pebble>", ivs); err != nil {
			t.Fatal(err)
		}
		lines, dots := 0, 0
		d := xml.NewDecoder(&b)
		for {
			tok, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%d intervals: not XML: %v", n, err)
			}
			if el, ok := tok.(xml.StartElement); ok {
				switch el.Name.Local {
				case "polyline":
					lines++
				case "circle":
					dots++
				}
			}
		}
		// Five curves: tasks/s; RSS, heap; hot, cold.
		if n == 1 && dots != 5 || n > 1 && lines != 5 {
			t.Errorf("%d intervals: %d polylines and %d dots, want 5 curves", n, lines, dots)
		}
	}
}

func TestRetentionEvery(t *testing.T) {
	for age, want := range map[time.Duration]time.Duration{
		time.Minute: 3 * time.Second, 2 * time.Second: time.Second, 2 * time.Hour: time.Minute, 10 * time.Minute: 30 * time.Second,
	} {
		if got := retentionEvery(age); got != want {
			t.Errorf("retentionEvery(%s) = %s, want %s", age, got, want)
		}
	}
}

// TestRetentionArchive: --retention opens an archive in a temporary
// directory, named in the report, and removes it after the run.
func TestRetentionArchive(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	for _, c := range []struct {
		age  time.Duration
		want string
	}{{time.Minute, "1m0s, checked every 3s, archive " + tmp}, {-1, "off"}, {0, ""}} {
		cfg := tiny(ModeContinuous, APIBatch)
		cfg.Retention, cfg.ProbeTasks, cfg.SkipRecovery = c.age, -1, true
		rep, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(rep.Retention, c.want) || (c.want == "") != (rep.Retention == "") {
			t.Errorf("retention %s: report says %q, want %q…", c.age, rep.Retention, c.want)
		}
		if left, err := os.ReadDir(tmp); err != nil || len(left) != 0 {
			t.Errorf("retention %s: %v left in the temporary directory (%v)", c.age, left, err)
		}
	}
}
