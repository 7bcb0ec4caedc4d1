// Package pebble is the embedded default stores.Log, kept in a Pebble LSM
// (github.com/cockroachdb/pebble/v2) in one directory.
//
// # Durability
//
// Every Append is one Pebble batch committed with pebble.Sync: the batch is in
// the write-ahead log and fsynced before Append returns. A batch larger than
// 4 MiB (a checkpoint) is instead written into one table, synced, and
// ingested (Pebble links it into the database and syncs the manifest edit
// that adds it before Ingest returns): it is written once, and never held
// in memory whole. Either way a returned Append survives a process crash
// and a power loss; an Append that returned an error wrote nothing. An
// Append is atomic: after a crash either all of its events are in the log
// or none are.
//
// Pebble treats a failed WAL write or fsync as fatal: it stops the process
// (through the logger's Fatalf, which here logs and panics) rather than
// continue with a log in an unknown state. This backend therefore never
// answers ErrReadOnly for a failed fsync; recovery is a restart, which replays
// the WAL.
//
// # Key layout
//
// All keys sort bytewise (Pebble's default comparer). Positions are big-endian
// so that key order is position order.
//
//	key                               value
//	+------+------------------------+ +-----------------------------------+
//	| 'e'  | position (uint64, BE)  | | events.Marshal(event)             |  one per event, first..head
//	+------+------------------------+ +-----------------------------------+
//	  1 B    8 B
//	+------+                          +------------------------+
//	| 'f'  |                          | position (uint64, BE)  |             the first position, once truncated
//	+------+                          +------------------------+
//	+------+                          +--------+----------+--------+--------+---------+
//	| 's'  |                          | "OQM1" | position | length | chunks | CRC-32C |  the snapshot's manifest
//	+------+                          +--------+----------+--------+--------+---------+
//	                                     4 B      8 B, BE    8 B, BE  4 B, BE  4 B, BE (Castagnoli, of the data)
//	+------+-----------------------+  +----------------------------+
//	| 's'  | chunk (uint32, BE)    |  | data[chunk×1 MiB : …+1 MiB] |            chunks 0..chunks-1
//	+------+-----------------------+  +----------------------------+
//
// A snapshot is written as 1 MiB chunks plus a manifest, in one synced batch
// that first range-deletes the old chunks (over 4 MiB, in one ingested table
// holding the same range deletion, manifest and chunks, so that the state is
// not copied into a batch, the WAL and a memtable): a single value of
// hundreds of MB makes Pebble's reads of the events beside it crawl. A
// manifest that does not match its chunks (count, length, checksum) loads as
// ErrCorrupt.
//
// Event keys are gap-free from the first position to the head. The first
// position is 1 until TruncateBefore stores another under 'f'. The head is
// not stored: Open recovers it from the last 'e' key (or as first-1 when
// truncation removed every event), and Append keeps it in memory after that.
//
// # Truncation
//
// The Log implements stores.Truncater exactly: TruncateBefore(pos) removes
// every event below pos, never more than the head. It is one synced batch —
// a range deletion of the event keys below pos and the new 'f' value — so it
// is atomic and durable like an Append.
//
// The space comes back after TruncateBefore returns, in Pebble's
// compactions: tables wholly under the range deletion are dropped without
// being rewritten, the others are rewritten without the deleted keys. Those
// compactions need the deletion out of the memtable, so once the events
// truncated since the last flush for this purpose hold 4 MiB of tables,
// the Log flushes the memtable in the background rather than wait for
// later appends to fill it. While the compactions keep up with the
// appends, the directory therefore levels off at a few times the live
// events plus about four WAL files of the memtable size (4 MiB each) that
// Pebble recycles; appends faster than the compactions can follow build up
// compaction debt, and with it deleted keys, as in any LSM. Reads start at the first position and never step
// over deleted keys. The table holding the 'f' key, which sorts after every
// event key, is searched by each read, so a read of the newest events costs
// some 15% more than on a log never truncated.
//
// # Concurrency
//
// A Log is safe for concurrent use. Appends are serialized (position
// assignment and commit are one critical section), so concurrent appenders
// each pay their own fsync; group commit is the engine's job. Read, Head and
// Wait see an event only once the Append that wrote it is durable.
//
// The directory is locked while a Log is open: a second Open of the same
// directory, from this process or another, fails with ErrLocked.
package pebble
