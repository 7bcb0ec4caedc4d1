package audit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/engine/audit"
	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/events/eventjson"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/memory"
)

// archivedWork runs one round of work on e: n tasks enqueued, most of them
// leased and ended, then the clock moves on an hour.
func archivedWork(t *testing.T, e *engine.Engine, clock *engine.ManualClock, round, n int) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < n; i++ {
		if err := e.Enqueue(ctx, &engine.Task{ID: fmt.Sprintf("r%d-%d", round, i), Func: "f", Args: []any{strings.Repeat("x", 200)}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n-1; i++ {
		task, err := e.Dequeue(ctx, "")
		if err != nil || task == nil {
			t.Fatal(task, err)
		}
		if i%3 == 0 {
			err = e.Fail(ctx, task, errors.New("no"))
		} else {
			err = e.Complete(ctx, task, int64(i))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(time.Hour)
}

// compactToFile compacts e, leaving out what ended before before, into the
// file archive at path opened with opts, and closes the archive.
func compactToFile(t *testing.T, e *engine.Engine, before time.Time, path string, opts audit.FileArchiveOptions) engine.CompactResult {
	t.Helper()
	arch, err := audit.OpenFileArchive(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer arch.Close()
	res, err := e.Compact(context.Background(), before, arch)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// archivePositions decodes a JSON Lines archive and returns its positions.
func archivePositions(t *testing.T, b []byte) []uint64 {
	t.Helper()
	dec := eventjson.NewDecoder(bytes.NewReader(b))
	var out []uint64
	for {
		ev, err := dec.Decode()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatal(err)
		}
		out = append(out, ev.Position)
	}
}

// wantRun checks that got is exactly from..to.
func wantRun(t *testing.T, what string, got []uint64, from, to uint64) {
	t.Helper()
	if uint64(len(got)) != to-from+1 {
		t.Fatalf("%s holds %d events, want #%d..#%d", what, len(got), from, to)
	}
	for i, p := range got {
		if p != from+uint64(i) {
			t.Fatalf("%s: event %d is #%d, want #%d", what, i, p, from+uint64(i))
		}
	}
}

// Three compactions into one file, on a memory log (exact truncation) and
// on a file store with small segments (whole segments only, so each
// compaction hands archived events to the next again): the file holds every
// event once, and the file followed by the log's export is the whole log.
func TestFileArchiveAcrossCompactions(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(t *testing.T) stores.Log
	}{
		{"memory", func(t *testing.T) stores.Log { return memory.New() }},
		{"file-small-segments", func(t *testing.T) stores.Log { return smallSegments(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			log := tc.open(t)
			e, clock := engineOn(t, log, engine.WithSnapshotEvery(0))
			path := filepath.Join(t.TempDir(), "archive.jsonl")
			var last engine.CompactResult
			keptOld := false
			for round := 0; round < 3; round++ {
				archivedWork(t, e, clock, round, 30)
				arch, err := audit.OpenFileArchive(path, audit.FileArchiveOptions{})
				if err != nil {
					t.Fatal(err)
				}
				res, err := e.Compact(ctx, clock.Now().Add(-time.Minute), arch)
				if err != nil {
					t.Fatal(err)
				}
				if err := arch.Close(); err != nil {
					t.Fatal(err)
				}
				if arch.Last() != res.Checkpoint-1 || res.Archived < arch.Written() {
					t.Fatalf("round %d: archive ends at #%d after writing %d; compaction %+v", round, arch.Last(), arch.Written(), res)
				}
				keptOld = keptOld || res.First < res.Checkpoint
				last = res
			}
			if tc.name == "file-small-segments" && !keptOld {
				t.Fatal("the file store removed exactly the archived events: the test does not exercise repeats")
			}
			archived, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			wantRun(t, "the archive", archivePositions(t, archived), 1, last.Checkpoint-1)
			if lastPos, err := audit.ArchiveLast(path); err != nil || lastPos != last.Checkpoint-1 {
				t.Fatalf("ArchiveLast = %d, %v; want %d", lastPos, err, last.Checkpoint-1)
			}

			whole := memory.New()
			defer whole.Close()
			if _, err := audit.Import(ctx, whole, bytes.NewReader(append(archived, export(t, log)...)), audit.ImportOptions{}); err != nil {
				t.Fatal(err)
			}
			live, _ := e.Snapshot()
			if !bytes.Equal(live, rebuilt(t, whole)) || !bytes.Equal(live, rebuilt(t, log)) {
				t.Fatal("archive + log, or the log, rebuild another state than the live one")
			}
			if rep := verify(t, whole, audit.Options{Strict: true}); !rep.OK() || rep.Checkpoints != 3 {
				t.Fatalf("archive + log:\n%s", describe(rep))
			}
			if rep := verify(t, log, audit.Options{Strict: true}); !rep.OK() {
				t.Fatalf("compacted log:\n%s", describe(rep))
			}
		})
	}
}

// A series of files (as the daemon writes one per compaction), each opened
// after the last one's end, holds every event once across the files.
func TestFileArchiveSeries(t *testing.T) {
	ctx := context.Background()
	log := smallSegments(t)
	e, clock := engineOn(t, log, engine.WithSnapshotEvery(0))
	dir := t.TempDir()
	var after uint64
	var all []byte
	for round := 0; round < 3; round++ {
		archivedWork(t, e, clock, round, 30)
		path := filepath.Join(dir, fmt.Sprintf("%d.jsonl", round))
		res := compactToFile(t, e, clock.Now(), path, audit.FileArchiveOptions{After: after})
		b, _ := os.ReadFile(path)
		wantRun(t, path, archivePositions(t, b), after+1, res.Checkpoint-1)
		all = append(all, b...)
		var err error
		if after, err = audit.ArchiveLast(path); err != nil {
			t.Fatal(err)
		}
	}
	whole := memory.New()
	defer whole.Close()
	if _, err := audit.Import(ctx, whole, bytes.NewReader(append(all, export(t, log)...)), audit.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
}

// A crash before Sync can leave a torn last line: reopening cuts it off and
// the archive goes on from its last whole record.
func TestFileArchiveTornTail(t *testing.T) {
	ctx := context.Background()
	e, clock := engineOn(t, memory.New(), engine.WithSnapshotEvery(0))
	path := filepath.Join(t.TempDir(), "a.jsonl")

	archivedWork(t, e, clock, 0, 5)
	res1 := compactToFile(t, e, clock.Now(), path, audit.FileArchiveOptions{})
	good, _ := os.ReadFile(path)

	// A record without its newline is whole: it is kept.
	if err := os.WriteFile(path, good[:len(good)-1], 0o644); err != nil {
		t.Fatal(err)
	}
	if last, err := audit.ArchiveLast(path); err != nil || last != res1.Checkpoint-1 {
		t.Fatalf("ArchiveLast without the final newline = %d, %v", last, err)
	}
	// Half a record is torn: it is cut.
	torn := append(append([]byte{}, good...), []byte(`{"position":99,"id":"01J`)...)
	if err := os.WriteFile(path, torn, 0o644); err != nil {
		t.Fatal(err)
	}
	archivedWork(t, e, clock, 1, 5)
	arch, err := audit.OpenFileArchive(path, audit.FileArchiveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if arch.Dropped() != 24 || arch.Last() != res1.Checkpoint-1 {
		t.Fatalf("dropped %d bytes, last #%d; want 24 and #%d", arch.Dropped(), arch.Last(), res1.Checkpoint-1)
	}
	res2, err := e.Compact(ctx, clock.Now(), arch)
	if err != nil {
		t.Fatal(err)
	}
	_ = arch.Close()
	b, _ := os.ReadFile(path)
	wantRun(t, "the repaired archive", archivePositions(t, b), 1, res2.Checkpoint-1)

	// A file whose last whole line is not a record is not an archive.
	junk := filepath.Join(t.TempDir(), "junk.jsonl")
	_ = os.WriteFile(junk, []byte("hello\n"), 0o644)
	if _, err := audit.OpenFileArchive(junk, audit.FileArchiveOptions{}); !errors.Is(err, eventjson.ErrSyntax) {
		t.Fatalf("a file that is not an archive: err = %v, want ErrSyntax", err)
	}
}

// An archive of one log refuses another log's events.
func TestArchivesRefuseAnotherLog(t *testing.T) {
	ctx := context.Background()
	newLog := func() (*memory.Log, *engine.Engine, *engine.ManualClock) {
		log := memory.New()
		e, clock := engineOn(t, log, engine.WithSnapshotEvery(0))
		archivedWork(t, e, clock, 0, 5)
		return log, e, clock
	}
	_, a, clockA := newLog()
	_, b, clockB := newLog()

	path := filepath.Join(t.TempDir(), "a.jsonl")
	compactToFile(t, a, clockA.Now(), path, audit.FileArchiveOptions{})
	fb, _ := audit.OpenFileArchive(path, audit.FileArchiveOptions{})
	if _, err := b.Compact(ctx, clockB.Now(), fb); !errors.Is(err, audit.ErrArchiveMismatch) {
		t.Fatalf("file archive of another log: err = %v, want ErrArchiveMismatch", err)
	}
	_ = fb.Close()

	store := memory.New()
	defer store.Close()
	la, _ := audit.NewLogArchive(ctx, store, "memory://a")
	if _, err := a.Compact(ctx, clockA.Now(), la); !errors.Is(err, audit.ErrArchiveMismatch) || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("store archive for a log compacted before: err = %v, want ErrArchiveMismatch (empty archive store)", err)
	}
	lb, _ := audit.NewLogArchive(ctx, store, "memory://a")
	if _, err := b.Compact(ctx, clockB.Now(), lb); err != nil {
		t.Fatal(err)
	}
	archivedWork(t, a, clockA, 1, 5)
	la, _ = audit.NewLogArchive(ctx, store, "memory://a")
	if _, err := a.Compact(ctx, clockA.Now(), la); !errors.Is(err, audit.ErrArchiveMismatch) {
		t.Fatalf("store archive of another log: err = %v, want ErrArchiveMismatch", err)
	}
}

// A store archive holds the log's prefix at the same positions, across
// compactions, also when the log keeps whole segments.
func TestLogArchiveKeepsPositions(t *testing.T) {
	ctx := context.Background()
	log := smallSegments(t)
	e, clock := engineOn(t, log, engine.WithSnapshotEvery(0))
	store := memory.New()
	defer store.Close()
	var res engine.CompactResult
	for round := 0; round < 3; round++ {
		archivedWork(t, e, clock, round, 30)
		arch, err := audit.NewLogArchive(ctx, store, "memory://archive")
		if err != nil {
			t.Fatal(err)
		}
		if res, err = e.Compact(ctx, clock.Now().Add(-time.Minute), arch); err != nil {
			t.Fatal(err)
		}
		if arch.String() != "memory://archive" {
			t.Fatalf("String %q", arch.String())
		}
	}
	if head, _ := store.Head(ctx); head != res.Checkpoint-1 {
		t.Fatalf("archive store head %d, want %d", head, res.Checkpoint-1)
	}
	var evs []events.Event
	if err := stores.ReadAll(ctx, store, 1, 100, func(ev events.Event) error { evs = append(evs, ev); return nil }); err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		orig, err := log.Read(ctx, ev.Position, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(orig) == 1 && orig[0].Position == ev.Position && orig[0].ID != ev.ID {
			t.Fatalf("archive #%d is another event than the log's", ev.Position)
		}
	}
	// The archive store is a log of its own: verify and export work on it,
	// and archive + log import as the whole history.
	if rep := verify(t, store, audit.Options{Strict: true}); !rep.OK() {
		t.Fatalf("the archive store:\n%s", describe(rep))
	}
	whole := memory.New()
	defer whole.Close()
	if _, err := audit.Import(ctx, whole, bytes.NewReader(append(export(t, store), export(t, log)...)), audit.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	live, _ := e.Snapshot()
	if !bytes.Equal(live, rebuilt(t, whole)) {
		t.Fatal("archive store + log rebuild another state than the live one")
	}
}

// Import skips a repeated record that is the same event, and refuses one
// that is another event at the same position.
func TestImportRepeats(t *testing.T) {
	ctx := context.Background()
	src := memory.New()
	e, clock := engineOn(t, src, engine.WithSnapshotEvery(0))
	archivedWork(t, e, clock, 0, 10)
	_ = e.Close()
	lines := bytes.SplitAfter(export(t, src), []byte("\n"))
	lines = lines[:len(lines)-1]
	n := len(lines)
	overlap := append(append([][]byte{}, lines[:n-5]...), lines[n-12:]...) // 7 repeats, some appended already
	target := memory.New()
	defer target.Close()
	got, err := audit.Import(ctx, target, bytes.NewReader(bytes.Join(overlap, nil)), audit.ImportOptions{BatchSize: 4})
	if err != nil || got != uint64(n) {
		t.Fatalf("import with repeats: %d, %v; want %d", got, err, n)
	}
	if !bytes.Equal(rebuilt(t, src), rebuilt(t, target)) {
		t.Fatal("an import with repeats rebuilds another state")
	}

	// Another event at a repeated position.
	other := newRawLog(t)
	other.add("zz", enq(events.TaskSpec{}))
	foreign := export(t, other.log)
	bad := append(bytes.Join(lines[:3], nil), foreign...)
	if _, err := audit.Import(ctx, memory.New(), bytes.NewReader(bad), audit.ImportOptions{}); !errors.Is(err, audit.ErrPositions) {
		t.Fatalf("a repeat that is another event: err = %v, want ErrPositions", err)
	}
}
