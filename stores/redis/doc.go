// Package redis is a stores.Log kept in a Redis stream, shared by every
// process that opens the same server, database and Name.
//
// # Layout
//
// Every key carries the hash tag {Name}, so a Redis Cluster would keep one log
// in one slot and the append script may touch all of its keys (Open itself
// connects to one server, or to a proxy in front of a cluster):
//
//	{Name}:log    stream, one entry per appended batch
//	              ┌──────────────┬───────────────────────────────────────┐
//	              │ ID <first>-1 │ n = event count, b = events.MarshalBatch │
//	              └──────────────┴───────────────────────────────────────┘
//	              entry IDs ascend with first; first(k+1) = first(k) + n(k);
//	              the first entry holds First (1 until truncated)
//	{Name}:head   string, position of the last event (absent = 0)
//	{Name}:snap   hash {pos, data}: the one projection snapshot
//
// An append is one Lua script (EVALSHA, falling back to EVAL) that reads the
// head, XADDs the batch under the explicit ID <head+1>-1 and raises the head.
// Redis runs a script to completion before any other command, so batches are
// atomic and positions are gap-free in commit order across every process.
// AppendAt (stores.Conditional) passes the head it expects to the same
// script, which compares it with the head key before writing anything and
// returns the head instead of appending when they differ
// (stores.ErrConflict); nothing runs between the comparison and the write.
//
// Read finds the entry holding a position with XREVRANGE … COUNT 1 and reads
// forward with XRANGE. Wait blocks in XREAD on the stream, so a tail wakes on
// an append made by any process.
//
// # Truncation
//
// The Log implements stores.Truncater by whole entries: TruncateBefore(pos)
// is one script that finds the entry holding pos and XTRIMs MINID to its ID,
// removing the entries before it (every entry, when pos is past the head).
// The head key is untouched, so the head never resets. First is the first
// entry's position (head+1 when none is left), and a Read from before it
// starts there. A read that meets a gap checks whether a truncation made it
// (the entry after the gap is now the first) and then returns the run it
// has; any other gap is corruption.
//
// # Durability
//
// What an acknowledged Append survives is decided by the server's
// persistence settings, not by this package:
//
//   - appendonly no (the default, and the setting of the development server
//     this package is tested against: --save "" --appendonly no): the batch
//     lives only in Redis memory. It survives a crash of the omniq process, but
//     not a restart or crash of Redis. With RDB save points instead, a restart
//     loses what was appended since the last save.
//   - appendonly yes, appendfsync everysec (the usual AOF setting): it survives
//     a Redis restart; an OS crash or power loss can lose about the last second.
//   - appendonly yes, appendfsync always: Redis writes and fsyncs the AOF
//     before it sends the replies of the writes it covers, so an acknowledged
//     append survives power loss, at a large cost in throughput.
//
// Replication is asynchronous. To survive the loss of the primary machine, run
// replicas and issue WAIT numreplicas timeout after appends (this package does
// not); WAITAOF, which waits for replicas' AOF fsync, needs Redis 7.2 or later.
//
// Log.Durability reports the server's settings, and Options.RequireAOF makes
// Open refuse a server that is not running with appendonly yes.
//
// An Append that fails with stores.ErrUnavailable (connection lost, timeout)
// may or may not have been applied; go-redis retries are disabled so a batch
// is never written twice by a retry.
package redis
