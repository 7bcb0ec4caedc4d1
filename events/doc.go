// Package events is OmniQ's vocabulary: the immutable facts appended to the log.
//
// Every state change of a task or schedule is one Event: an envelope (position,
// ULID, type, schema version, task id, timestamp) around a typed payload, one Go
// type per event type. The package does no I/O and reads no clock: timestamps and
// ids are given to it by the engine.
//
// # Wire format
//
// One encoded event ("record") is
//
//	+---------+------+--------+----------------+-----------+-------------+------------------+
//	| version | type | id     | time           | len(task) | task id     | payload          |
//	| 1 byte  | 1 B  | 16 B   | varint (ns)    | uvarint   | len(task) B | msgpack, to end  |
//	+---------+------+--------+----------------+-----------+-------------+------------------+
//
// The position is not part of the record: the log assigns it and sets it on read.
// A batch (for stores that keep one record per appended batch) is a uvarint count
// followed by that many uvarint-length-prefixed records.
//
// INVARIANT: decoding never panics and never silently drops data: an unknown type,
// a schema version newer than this build knows, or a malformed record is an error
// (ErrUnknownType, ErrNewerVersion, ErrCorrupt).
package events
