package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/omniq/omniq/bench"
)

// benchCLI runs a short continuous "omniqd bench" on the memory store with
// the extra flags and decodes its JSON report.
func benchCLI(t *testing.T, extra ...string) (int, *bench.Report) {
	t.Helper()
	args := append([]string{"bench", "--store", "memory://", "--mode", "continuous", "--api", "work-batch",
		"--batch", "50", "--workers", "4", "--backlog", "200", "--duration", "1s", "--interval", "250ms",
		"--probe", "-1", "--no-recovery", "-q", "--json"}, extra...)
	code, out := omniqdCLI(t, args...)
	var rep bench.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("bench %q exited %d and printed %q: %v", extra, code, out, err)
	}
	return code, &rep
}

func TestBenchIntervalFlags(t *testing.T) {
	code, rep := benchCLI(t, "--retention", "30s")
	if code != 0 {
		t.Fatalf("bench exited %d", code)
	}
	if rep.API != bench.APIWorkBatch || rep.Batch != 50 || rep.IntervalSeconds != 0.25 {
		t.Errorf("report describes api %s, batch %d, interval %gs", rep.API, rep.Batch, rep.IntervalSeconds)
	}
	if len(rep.Intervals) != 4 {
		t.Fatalf("%d intervals for 1s at 250ms, want 4", len(rep.Intervals))
	}
	var sum int64
	for _, s := range rep.Intervals {
		sum += s.Completed
	}
	if sum < 1 || sum != rep.Intervals[3].Total || sum > rep.Worked {
		t.Errorf("intervals completed %d (last total %d), the run worked %d", sum, rep.Intervals[3].Total, rep.Worked)
	}
	if !strings.HasPrefix(rep.Retention, "30s, checked every 1.5s, archive ") {
		t.Errorf("retention %q, want 30s every 1.5s with an archive", rep.Retention)
	}
	if rep.Plateau != nil {
		t.Errorf("a plateau verdict nobody asked for: %+v", rep.Plateau)
	}
}

// TestBenchCheckPlateau: --check-plateau puts its verdict in the report and
// exits non-zero when it fails (4 intervals are too few to judge).
func TestBenchCheckPlateau(t *testing.T) {
	code, rep := benchCLI(t, "--check-plateau")
	if code == 0 {
		t.Fatal("bench --check-plateau passed a run of 4 intervals")
	}
	if rep.Plateau == nil || rep.Plateau.OK() || !strings.Contains(rep.Plateau.Failures[0], "too few") {
		t.Fatalf("plateau verdict %+v, want a failure for too few intervals", rep.Plateau)
	}
	if code, _ := omniqdCLI(t, "bench", "--store", "memory://", "--mode", "burndown", "--check-plateau"); code == 0 {
		t.Error("--check-plateau accepted a burn-down")
	}
	if code, _ := omniqdCLI(t, "bench", "--store", "memory://", "--mode", "continuous", "--interval", "-1s"); code == 0 {
		t.Error("a negative --interval was accepted")
	}
}

// TestBenchNodes: --nodes runs that many engines on the log and reports
// each; a store one process owns refuses more than one.
func TestBenchNodes(t *testing.T) {
	code, rep := benchCLI(t, "--nodes", "2")
	if code != 0 {
		t.Fatalf("bench --nodes 2 exited %d", code)
	}
	if rep.Nodes != 2 || len(rep.NodeStats) != 2 || !rep.Shared {
		t.Fatalf("report: %d nodes, %d node stats, shared %v", rep.Nodes, len(rep.NodeStats), rep.Shared)
	}
	if rep.Worked < 1 || rep.Completed != int(rep.Enqueued) {
		t.Errorf("enqueued %d, worked %d, completed %d", rep.Enqueued, rep.Worked, rep.Completed)
	}
	if _, rep := benchCLI(t); rep.Nodes != 1 || len(rep.NodeStats) != 1 {
		t.Errorf("default: %d nodes, %d node stats; want 1 and 1", rep.Nodes, len(rep.NodeStats))
	}
	t.Setenv("TMPDIR", t.TempDir())
	for _, store := range []string{"pebble://", "file://"} {
		if code, _ := omniqdCLI(t, "bench", "--store", store, "--nodes", "2", "-q"); code == 0 {
			t.Errorf("bench --store %s --nodes 2 exited 0", store)
		}
	}
	if code, _ := omniqdCLI(t, "bench", "--store", "memory://", "--nodes", "-1", "-q"); code == 0 {
		t.Error("--nodes -1 was accepted")
	}
}
