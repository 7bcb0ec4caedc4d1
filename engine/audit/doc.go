// Package audit works on a log at rest, with no engine running: it rebuilds
// the state as it stood at any point of history (Replay), checks that a log
// keeps OmniQ's invariants (Verify), and moves a log between stores as JSON
// Lines (Export, Import; the format is events/eventjson's). It also holds the
// archives compaction writes to (engine.Compact): FileArchive, JSON Lines
// with each event's original position, and LogArchive, another store that
// keeps the log's prefix at the same positions. Either takes any number of
// compactions and holds every event once; the archive followed by the
// compacted log's export is the whole history, which Import reads back
// (skipping the events a store kept past a compaction, which come twice).
//
// It imports no concrete store: callers open one (cmd/omniqd does it from a
// URL with stores/storeurl) and pass the stores.Log.
//
// # What Verify checks
//
// Verify reads the whole log from position 1 and folds it into a fresh
// projection, the way every replica does, and reports each breach with the
// rule it breaks, the position and the task. A log compacted through
// stores.Truncater starts later: its positions are checked from its first
// one, and the fold starts at its first log.checkpoint (the events before
// it are only counted). The rules:
//
//	positions          positions are 1, 2, 3, … (or First, First+1, … for a
//	                   compacted log, which must hold a checkpoint) up to the
//	                   head: no gap, no repeat, nothing missing below the head
//	decode             every event decodes (an unknown type, a newer schema
//	                   version or damaged bytes is a breach at its position)
//	completed_twice    no task is completed twice under the same lease, and
//	completed_two_leases   none under two different leases (attempts)
//	unended_lease      every task.leased is ended — by task.completed,
//	                   task.failed, task.retry_scheduled or task.lease_expired
//	                   naming its attempt, or by task.deleted — or is the
//	                   task's current lease at the end of the log
//	lease_expired_follow_up  a task.lease_expired is followed at the next
//	                   position, in the same batch (same timestamp), by
//	                   task.retry_scheduled or task.failed of the same attempt
//	schedule_fired_follow_up a schedule.fired is followed at the next
//	                   position, in the same batch, by the task.enqueued of
//	                   the instance it names, linked to the schedule
//	impossible_event   an event the projection ignored that no writer could
//	                   have appended (see below)
//	terminal_changed   a completed, failed, expired, cancelled or deleted task
//	                   (or a deleted schedule) never changes again, except
//	                   that a task in any of the first four may be deleted,
//	                   and a failed, expired or cancelled one retried
//	                   (task.retried)
//	expired_before_ttl a task.expired the projection applied belongs to a
//	                   task that has a TTL, never started, and whose TTL had
//	                   passed at the event's time
//	cancel_cause       a task.cancelled the projection applied names one of
//	                   the task's own dependencies, which had ended without
//	                   completing, or is a cancel on request (reason
//	                   "requested", no dependency)
//	retry_not_ended    a task.retried names a task that had ended failed,
//	                   expired or cancelled, at its latest attempt
//	lease_paused_queue no task.leased leases a task of a queue that a
//	                   queue.paused paused (and no queue.resumed resumed)
//	snapshot_mismatch  a snapshot kept beside the log (stores.SnapshotStore)
//	                   is byte-equal to the state rebuilt from events
//	                   1..its position
//	checkpoint_mismatch a log.checkpoint's state is byte-equal to the state
//	                   rebuilt from the events before it, compacted as it
//	                   says (left out: records ended before its Before), and
//	                   every replica can apply it; a checkpoint without the
//	                   edges section (written before snapshots held the
//	                   dependency graph's edges) is compared without it
//	nondeterministic   the rebuilt state re-encodes identically:
//	                   Snapshot → Restore → Snapshot gives the same bytes
//
// # Ignored events: warnings or breaches
//
// The projection ignores an event that does not fit the state (a stale
// fencing token, a task already ended; projections.ErrStale). A single
// engine never appends one: it validates every command against the state it
// appends to. But several writers may share a log, and the log decides
// their races (docs/design.md, invariant 3); a writer can only be behind: it
// validated its event against a prefix of the log. Verify therefore asks of
// each ignored event whether some prefix of the log could have justified it.
//
// If so it is a warning, counted per event type and reason — a lease that
// was superseded by an expiry, a second dequeue of the same attempt, a task
// that was leased, expired, cancelled or deleted meanwhile, a schedule
// paused or deleted meanwhile, an id enqueued twice, a task a checkpoint
// left out (compacted) named by a writer that had not seen the checkpoint. The log decided, every
// replica ignores the loser the same way, and nothing is inconsistent.
//
// If not, it is an impossible_event breach: no writer's view of the log
// could have produced it, so the log was written by a buggy writer or was
// tampered with:
//
//   - an event about a task or schedule the log never created;
//   - a fencing token no lease ever held: attempt < 1, a heartbeat,
//     completion, failure, retry or expiry naming an attempt beyond the
//     task's latest lease, a lease that skips attempts;
//   - a task.leased naming attempt k+1 while attempt k holds the lease (a
//     writer could only name k+1 after seeing k retried, and then k is no
//     longer running).
//
// A second completion of a completed task is always a breach
// (completed_twice or completed_two_leases), even when a race explains it:
// the task's handler then ran to completion twice, which fencing exists to
// prevent, and an audit must show it.
//
// With Options.Strict every ignored event is a breach (rule ignored_event):
// use it for logs with one writer, which is every log today.
package audit
