package client

import (
	"io"
	"time"

	"github.com/omniq/omniq/queue"
	"github.com/omniq/omniq/wire"
)

// The wire format of the API is package wire's, which the server shares.
// This package keeps its names, so that a program that uses the client
// needs no other import; each is wire's own (an alias, or the same value),
// so errors.Is and type identity hold across both.

// Bodies of requests and answers.
type (
	TaskSpec         = wire.TaskSpec
	Schedule         = wire.Schedule
	Task             = wire.Task
	TaskInfo         = wire.TaskInfo
	Batch            = wire.Batch
	TaskList         = wire.TaskList
	CompleteRequest  = wire.CompleteRequest
	FailRequest      = wire.FailRequest
	HeartbeatRequest = wire.HeartbeatRequest
	Stats            = wire.Stats
	Event            = wire.Event
	History          = wire.History
	OutcomesRequest  = wire.OutcomesRequest
	OutcomeSpec      = wire.OutcomeSpec
	LeaseSpec        = wire.LeaseSpec
	OutcomesAnswer   = wire.OutcomesAnswer
	OutcomeAnswer    = wire.OutcomeAnswer
	Duration         = wire.Duration
	ErrorBody        = wire.ErrorBody
	ErrorDetail      = wire.ErrorDetail
)

// Error is an error answer from the server (wire.Error). It unwraps to the
// sentinel its code stands for, so errors.Is(err, queue.ErrNotFound) and
// errors.Is(err, queue.ErrInvalidCron) work as with the embedded engine.
type Error = wire.Error

// Errors the client returns for answers that have no engine sentinel. Engine
// errors come back as their engine sentinel (errors.Is(err, queue.ErrNotFound)).
var (
	// ErrUnauthorized: the server wants a bearer token (WithToken) and got
	// none, or a wrong one.
	ErrUnauthorized = wire.ErrUnauthorized
	// ErrUnavailable: the server is up but not serving yet (its engine is
	// still replaying the log) or is shutting down. Retrying later may work.
	ErrUnavailable = wire.ErrUnavailable
	// ErrServer: the server failed to carry out the request (an internal
	// error, such as a failing store). The request may or may not have taken
	// effect.
	ErrServer = wire.ErrServer
	// ErrRateLimited: the server refused the request because this client
	// sent more than its rate limit allows; nothing changed. Retry after
	// the delay the answer's Retry-After header gives (Error.RetryAfter).
	ErrRateLimited = wire.ErrRateLimited
	// ErrProtocol: the server's answer is not what this client understands
	// (an unexpected status or a malformed body).
	ErrProtocol = wire.ErrProtocol
)

// Error codes of the JSON error body {"error":{"code":…,"message":…}}
// (wire.Code*). They are part of the API: never change one, only add.
const (
	CodeNotFound         = wire.CodeNotFound
	CodeArchived         = wire.CodeArchived
	CodeStaleLease       = wire.CodeStaleLease
	CodeInvalidArgument  = wire.CodeInvalidArgument
	CodePayloadTooLarge  = wire.CodePayloadTooLarge
	CodeUnauthorized     = wire.CodeUnauthorized
	CodeMethodNotAllowed = wire.CodeMethodNotAllowed
	CodeRateLimited      = wire.CodeRateLimited
	CodeClosed           = wire.CodeClosed
	CodeUnavailable      = wire.CodeUnavailable
	CodeInternal         = wire.CodeInternal
)

// SpecOf returns the caller's fields of t (wire.SpecOf).
func SpecOf(t *queue.Task) TaskSpec { return wire.SpecOf(t) }

// TaskOf returns t as the server reports it (wire.TaskOf).
func TaskOf(t *queue.Task) Task { return wire.TaskOf(t) }

// StatsOf returns s in its wire form (wire.StatsOf).
func StatsOf(s queue.Stats) Stats { return wire.StatsOf(s) }

// HistoryOf returns the wire body of a task's history (wire.HistoryOf).
func HistoryOf(evs []queue.Event) History { return wire.HistoryOf(evs) }

// ParseDuration reads a Go duration string ("90s", "1h30m") or a plain
// number of seconds ("90", "1.5") (wire.ParseDuration).
func ParseDuration(s string) (time.Duration, error) { return wire.ParseDuration(s) }

// DecodeStrict reads exactly one JSON value from r into v, as the server
// does (wire.DecodeStrict).
func DecodeStrict(r io.Reader, v any) error { return wire.DecodeStrict(r, v) }

// DecodeValue reads one free-form JSON value (wire.DecodeValue).
func DecodeValue(data []byte) (any, error) { return wire.DecodeValue(data) }

// ErrorFor maps err to its HTTP status and error body (wire.ErrorFor).
func ErrorFor(err error) (status int, body ErrorBody) { return wire.ErrorFor(err) }

// StatusOf returns the HTTP status of an error code (wire.StatusOf).
func StatusOf(code string) int { return wire.StatusOf(code) }

// itemError is the error of one item of a batch answer (an action on one
// id, an outcome, a heartbeat), as the whole request's would be.
func itemError(d *ErrorDetail) error {
	return &Error{Status: StatusOf(d.Code), Code: d.Code, Reason: d.Reason, Message: d.Message}
}
