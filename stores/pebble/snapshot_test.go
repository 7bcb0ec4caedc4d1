package pebble

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"
)

// TestSnapshotChunks saves snapshots of several sizes around the chunk size,
// each replacing the last, and checks that each loads back whole and that no
// chunk of an earlier, larger one is left behind: written as a batch, as an
// ingested table, and each way in turn (the default: a batch up to 4 MiB).
func TestSnapshotChunks(t *testing.T) {
	for _, tc := range []struct {
		name     string
		batchMax int
	}{{"batch", 1 << 40}, {"ingested", 0}, {"default", maxPooledBuf}} {
		t.Run(tc.name, func(t *testing.T) { testSnapshotChunks(t, tc.batchMax) })
	}
}

func testSnapshotChunks(t *testing.T, batchMax int) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.snapshotBatchMax = batchMax
	r := rand.New(rand.NewPCG(1, 2))
	for i, size := range []int{3*snapshotChunk + 17, snapshotChunk, 0, 6*snapshotChunk + 3, snapshotChunk - 1, 2*snapshotChunk + 1, 5 * snapshotChunk, 5} {
		data := make([]byte, size)
		for j := range data {
			data[j] = byte(r.Uint32())
		}
		pos := uint64(100 + i)
		if err := l.SaveSnapshot(ctx, pos, data); err != nil {
			t.Fatal(err)
		}
		gotPos, got, err := l.LoadSnapshot(ctx)
		if err != nil || gotPos != pos || !bytes.Equal(got, data) {
			t.Fatalf("size %d: loaded position %d, %d bytes, %v; want %d, %d bytes", size, gotPos, len(got), err, pos, size)
		}
		chunks := 0
		it, err := l.db.NewIter(nil)
		if err != nil {
			t.Fatal(err)
		}
		for it.SeekGE(snapshotChunkKey(0)); it.Valid() && bytes.Compare(it.Key(), snapshotChunksEnd) < 0; it.Next() {
			if len(it.Value()) > snapshotChunk {
				t.Errorf("a %d-byte chunk", len(it.Value()))
			}
			chunks++
		}
		it.Close()
		if want := (size + snapshotChunk - 1) / snapshotChunk; chunks != want {
			t.Fatalf("size %d: %d chunk keys, want %d", size, chunks, want)
		}
	}
}
