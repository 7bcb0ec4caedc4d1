// Package client is the Go client of the omniqd daemon's HTTP/JSON API
// (package server), whether omniqd serves it or a program that embeds the
// engine does.
//
// A Client implements queue.Queue, the whole task API the embedded engine
// implements too (EnqueueBatch, Complete, Fail, Heartbeat, PauseSchedule,
// History, Stats, Register, Work, …), with the same signatures, handler
// shape and errors, so a program moves from an embedded engine to a remote
// one by changing the line that builds its queue:
//
//	var q queue.Queue
//	q, err = engine.Open(ctx, log)                   // embedded
//	q, err = client.New("http://127.0.0.1:7070")     // remote
//
// The client links none of the engine's machinery: it speaks the task
// vocabulary of package queue, which the engine re-exports.
//
// Errors the server answers with come back as the queue package's sentinels:
// errors.Is(err, queue.ErrNotFound), queue.ErrStaleLease,
// queue.ErrInvalidCron, … The table that maps sentinels to the wire's error
// codes and HTTP statuses (ErrorFor, Error.Unwrap) is the one the server
// uses: both sides take it, and every body of the API, from package wire,
// and this package keeps their names (TaskSpec, Task, Error, ErrorFor, the
// Code constants, …) as aliases of wire's.
//
// Concurrent Enqueue calls through one Client share requests, as the
// engine's commands share appends: while two enqueue requests are in flight,
// further calls wait and go together, as one batch, when one of them
// returns. Each call is still answered for its own task alone: a batch the
// server refuses is sent again call by call, so a bad task fails only its
// own call, with its own error. WithEnqueueGathering(false) sends every call
// by itself.
//
// On the wire, tasks use snake_case fields (TaskSpec, Task); ttl
// and interval are seconds, or a Go duration string on input ("90s"); times
// are RFC 3339. JSON numbers in args, kwargs and results arrive as int64
// when integral and float64 otherwise, as the embedded engine gives them
// back after a round trip through its log.
package client
