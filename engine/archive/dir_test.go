package archive

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
// every event once, in order. A torn compaction's temporary file is removed.
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
	// A compaction that crashed before its Sync.
	if err := d.Write(ctx, evs[60:62]); err != nil {
		t.Fatal(err)
	}
	d.cur.f.Close()
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
