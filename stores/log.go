// Package stores defines the log contract every OmniQ backend implements.
//
// A Log is an append-only sequence of events. Positions start at 1 and are
// gap-free and strictly increasing in commit order: once Append returns first,
// the batch occupies first..first+len(batch)-1 and every reader, in this process
// or another, sees exactly those events at those positions.
//
// The required interface is small on purpose (compare database/sql/driver and
// hashicorp/raft's LogStore); further abilities are optional interfaces the
// engine discovers by type assertion: Tailer (wait for appends),
// SnapshotStore (keep a projection snapshot beside the log) and Conditional
// (append only at an expected head, which lets several processes share one
// log). Full and Shared name the sets of them a backend asserts it has.
//
// The one conformance suite is stores/storetest: every backend runs it.
package stores

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/queue"
)

// Sentinel errors of the log contract. Backends map their library's errors onto
// these in one place and wrap them with context; callers test with errors.Is.
var (
	// ErrClosed: the log was closed; no call succeeds after Close.
	ErrClosed = errors.New("stores: log closed")
	// ErrEmptyBatch: Append was given no events.
	ErrEmptyBatch = errors.New("stores: empty batch")
	// ErrCorrupt: stored data cannot be read back (checksum mismatch, torn or
	// garbled record in the middle of the log, undecodable event).
	ErrCorrupt = errors.New("stores: corrupt log")
	// ErrUnavailable: the backing server or disk cannot be reached now; the
	// call may succeed later. Whether the failed append was written is unknown
	// unless the backend says otherwise.
	// It is queue.ErrUnavailable, which a remote client returns too.
	ErrUnavailable = queue.ErrUnavailable
	// ErrNoSnapshot: the store holds no snapshot.
	ErrNoSnapshot = errors.New("stores: no snapshot")
	// ErrReadOnly: the store refuses writes until reopened (after a failed fsync).
	ErrReadOnly = errors.New("stores: read-only after a write failure")
	// ErrConflict: a conditional append (Conditional.AppendAt) found the
	// log's head elsewhere than the caller said; nothing was written.
	ErrConflict = errors.New("stores: head moved")
)

// Log is an append-only event log. Implementations are safe for concurrent use.
type Log interface {
	// Append writes batch atomically — all of it or none of it — and durably to
	// the degree the backend documents, then returns the position of its first
	// event. Event positions in batch are ignored (the log assigns them).
	// Errors: ErrEmptyBatch, ErrClosed, ErrUnavailable, ErrReadOnly (the
	// backend refuses writes after a failed write or fsync until reopened),
	// or the backend's own.
	Append(ctx context.Context, batch []events.Event) (first uint64, err error)

	// Read returns up to max events with position >= from, in position order,
	// with Position set. It returns an empty slice when from > Head or max < 1.
	// Positions are gap-free, except that a log compacted through Truncater
	// starts at its First position.
	// Errors: ErrClosed, ErrCorrupt, ErrUnavailable.
	Read(ctx context.Context, from uint64, max int) ([]events.Event, error)

	// Head returns the position of the last appended event (0 when empty).
	Head(ctx context.Context) (uint64, error)

	// Close releases the log. Appends that returned before Close are durable
	// (per the backend's guarantee); calls after Close return ErrClosed.
	// Close is idempotent.
	Close() error
}

// Conditional is implemented by logs that several processes may append to at
// once (a shared server, or one SQLite file opened by many processes). It is
// the store's half of the cluster contract: an engine validates a batch
// against its state at position after and appends it only if no other writer
// got there first, so every event in the log was validated against exactly
// the events before it, whichever process wrote it.
type Conditional interface {
	// AppendAt is Append, done only if the log's head is after when the
	// batch is written (atomically: no append by anyone lands in between);
	// the batch's first position is then after+1. When the head is not
	// after, nothing is written and the error wraps ErrConflict.
	// Errors: ErrConflict and Append's. As with Append, after
	// ErrUnavailable whether the batch was written is unknown.
	AppendAt(ctx context.Context, after uint64, batch []events.Event) (first uint64, err error)
}

// Tailer is implemented by logs that can wait for new events, including
// events appended by another process sharing the same backend.
type Tailer interface {
	// Wait blocks until the log's head is greater than after, and returns that
	// head; or until ctx is done (ctx.Err()) or the log is closed (ErrClosed).
	// A backend that loses its server keeps waiting through the outage.
	Wait(ctx context.Context, after uint64) (head uint64, err error)
}

// SnapshotStore is implemented by logs that can keep one projection snapshot
// beside the events. A snapshot is a cache: losing it costs a longer replay.
type SnapshotStore interface {
	// SaveSnapshot stores data as the state after applying events 1..position,
	// replacing any previous snapshot.
	SaveSnapshot(ctx context.Context, position uint64, data []byte) error
	// LoadSnapshot returns the latest snapshot, or ErrNoSnapshot.
	LoadSnapshot(ctx context.Context) (position uint64, data []byte, err error)
}

// Truncater is implemented by logs that can remove old events (compaction).
// Positions of the events kept never change.
type Truncater interface {
	// TruncateBefore removes the events with position < pos. A backend may
	// keep some of them (whole segments, say); it never removes pos or later.
	// REQUIRES: pos <= Head (the event at the head is never removed; the
	// engine truncates before its newest checkpoint).
	// Afterwards Read(from < First) starts at First.
	TruncateBefore(ctx context.Context, pos uint64) error
	// First returns the position of the oldest event held (Head+1 when empty).
	First(ctx context.Context) (uint64, error)
}

// PageReader is implemented by logs that can decode a read into memory the
// caller provides. A replay reads the whole log a page at a time while the
// projection grows; reusing a few pages instead of allocating one per Read
// spares the garbage collector a large share of the replay's garbage (and
// so whole collections of the growing projection).
type PageReader interface {
	// ReadInto is Read, except that the events are stored in dst's array
	// when its capacity holds them all (else in a new array); dst's
	// contents are overwritten. It returns the events as Read does.
	ReadInto(ctx context.Context, dst []events.Event, from uint64, max int) ([]events.Event, error)
}

// Full is a log that waits for appends (Tailer), keeps a snapshot beside
// its events (SnapshotStore) and can be compacted (Truncater). A backend
// asserts the set it implements once, beside its Log type, so that a
// method lost fails its build.
type Full interface {
	Log
	Tailer
	SnapshotStore
	Truncater
}

// Shared is a Full log that several engines may append to at once
// (Conditional): each validates its batches against the log's head and
// tails the others' appends to stay current.
type Shared interface {
	Full
	Conditional
}

// Placed is implemented by logs kept in a local file or directory: Place
// returns its path, so that what belongs beside the data (the retention
// archive, by default) can be put there.
type Placed interface {
	Place() string
}

// Dropper is implemented by logs kept on a shared server, where a log is one
// name among many: Drop deletes this log and its snapshot for good. The log is
// unusable afterwards; Close it. Tests and tenant clean-up use it.
type Dropper interface {
	Drop(ctx context.Context) error
}

// Presence is implemented by logs that several processes share: each
// process keeps a short-lived record there, so any of them can list the
// others (the cluster view). Records are advisory: nothing about the log's
// correctness depends on them. Records are per log: logs with different names
// on one server list different members. Expiry is by the backend's clock —
// the server's, where there is one. Arguments outside CheckAnnounce's limits
// are refused with an error before anything is written.
type Presence interface {
	// Announce creates or replaces node's record, live for ttl from now.
	Announce(ctx context.Context, node string, info []byte, ttl time.Duration) error
	// Members returns the live records (not expired), ordered by node.
	Members(ctx context.Context) ([]Member, error)
	// Leave removes node's record (a clean shutdown); no record is no error.
	Leave(ctx context.Context, node string) error
}

// Member is one process's presence record.
type Member struct {
	Node    string
	Info    []byte
	Expires time.Time // when the record lapses, by the backend's clock
}

// ReadAll calls fn for every event with position >= from, reading in pages of
// pageSize, until the head at the time of the call is reached or fn returns an
// error (which ReadAll returns). A log that returns nothing below its head is
// corrupt (ErrCorrupt).
func ReadAll(ctx context.Context, log Log, from uint64, pageSize int, fn func(events.Event) error) error {
	head, err := log.Head(ctx)
	if err != nil {
		return err
	}
	for from <= head {
		page, err := log.Read(ctx, from, pageSize)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			return fmt.Errorf("%w: read from %d returned nothing below head %d", ErrCorrupt, from, head)
		}
		for _, ev := range page {
			if ev.Position > head {
				return nil
			}
			if err := fn(ev); err != nil {
				return err
			}
		}
		from = page[len(page)-1].Position + 1
	}
	return nil
}
