package audit_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/engine/audit"
	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/events/eventjson"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/file"
	"github.com/omniq/omniq/stores/memory"
	"github.com/omniq/omniq/stores/pebble"
	"github.com/omniq/omniq/stores/sqlite"
)

// tb is what both *testing.T and *rapid.T offer.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// rebuilt returns the snapshot of the state rebuilt from log's events.
func rebuilt(t tb, log stores.Log) []byte {
	t.Helper()
	st, err := engine.Replay(context.Background(), log, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := st.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func export(t tb, log stores.Log) []byte {
	t.Helper()
	var buf bytes.Buffer
	head, _ := log.Head(context.Background())
	first := uint64(1)
	if tr, ok := log.(stores.Truncater); ok {
		first, _ = tr.First(context.Background())
	}
	n, err := audit.Export(context.Background(), log, &buf, audit.ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := head - first + 1; n != want || uint64(bytes.Count(buf.Bytes(), []byte("\n"))) != want {
		t.Fatalf("exported %d events in %d lines, want %d (positions %d..%d)", n, bytes.Count(buf.Bytes(), []byte("\n")), want, first, head)
	}
	return buf.Bytes()
}

// roundTrip imports jsonl into target and checks that the target rebuilds
// the same state as source, and exports the same lines.
func roundTrip(t tb, source, target stores.Log, jsonl []byte, batch int) {
	t.Helper()
	n, err := audit.Import(context.Background(), target, bytes.NewReader(jsonl), audit.ImportOptions{BatchSize: batch})
	if err != nil {
		t.Fatal(err)
	}
	if head, _ := source.Head(context.Background()); n != head {
		t.Fatalf("imported %d events, source has %d", n, head)
	}
	if !bytes.Equal(rebuilt(t, source), rebuilt(t, target)) {
		t.Fatal("the target rebuilds another state than the source")
	}
	if again := export(t, target); !bytes.Equal(again, jsonl) {
		t.Fatal("the target exports other lines than the source")
	}
}

// TestExportImportRoundTrip moves engine-written logs memory → memory, and
// the largest of them memory → file → pebble → sqlite: each target rebuilds
// the source's state byte for byte and exports the same lines.
func TestExportImportRoundTrip(t *testing.T) {
	var biggest *memory.Log
	var biggestHead uint64
	rapid.Check(t, func(rt *rapid.T) {
		log := memory.New()
		clock := engine.NewManualClock(start)
		e := openEngine(rt, log, clock)
		workload(rt, e, clock, 120)
		if err := e.Close(); err != nil {
			rt.Fatal(err)
		}
		target := memory.New()
		defer target.Close()
		roundTrip(rt, log, target, export(rt, log), rapid.IntRange(1, 50).Draw(rt, "batch"))
		if head, _ := log.Head(context.Background()); head > biggestHead {
			biggest, biggestHead = log, head
		}
	})
	if biggestHead < 100 {
		t.Fatalf("the largest workload wrote only %d events", biggestHead)
	}
	dir := t.TempDir()
	fl, err := file.Open(filepath.Join(dir, "file"))
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	roundTrip(t, biggest, fl, export(t, biggest), 1000)
	pb, err := pebble.Open(filepath.Join(dir, "pebble"))
	if err != nil {
		t.Fatal(err)
	}
	defer pb.Close()
	roundTrip(t, fl, pb, export(t, fl), 1000)
	sq, err := sqlite.Open(filepath.Join(dir, "log.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer sq.Close()
	roundTrip(t, pb, sq, export(t, pb), 7)
	if rep := verify(t, sq, audit.Options{Strict: true}); !rep.OK() {
		t.Fatalf("the imported log fails verification:\n%s", describe(rep))
	}
}

// batchLog records the last event type of every appended batch.
type batchLog struct {
	stores.Log
	ends []events.Type
}

func (b *batchLog) Append(ctx context.Context, batch []events.Event) (uint64, error) {
	b.ends = append(b.ends, batch[len(batch)-1].Type())
	return b.Log.Append(ctx, batch)
}

func TestImportKeepsFollowUpsInOneBatch(t *testing.T) {
	r := newRawLog(t)
	r.add("t", enq(events.TaskSpec{Retries: 1}))
	r.add("t", lease(1))
	r.at(time.Hour).add("t", &events.TaskLeaseExpired{Attempt: 1}, "t", &events.TaskRetryScheduled{Attempt: 1, Error: "x"})
	r.add("s", &events.ScheduleCreated{Template: events.TaskSpec{Func: "f", Queue: "default"}, Interval: time.Minute})
	r.add("s", &events.ScheduleFired{Instance: "i"}, "i", enq(events.TaskSpec{ScheduleID: "s"}))
	target := &batchLog{Log: memory.New()}
	defer target.Close()
	roundTrip(t, r.log, target, export(t, r.log), 1)
	if len(target.ends) != 5 {
		t.Fatalf("%d batches, want 5 (7 events, two pairs kept together)", len(target.ends))
	}
	for _, ty := range target.ends {
		if ty == events.TypeTaskLeaseExpired || ty == events.TypeScheduleFired {
			t.Fatalf("a batch ends with %s, parted from its follow-up", ty)
		}
	}
}

func TestImportRefusals(t *testing.T) {
	ctx := context.Background()
	r := newRawLog(t)
	r.add("a", enq(events.TaskSpec{}), "b", enq(events.TaskSpec{}), "c", enq(events.TaskSpec{}))
	jsonl := export(t, r.log)

	t.Run("non-empty target", func(t *testing.T) {
		if _, err := audit.Import(ctx, r.log, bytes.NewReader(jsonl), audit.ImportOptions{}); !errors.Is(err, audit.ErrNotEmpty) {
			t.Fatalf("err = %v, want ErrNotEmpty", err)
		}
		if head, _ := r.log.Head(ctx); head != 3 {
			t.Fatalf("the refused import appended: head %d", head)
		}
	})
	t.Run("a snapshot left in the target", func(t *testing.T) {
		target := memory.New()
		defer target.Close()
		if err := target.SaveSnapshot(ctx, 7, []byte("OQS\x01")); err != nil {
			t.Fatal(err)
		}
		if _, err := audit.Import(ctx, target, bytes.NewReader(jsonl), audit.ImportOptions{}); !errors.Is(err, audit.ErrNotEmpty) {
			t.Fatalf("err = %v, want ErrNotEmpty", err)
		}
	})
	t.Run("not from position 1", func(t *testing.T) {
		var part bytes.Buffer
		if _, err := audit.Export(ctx, r.log, &part, audit.ExportOptions{From: 2}); err != nil {
			t.Fatal(err)
		}
		if n := bytes.Count(part.Bytes(), []byte("\n")); n != 2 {
			t.Fatalf("export from 2 wrote %d lines, want 2", n)
		}
		target := memory.New()
		defer target.Close()
		_, err := audit.Import(ctx, target, &part, audit.ImportOptions{})
		if !errors.Is(err, audit.ErrPositions) || !strings.Contains(err.Error(), "line 1") {
			t.Fatalf("err = %v, want ErrPositions at line 1", err)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		target := memory.New()
		defer target.Close()
		in := append(append([]byte(nil), jsonl...), "{\"position\":4,\n"...)
		n, err := audit.Import(ctx, target, bytes.NewReader(in), audit.ImportOptions{BatchSize: 1})
		if !errors.Is(err, eventjson.ErrSyntax) || !strings.Contains(err.Error(), "line 4") || n != 3 {
			t.Fatalf("imported %d, err = %v; want 3 and ErrSyntax at line 4", n, err)
		}
	})
	t.Run("export ranges", func(t *testing.T) {
		var out bytes.Buffer
		for _, o := range []audit.ExportOptions{{From: 3, Until: 2}, {Until: 4}, {From: 5}} {
			if _, err := audit.Export(ctx, r.log, &out, o); !errors.Is(err, audit.ErrBadRange) {
				t.Errorf("Export(%+v) = %v, want ErrBadRange", o, err)
			}
		}
		n, err := audit.Export(ctx, r.log, &out, audit.ExportOptions{From: 2, Until: 2})
		if err != nil || n != 1 || !strings.HasPrefix(out.String(), `{"position":2,`) {
			t.Fatalf("export 2..2: %d, %v, %q", n, err, out.String())
		}
	})
}

// TestImportFromAFile round-trips through a file on disk.
func TestImportFromAFile(t *testing.T) {
	h := knownHistory(t)
	path := filepath.Join(t.TempDir(), "log.jsonl")
	if err := os.WriteFile(path, export(t, h.log), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	target := memory.New()
	defer target.Close()
	if _, err := audit.Import(context.Background(), target, f, audit.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rebuilt(t, h.log), rebuilt(t, target)) {
		t.Fatal("state differs after import from a file")
	}
}
