// Package file is a durable stores.Log kept in plain files in one directory.
//
// It is for a single process: Open takes an exclusive lock on the directory,
// and appends, reads, tails and snapshots are served in-process. It needs a
// Unix system (flock, directory fsync).
//
// # Directory
//
//	baseDir/
//	  LOCK                       flock held while a Log is open; holds the owner's pid
//	  00000000000000000001.seg   segment whose first event is at position 1
//	  00000000000000004097.seg   the next segment: its name is its first position
//	  FIRST                      the log's first position, once truncated (below)
//	  FIRST.tmp                  a FIRST being written; removed by Open
//	  snapshot                   the latest projection snapshot, if any
//	  snapshot.tmp               a snapshot being written; removed by Open
//
// Segment names are the position of the segment's first event, zero-padded to
// 20 digits so that names sort in position order. Appends go to the last
// segment; once it has grown to the segment size (WithSegmentSize, default
// 64 MiB) the next append starts a new one. A batch is never split, so a
// segment may end past the segment size by up to one batch.
//
// # Records
//
// A segment is a run of records with nothing between them, one record per
// appended batch, so a batch is on disk whole or not at all:
//
//	+-----------+-----------+------------------------------------------------+
//	| length    | checksum  | body (length bytes)                            |
//	| uint32 LE | uint32 LE |                                                |
//	+-----------+-----------+------------------------------------------------+
//	 \________ header ______/
//
//	body:
//	+-----------+-----------+------------------------------------------------+
//	| first     | count     | events.MarshalBatch of the batch's events      |
//	| uint64 LE | uint32 LE |                                                |
//	+-----------+-----------+------------------------------------------------+
//
// checksum is the CRC-32C (Castagnoli) of the body. first is the position of
// the batch's first event and count the number of events in it, so the next
// record's first is first+count. A body is at least 12 bytes and at most 1 GiB;
// Append refuses a batch that would encode larger.
//
// Open reads every segment, checks every record's checksum and builds an
// in-memory index (16 bytes per batch) from position to segment and offset,
// so Read goes straight to the records it needs. Read checks each record's
// checksum again before decoding, so damage after Open reads as corruption.
//
// # Durability
//
// When Append returns without error, its record has been written and fsynced,
// and if the record started a new segment, the directory was fsynced after
// creating it. The batch therefore survives a process crash and a power loss,
// given a disk that honours fsync (one that does not acknowledge writes still
// in a volatile cache).
//
// When a write or fsync fails — or creating a segment, or fsyncing the
// directory after it — Append returns an error wrapping stores.ErrReadOnly
// (and the operating system's error) and the Log refuses every later append
// until it is closed and opened again; reads go on working. It never retries
// an fsync: after a failed fsync the kernel may have dropped the dirty pages
// and reported them clean, so a second fsync can succeed without the data
// being on disk (PostgreSQL's "fsyncgate", 2018). Whether the failed batch
// is in the log is then unknown: the Log cuts the segment back to its last
// acknowledged size, so a reopen without a crash in between finds exactly the
// acknowledged batches, but a crash before that cut reaches the disk may
// leave the batch in place.
//
// Open fsyncs the last segment and the directory before it serves reads, so
// a batch that a crashed process wrote but never acknowledged is durable
// before anyone can see it.
//
// # Recovery
//
// Open checks every record of every segment, in position order:
//
//   - A damaged record at the end of the last segment — a header or body cut
//     short, an impossible length, or a checksum mismatch — with no valid
//     record anywhere after it is a torn write from a crash during Append.
//     Open truncates the segment just before it; that batch was never
//     acknowledged.
//   - Any other damage is corruption and Open fails with an error wrapping
//     stores.ErrCorrupt that names the file and offset: a damaged record with
//     a valid record somewhere after it, a damaged record in a segment that
//     is not the last, a record whose first position does not continue the
//     one before (or holds no events), a segment whose name does not
//     continue the segment before it, a first segment that does not start
//     at position 1 (or at the position FIRST names), or a damaged FIRST.
//
// Open does not decode events; a checksummed record whose events do not
// decode makes Read fail with stores.ErrCorrupt.
//
// # Truncation
//
// The Log implements stores.Truncater by whole segments: TruncateBefore(pos)
// removes every segment but the last whose events all lie below pos, and
// keeps the segment holding pos whole, so up to one segment of events older
// than pos stays readable. First is the first position of the first segment
// kept. Positions never change, and the head survives a reopen because the
// last segment is never removed. Under retention at steady load the
// directory therefore levels off at the events kept plus about one segment
// (and the snapshot).
//
// A log that was truncated starts at a segment other than 1, which Open
// would otherwise read as a lost segment. So before removing anything,
// TruncateBefore records the new first position in FIRST, written like a
// snapshot (FIRST.tmp, fsync, rename, directory fsync):
//
//	+----------+-----------+-----------+
//	| magic    | checksum  | first     |
//	| 8 bytes  | uint32 LE | uint64 LE |
//	+----------+-----------+-----------+
//
// magic is "OMNIQFP1"; checksum is the CRC-32C of first. Then it removes the
// segments and fsyncs the directory. Open requires a segment that starts at
// FIRST's position (or at 1 when there is no FIRST) and checks the segments
// from there on as above; segments before it are what a crash left of a
// truncation already decided, and Open removes them without reading them. A
// missing segment after the first is corruption as before.
//
// # Snapshots
//
// The Log implements stores.SnapshotStore with one file, written to
// snapshot.tmp, fsynced, renamed over snapshot, and the directory fsynced:
//
//	+----------+-----------+-----------+-----------------------------------+
//	| magic    | checksum  | position  | data                              |
//	| 8 bytes  | uint32 LE | uint64 LE | (to the end of the file)          |
//	+----------+-----------+-----------+-----------------------------------+
//
// magic is "OMNIQSN1"; checksum is the CRC-32C of position and data. A
// snapshot is a cache, so a damaged one reads as absent: LoadSnapshot returns
// an error that wraps both stores.ErrNoSnapshot (replay from the log) and
// stores.ErrCorrupt (say why).
package file
