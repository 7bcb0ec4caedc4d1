package sqlite

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/omniq/omniq/stores/storetest"
)

// TestTruncationSpacePlateaus runs retention at steady load
// (storetest.Retain) while readers keep read transactions open, so that
// some reader nearly always holds the WAL. After the window of live events
// has filled, the database file must stay within twice their size (the
// deleted rows' pages are reused) and the WAL within twice walKeep,
// although the run writes more than twice as much as either bound.
func TestTruncationSpacePlateaus(t *testing.T) {
	ctx := context.Background()
	const (
		batchLen = 100
		window   = 2000 // live events after each truncation
		rounds   = 330
		warmup   = 60
	)
	l, path := openTemp(t, "space.db")

	batch, recLen := storetest.PaddedBatch(t, batchLen, 512)
	live := int64(window * recLen)
	dbBound, walBound := 2*live+1<<20, int64(2*walKeep)
	written := int64(rounds * batchLen * recLen)
	if written < 2*max(dbBound, walBound) {
		t.Fatalf("the run writes %d bytes, too few to tell a plateau from growth", written)
	}

	// Each reader holds a read transaction (an open statement) for a few
	// milliseconds at a time; together they nearly always hold one.
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 3 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				rows, err := l.db.QueryContext(ctx, l.q.head)
				if err != nil {
					t.Errorf("read: %v", err)
					return
				}
				rows.Next()
				time.Sleep(3 * time.Millisecond)
				if err := rows.Close(); err != nil {
					t.Errorf("read: %v", err)
					return
				}
			}
		})
	}
	defer func() { close(stop); readers.Wait() }()

	var dbPeak, walPeak int64
	storetest.Retain(t, l, batch, window, rounds, warmup, func() {
		dbPeak = max(dbPeak, storetest.DiskSize(t, path))
		walPeak = max(walPeak, storetest.DiskSize(t, path+"-wal"))
	})
	t.Logf("live %d KiB; after warm-up the database peaked at %d KiB, the WAL at %d KiB; written %d KiB",
		live>>10, dbPeak>>10, walPeak>>10, written>>10)
	if dbPeak > dbBound {
		t.Errorf("the database file grew to %d bytes at steady load; live data is %d", dbPeak, live)
	}
	if walPeak > walBound {
		t.Errorf("the WAL grew to %d bytes at steady load (walKeep %d)", walPeak, walKeep)
	}
}

// TestTruncateRestartsWAL: a WAL held by a reader grows past walKeep; a
// truncation while the reader stays gives up on it without an error, and the
// next one after the reader is gone empties it.
func TestTruncateRestartsWAL(t *testing.T) {
	ctx := context.Background()
	l, path := openTemp(t, "wal.db")
	storetest.AppendSizes(t, l, 1)
	reader, err := l.db.QueryContext(ctx, l.q.head) // open, it holds a read transaction
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	reader.Next()
	for storetest.DiskSize(t, path+"-wal") <= walKeep {
		storetest.AppendSizes(t, l, 1000)
	}
	head, err := l.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.TruncateBefore(ctx, head); err != nil {
		t.Fatalf("truncate while a reader holds the WAL: %v", err)
	}
	if size := storetest.DiskSize(t, path+"-wal"); size <= walKeep {
		t.Fatalf("the WAL shrank to %d bytes under a reader", size)
	}
	if err := reader.Close(); err != nil {
		t.Fatal(err)
	}
	head = storetest.AppendSizes(t, l, 1)
	if err := l.TruncateBefore(ctx, head); err != nil {
		t.Fatal(err)
	}
	if size := storetest.DiskSize(t, path+"-wal"); size > walKeep {
		t.Fatalf("the WAL still takes %d bytes once its reader is gone", size)
	}
	storetest.CheckSpan(t, l, head, head)
}
