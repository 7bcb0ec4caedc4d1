package pebble_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	pdb "github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/pebble"
	"github.com/omniq/omniq/stores/storetest"
)

// openOn opens the log in /log on fs and closes it when the test ends.
func openOn(t *testing.T, fs vfs.FS) *pebble.Log {
	t.Helper()
	l, err := pebble.Open("/log", pebble.WithPebbleOptions(func(o *pdb.Options) { o.FS = fs }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// crashableWith opens a log on a new crashable in-memory file system and
// appends a batch of n events with ids of prefix (batchOf).
func crashableWith(t *testing.T, prefix string, n int) (*vfs.MemFS, *pebble.Log) {
	t.Helper()
	fs := vfs.NewCrashableMem()
	l := openOn(t, fs)
	if _, err := l.Append(context.Background(), batchOf(prefix, n)); err != nil {
		t.Fatal(err)
	}
	return fs, l
}

func batchOf(prefix string, n int) []events.Event {
	evs := make([]events.Event, n)
	for i := range evs {
		evs[i] = storetest.Event(fmt.Sprintf("%s-%d", prefix, i), i+1)
	}
	return evs
}

// TestCrashKeepsReturnedAppends simulates a power loss: a crash clone holds
// only what was fsynced. Every Append and SaveSnapshot that returned must be
// in it.
func TestCrashKeepsReturnedAppends(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewCrashableMem()
	l := openOn(t, fs)
	var want []events.Event
	for i := range 20 {
		b := batchOf(fmt.Sprintf("b%d", i), 1+i%5)
		if _, err := l.Append(ctx, b); err != nil {
			t.Fatal(err)
		}
		want = append(want, b...)
	}

	// Cloned before anything else syncs, so only Append's own syncs count.
	c := openOn(t, fs.CrashClone(vfs.CrashCloneCfg{}))
	var got []events.Event
	if err := stores.ReadAll(ctx, c, 1, 7, func(e events.Event) error {
		got = append(got, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("after crash the log holds %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].ID != want[i].ID || got[i].Position != uint64(i+1) {
			t.Fatalf("event %d after crash = %v, want %v at %d", i, got[i], want[i], i+1)
		}
	}

	if err := l.SaveSnapshot(ctx, 10, []byte("ten")); err != nil {
		t.Fatal(err)
	}
	c = openOn(t, fs.CrashClone(vfs.CrashCloneCfg{}))
	pos, data, err := c.LoadSnapshot(ctx)
	if err != nil || pos != 10 || string(data) != "ten" {
		t.Fatalf("snapshot after crash = %d %q %v; want 10 ten", pos, data, err)
	}
}

// TestCrashDuringAppends takes crash clones while a writer appends, keeping a
// random share of unsynced data each time. Every clone must open cleanly,
// hold every Append that had returned (durable), and hold only whole batches
// (atomic).
func TestCrashDuringAppends(t *testing.T) {
	ctx := context.Background()
	const batchLen = 7
	fs := vfs.NewCrashableMem()
	l := openOn(t, fs)

	var returned atomic.Uint64 // head after the last Append that returned
	progress := make(chan struct{}, 1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			first, err := l.Append(ctx, batchOf(fmt.Sprintf("w%d", i), batchLen))
			if err != nil {
				t.Errorf("append: %v", err)
				return
			}
			returned.Store(first + batchLen - 1)
			select {
			case progress <- struct{}{}:
			default:
			}
		}
	})
	defer func() { close(stop); wg.Wait() }()

	for i := range 12 {
		// Let the writer get some appends in between clones; the clone itself
		// is taken while the writer runs, often in the middle of an Append.
		for range 3 {
			<-progress
		}
		durable := returned.Load()
		rng := rand.New(rand.NewPCG(uint64(i), 0))
		crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rng})
		c, err := pebble.Open("/log", pebble.WithPebbleOptions(func(o *pdb.Options) { o.FS = crashed }))
		if err != nil {
			t.Fatalf("clone %d: open: %v", i, err)
		}
		head, err := c.Head(ctx)
		if err == nil {
			err = stores.ReadAll(ctx, c, 1, 100, func(events.Event) error { return nil })
		}
		c.Close()
		switch {
		case err != nil:
			t.Fatalf("clone %d: %v", i, err)
		case head < durable:
			t.Fatalf("clone %d: head %d, but appends up to %d had returned", i, head, durable)
		case head%batchLen != 0:
			t.Fatalf("clone %d: head %d is not a whole number of %d-event batches", i, head, batchLen)
		}
	}
}
