package wire

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/omniq/omniq/queue"
)

// Errors of the API that have no sentinel in package queue: the server
// answers with them, and the client returns them (package client re-exports
// each). Engine errors travel as their queue sentinel
// (errors.Is(err, queue.ErrNotFound)).
var (
	// ErrUnauthorized: the server wants a bearer token (WithToken) and got
	// none, or a wrong one.
	ErrUnauthorized = errors.New("omniq client: unauthorized")
	// ErrUnavailable: the server is up but not serving yet (its engine is
	// still replaying the log) or is shutting down. Retrying later may work.
	ErrUnavailable = errors.New("omniq client: server unavailable")
	// ErrServer: the server failed to carry out the request (an internal
	// error, such as a failing store). The request may or may not have taken
	// effect.
	ErrServer = errors.New("omniq client: server error")
	// ErrRateLimited: the server refused the request because this client
	// sent more than its --rate-limit allows; nothing changed. Retry after
	// the delay the answer's Retry-After header gives (Error.RetryAfter).
	ErrRateLimited = errors.New("omniq client: rate limited")
	// ErrProtocol: the server's answer is not what this client understands
	// (an unexpected status or a malformed body).
	ErrProtocol = errors.New("omniq client: unexpected answer from server")
)

// Error codes of the JSON error body {"error":{"code":…,"message":…}}. They
// are part of the API: never change one, only add.
const (
	CodeNotFound         = "not_found"
	CodeArchived         = "archived" // 410: retention archived the task; its history is in the archive
	CodeStaleLease       = "stale_lease"
	CodeTaskState        = "task_state" // 409: the task's (or queue's) state does not allow the action
	CodeInvalidArgument  = "invalid_argument"
	CodePayloadTooLarge  = "payload_too_large"
	CodeUnauthorized     = "unauthorized"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeRateLimited      = "rate_limited"
	CodeClosed           = "closed"
	CodeUnavailable      = "unavailable"
	CodeInternal         = "internal"
)

// errorKind is one row of the error table: a code (and, for the many kinds
// of bad input, a reason) standing for a sentinel, with its HTTP status.
type errorKind struct {
	code     string
	reason   string // refines invalid_argument: which validation failed
	sentinel error
	status   int
}

// errorTable is the one mapping between engine sentinels, wire codes and HTTP
// statuses; the server encodes with it (ErrorFor) and the client decodes with
// it (Error.Unwrap).
// INVARIANT: a more specific sentinel comes before any sentinel it wraps, so
// that the first match is the most precise one.
var errorTable = []errorKind{
	{CodeArchived, "", queue.ErrArchived, http.StatusGone},
	{CodeNotFound, "", queue.ErrNotFound, http.StatusNotFound},
	{CodeStaleLease, "", queue.ErrStaleLease, http.StatusConflict},
	{CodeTaskState, "", queue.ErrTaskState, http.StatusConflict},
	{CodePayloadTooLarge, "", queue.ErrPayloadTooLarge, http.StatusRequestEntityTooLarge},
	{CodeInvalidArgument, "invalid_id", queue.ErrInvalidID, http.StatusBadRequest},
	{CodeInvalidArgument, "duplicate_id", queue.ErrDuplicateID, http.StatusBadRequest},
	{CodeInvalidArgument, "invalid_func", queue.ErrInvalidFunc, http.StatusBadRequest},
	{CodeInvalidArgument, "invalid_queue_name", queue.ErrInvalidQueueName, http.StatusBadRequest},
	{CodeInvalidArgument, "invalid_priority", queue.ErrInvalidPriority, http.StatusBadRequest},
	{CodeInvalidArgument, "invalid_retries", queue.ErrInvalidRetries, http.StatusBadRequest},
	{CodeInvalidArgument, "invalid_ttl", queue.ErrInvalidTTL, http.StatusBadRequest},
	{CodeInvalidArgument, "invalid_args", queue.ErrInvalidArgs, http.StatusBadRequest},
	{CodeInvalidArgument, "unknown_dependency", queue.ErrUnknownDependency, http.StatusBadRequest},
	{CodeInvalidArgument, "dependency_cycle", queue.ErrDependencyCycle, http.StatusBadRequest},
	{CodeInvalidArgument, "invalid_cron", queue.ErrInvalidCron, http.StatusBadRequest},
	{CodeInvalidArgument, "invalid_schedule", queue.ErrInvalidSchedule, http.StatusBadRequest},
	{CodeInvalidArgument, "not_schedule", queue.ErrNotSchedule, http.StatusBadRequest},
	{CodeInvalidArgument, "invalid_meta", queue.ErrInvalidMeta, http.StatusBadRequest},
	{CodeInvalidArgument, "", queue.ErrInvalidArgument, http.StatusBadRequest},
	{CodeUnauthorized, "", ErrUnauthorized, http.StatusUnauthorized},
	{CodeMethodNotAllowed, "", ErrProtocol, http.StatusMethodNotAllowed},
	{CodeRateLimited, "", ErrRateLimited, http.StatusTooManyRequests},
	{CodeClosed, "", queue.ErrClosed, http.StatusServiceUnavailable},
	// The store cannot be reached now (a server restart, a cut
	// connection): the request may succeed when retried.
	{CodeUnavailable, "store", queue.ErrUnavailable, http.StatusServiceUnavailable},
	{CodeUnavailable, "", ErrUnavailable, http.StatusServiceUnavailable},
	{CodeInternal, "", ErrServer, http.StatusInternalServerError},
}

// ErrorBody is the JSON body of every error answer.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong. Code is stable (see the Code constants);
// Reason, when set, names the validation that failed for invalid_argument
// ("invalid_cron", "unknown_dependency", …); Message is for people.
type ErrorDetail struct {
	Code    string `json:"code"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message"`
}

// ErrorFor maps err to its HTTP status and error body, for the server. An
// error that wraps no known sentinel is internal (500); its message is
// replaced so that store details do not leak, and the server should log it.
func ErrorFor(err error) (status int, body ErrorBody) {
	for _, k := range errorTable {
		if errors.Is(err, k.sentinel) && k.code != CodeInternal && k.code != CodeMethodNotAllowed {
			return k.status, ErrorBody{ErrorDetail{Code: k.code, Reason: k.reason, Message: err.Error()}}
		}
	}
	return http.StatusInternalServerError, ErrorBody{ErrorDetail{Code: CodeInternal, Message: "internal server error (the server log has the details)"}}
}

// StatusOf returns the HTTP status of code ("invalid_argument" → 400), or
// 500 for a code this package does not know.
func StatusOf(code string) int {
	for _, k := range errorTable {
		if k.code == code {
			return k.status
		}
	}
	return http.StatusInternalServerError
}

// Error is an error answer from the server. It unwraps to the sentinel its
// code stands for, so errors.Is(err, queue.ErrNotFound) and
// errors.Is(err, queue.ErrInvalidCron) work as with the embedded engine.
type Error struct {
	Status  int    // HTTP status
	Code    string // the error code (CodeNotFound, …)
	Reason  string // for invalid_argument: which validation failed, when known
	Message string // the server's message
	// RetryAfter is the wait the server's Retry-After header asked for
	// (rate_limited, unavailable answers), 0 when it gave none.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("omniqd: %s (HTTP %d)", e.Code, e.Status)
	}
	return "omniqd: " + e.Message
}

// Unwrap returns the sentinels of e's code and reason: the most specific
// one the table has, with the code's general sentinel beside it (a store
// that is unreachable is both queue.ErrUnavailable and ErrUnavailable);
// the general one alone when the reason is unknown to this client; and,
// for an unknown code, one chosen by the HTTP status.
func (e *Error) Unwrap() []error {
	var specific, general error
	for _, k := range errorTable {
		if k.code != e.Code {
			continue
		}
		if k.reason == e.Reason && specific == nil {
			specific = k.sentinel
		}
		if k.reason == "" && general == nil {
			general = k.sentinel
		}
	}
	switch {
	case specific != nil && general != nil && specific != general:
		return []error{specific, general}
	case specific != nil:
		return []error{specific}
	case general != nil:
		return []error{general}
	}
	switch {
	case e.Status >= 500:
		return []error{ErrServer}
	case e.Status == http.StatusNotFound:
		return []error{queue.ErrNotFound}
	case e.Status == http.StatusTooManyRequests:
		return []error{ErrRateLimited}
	}
	return []error{ErrProtocol}
}
