// Package engine is OmniQ's public API: a task queue whose only truth is an
// append-only event log (a stores.Log).
//
// Every command — Enqueue, Dequeue, Complete, Fail, Heartbeat, DeleteTask,
// PauseSchedule, ResumeSchedule, and the engine's own timers (lease expiry,
// TTL expiry, recurring fires) — is turned into events by one path:
//
//	validate against the projection → append to the log → apply → answer
//
// One goroutine (the committer) owns appends. Commands arriving while an
// append is in flight are batched into the next one, so concurrent callers
// share one write and one fsync (group commit). A command reserves the tasks
// it touches until its batch is written; a second command on the same task
// waits for the next batch.
//
// INVARIANT (durable before visible): no caller sees a state, and no worker
// receives a task, before the events behind it are appended to the log.
//
// The engine never imports a concrete store; cmd/omniqd, tests and bench wire
// one in.
package engine
