package postgres

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/storetest"
)

// pattern returns n bytes that differ from one seed to the next and from one
// offset to the next, so a piece out of place or from another value shows.
func pattern(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// bigBatch returns one checkpoint-like batch carrying about size bytes of
// state in log.checkpoint_part events of 512 KiB.
func bigBatch(size int) []events.Event {
	const part = 512 << 10
	state := pattern(1, size)
	var out []events.Event
	for i := 0; len(state) > 0; i++ {
		n := min(part, len(state))
		out = append(out, events.New("", time.Unix(0, 0).UTC(), &events.LogCheckpointPart{Index: i, Data: state[:n]}))
		state = state[n:]
	}
	return out
}

// heapUse is what fn allocated in all and the most its live heap (objects not
// yet swept included) rose above the level before it, sampled every 200µs:
// the peak is a lower bound, close for copies that live as long as a send.
func heapUse(fn func()) (allocated, peak uint64) {
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/allocs:bytes"}}
	runtime.GC()
	metrics.Read(samples)
	base, allocs := samples[0].Value.Uint64(), samples[1].Value.Uint64()
	var top uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			metrics.Read(s)
			top = max(top, s[0].Value.Uint64())
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Microsecond):
			}
		}
	})
	fn()
	close(stop)
	wg.Wait()
	metrics.Read(samples)
	top = max(top, samples[0].Value.Uint64())
	return samples[1].Value.Uint64() - allocs, top - min(top, base)
}

// BenchmarkLarge reports what writing a large snapshot and appending a large
// checkpoint batch cost the process: B/op (all allocations) and peak-MB (the
// most the live heap rose during one call).
func BenchmarkLarge(b *testing.B) {
	ctx := context.Background()
	const size = 64 << 20
	b.Run("SaveSnapshot", func(b *testing.B) {
		l := openFresh(b, "bigsnap")
		data := pattern(2, size)
		var peak uint64
		b.ReportAllocs()
		b.SetBytes(size)
		for b.Loop() {
			_, p := heapUse(func() {
				if err := l.SaveSnapshot(ctx, 1, data); err != nil {
					b.Fatal(err)
				}
			})
			peak = max(peak, p)
		}
		b.ReportMetric(float64(peak)/(1<<20), "peak-MB")
	})
	b.Run("LoadSnapshot", func(b *testing.B) {
		l := openFresh(b, "bigload")
		if err := l.SaveSnapshot(ctx, 1, pattern(3, size)); err != nil {
			b.Fatal(err)
		}
		var peak uint64
		b.ReportAllocs()
		b.SetBytes(size)
		for b.Loop() {
			_, p := heapUse(func() {
				if _, _, err := l.LoadSnapshot(ctx); err != nil {
					b.Fatal(err)
				}
			})
			peak = max(peak, p)
		}
		b.ReportMetric(float64(peak)/(1<<20), "peak-MB")
	})
	b.Run("AppendCheckpoint", func(b *testing.B) {
		l := openFresh(b, "bigappend")
		batch := bigBatch(size)
		var peak uint64
		b.ReportAllocs()
		b.SetBytes(size)
		for b.Loop() {
			_, p := heapUse(func() {
				if _, err := l.Append(ctx, batch); err != nil {
					b.Fatal(err)
				}
			})
			peak = max(peak, p)
		}
		b.ReportMetric(float64(peak)/(1<<20), "peak-MB")
	})
}

// pieceRows returns the seq of every row of the log's snapshot pieces, in
// the order a plain scan of the table meets them.
func pieceRows(t *testing.T, l *Log) []int32 {
	t.Helper()
	rows, err := l.pool.Query(context.Background(), `SELECT seq FROM `+l.t.snapPieces)
	if err != nil {
		t.Fatal(err)
	}
	seqs, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		t.Fatal(err)
	}
	return seqs
}

// TestSnapshotPieces saves snapshots on either side of pieceSize and checks
// that each loads back exactly, and that a long one is kept in pieces of
// pieceSize that a later short one removes.
func TestSnapshotPieces(t *testing.T) {
	ctx := context.Background()
	l := openFresh(t, "pieces")
	for i, n := range []int{3*pieceSize + 5, 0, 1, pieceSize, pieceSize + 1, 2 * pieceSize, 17} {
		data := pattern(uint64(i), n)
		if err := l.SaveSnapshot(ctx, uint64(i), data); err != nil {
			t.Fatalf("save %d bytes: %v", n, err)
		}
		pos, got, err := l.LoadSnapshot(ctx)
		if err != nil || pos != uint64(i) || !bytes.Equal(got, data) {
			t.Fatalf("load of %d bytes = %d, %d bytes equal=%v, %v; want %d", n, pos, len(got), bytes.Equal(got, data), err, i)
		}
		want := 0
		if n > pieceSize {
			want = (n + pieceSize - 1) / pieceSize
		}
		if seqs := pieceRows(t, l); len(seqs) != want {
			t.Fatalf("%d bytes kept in %d pieces, want %d", n, len(seqs), want)
		}
	}
}

// TestSnapshotPiecesOrder moves the first piece to the end of the table's
// heap: the load must still put it first.
func TestSnapshotPiecesOrder(t *testing.T) {
	ctx := context.Background()
	l := openFresh(t, "order")
	data := pattern(7, 3*pieceSize+5)
	if err := l.SaveSnapshot(ctx, 9, data); err != nil {
		t.Fatal(err)
	}
	if _, err := l.pool.Exec(ctx, `UPDATE `+l.t.snapPieces+` SET data = data WHERE seq IN (0, 1)`); err != nil {
		t.Fatal(err)
	}
	if seqs := pieceRows(t, l); len(seqs) != 4 || seqs[0] == 0 {
		t.Fatalf("the table's rows come in order %v: the test needs piece 0 elsewhere than first", seqs)
	}
	pos, got, err := l.LoadSnapshot(ctx)
	if err != nil || pos != 9 || !bytes.Equal(got, data) {
		t.Fatalf("load = %d, %d bytes equal=%v, %v; want 9 and the saved bytes", pos, len(got), bytes.Equal(got, data), err)
	}
}

// TestSnapshotOldRow opens a log whose snapshot was written with the first
// schema, one row holding all of it, and loads it after the migration.
func TestSnapshotOldRow(t *testing.T) {
	dsn := testDSN(t)
	ctx := context.Background()
	name := logName(storetest.UniqueName("oldsnap"))
	t.Cleanup(func() { dropLog(t, dsn, name) })
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tb := tablesFor(name)
	v1 := migrations(tb)[0]
	stmts := append([]string{`CREATE TABLE ` + tb.migrations + ` (version INT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`}, v1.Stmts...)
	stmts = append(stmts, `INSERT INTO `+tb.migrations+` (version) VALUES (1)`)
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	old := pattern(11, pieceSize+3) // longer than a piece, as an old row may be
	if _, err := conn.Exec(ctx, `INSERT INTO `+tb.snapshot+` (one, position, data) VALUES (true, 41, $1)`, old); err != nil {
		t.Fatal(err)
	}
	l := openTest(t, dsn, name)
	defer l.Close()
	pos, got, err := l.LoadSnapshot(ctx)
	if err != nil || pos != 41 || !bytes.Equal(got, old) {
		t.Fatalf("load of an old snapshot = %d, %d bytes equal=%v, %v; want 41 and its bytes", pos, len(got), bytes.Equal(got, old), err)
	}
	// Pieces left beside a row that holds its snapshot are not part of it.
	if _, err := l.pool.Exec(ctx, `INSERT INTO `+l.t.snapPieces+` (seq, data) VALUES (0, '\x01')`); err != nil {
		t.Fatal(err)
	}
	if _, got, err := l.LoadSnapshot(ctx); err != nil || !bytes.Equal(got, old) {
		t.Fatalf("load beside a stray piece = %d bytes equal=%v, %v", len(got), bytes.Equal(got, old), err)
	}
}

func TestSnapshotCorruptPieces(t *testing.T) {
	ctx := context.Background()
	l := openFresh(t, "snapbad")
	for _, garble := range []string{
		`DELETE FROM ` + l.t.snapPieces + ` WHERE seq = 1`,
		`DELETE FROM ` + l.t.snapPieces + ` WHERE seq = 2`,
		`UPDATE ` + l.t.snapPieces + ` SET data = data || '\x00'::bytea WHERE seq = 0`,
		`UPDATE ` + l.t.snapPieces + ` SET data = substring(data FROM 2) WHERE seq = 1`,
		`UPDATE ` + l.t.snapPieces + ` SET seq = 3 WHERE seq = 2`,
	} {
		if err := l.SaveSnapshot(ctx, 5, pattern(5, 2*pieceSize+1)); err != nil {
			t.Fatal(err)
		}
		if _, err := l.pool.Exec(ctx, garble); err != nil {
			t.Fatal(err)
		}
		if _, _, err := l.LoadSnapshot(ctx); !errors.Is(err, stores.ErrCorrupt) {
			t.Fatalf("after %s: load = %v, want ErrCorrupt", garble, err)
		}
	}
}

// TestSnapshotSeenWhole saves long snapshots from two handles at once while
// a third loads: every save succeeds and every load is one save's bytes.
func TestSnapshotSeenWhole(t *testing.T) {
	dsn := testDSN(t)
	ctx := context.Background()
	name := logName(storetest.UniqueName("whole"))
	a, b, r := openTest(t, dsn, name), openTest(t, dsn, name), openTest(t, dsn, name)
	defer a.Close()
	defer b.Close()
	defer r.Close()
	const saves = 6
	n := 2*pieceSize + 100
	want := make(map[uint64][]byte)
	for i := range uint64(2 * saves) {
		want[i+1] = pattern(100+i, n+int(i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*saves)
	for w, l := range []*Log{a, b} {
		wg.Go(func() {
			for i := range uint64(saves) {
				pos := 2*i + uint64(w) + 1
				errs <- l.SaveSnapshot(ctx, pos, want[pos])
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for loads := 0; ; loads++ {
		pos, got, err := r.LoadSnapshot(ctx)
		switch {
		case errors.Is(err, stores.ErrNoSnapshot):
		case err != nil:
			t.Fatalf("load %d: %v", loads, err)
		case !bytes.Equal(got, want[pos]):
			t.Fatalf("load %d: %d bytes at position %d are not that save's", loads, len(got), pos)
		}
		select {
		case <-done:
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatalf("concurrent save: %v", err)
				}
			}
			return
		default:
		}
	}
}

// TestAppendInPieces appends batches longer than pieceSize, plainly and
// conditionally, and reads them back exactly.
func TestAppendInPieces(t *testing.T) {
	ctx := context.Background()
	l := openFresh(t, "bigbatch")
	big := bigBatch(2*pieceSize + 1000)
	if first, err := l.Append(ctx, []events.Event{storetest.Event("a", 1)}); err != nil || first != 1 {
		t.Fatalf("append = %d, %v; want 1", first, err)
	}
	if first, err := l.Append(ctx, big); err != nil || first != 2 {
		t.Fatalf("append in pieces = %d, %v; want 2", first, err)
	}
	next := uint64(2 + len(big))
	if _, err := l.AppendAt(ctx, 1, big); !errors.Is(err, stores.ErrConflict) {
		t.Fatalf("append in pieces at a stale head = %v, want ErrConflict", err)
	}
	if first, err := l.AppendAt(ctx, next-1, big); err != nil || first != next {
		t.Fatalf("append in pieces at the head = %d, %v; want %d", first, err, next)
	}
	if head, err := l.Head(ctx); err != nil || head != next-1+uint64(len(big)) {
		t.Fatalf("head = %d, %v; want %d", head, err, next-1+uint64(len(big)))
	}
	got := storetest.ReadEvents(t, l)
	if len(got) != 1+2*len(big) {
		t.Fatalf("read %d events, want %d", len(got), 1+2*len(big))
	}
	for i, ev := range got[1:] {
		w := big[i%len(big)]
		p, ok := ev.Payload.(*events.LogCheckpointPart)
		if !ok || ev.ID != w.ID || p.Index != i%len(big) || !bytes.Equal(p.Data, w.Payload.(*events.LogCheckpointPart).Data) {
			t.Fatalf("event %d did not round-trip", ev.Position)
		}
	}
}

// allocated is the bytes the process allocated while fn ran.
func allocated(fn func()) uint64 {
	a, _ := heapUse(fn)
	return a
}

// TestLargeWritesBounded checks that a long snapshot or batch costs the
// process about one piece beyond its own bytes, not copies of the whole.
func TestLargeWritesBounded(t *testing.T) {
	ctx := context.Background()
	l := openFresh(t, "bounded")
	const size = 8 * pieceSize
	bound := uint64(3 * pieceSize)

	data := pattern(3, size)
	var err error
	if a := allocated(func() { err = l.SaveSnapshot(ctx, 1, data) }); err != nil || a > bound {
		t.Errorf("save of a %d-byte snapshot allocated %d bytes (%v), want at most %d", size, a, err, bound)
	}

	batch := bigBatch(size)
	marshal := allocated(func() { _, err = events.MarshalBatch(nil, batch) })
	if err != nil {
		t.Fatal(err)
	}
	if a := allocated(func() { _, err = l.Append(ctx, batch) }); err != nil || a > marshal+bound {
		t.Errorf("append of a %d-byte batch allocated %d bytes (%v), want at most its encoding's %d + %d", size, a, err, marshal, bound)
	}
}
