package pebble

import (
	"context"
	"fmt"
	"sync/atomic"

	pdb "github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/objstorage/objstorageprovider"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/omniq/omniq/events"
)

// ingestDir is the subdirectory of the log's directory where a large
// append's table is written before Pebble takes it in.
const ingestDir = "ingest"

// ingester appends a large batch (a checkpoint: hundreds of megabytes of
// state) by writing it into one sstable and ingesting that table, instead
// of committing a batch. A committed batch that large is held whole in
// memory, written to the WAL, then kept as a memtable until a flush writes
// it again; a table is written once, a block at a time, and the Go heap
// never holds more of it than a block. Ingestion is atomic (all of the
// table or none) and durable when it returns: the table is synced before
// it is linked into the database, and the manifest edit that adds it is
// synced too.
type ingester struct {
	fs   vfs.FS
	dir  string // where tables are written: dir/ingest
	opts sstable.WriterOptions
	seq  atomic.Uint64 // names snapshot tables, which may be written beside an append's
}

// newIngester prepares ingestion into db, whose options are po (as given
// to pdb.Open) and whose directory is dir on fs. It removes any table a
// crash left behind before its ingestion: such a table was never part of
// the log (its Append returned no position).
func newIngester(db *pdb.DB, po *pdb.Options, dir string, fs vfs.FS) (*ingester, error) {
	o := po.Clone()
	o.EnsureDefaults()
	in := &ingester{fs: fs, dir: fs.PathJoin(dir, ingestDir), opts: o.MakeWriterOptions(0, db.TableFormat())}
	if err := fs.RemoveAll(in.dir); err != nil {
		return nil, fmt.Errorf("pebble: open: clear %s: %w", in.dir, err)
	}
	if err := fs.MkdirAll(in.dir, 0o755); err != nil {
		return nil, fmt.Errorf("pebble: open: %w", err)
	}
	return in, nil
}

// append writes batch, from position first, as one table and ingests it
// into db. When it returns nil every event is durable in db; on an error
// none is. The keys are above every key db holds, so the ingestion never
// waits for a memtable flush.
// REQUIRES: the caller holds the log's append slot, and first is head+1.
func (in *ingester) append(ctx context.Context, db *pdb.DB, batch []events.Event, first uint64) error {
	return in.ingest(ctx, db, fmt.Sprintf("%020d.sst", first), "append", func(w *sstable.Writer) error {
		var key [eventKeyLen]byte
		var rec []byte
		var err error
		for i, ev := range batch {
			if rec, err = events.Marshal(rec[:0], ev); err != nil {
				return fmt.Errorf("pebble: append: %w", err)
			}
			if err = w.Set(putEventKey(key[:], first+uint64(i)), rec); err != nil {
				return interpretError("append", err)
			}
		}
		return nil
	})
}

// snapshot writes a snapshot, its manifest m and data in chunks of
// snapshotChunk bytes, as one table that also deletes every chunk key
// below it, and ingests that table into db. The ingestion is atomic: the
// old snapshot or the new one, never a mix. The table's keys all take one
// sequence number at ingestion, above every key db holds, and a range
// deletion removes only keys below its own sequence number: it clears the
// old chunks and none of the new.
//
// Written as a batch instead, a snapshot of hundreds of megabytes is
// copied whole into the batch, written to the WAL, and held in memory as a
// flushable batch until a flush writes it again: two to three times the
// state on the Go heap, for as long as that takes, on top of the engine's
// encoding of it.
func (in *ingester) snapshot(ctx context.Context, db *pdb.DB, m, data []byte) error {
	return in.ingest(ctx, db, fmt.Sprintf("snapshot-%d.sst", in.seq.Add(1)), "save snapshot", func(w *sstable.Writer) error {
		err := w.Set(snapshotKey, m)
		if err == nil {
			err = w.DeleteRange(snapshotChunkKey(0), snapshotChunksEnd)
		}
		for i := 0; err == nil && i*snapshotChunk < len(data); i++ {
			err = w.Set(snapshotChunkKey(uint32(i)), data[i*snapshotChunk:min((i+1)*snapshotChunk, len(data))])
		}
		return interpretError("save snapshot", err)
	})
}

// ingest writes one table, named name in the ingest directory, by write
// and ingests it into db: all of the table or none of it, durably. op
// names the step in errors. An error of write is returned as it is, and
// nothing is ingested.
func (in *ingester) ingest(ctx context.Context, db *pdb.DB, name, op string, write func(*sstable.Writer) error) error {
	path := in.fs.PathJoin(in.dir, name)
	f, err := in.fs.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return interpretError(op, err)
	}
	// Pebble links the table into its own directory, so this name can go
	// whether the ingestion happened or not. A name left behind (the
	// remove failed, or the process died) is cleared by the next Open; it
	// says nothing about the write, so its error is not the write's.
	defer func() { _ = in.fs.Remove(path) }()
	w := sstable.NewWriter(objstorageprovider.NewFileWritable(f), in.opts)
	if err := write(w); err != nil {
		_ = w.Close()
		return err
	}
	if err := w.Close(); err != nil {
		return interpretError(op, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return interpretError(op, db.Ingest(ctx, []string{path}))
}
