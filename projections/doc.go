// Package projections folds the event log into the in-memory state the engine
// serves from: the task index, a ready queue (priority heap) per named queue,
// the dependency graph, and the timers (run-at and retry times, lease
// deadlines, TTL deadlines, recurring fires).
//
// INVARIANT (deterministic projections; docs/design.md, invariant 2): the
// fold is pure and deterministic. Apply reads only the event; there is no
// clock, no randomness, no I/O and no goroutine here. Replaying the same
// events always yields the same state, byte for byte in its Snapshot. Where the answer depends on time (is a delayed task due? has a TTL
// passed?), the caller passes the time in.
//
// The heaps are derived structures: Snapshot encodes only the logical state
// (task and schedule records) and Restore rebuilds the heaps from it. The
// terminal tasks of a restored snapshot stay encoded in its bytes, "cold",
// and are decoded one at a time when looked up (cold.go): restoring them
// costs next to nothing, and they take no room on the heap.
//
// State is not safe for concurrent use; the engine guards it.
package projections
