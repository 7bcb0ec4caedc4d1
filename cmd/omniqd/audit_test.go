package main

// End-to-end tests of the audit commands (replay, verify, export, import):
// the real omniqd binary runs on stores at rest, one of them corrupted by
// hand.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/engine/audit"
	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/storeurl"
)

// auditRun runs the omniqd binary and returns its exit code, stdout and stderr.
func auditRun(t *testing.T, stdin []byte, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, omniqdBinary(t), args...)
	cmd.Env = omniqdEnv()
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatalf("omniqd %s: %v", strings.Join(args, " "), err)
	return 0, "", ""
}

// auditHistory writes a small history with the engine into the store at
// url and returns the position after task a completed.
func auditHistory(t *testing.T, url string) uint64 {
	t.Helper()
	ctx := context.Background()
	log := openTestStore(t, url)
	defer log.Close()
	e, err := engine.Open(ctx, log, engine.WithWorkerID("w1"), engine.WithSnapshotEvery(1000))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, task := range []*engine.Task{
		{ID: "a", Func: "add", Args: []any{10, 20}},
		{ID: "b", Func: "boom"},
		{ID: "c", Func: "report", QueueName: "nightly", Priority: 3, DependsOn: []string{"a"}},
	} {
		if err := e.Enqueue(ctx, task); err != nil {
			t.Fatal(err)
		}
	}
	a, err := e.Dequeue(ctx, "")
	if err != nil || a == nil || a.ID != "a" {
		t.Fatalf("dequeue: %v, %v", a, err)
	}
	if err := e.Complete(ctx, a, int64(30)); err != nil {
		t.Fatal(err)
	}
	completedAt := e.Position()
	b, err := e.Dequeue(ctx, "")
	if err != nil || b == nil {
		t.Fatalf("dequeue: %v, %v", b, err)
	}
	if err := e.Fail(ctx, b, errors.New("boom")); err != nil {
		t.Fatal(err)
	}
	return completedAt
}

// openTestStore opens the store at url; the caller closes it (before
// another opener needs it: an embedded store is locked while open).
func openTestStore(t *testing.T, url string) stores.Log {
	t.Helper()
	log, err := storeurl.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	return log
}

// appendRaw appends events straight to the store at url, past the engine.
func appendRaw(t *testing.T, url string, evs ...events.Event) uint64 {
	t.Helper()
	log := openTestStore(t, url)
	defer log.Close()
	first, err := log.Append(context.Background(), evs)
	if err != nil {
		t.Fatal(err)
	}
	return first
}

func rebuiltAt(t *testing.T, url string) []byte {
	t.Helper()
	return snapshotOf(t, stateAt(t, url, 0))
}

func TestAuditCommandsEndToEnd(t *testing.T) {
	dir := t.TempDir()
	src := "file://" + filepath.Join(dir, "src")
	completedAt := auditHistory(t, src)

	t.Run("verify a clean log", func(t *testing.T) {
		code, out, errOut := auditRun(t, nil, "verify", "--store", src, "--strict")
		if code != 0 || !strings.Contains(out, "OK: no breach") || !strings.Contains(out, "equal to the state rebuilt") {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
	})

	t.Run("replay until a position", func(t *testing.T) {
		code, out, errOut := auditRun(t, nil, "replay", "--store", src, "--until", strconv.FormatUint(completedAt, 10), "--task", "c", "--json")
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
		var s audit.Summary
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if s.Position != completedAt || s.Queues["default"]["completed"] != 1 || s.Queues["default"]["pending"] != 1 ||
			s.Queues["nightly"]["pending"] != 1 || s.Task == nil || s.Task.State != "pending" || s.Task.Priority != 3 {
			t.Fatalf("replay until %d:\n%s", completedAt, out)
		}
		code, out, _ = auditRun(t, nil, "replay", "--store", src, "--until", strconv.FormatUint(completedAt, 10), "--task", "a")
		if code != 0 || !strings.Contains(out, "completed") || !strings.Contains(out, "result") || !strings.Contains(out, "30") {
			t.Fatalf("table replay: exit %d\n%s", code, out)
		}
		if code, _, errOut := auditRun(t, nil, "replay", "--store", src, "--until", "yesterday"); code != exitUsage || !strings.Contains(errOut, "RFC 3339") {
			t.Fatalf("bad --until: exit %d, %s", code, errOut)
		}
	})

	t.Run("export and import round trip", func(t *testing.T) {
		dump := filepath.Join(dir, "dump.jsonl")
		code, _, errOut := auditRun(t, nil, "export", "--store", src, "--out", dump)
		if code != 0 {
			t.Fatalf("export: exit %d\n%s", code, errOut)
		}
		if strings.ContainsAny(errOut, "\r\x1b") {
			t.Fatalf("a progress bar was drawn on a pipe: %q", errOut)
		}
		lines, err := os.ReadFile(dump)
		if err != nil {
			t.Fatal(err)
		}
		dst := "sqlite://" + filepath.Join(dir, "dst.db")
		if code, out, errOut := auditRun(t, nil, "import", "--store", dst, "--in", dump); code != 0 || !strings.Contains(out, "imported") {
			t.Fatalf("import: exit %d\n%s%s", code, out, errOut)
		}
		code, again, errOut := auditRun(t, nil, "export", "--store", dst)
		if code != 0 || again != string(lines) {
			t.Fatalf("export of the imported store differs (exit %d)\n%s", code, errOut)
		}
		if !bytes.Equal(rebuiltAt(t, src), rebuiltAt(t, dst)) {
			t.Fatal("the imported store rebuilds another state")
		}
		code, _, errOut = auditRun(t, lines, "import", "--store", dst) // from stdin, into a full store
		if code != 1 || !strings.Contains(errOut, "empty") {
			t.Fatalf("import into a non-empty store: exit %d, %s", code, errOut)
		}
		pb := "pebble://" + filepath.Join(dir, "pb")
		if code, _, errOut := auditRun(t, lines, "import", "--store", pb); code != 0 {
			t.Fatalf("import from stdin: exit %d, %s", code, errOut)
		}
		if !bytes.Equal(rebuiltAt(t, src), rebuiltAt(t, pb)) {
			t.Fatal("the store imported from stdin rebuilds another state")
		}
	})

	t.Run("verify a hand-corrupted log", func(t *testing.T) {
		now := time.Now()
		// Past the engine: a second completion of a, under a lease it never
		// had, and a heartbeat naming an attempt c never reached.
		first := appendRaw(t, src,
			events.New("a", now, &events.TaskCompleted{Attempt: 2, Result: "again"}),
			events.New("c", now, &events.TaskHeartbeat{Attempt: 7}))
		code, out, errOut := auditRun(t, nil, "verify", "--store", src)
		if code != verifyExitBreach || !strings.Contains(errOut, "breaks an invariant") {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
		for _, want := range []string{"BREACHES: 2", "completed_two_leases", "#" + strconv.FormatUint(first, 10), "impossible_event"} {
			if !strings.Contains(out, want) {
				t.Fatalf("report lacks %q:\n%s", want, out)
			}
		}
		code, out, _ = auditRun(t, nil, "verify", "--store", src, "--json")
		var rep audit.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil || code != verifyExitBreach {
			t.Fatalf("exit %d, %v\n%s", code, err, out)
		}
		want := []audit.Breach{
			{Rule: audit.RuleCompletedTwoLeases, Position: first, TaskID: "a"},
			{Rule: audit.RuleImpossibleEvent, Position: first + 1, TaskID: "c"},
		}
		if rep.BreachCount != len(want) || rep.Snapshot == nil || !rep.Snapshot.Equal {
			t.Fatalf("report: %+v", rep)
		}
		for i, w := range want {
			if b := rep.Breaches[i]; b.Rule != w.Rule || b.Position != w.Position || b.TaskID != w.TaskID {
				t.Errorf("breach %d = %s, want %s at #%d task %s", i, b, w.Rule, w.Position, w.TaskID)
			}
		}
	})

	// No verdict is not a breach: verify exits 2 when it cannot check.
	t.Run("no store there", func(t *testing.T) {
		missing := "pebble://" + filepath.Join(dir, "missing")
		if code, _, errOut := auditRun(t, nil, "verify", "--store", missing); code != verifyExitFailed || !strings.Contains(errOut, "does not exist") {
			t.Fatalf("exit %d, %s", code, errOut)
		}
		if _, err := os.Stat(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
			t.Fatal("verify created the store it was pointed at")
		}
	})
	t.Run("a store that cannot be opened or read", func(t *testing.T) {
		notDir := filepath.Join(dir, "not-a-directory")
		if err := os.WriteFile(notDir, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, store := range []string{"pebble://" + notDir, "file://" + notDir, "nosuch://x", "redis://127.0.0.1:1/0"} {
			code, out, errOut := auditRun(t, nil, "verify", "--store", store, "--json")
			if code != verifyExitFailed || out != "" {
				t.Errorf("%s: exit %d (want %d), stdout %q, stderr %s", store, code, verifyExitFailed, out, errOut)
			}
		}
	})
	t.Run("bad flags", func(t *testing.T) {
		for _, args := range [][]string{{"--no-such-flag"}, {"--store", src, "extra"}} {
			if code, _, errOut := auditRun(t, nil, append([]string{"verify"}, args...)...); code != verifyExitFailed {
				t.Errorf("%v: exit %d, want %d: %s", args, code, verifyExitFailed, errOut)
			}
		}
		if code, out, errOut := auditRun(t, nil, "verify", "-h"); code != 0 || !strings.Contains(out, "Exit status") || errOut != "" {
			t.Errorf("-h: exit %d: stdout %q, stderr %q", code, out, errOut)
		}
	})
}

func TestAuditProgressStaysQuietOffATerminal(t *testing.T) {
	if p := newAuditProgress("x", false); p.on {
		t.Skip("the test's stdout and stderr are terminals")
	}
	var buf bytes.Buffer
	p := &auditProgress{desc: "replay", w: &buf, on: false}
	p.set(5, 10)
	p.finish()
	if buf.Len() != 0 {
		t.Fatalf("drew %q while off", buf.String())
	}
	p = &auditProgress{desc: "replay", w: &buf, on: true, begun: time.Now()}
	p.set(5, 10)
	p.set(7, 0) // the total became unknown
	if !strings.Contains(buf.String(), "replay") {
		t.Fatalf("drew %q while on", buf.String())
	}
	p.finish()
}
