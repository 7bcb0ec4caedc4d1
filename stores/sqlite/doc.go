// Package sqlite is a stores.Log in one SQLite database file, on
// modernc.org/sqlite (pure Go, no cgo) through database/sql.
//
// Several Log values — in one process or several — may open the same file at
// once: they see one sequence of events in one order, and a Wait in one
// notices appends by another. Logs with different names (WithName) share a
// file without seeing each other.
//
// # Durability
//
// The database runs in WAL mode. Append returns after its transaction has
// committed, and what that promises depends on PRAGMA synchronous, which this
// package sets on every connection (WithSync):
//
//   - SyncFull (the default): SQLite fsyncs the WAL at every commit, so an
//     acknowledged append survives a crash of the process, a crash of the
//     operating system and a power loss, provided the disk honours flushes.
//     The log promises durability, so this is the default. On macOS the
//     package also sets PRAGMA fullfsync, since plain fsync there does not
//     flush the drive's cache.
//   - SyncNormal: in WAL mode the WAL is synced only at checkpoints, not at
//     each commit. An acknowledged append survives a crash of the process
//     (the data is in the OS page cache) but the most recent ones can be lost
//     in an OS crash or power loss; the database stays consistent (no torn
//     batch, no gap — the log just ends earlier). Several times faster for
//     small batches; choose it only where losing the last moments of history
//     is acceptable.
//
// modernc.org/sqlite syncs with fsync(2); its process-wide
// sqlite.Fdatasync(true) switches to fdatasync(2), which is as durable and
// often faster. This package leaves that choice to the program.
//
// A failed write (SQLITE_IOERR, SQLITE_READONLY) makes the Log refuse further
// appends with stores.ErrReadOnly until it is reopened: after a failed fsync
// the kernel may have dropped the pages, and pressing on could acknowledge
// appends on top of a lost one.
//
// # Table layout
//
// For a log named N (WithName; default "omniq"):
//
//	N_migrations  version INTEGER PK, applied_at          one row per applied schema version
//	N_batches     first_pos INTEGER PK (the rowid), n,    one row per appended batch; data is
//	              data BLOB                               events.MarshalBatch of the n events
//	N_snapshot    one INTEGER PK (= 1), position, data,   at most one row
//	              saved_at
//
//	N_batches:   first_pos   n   data
//	             1           3   [e1 e2 e3]
//	             4           1   [e4]
//	             5          64   [e5 … e68]        head = 5 + 64 - 1 = 68
//
// INVARIANT: the batches tile First..head with no gap or overlap, and the
// head is the last row's first_pos + n - 1 (the last row is found through the
// rowid, so reading the head costs one B-tree descent). First is the first
// row's first_pos: 1 until the log is truncated.
//
// An append runs in a BEGIN IMMEDIATE transaction, which takes the database's
// write lock at once: it reads the head, inserts the batch after it and
// commits, so positions are assigned and committed in one order across every
// connection and process. AppendAt (stores.Conditional) compares the head
// read in that transaction with the one expected and rolls back when they
// differ (stores.ErrConflict): the write lock, held from BEGIN to COMMIT,
// keeps every other connection and process from appending in between.
// Appends through one Log are also serialized in process, so they queue on
// a mutex rather than in SQLite's busy handler; other connections and
// processes wait up to the busy timeout (WithBusyTimeout, default 5s) and
// then fail with stores.ErrUnavailable.
//
// # Why one row per batch
//
// A batch is the unit the engine group-commits and the unit of atomicity, so
// it is stored as one row: one B-tree insert per append whatever its size,
// and an event's position is first_pos plus its index. The costs: a read that
// starts in the middle of a batch decodes the whole batch, and the smallest
// unit truncation can remove is a batch.
//
// # Truncation
//
// The Log implements stores.Truncater by whole rows: TruncateBefore(pos)
// deletes, in one statement, the batches that end before pos, keeping the
// batch that holds pos. It never deletes the last batch, even when pos is
// past the head, because the head is read from it; so a reopen, or another
// process, finds the same head. First is the smallest first_pos left, and a
// Read from before it starts there. No schema change was needed: the first
// position is not stored, it is where the rows start — which also means that
// rows deleted from the front behind the log's back read as a truncation,
// not as corruption (a gap anywhere after the first row is still corrupt).
//
// # Space
//
// The pages the deleted rows held go to SQLite's freelist and later appends
// reuse them, so under retention at steady load the database file levels
// off at about the size of the events kept. It never shrinks: after a large
// truncation it keeps its size and fills up again, since this package never
// runs VACUUM (auto_vacuum stays off).
//
// SQLite copies the WAL into the database after every commit that leaves it
// past 1000 pages (wal_autocheckpoint, left at its default) and starts it
// over once no reader still reads from it. Readers that always overlap can
// keep it from starting over, and the WAL would then grow with every append;
// so every connection sets journal_size_limit to 8 MiB (SQLite cuts the WAL
// file back to that when it starts it over), and TruncateBefore, when the
// WAL file is larger than that, checkpoints and empties it (PRAGMA
// wal_checkpoint(TRUNCATE)), waiting up to 100ms for the readers and holding
// writers back meanwhile. With retention on, the WAL therefore stays within
// about 8 MiB plus what is appended between two truncations, unless readers
// hold it through the whole wait at every truncation.
//
// # Tailing
//
// Wait wakes at once on appends through the same Log. SQLite has no
// cross-process notification, so while at least one Wait is blocked, one
// goroutine per Log re-reads the head every poll interval (WithPollInterval,
// default 25ms) to notice appends by other connections or processes; nobody
// polls while nobody waits.
//
// # Schema changes
//
// Open applies the numbered migrations this build knows and N_migrations does
// not list, in one BEGIN IMMEDIATE transaction, so processes opening the same
// file at once apply each exactly once. A schema newer than this build is
// refused.
package sqlite
