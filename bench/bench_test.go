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

// TestTaskTime: each handler waits TaskTime, so a burn-down of n tasks on
// w single-task workers works for at least n/w times it (a lower bound the
// waits guarantee, not a performance figure); the Work pool waits too.
func TestTaskTime(t *testing.T) {
	for _, api := range []API{APISingle, APIWork} {
		t.Run(string(api), func(t *testing.T) {
			cfg := tiny(ModeBurndown, api)
			cfg.Workers, cfg.Producers, cfg.TaskTime = 30, 30, 10*time.Millisecond
			rep, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			checkReport(t, cfg, rep)
			if want := 0.1; rep.WorkSeconds < want || rep.TaskTimeMs != 10 {
				t.Fatalf("worked %d tasks of 10ms on 30 workers in %.3fs (task_time_ms %v), want at least %.1fs",
					rep.Worked, rep.WorkSeconds, rep.TaskTimeMs, want)
			}
		})
	}
}

// TestRate: with Config.Rate the producers offer a steady load: however
// fast the engine, they enqueue no more than the pace allows (one batch of
// burst, then Rate a second, counted from a little before the run began to
// a little after it ended). Unpaced, this run enqueues many times that.
func TestRate(t *testing.T) {
	cfg := tiny(ModeContinuous, APIWorkBatch)
	cfg.Duration, cfg.Rate = 500*time.Millisecond, 400
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, cfg, rep)
	if most := float64(cfg.Batch) + float64(cfg.Rate)*(rep.WorkSeconds+0.5); float64(rep.Enqueued) > most || rep.Rate != cfg.Rate {
		t.Fatalf("enqueued %d tasks in %.2fs at a rate of %d/s (report's rate %d), want at most %.0f", rep.Enqueued, rep.WorkSeconds, cfg.Rate, rep.Rate, most)
	}
}

// TestAdmitTakesWholeCalls: producers take a call's gate tokens all at once,
// so three producers of 50 on a gate of 100 end with two calls admitted, not
// three with parts of theirs and none able to go on.
func TestAdmitTakesWholeCalls(t *testing.T) {
	for range 200 {
		r := &runner{gate: make(chan struct{}, 100)}
		stop := make(chan struct{})
		admitted := make(chan bool, 3)
		for range 3 {
			go func() { admitted <- r.admit(50, stop, nil) }()
		}
		var got int
		for range 2 {
			select {
			case ok := <-admitted:
				if ok {
					got++
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("two calls of 50 never got in on a gate of 100 (%d tokens taken): the producers hold parts of their calls", len(r.gate))
			}
		}
		close(stop)
		if <-admitted {
			got++
		}
		if got != 2 || len(r.gate) != 100 {
			t.Fatalf("%d calls of 50 admitted on a gate of 100, %d tokens held; want 2 and 100", got, len(r.gate))
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
		"mode":            {Mode: "sideways"},
		"api":             {API: "telepathy"},
		"jobs":            {Jobs: -1},
		"workers":         {Workers: -2},
		"backlog":         {Batch: 500, Backlog: 10},
		"fraction":        {ScheduledFraction: 1.5},
		"no scheme":       {Store: "/var/lib/omniq"},
		"nodes":           {Nodes: -1},
		"task time":       {TaskTime: -time.Millisecond},
		"pebble×2":        {Store: "pebble://", Nodes: 2},
		"file×3":          {Store: "file:///var/lib/omniq", Nodes: 3},
		"rate":            {Mode: ModeContinuous, Rate: -1},
		"rate, burn-down": {Rate: 1000},
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

// TestNodesNeedSharedStore: more than one node on a store one process owns
// (the default Pebble included) is a config error naming the stores that
// can be shared, before anything is opened.
func TestNodesNeedSharedStore(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	for _, store := range []string{"", "pebble://", "file://"} {
		_, err := Run(context.Background(), Config{Store: store, Nodes: 2})
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), SharedStores) {
			t.Errorf("store %q with 2 nodes: %v, want ErrConfig naming %s", store, err, SharedStores)
		}
	}
}

func TestShare(t *testing.T) {
	for _, c := range []struct{ n, nodes int }{{4, 3}, {64, 3}, {2, 3}, {5, 1}} {
		sum := 0
		for i := range c.nodes {
			s := share(c.n, c.nodes, i)
			if want := (c.n - i + c.nodes - 1) / c.nodes; s != want {
				t.Errorf("share(%d, %d, %d) = %d, want %d (goroutines j %% %d == %d)", c.n, c.nodes, i, s, want, c.nodes, i)
			}
			sum += s
		}
		if sum != c.n {
			t.Errorf("%d goroutines over %d nodes: shares add up to %d", c.n, c.nodes, sum)
		}
	}
}

// TestRunNodes: two engines on one memory log (and on one SQLite file,
// each with a handle of its own) complete every task exactly as one does,
// and the report gives each node's share and cluster counters.
func TestRunNodes(t *testing.T) {
	cases := []struct {
		store string
		mode  Mode
		api   API
	}{
		{"memory://", ModeBurndown, APIBatch},
		{"memory://", ModeContinuous, APISingle},
		{"memory://", ModeBurndown, APIWorkBatch},
		{"sqlite://", ModeBurndown, APIBatch},
	}
	for _, c := range cases {
		t.Run(strings.TrimSuffix(c.store, "://")+"/"+string(c.mode)+"/"+string(c.api), func(t *testing.T) {
			t.Setenv("TMPDIR", t.TempDir())
			cfg := tiny(c.mode, c.api)
			cfg.Store, cfg.Nodes = c.store, 2
			rep, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			checkReport(t, cfg, rep)
			if rep.Nodes != 2 || !rep.Shared || len(rep.NodeStats) != 2 {
				t.Fatalf("report: %d nodes, shared %v, %d node stats; want 2, true, 2", rep.Nodes, rep.Shared, len(rep.NodeStats))
			}
			a, b := rep.NodeStats[0], rep.NodeStats[1]
			if a.Node == b.Node {
				t.Errorf("both nodes are named %q", a.Node)
			}
			if a.Producers+b.Producers != cfg.Producers || a.Workers+b.Workers != cfg.Workers || a.Producers != 2 || a.Workers != 2 {
				t.Errorf("shares %+v, %+v: want producers 2+1 and workers 2+2", a, b)
			}
			if a.Position != b.Position || a.Position == 0 {
				t.Errorf("nodes ended at positions %d and %d: want the same head", a.Position, b.Position)
			}
			// Each node wrote and read the other's events.
			if a.CaughtUp == 0 || b.CaughtUp == 0 {
				t.Errorf("events caught up: %d and %d, want both positive", a.CaughtUp, b.CaughtUp)
			}
			if a.Appends == 0 || b.Appends == 0 || a.AppendedEvents == 0 || b.AppendedEvents == 0 {
				t.Errorf("appends: %d (%d events) and %d (%d events), want all positive", a.Appends, a.AppendedEvents, b.Appends, b.AppendedEvents)
			}
			var sum uint64
			for _, n := range rep.NodeStats {
				sum += n.Conflicts
			}
			if rep.Conflicts > sum || rep.ConflictsPerSec < 0 || rep.Appends < rep.Conflicts || rep.Appends == 0 || rep.EventsPerAppend <= 0 {
				t.Errorf("%d conflicts (%g/s) of %d appends (%g events each) in the measured phase, %d conflicts over the run",
					rep.Conflicts, rep.ConflictsPerSec, rep.Appends, rep.EventsPerAppend, sum)
			}
			var js bytes.Buffer
			if err := rep.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			for _, key := range []string{`"nodes": 2`, `"conflicts": `, `"conflicts_per_sec": `, `"caught_up_events": `, `"appends": `} {
				if !strings.Contains(js.String(), key) {
					t.Errorf("JSON report lacks %s", key)
				}
			}
			var table bytes.Buffer
			if err := rep.WriteTable(&table); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"2 on one log (conditional appends: yes)", a.Node, "batches lost the race", "events caught up", "one engine reopening"} {
				if !strings.Contains(table.String(), want) {
					t.Errorf("table lacks %q:\n%s", want, table.String())
				}
			}
		})
	}
}
