package pebble

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	pdb "github.com/cockroachdb/pebble/v2"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores/storetest"
)

// shrinksTo waits until the files in dir take at most bound bytes and
// returns their size; after a minute it gives up and returns the size then.
// Pebble drops the tables under a range deletion in background compactions
// after the reclaimer's flush.
func shrinksTo(t *testing.T, l *Log, dir string, bound int64) int64 {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		l.reclaim.wait()
		l.db.TestOnlyWaitForCleaning()
		size := storetest.DiskSize(t, dir)
		if size <= bound || time.Now().After(deadline) {
			return size
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const smallMemTable = 512 << 10

// smallLSM scales Pebble's sizes down about eightfold, so that the few
// tens of MB a test writes pass through flushes, L0 and several levels as
// a long run at the defaults would.
func smallLSM(o *pdb.Options) {
	o.MemTableSize = smallMemTable
	o.LBaseMaxBytes = 1 << 20
	o.TargetFileSizes[0] = smallMemTable
	for i := 1; i < len(o.TargetFileSizes); i++ {
		o.TargetFileSizes[i] = o.TargetFileSizes[i-1] * 2
	}
}

// TestTruncationSpacePlateaus runs retention at steady load
// (storetest.Retain) on a scaled-down Pebble and checks that the directory
// stops growing: after the window of live events has filled, it stays
// within a generous multiple of them, although the run writes more than
// twice that bound.
func TestTruncationSpacePlateaus(t *testing.T) {
	const (
		batchLen = 12
		window   = 500 // live events after each truncation
		rounds   = 1000
	)
	dir := t.TempDir()
	l, err := Open(dir, quiet(), WithPebbleOptions(smallLSM))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	storetest.SpacePlateaus(t, l, dir, storetest.Plateau{
		BatchLen: batchLen, Pad: 2048, Window: window, Rounds: rounds, Warmup: 200,
		// Live data, what the reclaimer leaves to Pebble, and the WAL and
		// memtables beside them, each counted generously.
		Bound:  func(live int64) int64 { return 4*live + 2*reclaimAfter + 8*smallMemTable },
		Margin: 2,
	})
	storetest.CheckSpan(t, l, uint64(rounds*batchLen-window+1), uint64(rounds*batchLen))
}

// TestTruncationReclaimsWithoutWrites: truncating most of the log gives the
// space back although nothing is appended afterwards (Pebble alone would
// wait for the memtable to fill), and so does a reopen after a Close that
// came right after the truncation.
func TestTruncationReclaimsWithoutWrites(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// What may stay: four WAL files of about the memtable's 4 MiB (the
	// current one and three that Pebble keeps to recycle), and 2 MiB for
	// the rest.
	const bound = 4*(4<<20) + 2<<20
	batch, _ := storetest.PaddedBatch(t, 100, 512)
	// fill appends about 30 MiB of records and truncates all but the last
	// event; it returns the head and the size of the directory before the
	// truncation.
	fill := func(l *Log) (uint64, int64) {
		t.Helper()
		for range 300 {
			if _, err := l.Append(ctx, batch); err != nil {
				t.Fatal(err)
			}
		}
		head, _ := l.Head(ctx)
		full := storetest.DiskSize(t, dir)
		if full < 2*bound {
			t.Fatalf("the log takes %d bytes, too few to tell", full)
		}
		if err := l.TruncateBefore(ctx, head); err != nil {
			t.Fatal(err)
		}
		return head, full
	}
	open := func() *Log {
		t.Helper()
		l, err := Open(dir, quiet())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}

	l := open()
	head, full := fill(l)
	if size := shrinksTo(t, l, dir, bound); size > bound {
		t.Fatalf("%d bytes left after truncating a %d-byte log to one event", size, full)
	}
	storetest.CheckSpan(t, l, head, head)

	head, full = fill(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = open()
	if size := shrinksTo(t, l, dir, bound); size > bound {
		t.Fatalf("%d bytes left after truncating a %d-byte log to one event and reopening it", size, full)
	}
	storetest.CheckSpan(t, l, head, head)
}

// BenchmarkReadAfterTruncations reads a window of live events from a log
// that holds only them (fresh) and from one that reached them through
// thousands of truncations: the newest 100 events (tail) and the oldest
// 1000 (first, a read from position 1).
func BenchmarkReadAfterTruncations(b *testing.B) {
	ctx := context.Background()
	const window, batchLen = 10_000, 100
	batch := make([]events.Event, batchLen)
	for i := range batch {
		batch[i] = storetest.Event(fmt.Sprintf("b-%d", i), i)
	}
	for _, rounds := range []int{window / batchLen, 5000} {
		dir := b.TempDir()
		l, err := Open(dir)
		if err != nil {
			b.Fatal(err)
		}
		for range rounds {
			first, err := l.Append(ctx, batch)
			if err != nil {
				b.Fatal(err)
			}
			if head := first + batchLen - 1; head > window {
				if err := l.TruncateBefore(ctx, head-window+1); err != nil {
					b.Fatal(err)
				}
			}
		}
		head, _ := l.Head(ctx)
		name := fmt.Sprintf("truncations=%d", rounds-window/batchLen)
		b.Run(name+"/tail", func(b *testing.B) {
			buf := make([]events.Event, 0, 100)
			for b.Loop() {
				if evs, err := l.ReadInto(ctx, buf, head-99, 100); err != nil || len(evs) != 100 {
					b.Fatalf("read = %d events, %v", len(evs), err)
				}
			}
		})
		b.Run(name+"/first", func(b *testing.B) {
			buf := make([]events.Event, 0, 1000)
			for b.Loop() {
				if evs, err := l.ReadInto(ctx, buf, 1, 1000); err != nil || len(evs) != 1000 {
					b.Fatalf("read = %d events, %v", len(evs), err)
				}
			}
		})
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
		if err := os.RemoveAll(dir); err != nil {
			b.Fatal(err)
		}
	}
}
