package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// tiny is a run small enough for the race detector; the assertions are on
// counts and signs, never on timings.
func tiny(mode Mode, api API) Config {
	return Config{
		Store: "memory://", Mode: mode, API: api,
		Jobs: 300, Duration: 200 * time.Millisecond,
		Workers: 4, Producers: 3, Batch: 50, Backlog: 100,
		ProbeTasks: 40, ProbeRate: 2000, ScheduledFraction: 0.25, ScheduleAhead: 5 * time.Millisecond,
		SnapshotEvery: 500,
	}
}

func TestRunCounts(t *testing.T) {
	for _, mode := range []Mode{ModeBurndown, ModeContinuous} {
		for _, api := range []API{APISingle, APIBatch, APIWork, APIWorkBatch} {
			t.Run(string(mode)+"/"+string(api), func(t *testing.T) {
				cfg := tiny(mode, api)
				rep, err := Run(context.Background(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				checkReport(t, cfg, rep)
			})
		}
	}
}

func checkReport(t *testing.T, cfg Config, rep *Report) {
	t.Helper()
	if rep.Mode != cfg.Mode || rep.API != cfg.API || rep.Workers != cfg.Workers {
		t.Errorf("report describes %s/%s/%d workers, want %s/%s/%d", rep.Mode, rep.API, rep.Workers, cfg.Mode, cfg.API, cfg.Workers)
	}
	if cfg.Mode == ModeBurndown && rep.Enqueued != int64(cfg.Jobs) {
		t.Errorf("enqueued %d, want the %d jobs", rep.Enqueued, cfg.Jobs)
	}
	if rep.Enqueued < 1 {
		t.Errorf("enqueued %d tasks", rep.Enqueued)
	}
	if rep.Worked != rep.Enqueued || rep.Completed != int(rep.Enqueued) {
		t.Errorf("enqueued %d, worked %d, completed %d: want all equal", rep.Enqueued, rep.Worked, rep.Completed)
	}
	if rep.StartLatency.Count != int(rep.Worked) {
		t.Errorf("%d start latencies for %d worked tasks", rep.StartLatency.Count, rep.Worked)
	}
	probed := rep.IdleStartLatency.Count + rep.ScheduledLateness.Count
	if probed != cfg.ProbeTasks {
		t.Errorf("probe measured %d tasks, want %d", probed, cfg.ProbeTasks)
	}
	if want := int(float64(cfg.ProbeTasks) * cfg.ScheduledFraction); rep.ScheduledLateness.Count != want {
		t.Errorf("%d delayed probe tasks, want %d", rep.ScheduledLateness.Count, want)
	}
	for name, l := range map[string]Latency{"start": rep.StartLatency, "idle start": rep.IdleStartLatency} {
		if l.Negative > 0 || l.P50 < 0 || l.P50 > l.P90 || l.P90 > l.P99 || l.P99 > l.Max {
			t.Errorf("%s latency not ordered or negative: %+v", name, l)
		}
	}
	if l := rep.ScheduledLateness; l.P50 > l.P99 || l.P99 > l.Max {
		t.Errorf("scheduled lateness not ordered: %+v", l)
	}
	if rep.EnqueuePerSec <= 0 || rep.WorkedPerSec <= 0 || rep.EndToEndPerSec <= 0 {
		t.Errorf("rates not positive: enqueue %g, worked %g, end to end %g", rep.EnqueuePerSec, rep.WorkedPerSec, rep.EndToEndPerSec)
	}
	if cfg.Mode == ModeBurndown && (rep.HeapPerPending <= 0 || rep.RSSPending == 0) {
		t.Errorf("burn-down measured heap %g bytes per pending task, RSS %d", rep.HeapPerPending, rep.RSSPending)
	}
	if rep.PeakRSS == 0 {
		t.Error("no peak RSS (is /proc/self/status there?)")
	}
	rc := rep.Recovery
	if rc == nil {
		t.Fatal("no recovery figures")
	}
	// Each task is at least enqueued, leased and completed.
	if min := 3 * uint64(rep.Worked+int64(probed)); rc.Events < min {
		t.Errorf("log holds %d events, want at least %d", rc.Events, min)
	}
	// A continuous run's length depends on the machine: a periodic snapshot
	// is owed only once the log has passed the interval.
	if rc.SnapshotPosition > rc.Events || (rc.Events >= uint64(cfg.SnapshotEvery) && rc.SnapshotPosition == 0) {
		t.Errorf("crash recovery from snapshot at %d of %d events: want a periodic snapshot (every %d)", rc.SnapshotPosition, rc.Events, cfg.SnapshotEvery)
	}
	if rc.CrashSeconds <= 0 || rc.CleanSeconds <= 0 || rc.ReplaySeconds <= 0 || rc.ReplayPerSec <= 0 {
		t.Errorf("recovery timings not positive: %+v", rc)
	}
}

func TestRecoveryMode(t *testing.T) {
	cfg := Config{Store: "memory://", Mode: ModeRecovery, Events: 3000, Batch: 100, Producers: 2, SnapshotEvery: 1000}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Generated < 3000 || rep.Recovery == nil || rep.Recovery.Events != rep.Generated {
		t.Fatalf("generated %d events, recovered %+v: want at least 3000, all recovered", rep.Generated, rep.Recovery)
	}
	if rep.Recovery.SnapshotPosition == 0 {
		t.Error("no periodic snapshot to recover from")
	}
}

// TestTemporaryStore: "pebble://" runs in a temporary directory that is
// gone afterwards.
func TestTemporaryStore(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	cfg := tiny(ModeBurndown, APIBatch)
	cfg.Store, cfg.ProbeTasks = "pebble://", -1
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rep.Store, "pebble://"+tmp) {
		t.Errorf("store %q is not in the temporary directory %s", rep.Store, tmp)
	}
	left, err := os.ReadDir(tmp)
	if err != nil || len(left) != 0 {
		t.Errorf("temporary directory holds %v after the run (%v)", left, err)
	}
}

func TestConfigErrors(t *testing.T) {
	for name, c := range map[string]Config{
		"mode":      {Mode: "sideways"},
		"api":       {API: "telepathy"},
		"jobs":      {Jobs: -1},
		"workers":   {Workers: -2},
		"backlog":   {Batch: 500, Backlog: 10},
		"fraction":  {ScheduledFraction: 1.5},
		"no scheme": {Store: "/var/lib/omniq"},
	} {
		t.Run(name, func(t *testing.T) {
			c.Store = cmpOr(c.Store, "memory://")
			if _, err := Run(context.Background(), c); !errors.Is(err, ErrConfig) {
				t.Fatalf("Run(%+v) = %v, want ErrConfig", c, err)
			}
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestSummarize(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	d = append(d, -time.Millisecond)
	l := summarize(d)
	if l.Count != 101 || l.Negative != 1 || l.Max != 100 || l.P50 != 50 || l.P99 != 99 {
		t.Fatalf("summarize = %+v", l)
	}
	if (summarize(nil) != Latency{}) {
		t.Fatal("summary of nothing is not zero")
	}
}

func TestReportOutput(t *testing.T) {
	rep := &Report{Store: "memory://", Mode: ModeBurndown, API: APIBatch, Enqueued: 1234567, EnqueuePerSec: 1234567.4,
		StartLatency: Latency{Count: 1, P50: 1}, Recovery: &Recovery{Events: 10, ReplayPerSec: 1e6}}
	var table, js bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"1,234,567 tasks/s", "start latency (load)", "1,000,000 events/s"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back.Enqueued != rep.Enqueued || back.Recovery.Events != 10 {
		t.Fatalf("JSON round trip: %v, %+v", err, back)
	}
}

// TestSamplesBounded: past maxSamples, samples keeps a uniform sample of
// bounded size, with the count, the largest and the negatives exact.
func TestSamplesBounded(t *testing.T) {
	var s samples
	n := maxSamples + maxSamples/2
	for i := range n {
		s.add1(time.Duration(i) - 3) // 3 negatives, then 0 .. n-4
	}
	if len(s.all) != maxSamples {
		t.Fatalf("kept %d samples, want %d", len(s.all), maxSamples)
	}
	l := s.summary()
	if l.Count != n || l.Negative != 3 || l.Max != ms(time.Duration(n-4)) {
		t.Fatalf("summary %+v: want count %d, 3 negatives, max %v", l, n, ms(time.Duration(n-4)))
	}
	// A uniform sample's median is near the middle of 0..n.
	if mid := ms(time.Duration(n / 2)); l.P50 < 0.95*mid || l.P50 > 1.05*mid {
		t.Fatalf("median %v, want about %v", l.P50, mid)
	}
}
