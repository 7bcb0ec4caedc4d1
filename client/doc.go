// Package client is the Go client of the omniqd daemon, and the wire format
// of its HTTP/JSON API, which the server shares.
//
// A Client implements engine.TaskQueue and the rest of the embedded engine's
// task API (EnqueueBatch, Complete, Fail, Heartbeat, PauseSchedule, History,
// Register, Work, …) with the same handler shape and the same errors, so a
// program moves from an embedded engine to a remote one by changing the line
// that builds its queue:
//
//	q, err := engine.Open(ctx, log)                   // embedded
//	q, err := client.New("http://127.0.0.1:7070")    // remote
//
// Errors the server answers with come back as the engine's sentinels:
// errors.Is(err, engine.ErrNotFound), engine.ErrStaleLease,
// engine.ErrInvalidCron, … The table that maps sentinels to the wire's error
// codes and HTTP statuses (ErrorFor, Error.Unwrap) is the one the server
// uses.
//
// On the wire, tasks use snake_case fields (TaskSpec, Task); ttl
// and interval are seconds, or a Go duration string on input ("90s"); times
// are RFC 3339. JSON numbers in args, kwargs and results arrive as int64
// when integral and float64 otherwise, as the embedded engine gives them
// back after a round trip through its log.
package client
