package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// A value sent as one query parameter is copied whole twice on its way out:
// pgx encodes every parameter into its own buffer, and then the Bind message
// into the connection's write buffer. For a snapshot or a checkpoint batch of
// 100 MB that is 200 MB more heap for as long as the send takes. A value
// longer than pieceSize therefore goes to the server in pieces of at most
// pieceSize bytes with COPY, which encodes one row at a time into one reused
// buffer: the extra memory is about one piece, whatever the value's size.
//
// Where the pieces go depends on the value: a snapshot keeps them as its
// rows (snapshot.go); a batch, which is one row by design, is put back
// together by the server from a temporary table (appendInPieces).

// pieceSize is the longest value sent as one parameter, and the length of
// every piece of a longer one but the last.
const pieceSize = 4 << 20

// pieceColumns are the columns a piece is copied into: its index from 0, in
// order, and its bytes.
var pieceColumns = []string{"seq", "data"}

// pieces is a pgx.CopyFromSource of data cut into rows (seq, piece), in
// order, without copying it.
type pieces struct {
	rest []byte // not yet returned
	cur  []byte
	seq  int32 // of the next piece
}

func (p *pieces) Next() bool {
	if len(p.rest) == 0 {
		return false
	}
	n := min(pieceSize, len(p.rest))
	p.cur, p.rest = p.rest[:n], p.rest[n:]
	p.seq++
	return true
}

func (p *pieces) Values() ([]any, error) { return []any{p.seq - 1, p.cur}, nil }

func (p *pieces) Err() error { return nil }

// copyPieces copies data in pieces into table (columns seq, data) within tx,
// and returns how many rows it wrote (none for an empty data).
func copyPieces(ctx context.Context, tx pgx.Tx, table pgx.Identifier, data []byte) (int64, error) {
	return tx.CopyFrom(ctx, table, pieceColumns, &pieces{rest: data})
}

// stageTable is the temporary table a batch's pieces wait in: private to
// the session, and dropped when the transaction that created it ends.
var stageTable = pgx.Identifier{"pg_temp", "omniq_pieces"}

// createStage creates stageTable. Its pieces are read once, right away, so
// the server stores them as they come (EXTERNAL: out of line, not
// compressed); the batch is compressed, if at all, where it stays.
var createStage = `CREATE TEMP TABLE ` + stageTable.Sanitize() + ` (seq INT PRIMARY KEY, data BYTEA NOT NULL) ON COMMIT DROP;
	ALTER TABLE ` + stageTable.Sanitize() + ` ALTER COLUMN data SET STORAGE EXTERNAL`

// stagedData is the SQL expression for the batch in stageTable.
var stagedData = `(SELECT string_agg(data, ''::bytea ORDER BY seq) FROM ` + stageTable.Sanitize() + `)`

// appendInPieces is append for a batch whose encoding data is longer than
// pieceSize: in one transaction it copies the pieces into a fresh stageTable
// and then runs the append statement, which takes the batch from there (the
// server concatenates it), so the batch is still one row and commits like
// any append. The head row is locked only from that statement to the
// commit, not while the pieces travel. It returns the batch's first
// position; errConflict when AppendAt's head moved, pgx.ErrNoRows or
// errNoHeadRow when the head row is missing. Other errors are pgx's, for
// append to interpret.
func (l *Log) appendInPieces(ctx context.Context, n int, data []byte, cond bool, after int64) (int64, error) {
	tx, err := l.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // a no-op after Commit
	if _, err := tx.Exec(ctx, createStage); err != nil {
		return 0, err
	}
	if _, err := copyPieces(ctx, tx, stageTable, data); err != nil {
		return 0, err
	}
	var first int64
	if cond {
		first, err = scanAppendAt(tx.QueryRow(ctx, l.q.appendAtInPieces, n, after))
	} else {
		err = tx.QueryRow(ctx, l.q.appendInPieces, n).Scan(&first, nil)
	}
	if err != nil {
		return 0, err
	}
	return first, tx.Commit(ctx)
}
