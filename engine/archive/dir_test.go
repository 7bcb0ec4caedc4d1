package archive

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/memory"
)

var t0 = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// history returns n events at positions 1..n, naming tasks t0..t(n/3).
func history(n int) []events.Event {
	evs := make([]events.Event, n)
	for i := range evs {
		evs[i] = events.New(fmt.Sprintf("t%d", i/3), t0.Add(time.Duration(i)*time.Second), &events.TaskEnqueued{Spec: events.TaskSpec{Func: "f", Args: []any{int64(i)}}})
		evs[i].Position = uint64(i + 1)
	}
	return evs
}

// TestDirWritesLooksUpAndJoins: two compactions' file pairs (the second
// handed some events again, as by a store that keeps whole segments) are
// found by id, give each task's history back, and joined with the log give
// every event once, in order. A torn compaction's stale temporary file is
// removed.
func TestDirWritesLooksUpAndJoins(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "a")
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("Open created the directory: %v", err)
	}
	evs := history(90)
	for _, part := range [][]events.Event{evs[:30], evs[20:60]} {
		if err := d.Write(ctx, part); err != nil {
			t.Fatal(err)
		}
		if err := d.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if d.Last() != 60 {
		t.Fatalf("last %d, want 60", d.Last())
	}
	// A compaction that crashed before its Sync, long enough ago for its
	// temporary file to be stale; the crash released the lock.
	if err := d.Write(ctx, evs[60:62]); err != nil {
		t.Fatal(err)
	}
	d.cur.f.Close()
	old := time.Now().Add(-2 * staleTmp)
	if err := os.Chtimes(d.cur.f.Name(), old, old); err != nil {
		t.Fatal(err)
	}
	d.release()
	d2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := d2.Write(ctx, evs[60:63]); err != nil || d2.Sync(ctx) != nil {
		t.Fatal(err)
	}
	tmps, _ := filepath.Glob(filepath.Join(path, "*"+tmpSuffix))
	if len(tmps) != 0 {
		t.Fatalf("temporary files left: %v", tmps)
	}
	for i, want := range map[int]bool{0: true, 19: true, 20: true, 21: false, 99: false} {
		id := fmt.Sprintf("t%d", i)
		got, err := d2.Contains(ctx, id)
		if err != nil || got != want {
			t.Fatalf("Contains(%s) = %v, %v; want %v", id, got, err, want)
		}
		h, err := d2.History(ctx, id)
		if err != nil || (len(h) == 3) != want {
			t.Fatalf("History(%s): %d events, %v", id, len(h), err)
		}
		for k, ev := range h {
			if ev.TaskID != id || (k > 0 && ev.Position <= h[k-1].Position) {
				t.Fatalf("History(%s): %+v", id, h)
			}
		}
	}
	// The log kept 55.. (a whole segment with archived events) up to 90.
	log := memory.New()
	if _, err := log.Append(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if err := log.TruncateBefore(ctx, 55); err != nil {
		t.Fatal(err)
	}
	j, err := Join(log, path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	var got []events.Event
	if err := stores.ReadAll(ctx, j, 1, 7, func(ev events.Event) error { got = append(got, ev); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 90 {
		t.Fatalf("joined history has %d events, want 90", len(got))
	}
	for i, ev := range got {
		if ev.Position != uint64(i+1) || ev.ID != evs[i].ID {
			t.Fatalf("joined event %d: #%d %s, want #%d %s", i, ev.Position, ev.ID, i+1, evs[i].ID)
		}
	}
	// A read in the middle of a file, out of order.
	mid, err := j.Read(ctx, 45, 2)
	if err != nil || len(mid) != 2 || mid[0].Position != 45 {
		t.Fatalf("read at 45: %+v, %v", mid, err)
	}
}

// positions returns the positions of evs.
func positions(evs []events.Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, ev := range evs {
		out[i] = ev.Position
	}
	return out
}

// seq returns the positions from..to.
func seq(from, to uint64) []uint64 {
	var out []uint64
	for p := from; p <= to; p++ {
		out = append(out, p)
	}
	return out
}

// readBack reads directory path with Read and, joined with a log that holds
// evs from the archive's last event on, with Join; both must give the
// events of evs at positions want, in order, with their IDs.
func readBack(t *testing.T, path string, evs []events.Event, want []uint64) {
	t.Helper()
	ctx := context.Background()
	var got []events.Event
	if err := Read(ctx, path, func(ev events.Event) error { got = append(got, ev); return nil }); err != nil {
		t.Fatalf("Read: %v", err)
	}
	if !slices.Equal(positions(got), want) {
		t.Fatalf("Read gives %v, want %v", positions(got), want)
	}
	for _, ev := range got {
		if ev.ID != evs[ev.Position-1].ID {
			t.Fatalf("Read: #%d is %s, want %s", ev.Position, ev.ID, evs[ev.Position-1].ID)
		}
	}
	last := want[len(want)-1]
	log := memory.New()
	if _, err := log.Append(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if err := log.TruncateBefore(ctx, last+1); err != nil {
		t.Fatal(err)
	}
	j, err := Join(log, path)
	if err != nil {
		t.Fatalf("Join: %v", err)
	}
	defer j.Close()
	got = got[:0]
	if err := stores.ReadAll(ctx, j, 1, 4, func(ev events.Event) error { got = append(got, ev); return nil }); err != nil {
		t.Fatalf("joined read: %v", err)
	}
	if !slices.Equal(positions(got), seq(1, uint64(len(evs)))) {
		t.Fatalf("joined read gives %v, want 1..%d", positions(got), len(evs))
	}
	for _, ev := range got {
		if ev.ID != evs[ev.Position-1].ID {
			t.Fatalf("joined read: #%d is %s, want %s", ev.Position, ev.ID, evs[ev.Position-1].ID)
		}
	}
}

// committed returns the spans of the committed files in path, in order.
func committed(t *testing.T, path string) []span {
	t.Helper()
	d, err := open(path)
	if err != nil {
		t.Fatal(err)
	}
	return d.files
}

// archiveRange writes evs[from-1:to] through d in pages of 7, then syncs.
func archiveRange(ctx context.Context, d *Dir, evs []events.Event, from, to uint64) error {
	part := evs[from-1 : to]
	for len(part) > 0 {
		n := min(7, len(part))
		if err := d.Write(ctx, part[:n]); err != nil {
			return err
		}
		part = part[n:]
	}
	return d.Sync(ctx)
}

// TestDirsShareDirectoryInSequence: two Dir values on one directory, as two
// processes compacting one shared log have, each opened before the other
// wrote. Each compaction skips what the other archived meanwhile, so the
// files do not overlap and every position is archived once.
func TestDirsShareDirectoryInSequence(t *testing.T) {
	// A Write waiting for a lock never released fails the test instead of
	// hanging it.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	path := filepath.Join(t.TempDir(), "a")
	a, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	evs := history(80)
	steps := []struct {
		d        *Dir
		from, to uint64
	}{{a, 1, 30}, {b, 1, 50}, {a, 20, 60}, {b, 40, 60}, {a, 55, 70}}
	for _, st := range steps {
		if err := archiveRange(ctx, st.d, evs, st.from, st.to); err != nil {
			t.Fatal(err)
		}
	}
	want := []span{{1, 30}, {31, 50}, {51, 60}, {61, 70}}
	if got := committed(t, path); !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	if a.Last() != 70 || b.Last() != 70 {
		t.Fatalf("last %d and %d, want 70", a.Last(), b.Last())
	}
	// b looks up what only a archived (its directory changed since).
	if ok, err := b.Contains(ctx, "t22"); !ok || err != nil {
		t.Fatalf("b.Contains(t22) = %v, %v", ok, err)
	}
	if h, err := b.History(ctx, "t20"); err != nil || !slices.Equal(positions(h), []uint64{61, 62, 63}) {
		t.Fatalf("b.History(t20) = %v, %v", positions(h), err)
	}
	readBack(t, path, evs, seq(1, 70))
	if tmps, _ := filepath.Glob(filepath.Join(path, "*"+tmpSuffix)); len(tmps) != 0 {
		t.Fatalf("temporary files left: %v", tmps)
	}
}

// TestDirsShareDirectoryConcurrently: several Dir values on one directory
// archive overlapping ranges at once; the files they commit do not overlap
// and the directory reads back every position once.
func TestDirsShareDirectoryConcurrently(t *testing.T) {
	// A Write waiting for a lock never released fails the test instead of
	// hanging it.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	path := filepath.Join(t.TempDir(), "a")
	const writers, rounds, step = 4, 6, 20
	evs := history(writers * rounds * step)
	var wg sync.WaitGroup
	var truncated atomic.Uint64 // the shared log's first position: all before it is archived
	truncated.Store(1)
	errs := make(chan error, writers)
	for w := range writers {
		d, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each compaction archives from 1 (as a store that removed
			// nothing yet would hand it) or from a point before the
			// shared log's first position, up to a point of its own.
			for r := range rounds {
				to := uint64((r*writers + w + 1) * step)
				from := uint64(1)
				if r%2 == 1 {
					from = max(1, min(to, truncated.Load())/2)
				}
				if err := archiveRange(ctx, d, evs, from, to); err != nil {
					errs <- err
					return
				}
				for {
					if t := truncated.Load(); t > to || truncated.CompareAndSwap(t, to+1) {
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	files := committed(t, path)
	for i, s := range files {
		if i > 0 && s.first <= files[i-1].last {
			t.Fatalf("files overlap: %v", files)
		}
	}
	if len(files) == 0 || files[0].first != 1 || files[len(files)-1].last != uint64(len(evs)) {
		t.Fatalf("files %v, want 1..%d", files, len(evs))
	}
	readBack(t, path, evs, seq(1, uint64(len(evs))))
}

// TestDirLockHeldFromWriteToSync: a compaction holds the directory from its
// first Write to its Sync; another Dir's Write waits for it. The lock is
// released by a Sync with nothing written, by a failed Write, and after
// idleLimit without a Write, which the abandoned compaction then hears of.
func TestDirLockHeldFromWriteToSync(t *testing.T) {
	// A Write waiting for a lock never released fails the test instead of
	// hanging it.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	path := filepath.Join(t.TempDir(), "a")
	a, _ := Open(path)
	b, _ := Open(path)
	evs := history(40)
	blocked := func(d *Dir, from int) bool {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		err := d.Write(c, evs[from:from+1])
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatal(err)
		}
		return err != nil
	}
	if err := a.Write(ctx, evs[:10]); err != nil {
		t.Fatal(err)
	}
	if !blocked(b, 0) {
		t.Fatal("b wrote while a held the directory")
	}
	if err := a.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	// b's compaction: everything it is handed is archived already.
	if blocked(b, 5) || b.cur != nil {
		t.Fatal("b could not take the directory after a's Sync, or wrote an archived event")
	}
	if !blocked(a, 10) {
		t.Fatal("a wrote while b held the directory")
	}
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	// A Write that fails releases the directory and removes its file.
	if err := a.Write(ctx, []events.Event{evs[10], evs[12]}); err == nil {
		t.Fatal("a gap inside a compaction was accepted")
	}
	if blocked(b, 10) {
		t.Fatal("a failed Write kept the directory")
	}
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	// A compaction idle for idleLimit is abandoned.
	defer func(l time.Duration) { idleLimit = l }(idleLimit)
	idleLimit = 100 * time.Millisecond
	if err := a.Write(ctx, evs[11:20]); err != nil {
		t.Fatal(err)
	}
	if err := b.Write(ctx, evs[11:15]); err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Sync(ctx); err == nil {
		t.Fatal("an abandoned compaction synced")
	}
	want := []span{{1, 10}, {11, 11}, {12, 15}}
	if got := committed(t, path); !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	if tmps, _ := filepath.Glob(filepath.Join(path, "*"+tmpSuffix)); len(tmps) != 0 {
		t.Fatalf("temporary files left: %v", tmps)
	}
}

// TestStaleTmpRemovedAtOpen: Open removes a crashed writer's temporary
// files once they are stale, keeps fresh ones, and removes nothing while a
// writer holds the directory.
func TestStaleTmpRemovedAtOpen(t *testing.T) {
	// A Write waiting for a lock never released fails the test instead of
	// hanging it.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	path := t.TempDir()
	old := time.Now().Add(-staleTmp - time.Minute)
	stale := filepath.Join(path, filePrefix+"00000000000000000001.jsonl.gz.41-0a0b0c0d0e0f.tmp")
	legacy := filepath.Join(path, filePrefix+"00000000000000000001.jsonl.gz.tmp") // before names were unique
	fresh := filepath.Join(path, filePrefix+"00000000000000000001.jsonl.gz.42-0a0b0c0d0e0f.tmp")
	// A writer at work: nothing is removed.
	w, _ := Open(path)
	if err := w.Write(ctx, history(3)); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{stale, legacy, fresh} {
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{stale, legacy} {
		if err := os.Chtimes(f, old, old); err != nil {
			t.Fatal(err)
		}
	}
	exists := func(f string) bool { _, err := os.Stat(f); return err == nil }
	live, _ := filepath.Glob(filepath.Join(path, "*.jsonl.gz."+strconv.Itoa(os.Getpid())+"-*"+tmpSuffix))
	if len(live) != 1 {
		t.Fatalf("the writer's temporary files: %v", live)
	}
	if err := os.Chtimes(live[0], old, old); err != nil { // a slow writer: its file is old
		t.Fatal(err)
	}
	if _, err := Open(path); err != nil {
		t.Fatal(err)
	}
	if !exists(stale) || !exists(legacy) || !exists(fresh) || !exists(live[0]) {
		t.Fatal("Open removed temporary files while a writer held the directory")
	}
	if err := w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := committed(t, path); !slices.Equal(got, []span{{1, 3}}) {
		t.Fatalf("files %v", got)
	}
	if _, err := Open(path); err != nil {
		t.Fatal(err)
	}
	if exists(stale) || exists(legacy) {
		t.Fatal("Open kept a stale temporary file")
	}
	if !exists(fresh) {
		t.Fatal("Open removed a fresh temporary file")
	}
}

// pairs writes evs[from-1:to] as one file pair in a directory of its own
// and copies the pair into dir, as a hand-made merge of archives does.
func pairs(t *testing.T, dir string, evs []events.Event, from, to uint64) {
	t.Helper()
	src := t.TempDir()
	d, _ := Open(src)
	if err := archiveRange(context.Background(), d, evs, from, to); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{dataSuffix, idsSuffix} {
		name := span{from, to}.name(suffix)
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOverlappingFilesReadOnce: a directory with files 1-10 and 5-15 (and
// 3-4 and 12-13, inside them) reads back 1..15 once each, through Read, Join,
// History, Contains and Last; a further write goes on after 15.
func TestOverlappingFilesReadOnce(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir()
	evs := history(25)
	pairs(t, path, evs, 1, 10)
	pairs(t, path, evs, 5, 15)
	pairs(t, path, evs, 3, 4)
	pairs(t, path, evs, 12, 13)
	readBack(t, path, evs, seq(1, 15))
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if d.Last() != 15 {
		t.Fatalf("last %d, want 15", d.Last())
	}
	// t1 is at 4..6 (in files 1-10 and, for 4, 3-4; 5 and 6 in 5-15 too),
	// t3 at 10..12 (10 and 12 in two files), t4 at 13..15 (13 in two).
	for id, want := range map[string][]uint64{"t1": {4, 5, 6}, "t3": {10, 11, 12}, "t4": {13, 14, 15}, "t0": {1, 2, 3}, "t5": nil} {
		h, err := d.History(ctx, id)
		if err != nil || !slices.Equal(positions(h), want) {
			t.Fatalf("History(%s) = %v, %v; want %v", id, positions(h), err, want)
		}
		for _, ev := range h {
			if ev.ID != evs[ev.Position-1].ID {
				t.Fatalf("History(%s): #%d is %s", id, ev.Position, ev.ID)
			}
		}
		if ok, err := d.Contains(ctx, id); err != nil || ok != (want != nil) {
			t.Fatalf("Contains(%s) = %v, %v", id, ok, err)
		}
	}
	// Reads out of order, from the middle of the overlap and after it.
	log := memory.New()
	if _, err := log.Append(ctx, evs); err != nil {
		t.Fatal(err)
	}
	j, err := Join(log, path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for _, r := range []struct{ from, n int }{{12, 2}, {7, 5}, {3, 3}, {14, 2}, {9, 7}, {16, 3}, {1, 15}} {
		got, err := j.Read(ctx, uint64(r.from), r.n)
		if err != nil || !slices.Equal(positions(got), seq(uint64(r.from), uint64(r.from+r.n-1))) {
			t.Fatalf("joined read of %d at #%d: %v, %v", r.n, r.from, positions(got), err)
		}
	}
	// The next compaction goes on after the overlap.
	if err := archiveRange(ctx, d, evs, 1, 20); err != nil {
		t.Fatal(err)
	}
	if got := committed(t, path); !slices.Equal(got, []span{{1, 10}, {3, 4}, {5, 15}, {12, 13}, {16, 20}}) {
		t.Fatalf("files %v", got)
	}
	readBack(t, path, evs, seq(1, 20))
}

// TestOverlapThatDisagreesIsCorrupt: files that hold different events at a
// position are corrupt; a gap between files is read over by Read and
// refused by Join, as before files could overlap.
func TestOverlapThatDisagreesIsCorrupt(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir()
	evs, other := history(20), history(20)
	pairs(t, path, evs, 1, 10)
	pairs(t, path, other, 8, 12)
	err := Read(ctx, path, func(events.Event) error { return nil })
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Read of disagreeing files: %v", err)
	}
	d, _ := Open(path)
	if _, err := d.History(ctx, "t2"); !errors.Is(err, ErrCorrupt) { // #7..9
		t.Fatalf("History of disagreeing files: %v", err)
	}
	gap := t.TempDir()
	pairs(t, gap, evs, 1, 10)
	pairs(t, gap, evs, 12, 15)
	var got []uint64
	if err := Read(ctx, gap, func(ev events.Event) error { got = append(got, ev.Position); return nil }); err != nil {
		t.Fatal(err)
	}
	if want := append(seq(1, 10), seq(12, 15)...); !slices.Equal(got, want) {
		t.Fatalf("Read over a gap gives %v, want %v", got, want)
	}
	if _, err := Join(memory.New(), gap); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Join over a gap: %v", err)
	}
}
