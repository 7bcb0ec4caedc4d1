package main

// End-to-end tests of "omniqd compact" and of the daemon's periodic
// compaction: the real binary on pebble and file stores.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/engine/audit"
	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/events/eventjson"
	"github.com/omniq/omniq/projections"
	"github.com/omniq/omniq/stores"
)

// compactHistory writes, into the store at url, work that ended two hours
// ago and work that is recent or still going: old-i tasks ended two hours
// ago (some failed), new-i ones now, live-i ones are pending, running,
// waiting on a dependency, and a schedule.
func compactHistory(t *testing.T, url string, round int) {
	t.Helper()
	ctx := context.Background()
	log := openTestStore(t, url)
	defer log.Close()
	clock := engine.NewManualClock(time.Now().Add(-2 * time.Hour))
	e, err := engine.Open(ctx, log, engine.WithClock(clock), engine.WithLeaseTimeout(24*time.Hour), engine.WithWorkerID("w"))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	work := func(prefix string, n int) {
		for i := 0; i < n; i++ {
			if err := e.Enqueue(ctx, &engine.Task{ID: fmt.Sprintf("%s%d-%d", prefix, round, i), Func: "f", Args: []any{i}}); err != nil {
				t.Fatal(err)
			}
			task, err := e.Dequeue(ctx, "")
			if err != nil || task == nil {
				t.Fatal(task, err)
			}
			if i%4 == 3 {
				err = e.Fail(ctx, task, errors.New("no"))
			} else {
				err = e.Complete(ctx, task, int64(i))
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	work("old", 40)
	clock.Advance(2 * time.Hour)
	work("new", 5)
	live := []*engine.Task{
		{ID: fmt.Sprintf("run%d", round), Func: "f", QueueName: "r"},
		{ID: fmt.Sprintf("pending%d", round), Func: "f", Priority: 3},
		{ID: fmt.Sprintf("waiting%d", round), Func: "f", DependsOn: []string{fmt.Sprintf("pending%d", round)}},
		{ID: fmt.Sprintf("sched%d", round), Func: "f", Schedule: &engine.Schedule{Cron: "0 3 * * *"}},
	}
	if err := e.EnqueueBatch(ctx, live); err != nil {
		t.Fatal(err)
	}
	if task, err := e.Dequeue(ctx, "r"); err != nil || task == nil {
		t.Fatal(task, err)
	}
}

// readLog returns every event the store at url holds, its first position
// and its head.
func readLog(t *testing.T, url string) (evs []events.Event, first, head uint64) {
	t.Helper()
	ctx := context.Background()
	log := openTestStore(t, url)
	defer log.Close()
	var err error
	first = 1
	if tr, ok := log.(stores.Truncater); ok {
		if first, err = tr.First(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if head, err = log.Head(ctx); err != nil {
		t.Fatal(err)
	}
	err = stores.ReadAll(ctx, log, first, 1000, func(ev events.Event) error { evs = append(evs, ev); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return evs, first, head
}

// stateAt replays the store at url to position (0: its head).
func stateAt(t *testing.T, url string, position uint64) *projections.State {
	t.Helper()
	log := openTestStore(t, url)
	defer log.Close()
	st, err := engine.Replay(context.Background(), log, position)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// foldedAt folds the store at url from its events (from its first
// checkpoint, once compacted), not from a snapshot.
func foldedAt(t *testing.T, url string) *projections.State {
	t.Helper()
	ctx := context.Background()
	log := openTestStore(t, url)
	defer log.Close()
	head, err := log.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p, err := audit.Replay(ctx, log, audit.Until{Position: head}, audit.ReplayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p.State
}

func snapshotOf(t *testing.T, st *projections.State) []byte {
	t.Helper()
	b, err := st.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readArchive decodes a JSON Lines archive file.
func readArchive(t *testing.T, paths ...string) []events.Event {
	t.Helper()
	var out []events.Event
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		dec := eventjson.NewDecoder(f)
		for {
			ev, err := dec.Decode()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			out = append(out, ev)
		}
		f.Close()
	}
	return out
}

// checkEveryEventOnce checks that the archive holds #1..#n-1 once each, in
// order, and that with the log they hold every position up to head, where
// the two overlap (a store that removes whole segments) with the same event.
func checkEveryEventOnce(t *testing.T, archived, logged []events.Event, head uint64) {
	t.Helper()
	byPos := map[uint64]events.Event{}
	for i, ev := range archived {
		if ev.Position != uint64(i+1) {
			t.Fatalf("archive record %d is #%d, want #%d (every event once, in order)", i, ev.Position, i+1)
		}
		byPos[ev.Position] = ev
	}
	for _, ev := range logged {
		if a, ok := byPos[ev.Position]; ok && a.ID != ev.ID {
			t.Fatalf("#%d is one event in the archive and another in the log", ev.Position)
		}
		byPos[ev.Position] = ev
	}
	for p := uint64(1); p <= head; p++ {
		if _, ok := byPos[p]; !ok {
			t.Fatalf("#%d is in neither the archive nor the log", p)
		}
	}
}

// summaryJSON runs "omniqd replay --json" on url.
func summaryJSON(t *testing.T, url string) audit.Summary {
	t.Helper()
	code, out, errOut := auditRun(t, nil, "replay", "--store", url, "--json")
	if code != 0 {
		t.Fatalf("replay: exit %d\n%s", code, errOut)
	}
	var s audit.Summary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return s
}

// liveCounts is a summary's task counts by queue for states that have not
// ended.
func liveCounts(s audit.Summary) map[string]map[string]int {
	out := map[string]map[string]int{}
	for q, counts := range s.Queues {
		for st, n := range counts {
			if st == "waiting" || st == "pending" || st == "running" {
				if out[q] == nil {
					out[q] = map[string]int{}
				}
				out[q][st] = n
			}
		}
	}
	return out
}

func TestE2ECompact(t *testing.T) {
	for _, scheme := range []string{"pebble", "file"} {
		t.Run(scheme, func(t *testing.T) {
			dir := t.TempDir()
			url := scheme + "://" + filepath.Join(dir, "store")
			archive := filepath.Join(dir, "archive.jsonl")
			var checkpoints []uint64
			for round := 0; round < 2; round++ {
				compactHistory(t, url, round)
				_, _, headBefore := readLog(t, url)
				before := stateAt(t, url, 0)
				summaryBefore := summaryJSON(t, url)

				code, out, errOut := auditRun(t, nil, "compact", "--store", url, "--before", "1h", "--archive", archive, "--json")
				if code != 0 {
					t.Fatalf("compact: exit %d\n%s%s", code, out, errOut)
				}
				var rep compactReport
				if err := json.Unmarshal([]byte(out), &rep); err != nil {
					t.Fatalf("%v\n%s", err, out)
				}
				// The compacting engine appended the checkpoint and nothing
				// else (no timer was due).
				if rep.Checkpoint != headBefore+1 || rep.Dropped != 40 || rep.Archive != archive || rep.Head != rep.Checkpoint {
					t.Fatalf("round %d: report %+v (head before %d)", round, rep, headBefore)
				}
				checkpoints = append(checkpoints, rep.Checkpoint)

				// The checkpoint names the archive, and its state is the
				// state before less the tasks that ended before its Before.
				logged, first, head := readLog(t, url)
				if first != rep.First || head != rep.Head {
					t.Fatalf("log holds #%d..#%d, report says #%d..#%d", first, head, rep.First, rep.Head)
				}
				cpEv := logged[len(logged)-1]
				cp, ok := cpEv.Payload.(*events.LogCheckpoint)
				if !ok || cpEv.Position != rep.Checkpoint || cp.Archive != archive || cp.Dropped != 40 {
					t.Fatalf("last event %s at #%d %+v, want the checkpoint naming %s", cpEv.Type(), cpEv.Position, cpEv.Payload, archive)
				}
				if age := time.Since(cp.Before.Time()); age < time.Hour || age > time.Hour+time.Minute {
					t.Fatalf("checkpoint before %v, want an hour ago", cp.Before.Time())
				}
				want, dropped, err := before.CompactedSnapshot(cp.Before)
				if err != nil || dropped != 40 || !bytes.Equal(want, cp.State) {
					t.Fatalf("the checkpoint's state is not the state before, compacted (dropped %d, %v)", dropped, err)
				}
				// Replayed after compaction: the state before, less the
				// dropped tasks, byte for byte.
				fromCheckpoint := projections.New()
				if err := fromCheckpoint.Apply(cpEv); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(snapshotOf(t, foldedAt(t, url)), snapshotOf(t, fromCheckpoint)) {
					t.Fatal("the compacted store replays to another state than the one before it, compacted")
				}
				summaryAfter := summaryJSON(t, url)
				if a, b := fmt.Sprint(liveCounts(summaryBefore)), fmt.Sprint(liveCounts(summaryAfter)); a != b {
					t.Fatalf("live tasks changed:\nbefore %s\nafter  %s", a, b)
				}
				if summaryAfter.Queues["default"]["completed"] != 4*(round+1) || summaryAfter.Queues["default"]["failed"] != round+1 {
					t.Fatalf("after compaction %v, want only the recent ended tasks", summaryAfter.Queues)
				}

				// Every event once between the archive and the log.
				checkEveryEventOnce(t, readArchive(t, archive), logged, head)
				if scheme == "file" && rep.Kept == 0 {
					t.Error("the file store removed exactly the archived events: its segments are 64 MiB")
				}
				if code, out, errOut := auditRun(t, nil, "verify", "--store", url, "--strict"); code != 0 || !strings.Contains(out, "OK: no breach") {
					t.Fatalf("verify after compaction: exit %d\n%s%s", code, out, errOut)
				}
			}
			if len(checkpoints) != 2 {
				t.Fatal(checkpoints)
			}

			// The archive followed by the store's export is the whole
			// history: it imports, verifies, and replays to the same state.
			code, exported, errOut := auditRun(t, nil, "export", "--store", url)
			if code != 0 {
				t.Fatalf("export: exit %d\n%s", code, errOut)
			}
			archived, err := os.ReadFile(archive)
			if err != nil {
				t.Fatal(err)
			}
			whole := "sqlite://" + filepath.Join(dir, "whole.db")
			if code, out, errOut := auditRun(t, append(archived, exported...), "import", "--store", whole); code != 0 {
				t.Fatalf("import archive + export: exit %d\n%s%s", code, out, errOut)
			}
			if code, out, errOut := auditRun(t, nil, "verify", "--store", whole, "--strict"); code != 0 || !strings.Contains(out, "checkpoints: 2") {
				t.Fatalf("verify the whole history: exit %d\n%s%s", code, out, errOut)
			}
			if !bytes.Equal(rebuiltAt(t, url), rebuiltAt(t, whole)) {
				t.Fatal("the whole history replays to another state than the compacted store")
			}
		})
	}
}

func TestE2ECompactRefusals(t *testing.T) {
	dir := t.TempDir()
	url := "pebble://" + filepath.Join(dir, "store")
	compactHistory(t, url, 0)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no --before", []string{"--store", url, "--archive", filepath.Join(dir, "a.jsonl")}, "required"},
		{"no --archive", []string{"--store", url, "--before", "1h"}, "required"},
		{"bad --before", []string{"--store", url, "--before", "soon", "--archive", filepath.Join(dir, "a.jsonl")}, "duration"},
		{"negative --before", []string{"--store", url, "--before", "-1h", "--archive", filepath.Join(dir, "a.jsonl")}, "negative"},
		{"archive is the store", []string{"--store", url, "--before", "1h", "--archive", url + "/"}, "names the store"},
		{"no store there", []string{"--store", "pebble://" + filepath.Join(dir, "nope"), "--before", "1h", "--archive", filepath.Join(dir, "a.jsonl")}, "does not exist"},
		{"archive is not an archive", []string{"--store", url, "--before", "1h", "--archive", writeFile(t, dir, "junk.jsonl", "hello\n")}, "not an event record"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, headBefore := readLog(t, url)
			code, _, errOut := auditRun(t, nil, append([]string{"compact"}, tc.args...)...)
			if code == 0 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q, want it to say %q", code, errOut, tc.want)
			}
			if _, _, head := readLog(t, url); head != headBefore {
				t.Fatalf("a refused compaction moved the head %d -> %d", headBefore, head)
			}
		})
	}

	t.Run("locked by a running daemon", func(t *testing.T) {
		srv := startOmniqd(t, nil, "--store", url)
		code, _, errOut := auditRun(t, nil, "compact", "--store", url, "--before", "1h", "--archive", filepath.Join(dir, "a.jsonl"))
		if code != 1 || !strings.Contains(errOut, "locked") || !strings.Contains(errOut, "--compact-every") {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
		if _, err := os.Stat(filepath.Join(dir, "a.jsonl")); !errors.Is(err, os.ErrNotExist) {
			t.Error("a refused compaction created its archive")
		}
		_ = srv.cmd.Process.Signal(os.Interrupt)
		srv.waitExit(30 * time.Second)
	})
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// A store archive holds the log's prefix at the same positions, over two
// compactions.
func TestE2ECompactToAStore(t *testing.T) {
	dir := t.TempDir()
	url := "pebble://" + filepath.Join(dir, "store")
	archive := "sqlite://" + filepath.Join(dir, "archive.db")
	var last compactReport
	for round := 0; round < 2; round++ {
		compactHistory(t, url, round)
		code, out, errOut := auditRun(t, nil, "compact", "--store", url, "--before", "1h", "--archive", archive, "--json")
		if code != 0 {
			t.Fatalf("compact: exit %d\n%s%s", code, out, errOut)
		}
		if err := json.Unmarshal([]byte(out), &last); err != nil || last.Archive != archive || last.Written != last.Archived {
			t.Fatalf("report %+v, %v", last, err)
		}
	}
	archived, _, head := readLog(t, archive)
	if head != last.Checkpoint-1 || uint64(len(archived)) != head {
		t.Fatalf("the archive store holds %d events up to #%d, want #1..#%d", len(archived), head, last.Checkpoint-1)
	}
	logged, _, logHead := readLog(t, url)
	checkEveryEventOnce(t, archived, logged, logHead)
	if code, out, errOut := auditRun(t, nil, "verify", "--store", archive, "--strict"); code != 0 {
		t.Fatalf("verify the archive store: exit %d\n%s%s", code, out, errOut)
	}
	// Text output.
	compactHistory(t, url, 2)
	code, out, errOut := auditRun(t, nil, "compact", "--store", url, "--before", "1h", "--archive", archive)
	if code != 0 || !strings.Contains(out, "log.checkpoint at #") || !strings.Contains(out, "dropped: 40 tasks") || !strings.Contains(out, archive) {
		t.Fatalf("compact: exit %d\n%s%s", code, out, errOut)
	}
}

// The daemon compacts on a timer: under a steady load the events the log
// holds stay bounded while the head grows, and afterwards the archive files
// and the log hold every event once and the store verifies.
func TestE2ECompactEveryKeepsTheLogFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a load for several seconds")
	}
	dir := t.TempDir()
	url := "pebble://" + filepath.Join(dir, "store")
	archiveDir := filepath.Join(dir, "archive")
	srv := startOmniqd(t, nil, "--store", url, "--compact-every", "250ms", "--compact-before", "0s", "--compact-archive", archiveDir)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()

	worker := srv.client(t)
	_ = worker.Register("f", func(ctx context.Context, task *engine.Task) (any, error) { return task.Args[0], nil })
	workDone := make(chan error, 1)
	go func() { workDone <- worker.Work(ctx, engine.WorkOptions{Concurrency: 8}) }()
	producer := srv.client(t)
	loadDone := make(chan error, 1)
	go func() {
		for i := 0; ctx.Err() == nil; i++ {
			batch := make([]*engine.Task, 20)
			for j := range batch {
				batch[j] = &engine.Task{Func: "f", Args: []any{i*20 + j}}
			}
			if err := producer.EnqueueBatch(ctx, batch); err != nil && ctx.Err() == nil {
				loadDone <- err
				return
			}
			time.Sleep(100 * time.Millisecond) // 200 tasks/s: a load the workers keep up with
		}
		loadDone <- nil
	}()

	metric := func(name string) uint64 {
		v, err := strconv.ParseFloat(metricValue(t, srv.url, name), 64)
		if err != nil {
			t.Fatalf("metric %s: %v", name, err)
		}
		return uint64(v)
	}
	type sample struct{ head, held uint64 }
	var samples []sample
	for i := 0; i < 32; i++ {
		time.Sleep(250 * time.Millisecond)
		head, first := metric("omniq_log_position"), metric("omniq_log_first_position")
		samples = append(samples, sample{head, head - min(first, head+1) + 1})
	}
	stats, err := producer.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	if err := <-loadDone; err != nil {
		t.Fatalf("load: %v", err)
	}
	// A steady load: the workers kept up, so the live state stayed small
	// and only the ended tasks, which compaction drops, came and went.
	if backlog := stats.Queues["default"][engine.StatePending]; backlog > 500 {
		t.Fatalf("the workers fell behind (%d tasks pending): not a steady load", backlog)
	}
	<-workDone
	runs := metric("omniq_compactions_total")
	_ = srv.cmd.Process.Signal(os.Interrupt)
	if code := srv.waitExit(30 * time.Second); code != 0 {
		t.Fatalf("omniqd exited %d\n%s", code, srv.log())
	}

	// The first second warms up; then compare the two halves. A single
	// compaction held back by the load (it waits for a quiet moment) shows
	// as one high sample, so means are compared, and the peak is bounded
	// by a fraction of what was appended.
	steady := samples[4:]
	half := len(steady) / 2
	mean := func(ss []sample) float64 {
		var sum uint64
		for _, s := range ss {
			sum += s.held
		}
		return float64(sum) / float64(len(ss))
	}
	var peak uint64
	for _, s := range steady {
		peak = max(peak, s.held)
	}
	early, late := mean(steady[:half]), mean(steady[half:])
	end := samples[len(samples)-1]
	t.Logf("head %d after %d compactions; events held: mean %.0f in the first half, %.0f in the second, peak %d", end.head, runs, early, late, peak)
	if runs < 5 {
		t.Fatalf("only %d compactions ran\n%s", runs, srv.log())
	}
	if end.head < 3*peak {
		t.Fatalf("the load appended %d events; too few to show the log staying flat (it held up to %d)", end.head, peak)
	}
	if late > 2*early+300 {
		t.Fatalf("the log grew: it held %.0f events on average early and %.0f late (head %d); samples %v", early, late, end.head, samples)
	}

	// Every event once across the archive files, in name order, and the log.
	files, _ := filepath.Glob(filepath.Join(archiveDir, "omniq-*.jsonl"))
	sort.Strings(files)
	if len(files) < int(runs) {
		t.Fatalf("%d archive files for %d compactions", len(files), runs)
	}
	logged, _, head := readLog(t, url)
	checkEveryEventOnce(t, readArchive(t, files...), logged, head)
	for _, ev := range logged {
		if cp, ok := ev.Payload.(*events.LogCheckpoint); ok {
			if _, err := os.Stat(cp.Archive); err != nil || filepath.Dir(cp.Archive) != archiveDir {
				t.Fatalf("checkpoint #%d names %q: %v", ev.Position, cp.Archive, err)
			}
		}
	}
	if code, out, errOut := auditRun(t, nil, "verify", "--store", url, "--strict"); code != 0 {
		t.Fatalf("verify: exit %d\n%s%s", code, out, errOut)
	}
}

func TestCompactFlags(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		cfg  serveConfig
		want string
	}{
		{"every without archive", serveConfig{CompactEvery: time.Minute}, "needs --compact-archive"},
		{"archive without every", serveConfig{CompactArchive: dir}, "needs --compact-every"},
		{"negative every", serveConfig{CompactEvery: -time.Minute, CompactArchive: dir}, "negative"},
		{"negative before", serveConfig{CompactEvery: time.Minute, CompactBefore: -time.Hour, CompactArchive: dir}, "negative"},
		{"archive is a file", serveConfig{CompactEvery: time.Minute, CompactArchive: writeFile(t, dir, "f", "x")}, "--compact-archive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Listen = "127.0.0.1:0"
			if _, err := startDaemon(context.Background(), tc.cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to say %q", err, tc.want)
			}
		})
	}
}

// One run of the daemon's compaction: a file per run that found something
// new, each starting after the last, and none when nothing was appended.
func TestDaemonCompactsIntoAFileSeries(t *testing.T) {
	archiveDir := filepath.Join(t.TempDir(), "archive")
	td := newTestDaemon(t, serveConfig{CompactEvery: time.Hour, CompactBefore: 0, CompactArchive: archiveDir})
	ctx := context.Background()
	c := td.compactor
	files := func() []string {
		f, _ := filepath.Glob(filepath.Join(archiveDir, "omniq-*.jsonl"))
		sort.Strings(f)
		return f
	}
	for round := 0; round < 3; round++ {
		td.enqueue(fmt.Sprintf(`{"id":"t%d","func":"f"}`, round))
		td.want(td.call("POST", "/v1/queues/default/dequeue", ""), 200, nil)
		td.want(td.call("POST", fmt.Sprintf("/v1/tasks/t%d/complete", round), `{"attempt":1}`), 200, nil)
		ran, err := c.once(ctx)
		if err != nil || !ran {
			t.Fatalf("round %d: ran %v, %v", round, ran, err)
		}
		if ran, err := c.once(ctx); err != nil || ran {
			t.Fatalf("round %d, nothing new: ran %v, %v", round, ran, err)
		}
		if got := len(files()); got != round+1 {
			t.Fatalf("round %d: %d archive files", round, got)
		}
		td.want(td.call("GET", fmt.Sprintf("/v1/tasks/t%d", round), ""), 404, nil)
	}
	head := td.head()
	archived := readArchive(t, files()...)
	var evs []events.Event
	if err := stores.ReadAll(ctx, td.log, 1, 100, func(ev events.Event) error { evs = append(evs, ev); return nil }); err != nil {
		t.Fatal(err)
	}
	checkEveryEventOnce(t, archived, evs, head)
	m := td.call("GET", "/metrics", "").Body.String()
	for _, want := range []string{"omniq_compactions_total 3", "omniq_compaction_dropped_total 3", "omniq_compaction_errors_total 0"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
