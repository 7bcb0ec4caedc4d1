// Package postgres is a stores.Log kept in PostgreSQL, on pgx/v5 and pgxpool.
//
// Several processes may open the same log (same database, same name) at once:
// they see one sequence of events, in the same order, and a Wait in one wakes
// on an append by another (LISTEN/NOTIFY). Logs with different names in one
// database are isolated from each other.
//
// # Durability
//
// Append returns only after its transaction has committed. With the server's
// defaults — synchronous_commit = on and fsync = on — PostgreSQL flushes the
// commit's WAL record to disk before it acknowledges the commit, so an
// acknowledged append survives a crash of this process, a crash of the
// server and a power loss, provided the storage honours flushes (no volatile
// write cache that lies about them). Check the server with
//
//	SHOW synchronous_commit;  -- must be on, remote_write or remote_apply
//	SHOW fsync;               -- must be on
//
// With synchronous_commit = off or local on a server configured for
// replication, or with fsync = off, the most recent acknowledged appends can
// be lost in a server crash; this package does not override the setting. To
// pin it for the log's connections, put it in the DSN:
// options=-c%20synchronous_commit%3Don. For an append to survive the loss of
// the primary's disk as well, configure synchronous replication
// (synchronous_standby_names on the server, synchronous_commit = on or
// remote_apply); Append then returns only after a standby has the commit.
//
// When the connection breaks while a commit is in flight, Append returns an
// error wrapping stores.ErrUnavailable and the batch may or may not have been
// written; read the log to find out before appending it again.
//
// # Table layout
//
// For a log named N (WithName; default "omniq") the package creates, in the
// first schema of the connection's search_path:
//
//	N_migrations  version INT PK, applied_at       one row per applied schema version
//	N_head        one BOOL PK, head BIGINT         exactly one row: the last position
//	N_batches     first_pos BIGINT PK, n INT,      one row per appended batch; data is
//	              data BYTEA                       events.MarshalBatch of the n events
//	N_snapshot    one BOOL PK, position BIGINT,    at most one row; size is NULL
//	              data BYTEA, size BIGINT,         when data holds the snapshot,
//	              saved_at                         else its length in N_snappieces
//	N_snappieces  seq INT PK, data BYTEA           a long snapshot, in pieces of 4 MiB
//
//	N_batches:   first_pos   n   data
//	             1           3   [e1 e2 e3]
//	             4           1   [e4]
//	             5          64   [e5 … e68]        N_head.head = 68
//
// INVARIANT: the batches tile First..head with no gap or overlap: every
// row's first_pos is the previous row's first_pos + n, and head is the last
// row's first_pos + n - 1 (or First - 1 when truncation removed every row).
// First is the first row's first_pos: 1 until the log is truncated.
//
// An append is one statement (so one round trip and one implicit
// transaction): it increments N_head.head by the batch size, inserts the batch
// at the old head + 1 and sends NOTIFY N_appended with the new head. The
// UPDATE takes the head row's lock and keeps it until commit, so appends are
// serialized and commit in position order: a reader never sees position p+1
// committed while p is not. (A BIGSERIAL alone would not do: sequence values
// are handed out at insert time, transactions commit in any order, and a
// reader tailing by position would skip a row that commits late.)
//
// A batch encoded in more than 4 MiB is sent in pieces instead of as one
// parameter, which the driver would copy whole twice (pieces.go): a
// transaction copies them into a temporary table, and then the same
// statement, taking the batch from there, appends it as one row.
//
// AppendAt (stores.Conditional) is the same statement with WHERE head =
// after on the UPDATE. Under READ COMMITTED (the default) an UPDATE that
// waited for another append's lock re-checks its WHERE against the head that
// append committed, so the comparison and the append are one atomic step;
// when the head is elsewhere no row is updated, nothing is inserted, and
// AppendAt returns stores.ErrConflict.
//
// # Why one row per batch
//
// A batch is the unit the engine group-commits and the unit of atomicity, so
// it is stored as one row: one heap tuple and one index entry per append
// whatever the batch size, and throughput grows with the batch. An event's
// position is first_pos plus its index in the batch. The costs: a read that
// starts in the middle of a batch decodes the whole batch, and the smallest
// unit truncation can remove is a batch.
//
// # Truncation
//
// The Log implements stores.Truncater by whole rows: TruncateBefore(pos)
// deletes, in one statement, the batches that end before pos, keeping the
// batch that holds pos. The head lives in N_head, so the head survives even
// when every batch is deleted. First is the smallest first_pos left (head+1
// when no row is), and a Read from before it starts there; every statement
// reads one snapshot, so a concurrent truncation never shows a reader a
// gap. No schema change was needed: the first position is not stored, it is
// where the rows start — which also means that rows deleted from the front
// behind the log's back read as a truncation, not as corruption (a gap
// anywhere after the first row is still corrupt). The deleted rows' space is
// reused after autovacuum.
//
// # Schema changes
//
// Open applies the numbered migrations this build knows and N_migrations does
// not list, in one transaction under a transaction-scoped advisory lock
// derived from the name, so processes opening the same log at once are safe
// and a second Open finds nothing to do. A schema newer than this build is
// refused.
//
// Version 2 (snapshots in pieces) lets nodes of the build before it that
// are already running go on during a rolling upgrade: the snapshots they
// save are single rows (size NULL), which this build reads, and one saved
// in pieces has an empty data column, which such a node takes for an
// unusable snapshot (its time travel replays the log instead). That build
// refuses to open a log at version 2, as it refuses any newer schema.
package postgres
