package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/omniq/omniq/stores"
)

// A snapshot is the one row of N_snapshot and, when it is longer than
// pieceSize, the rows of N_snappieces:
//
//	N_snapshot.size NULL:   the snapshot is N_snapshot.data (a short one, or
//	                        any written before pieces existed); N_snappieces
//	                        is empty or left over, and ignored
//	N_snapshot.size = s:    N_snapshot.data is empty; the snapshot is the
//	                        data of N_snappieces in seq order, seq 0, 1, 2 …
//	                        with no gap, s bytes in all
//
// INVARIANT: a save replaces both in one transaction, so a reader in one
// snapshot of the database sees one saved snapshot whole. Saves are
// serialized by an advisory lock: two saves would otherwise both insert
// seq 0.

// SaveSnapshot implements stores.SnapshotStore: in one transaction it
// deletes the old pieces, copies in the new ones (a long snapshot) and
// replaces the snapshot row, so a reader sees the old snapshot or the new
// one, never a mix. Errors: ErrClosed, ErrUnavailable.
func (l *Log) SaveSnapshot(ctx context.Context, position uint64, data []byte) error {
	if l.closed.Load() {
		return fmt.Errorf("postgres: save snapshot: %w", stores.ErrClosed)
	}
	if position > math.MaxInt64 {
		return fmt.Errorf("postgres: save snapshot: position %d out of range", position)
	}
	return l.lockedTx(ctx, "snapshot", "save snapshot", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, l.q.dropPieces); err != nil {
			return l.interpretError("save snapshot: delete pieces", err)
		}
		inline, size := data, (*int64)(nil)
		if len(data) > pieceSize {
			if _, err := copyPieces(ctx, tx, l.t.snapPiecesID, data); err != nil {
				return l.interpretError("save snapshot: copy pieces", err)
			}
			inline, size = nil, new(int64(len(data)))
		}
		if inline == nil {
			inline = []byte{} // the column is NOT NULL; an empty snapshot is still a snapshot
		}
		if _, err := tx.Exec(ctx, l.q.saveSnapshot, int64(position), inline, size); err != nil {
			return l.interpretError("save snapshot", err)
		}
		return nil
	})
}

// LoadSnapshot implements stores.SnapshotStore. It reads in one
// repeatable-read transaction, so the row and the pieces are of one save.
// Errors: ErrNoSnapshot, ErrClosed, ErrCorrupt (pieces missing or out of
// step with the row), ErrUnavailable.
func (l *Log) LoadSnapshot(ctx context.Context) (uint64, []byte, error) {
	if l.closed.Load() {
		return 0, nil, fmt.Errorf("postgres: load snapshot: %w", stores.ErrClosed)
	}
	tx, err := l.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, nil, l.interpretError("load snapshot", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // it only read
	var pos int64
	var size *int64
	var data []byte
	if err := tx.QueryRow(ctx, l.q.loadSnapshot).Scan(&pos, &size, &data); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, nil, fmt.Errorf("postgres: load snapshot: %w", stores.ErrNoSnapshot)
		}
		return 0, nil, l.interpretError("load snapshot", err)
	}
	if size != nil {
		if data, err = l.loadPieces(ctx, tx, *size); err != nil {
			return 0, nil, err
		}
	}
	if data == nil {
		data = []byte{}
	}
	return uint64(pos), data, nil
}

// loadPieces reads the snapshot of size bytes from its pieces, appending
// each from the driver's buffer into one slice of that size.
func (l *Log) loadPieces(ctx context.Context, tx pgx.Tx, size int64) ([]byte, error) {
	rows, err := tx.Query(ctx, l.q.loadPieces)
	if err != nil {
		return nil, l.interpretError("load snapshot: pieces", err)
	}
	defer rows.Close()
	// A corrupt size must not allocate the moon: past 1 GiB the slice grows
	// with what is actually read.
	data := make([]byte, 0, min(size, 1<<30))
	var seq int32
	for want := int32(0); rows.Next(); want++ {
		var piece pgtype.DriverBytes // valid until the next row
		if err := rows.Scan(&seq, &piece); err != nil {
			return nil, l.interpretError("load snapshot: pieces", err)
		}
		if seq != want || int64(len(data)+len(piece)) > size {
			return nil, fmt.Errorf("postgres: load snapshot: %w: piece %d of a %d-byte snapshot of %q is out of place or too long",
				stores.ErrCorrupt, seq, size, l.name)
		}
		data = append(data, piece...)
	}
	if err := rows.Err(); err != nil {
		return nil, l.interpretError("load snapshot: pieces", err)
	}
	if int64(len(data)) != size {
		return nil, fmt.Errorf("postgres: load snapshot: %w: the pieces of %q hold %d bytes, want %d",
			stores.ErrCorrupt, l.name, len(data), size)
	}
	return data, nil
}
