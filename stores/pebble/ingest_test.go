package pebble_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores/storetest"
)

// checkpointBatch is a batch large enough that Append writes it as a table
// and ingests it: a checkpoint of 6 MiB in parts.
func checkpointBatch() []events.Event {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const parts = 12
	var evs []events.Event
	for i := range parts {
		data := bytes.Repeat([]byte{byte(i + 1)}, 512<<10)
		evs = append(evs, events.New("", t0, &events.LogCheckpointPart{Index: i, Data: data}))
	}
	return append(evs, events.New("", t0, &events.LogCheckpoint{State: []byte("tail"), Before: events.At(t0), Parts: parts}))
}

// A large append is ingested as a table: it survives a power loss once
// Append returns, appends after it and a truncation through it work, and
// a table a crash left before its ingestion is cleared by Open without
// becoming part of the log.
func TestLargeAppendIsIngested(t *testing.T) {
	ctx := context.Background()
	fs, l := crashableWith(t, "before", 3)
	cp := checkpointBatch()
	if first, err := l.Append(ctx, cp); err != nil || first != 4 {
		t.Fatalf("append of a checkpoint: %d, %v; want 4", first, err)
	}
	if names, err := fs.List("/log/ingest"); err != nil || len(names) != 0 {
		t.Fatalf("ingest directory after the append: %v, %v; want it empty", names, err)
	}
	if first, err := l.Append(ctx, batchOf("after", 2)); err != nil || first != 4+uint64(len(cp)) {
		t.Fatalf("append after the checkpoint: %d, %v", first, err)
	}

	// A power loss right now keeps all of it.
	crashed := fs.CrashClone(vfs.CrashCloneCfg{})
	c := openOn(t, crashed)
	got := storetest.ReadEvents(t, c)
	if len(got) != 3+len(cp)+2 {
		t.Fatalf("after a crash the log holds %d events, want %d", len(got), 3+len(cp)+2)
	}
	for i, ev := range cp {
		g := got[3+i]
		if g.ID != ev.ID || g.Position != uint64(4+i) {
			t.Fatalf("checkpoint event %d after the crash: %v", i, g)
		}
		if p, ok := ev.Payload.(*events.LogCheckpointPart); ok && !bytes.Equal(g.Payload.(*events.LogCheckpointPart).Data, p.Data) {
			t.Fatalf("part %d came back different", i)
		}
	}

	// Truncating through the ingested table leaves the log right.
	if err := l.TruncateBefore(ctx, 4+uint64(len(cp))); err != nil {
		t.Fatal(err)
	}
	if got := storetest.ReadEvents(t, l); len(got) != 2 || got[0].Position != 4+uint64(len(cp)) {
		t.Fatalf("after truncating through the checkpoint: %d events from %v", len(got), got)
	}

	// A table written for an ingestion that never happened is garbage.
	f, err := crashed.Create("/log/ingest/00000000000000000099.sst", vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("half a table"))
	f.Close()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = openOn(t, crashed)
	if names, err := crashed.List("/log/ingest"); err != nil || len(names) != 0 {
		t.Fatalf("ingest directory after Open: %v, %v; want it cleared", names, err)
	}
	if got := storetest.ReadEvents(t, c); len(got) != 3+len(cp)+2 {
		t.Fatalf("after reopening: %d events", len(got))
	}
}

// A large snapshot is ingested as a table: it replaces the one before it
// whole (no chunk of a larger one left), survives a power loss once
// SaveSnapshot returns, and leaves nothing in the ingest directory.
func TestLargeSnapshotIsIngested(t *testing.T) {
	ctx := context.Background()
	fs, l := crashableWith(t, "before", 3)
	var last []byte
	for i, size := range []int{9<<20 + 5, 3 << 20, 6<<20 + 1} {
		last = bytes.Repeat([]byte{byte(i + 1)}, size)
		if err := l.SaveSnapshot(ctx, uint64(i+1), last); err != nil {
			t.Fatal(err)
		}
	}
	if names, err := fs.List("/log/ingest"); err != nil || len(names) != 0 {
		t.Fatalf("ingest directory after the snapshots: %v, %v; want it empty", names, err)
	}
	crashed := fs.CrashClone(vfs.CrashCloneCfg{})
	c := openOn(t, crashed)
	pos, got, err := c.LoadSnapshot(ctx)
	if err != nil || pos != 3 || !bytes.Equal(got, last) {
		t.Fatalf("after a crash: snapshot at %d, %d bytes, %v; want 3, %d bytes", pos, len(got), err, len(last))
	}
	if got := storetest.ReadEvents(t, c); len(got) != 3 {
		t.Fatalf("after a crash the log holds %d events, want 3", len(got))
	}
}
