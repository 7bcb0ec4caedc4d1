package engine_test

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/engine/archive"
	"github.com/omniq/omniq/engine/audit"
	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/projections"
	"github.com/omniq/omniq/stores"
)

// TestRetentionArchivesWhatEndedBeforeTheCutOff: retention removes from the
// live state and the log exactly the tasks that ended more than Age ago,
// archives their events, answers ErrArchived (and ErrNotFound) for them,
// gives their history back from the archive, keeps everything else, and the
// live state equals the fold of the archive followed by the log, before and
// after a restart.
func TestRetentionArchivesWhatEndedBeforeTheCutOff(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		dir := filepath.Join(t.TempDir(), "archive")
		ar, err := archive.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		const age = time.Hour
		f := newFixture(t, sc, engine.WithRetention(engine.Retention{Age: age, Archive: ar}))
		if _, ok := f.log.(stores.Truncater); !ok {
			t.Skipf("%s does not implement stores.Truncater: retention is off", sc.name)
		}
		run := func(prefix string, n int) {
			for i := range n {
				f.enqueue(&engine.Task{ID: fmt.Sprintf("%s%d", prefix, i), Func: "f"})
			}
			for range n {
				if err := f.e.Complete(f.ctx, f.dequeue(""), "ok"); err != nil {
					t.Fatal(err)
				}
			}
		}
		run("old", 20)
		f.enqueue(&engine.Task{ID: "waiting", Func: "f", Schedule: &engine.Schedule{RunAt: start.Add(10 * time.Hour)}})
		// Tasks that stay make the state kept larger than one checkpoint
		// event holds: the checkpoint goes in parts.
		big := strings.Repeat("x", 8<<10)
		for i := range 150 {
			f.enqueue(&engine.Task{ID: fmt.Sprintf("big%d", i), Func: "f", Args: []any{big},
				Schedule: &engine.Schedule{RunAt: start.Add(10 * time.Hour)}})
		}
		f.advance(age + time.Minute)
		if res, err := f.e.Retain(f.ctx); err != nil || res.Checkpoint != 0 {
			t.Fatalf("retention before Age×5/4: %+v, %v", res, err)
		}
		run("recent", 5)
		f.advance(age / 4)
		res, err := f.e.Retain(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.Dropped != 20 || res.Archived == 0 || res.Parts < 2 {
			t.Fatalf("retention dropped %d tasks and archived %d events in a checkpoint of %d parts, want 20, some and at least 2",
				res.Dropped, res.Archived, res.Parts)
		}
		// A second compaction archives the first checkpoint, without its
		// state (elided): the checks below fold it from the archive.
		if res2, err := f.e.Compact(f.ctx, f.clock.Now().Add(-age), ar); err != nil || res2.Dropped != 0 || res2.Archived < res.Parts+1 {
			t.Fatalf("second compaction: %+v, %v", res2, err)
		}
		check := func(label string) {
			t.Helper()
			for i := range 20 {
				id := fmt.Sprintf("old%d", i)
				_, err := f.e.GetTask(f.ctx, id)
				if !errors.Is(err, engine.ErrArchived) || !errors.Is(err, engine.ErrNotFound) || !strings.Contains(err.Error(), dir) {
					t.Fatalf("%s: GetTask(%s): %v, want ErrArchived naming %s", label, id, err, dir)
				}
				h, err := f.e.History(f.ctx, id)
				if err != nil || len(h) != 3 {
					t.Fatalf("%s: history of %s: %d events, %v", label, id, len(h), err)
				}
			}
			for _, id := range []string{"recent0", "recent4", "waiting"} {
				if _, err := f.e.GetTask(f.ctx, id); err != nil {
					t.Fatalf("%s: %s: %v", label, id, err)
				}
			}
			if _, err := f.e.GetTask(f.ctx, "never"); !errors.Is(err, engine.ErrNotFound) || errors.Is(err, engine.ErrArchived) {
				t.Fatalf("%s: unknown task: %v", label, err)
			}
			// live == fold(archive, log)
			folded := projections.New()
			apply := func(ev events.Event) error {
				if ev.Position <= folded.Position() {
					return nil // a store that removes whole segments keeps some archived events
				}
				if err := folded.Apply(ev); errors.Is(err, projections.ErrGap) {
					return err
				}
				return nil
			}
			if err := archive.Read(f.ctx, dir, apply); err != nil {
				t.Fatal(err)
			}
			if err := stores.ReadAll(f.ctx, f.log, 1, 512, apply); err != nil {
				t.Fatal(err)
			}
			live, _ := f.e.Snapshot()
			want, _ := folded.Snapshot()
			if !bytes.Equal(live, want) {
				t.Fatalf("%s: live state differs from the fold of archive and log", label)
			}
			// The whole history, archive then log, verifies, and so does
			// the log alone (from its checkpoint).
			j, err := archive.Join(nopClose{f.log}, dir)
			if err != nil {
				t.Fatal(err)
			}
			for name, l := range map[string]stores.Log{"archive and log": j, "log": f.log} {
				rep, err := audit.Verify(f.ctx, l, audit.Options{})
				if err != nil || rep.Err() != nil || rep.Checkpoints == 0 {
					t.Fatalf("%s: verify %s: %v, %v (%d checkpoints)", label, name, err, rep.Err(), rep.Checkpoints)
				}
			}
		}
		check("after retention")
		f.restart()
		check("after restart")
	})
}

// nopClose keeps Close of a joined history from closing the fixture's log.
type nopClose struct{ stores.Log }

func (nopClose) Close() error { return nil }

// TestRetentionSettings: retention is on by default, beside the data when
// the store has a place; KeepEverything turns it off.
func TestRetentionSettings(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		f := newFixture(t, sc)
		st := f.e.RetentionStatus()
		if _, ok := f.log.(stores.Truncater); !ok {
			if st.On {
				t.Fatal("retention on over a log that cannot truncate")
			}
			return
		}
		if !st.On || st.Age != engine.DefaultRetention || st.Every != time.Minute {
			t.Fatalf("default retention: %+v", st)
		}
		want := engine.DefaultArchiveDir
		if p, ok := f.log.(stores.Placed); ok && p.Place() != "" {
			want = p.Place() + ".archive"
		}
		if !strings.HasSuffix(st.Archive, want) {
			t.Fatalf("archive %s, want one ending in %s", st.Archive, want)
		}
		off := newFixture(t, sc, engine.WithRetention(engine.Retention{Age: engine.KeepEverything}))
		if off.e.RetentionStatus().On {
			t.Fatal("KeepEverything left retention on")
		}
		off.enqueue(&engine.Task{ID: "a", Func: "f"})
		if err := off.e.Complete(off.ctx, off.dequeue(""), nil); err != nil {
			t.Fatal(err)
		}
		off.advance(10 * 365 * 24 * time.Hour)
		if res, err := off.e.Retain(off.ctx); err != nil || res.Checkpoint != 0 {
			t.Fatalf("retention off compacted: %+v, %v", res, err)
		}
		if _, err := off.e.GetTask(off.ctx, "a"); err != nil {
			t.Fatal(err)
		}
	})
}
