// Package nats is a stores.Log kept in a NATS JetStream stream, shared by
// every process that opens the same log name on the same NATS system.
//
// # Layout
//
// A log called NAME is two JetStream streams, both with file storage:
//
//	OMNIQ_NAME        subject omniq.NAME.log; one message per appended batch
//	                  ┌─────────┬──────────────────────────────────────────────┐
//	                  │ seq s   │ Omniq-First: f   Omniq-Count: n              │
//	                  │         │ data: events.MarshalBatch of the n events    │
//	                  │         │   or Omniq-Blob: name, data in the bucket    │
//	                  └─────────┴──────────────────────────────────────────────┘
//	                  seq 1 holds position 1 (the first seq held, after a
//	                  truncation, holds First); f(s+1) = f(s) + n(s)
//	OBJ_OMNIQ_NAME    object store bucket OMNIQ_NAME: batches larger than the
//	                  server's max_payload (1 MiB by default), and the one
//	                  projection snapshot (object "snapshot", position in its
//	                  metadata)
//
// An append publishes its batch with Nats-Expected-Last-Sequence set to the
// stream sequence of the newest message the writer knows, and Omniq-First set
// to the position after that message's last event. The server stores it only
// if that message is still the newest, so every stored message starts exactly
// where its predecessor ended: positions are gap-free in commit order across
// processes. A writer that loses the race reads the new newest message and
// tries again. Each batch is one message (a large batch is one message that
// names its object), so batches are atomic. The stream denies message
// deletes, and messages leave only by a purge from the front (below), so
// sequence s never changes meaning.
//
// AppendAt (stores.Conditional) never tries again: it publishes only after a
// message that ends at the position it expects, with
// Nats-Expected-Last-Sequence set to that message's sequence, so the
// server's check is the atomic step. A newest message that ends elsewhere
// (asked of the server when the one cached ends before that position, since
// the cache may be stale) or a publish the server refuses is
// stores.ErrConflict, and the object of a large batch is then deleted.
//
// Read finds the message holding a position by interpolation and bisection
// over stream sequences with direct gets, helped by a cache of sequence →
// position anchors (the newest message, the ones found before), then fetches
// the following messages in parallel. Wait runs one headers-only ordered
// consumer per Log, started at its first call, so it wakes when any process
// appends.
//
// # Truncation
//
// The Log implements stores.Truncater by whole messages. TruncateBefore(pos)
// finds the message holding pos and purges the stream below it (a purge
// request with a sequence, which nats-server 2.9 supports), keeping that
// message whole; past the head it keeps the newest message, which the head is
// read from. It then deletes the objects of the large batches it purged,
// found by a headers-only scan of the purged range (skipped when the bucket
// holds no large batch); a crash in between leaves them as garbage. First is
// the first position of the stream's first message. A Read or TruncateBefore
// that meets a missing message asks the server for the first message held,
// and carries on from there when the missing one was purged by a truncation
// — another process's, say — it did not know of; otherwise it is corruption.
//
// Truncation needs the stream to allow purges. Streams this package creates
// do. Streams created by versions before truncation were created with
// deny_purge, which JetStream never lets be cleared on an existing stream
// ("stream configuration update can not cancel deny purge"), so
// TruncateBefore answers ErrPurgeDenied for them and they keep every event;
// to compact one, copy its messages to a stream created by this version. With
// purges allowed, anyone with access to $JS.API.STREAM.PURGE.OMNIQ_<name> can
// purge the stream; restrict that subject to the user that runs compaction
// with NATS account permissions. A stream purged entirely (by hand) has lost
// its positions: Head reports stores.ErrCorrupt, as do Read and Append on a
// Log that has not yet learned the newest message, rather than start again
// at position 1.
//
// # Server versions
//
// It needs nats-server 2.9.0 or later with JetStream enabled: direct get
// (allow_direct) and the named ephemeral consumers that ordered consumers use
// arrived in 2.9.0. It also needs the server to treat
// Nats-Expected-Last-Sequence: 0 as "the stream is empty" (older servers
// ignored a 0; nats-server#3038 changed that after 2.8); Append reports
// stores.ErrCorrupt if a server stored a batch at an unexpected sequence. It
// uses nothing newer: no atomic batch publish, no per-message TTL, no
// sync_interval, no subject transforms. It is tested against a single
// nats-server 2.9.10 with R1 streams only. For replicated streams use a
// current server: fixes to the concurrency of clustered expected-sequence
// checks landed in later releases (nats-server#4319, 2.9.21, for the
// per-subject check).
//
// # Durability
//
// A publish is acknowledged once the stream's server(s) have written the
// message to the file store — into the OS page cache, not necessarily to disk.
// The file store fsyncs on a timer: on nats-server 2.9 every 2 minutes, fixed
// (sync_interval is not configurable before 2.10.0). So with one server (R1),
// an acknowledged append survives a crash of the omniq process and a crash or
// restart of the nats-server process, but an OS crash or power loss can lose
// appends from the last sync interval (up to about 2 minutes).
//
// To make it stricter:
//   - on nats-server 2.10 or later, set jetstream { sync_interval: always }
//     (fsync before each acknowledgement, at a large cost in throughput) or a
//     shorter interval;
//   - run a cluster and open the log WithReplicas(3): an append is then
//     acknowledged only after a majority of replicas stored it, so losing it
//     takes failures of more than one machine within the sync interval.
//
// An Append that fails with stores.ErrUnavailable (timeout, disconnection)
// or with its context ending may or may not have been stored. Publishes are
// not buffered while the connection reconnects, so an append attempted while
// disconnected fails at once and is not stored later. An object written for a
// large batch whose message was never stored stays in the bucket as garbage.
package nats
