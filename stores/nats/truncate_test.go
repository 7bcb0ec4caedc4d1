package nats_test

import (
	"context"
	"errors"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/nats"
	"github.com/omniq/omniq/stores/storetest"
)

func TestTruncateByMessage(t *testing.T) {
	name := storetest.UniqueName("trunc")
	l := open(t, name)
	head := storetest.TruncateBatches(t, l)

	// A new handle (a restart, or another process) sees the same log, and a
	// truncation past the head keeps the newest message.
	l.Close()
	l2 := open(t, name)
	storetest.CheckSpan(t, l2, 9, head)
	storetest.TruncatePastHead(t, l2, l2, head, 11)
}

// TestTruncateStaleHandles: handles that last looked before another
// handle's truncation read, locate and truncate correctly, and readers
// running during truncations never fail.
func TestTruncateStaleHandles(t *testing.T) {
	ctx := context.Background()
	name := storetest.UniqueName("trstale")
	a, b := open(t, name), open(t, name)
	all := appendUneven(t, a, 80, 5)
	// b learns anchors all over the log, then a purges most of them.
	for from := uint64(1); from <= uint64(len(all)); from += 17 {
		checkWindow(t, b, all, from, 3)
	}
	if err := a.TruncateBefore(ctx, uint64(len(all))-20); err != nil {
		t.Fatal(err)
	}
	first, err := a.First(ctx)
	if err != nil || first > uint64(len(all))-20 {
		t.Fatalf("first = %d, %v", first, err)
	}
	got, err := b.Read(ctx, 1, 5)
	if err != nil || len(got) != 5 || got[0].Position != first {
		t.Fatalf("stale handle read(1, 5) = %v, %v; want 5 events from %d", got, err, first)
	}
	if err := b.TruncateBefore(ctx, uint64(len(all))-5); err != nil {
		t.Fatal(err)
	}
	storetest.TruncateWhileReading(t, b, a, b, 1)
}

// TestTruncateLargeBatches: the objects holding purged large batches are
// deleted; those of kept batches stay and still read.
func TestTruncateLargeBatches(t *testing.T) {
	ctx := context.Background()
	name := storetest.UniqueName("trbig")
	l := open(t, name)
	for _, id := range []string{"big1", "big2"} {
		if _, err := l.Append(ctx, []events.Event{largeEvent(id, 1<<20)}); err != nil {
			t.Fatal(err)
		}
		storetest.AppendSizes(t, l, 2)
	}
	// The log keeps no snapshot: its objects are all large batches.
	js := jetStream(t)
	objects := func() []string { return largeBatches(t, js, name) }
	if n := len(objects()); n != 2 {
		t.Fatalf("%d objects before truncation, want 2", n)
	}
	if err := l.TruncateBefore(ctx, 4); err != nil { // positions 1 (big1), 2-3; keeps big2 at 4
		t.Fatal(err)
	}
	if n := len(objects()); n != 1 {
		t.Fatalf("%d objects after truncating the first large batch, want 1", n)
	}
	got, err := l.Read(ctx, 1, 10)
	if err != nil || len(got) != 3 || got[0].Position != 4 || got[0].TaskID != "big2" {
		t.Fatalf("read after truncation = %v, %v; want big2 at 4 and two more", got, err)
	}
}

// TestTruncateDeniedOnOldStream: a stream created with deny_purge (by an
// earlier version of the package) cannot be truncated, and says so.
func TestTruncateDeniedOnOldStream(t *testing.T) {
	ctx := context.Background()
	name := sanitize(storetest.UniqueName("trdeny"))
	js := jetStream(t)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:        nats.StreamName(name),
		Subjects:    []string{"omniq." + name + ".log"},
		Storage:     jetstream.FileStorage,
		DenyDelete:  true,
		DenyPurge:   true,
		AllowDirect: true,
	}); err != nil {
		t.Fatal(err)
	}
	l := open(t, name)
	head := storetest.AppendSizes(t, l, 2, 2, 2)
	if err := l.TruncateBefore(ctx, 5); !errors.Is(err, nats.ErrPurgeDenied) {
		t.Fatalf("truncate of a deny-purge stream = %v, want ErrPurgeDenied", err)
	}
	storetest.CheckSpan(t, l, 1, head)
}

// TestPurgedEntirely: a stream someone purged completely has lost its
// positions; the log says so instead of appending at 1 again.
func TestPurgedEntirely(t *testing.T) {
	ctx := context.Background()
	name := sanitize(storetest.UniqueName("trall"))
	l := open(t, name)
	storetest.AppendSizes(t, l, 2, 2)
	s, err := jetStream(t).Stream(ctx, nats.StreamName(name))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	fresh := open(t, name)
	if _, err := fresh.Head(ctx); !errors.Is(err, stores.ErrCorrupt) {
		t.Fatalf("head of a purged stream = %v, want ErrCorrupt", err)
	}
	if _, err := fresh.Append(ctx, []events.Event{storetest.Event("x", 1)}); !errors.Is(err, stores.ErrCorrupt) {
		t.Fatalf("append to a purged stream = %v, want ErrCorrupt", err)
	}
}
