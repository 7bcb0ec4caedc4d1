package pebble

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"

	pdb "github.com/cockroachdb/pebble/v2"

	"github.com/omniq/omniq/stores"
)

// A snapshot is stored as chunks of at most snapshotChunk bytes under keys
// 's' + chunk index (uint32, BE), and a manifest under 's' alone (see the
// package doc). Chunks keep every value small: one value of hundreds of MB
// slows Pebble's reads of the events stored beside it.
const snapshotChunk = 1 << 20

// manifestMagic starts a manifest value; it tells one from the single-value
// snapshots (position + data) of earlier builds, which are not read.
const manifestMagic = "OQM1"

// manifestLen: magic, position, data length, chunk count, CRC-32C of the data.
const manifestLen = 4 + 8 + 8 + 4 + 4

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// SaveSnapshot implements stores.SnapshotStore: it replaces the snapshot with
// position and data in one synced batch (the old chunks deleted, the new
// ones and then the manifest written), or, over 4 MiB, in one ingested
// table that does the same (ingester.snapshot), so a crash leaves the old
// snapshot or the new one, never a mix. Errors: stores.ErrClosed, ctx.Err(),
// or a Pebble error via interpretError.
func (l *Log) SaveSnapshot(ctx context.Context, position uint64, data []byte) error {
	l.life.RLock()
	defer l.life.RUnlock()
	if err := l.usable(ctx, "save snapshot"); err != nil {
		return err
	}
	chunks := (len(data) + snapshotChunk - 1) / snapshotChunk
	m := make([]byte, 0, manifestLen)
	m = append(m, manifestMagic...)
	m = binary.BigEndian.AppendUint64(m, position)
	m = binary.BigEndian.AppendUint64(m, uint64(len(data)))
	m = binary.BigEndian.AppendUint32(m, uint32(chunks))
	m = binary.BigEndian.AppendUint32(m, crc32.Checksum(data, crcTable))
	if len(data) > l.snapshotBatchMax {
		// A large snapshot (the whole state) is written as a table a
		// block at a time and ingested (ingester.snapshot), never held in
		// memory a second time.
		return l.ingest.snapshot(ctx, l.db, m, data)
	}
	// Sized once: a batch that grows by doubling leaves twice that in
	// garbage.
	b := l.db.NewBatchWithSize(len(data) + (chunks+2)*64 + manifestLen)
	defer b.Close()
	if err := b.DeleteRange(snapshotChunkKey(0), snapshotChunksEnd, nil); err != nil {
		return interpretError("save snapshot", err)
	}
	for i := 0; i < chunks; i++ {
		chunk := data[i*snapshotChunk : min((i+1)*snapshotChunk, len(data))]
		if err := b.Set(snapshotChunkKey(uint32(i)), chunk, nil); err != nil {
			return interpretError("save snapshot", err)
		}
	}
	if err := b.Set(snapshotKey, m, nil); err != nil {
		return interpretError("save snapshot", err)
	}
	return interpretError("save snapshot", b.Commit(pdb.Sync))
}

// LoadSnapshot implements stores.SnapshotStore. It returns a copy of the data.
// Errors: stores.ErrNoSnapshot, stores.ErrClosed, ctx.Err(), stores.ErrCorrupt
// when the manifest is malformed or the chunks do not add up to the data it
// describes.
func (l *Log) LoadSnapshot(ctx context.Context) (uint64, []byte, error) {
	l.life.RLock()
	defer l.life.RUnlock()
	if err := l.usable(ctx, "load snapshot"); err != nil {
		return 0, nil, err
	}
	// One consistent view: a SaveSnapshot committing meanwhile is not seen
	// half applied.
	snap := l.db.NewSnapshot()
	defer snap.Close()
	m, closer, err := snap.Get(snapshotKey)
	if err != nil {
		return 0, nil, interpretError("load snapshot", err)
	}
	if len(m) != manifestLen || string(m[:4]) != manifestMagic {
		closer.Close()
		return 0, nil, fmt.Errorf("pebble: load snapshot: %w: the %d-byte manifest is not one this build reads", stores.ErrCorrupt, len(m))
	}
	position := binary.BigEndian.Uint64(m[4:])
	size := binary.BigEndian.Uint64(m[12:])
	chunks := binary.BigEndian.Uint32(m[20:])
	sum := binary.BigEndian.Uint32(m[24:])
	closer.Close()
	if size > uint64(chunks)*snapshotChunk || (size+snapshotChunk-1)/snapshotChunk != uint64(chunks) {
		return 0, nil, fmt.Errorf("pebble: load snapshot: %w: %d bytes in %d chunks", stores.ErrCorrupt, size, chunks)
	}
	it, err := snap.NewIterWithContext(ctx, &pdb.IterOptions{LowerBound: snapshotChunkKey(0), UpperBound: snapshotChunksEnd})
	if err != nil {
		return 0, nil, interpretError("load snapshot", err)
	}
	defer it.Close()
	data := make([]byte, 0, size)
	next := uint32(0)
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()
		if len(k) != len(snapshotChunksEnd)+4 || binary.BigEndian.Uint32(k[1:]) != next || next >= chunks {
			return 0, nil, fmt.Errorf("pebble: load snapshot: %w: unexpected chunk key %x", stores.ErrCorrupt, k)
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return 0, nil, interpretError("load snapshot", err)
		}
		if uint64(len(data)+len(v)) > size {
			return 0, nil, fmt.Errorf("pebble: load snapshot: %w: chunks hold more than %d bytes", stores.ErrCorrupt, size)
		}
		data = append(data, v...)
		next++
	}
	if err := it.Error(); err != nil {
		return 0, nil, interpretError("load snapshot", err)
	}
	if next != chunks || uint64(len(data)) != size {
		return 0, nil, fmt.Errorf("pebble: load snapshot: %w: %d of %d chunks, %d of %d bytes", stores.ErrCorrupt, next, chunks, len(data), size)
	}
	if crc32.Checksum(data, crcTable) != sum {
		return 0, nil, fmt.Errorf("pebble: load snapshot: %w: checksum mismatch", stores.ErrCorrupt)
	}
	return position, data, nil
}
