// Package wire is the JSON form of omniqd's HTTP API, which the server
// (package server) and the Go client (package client) share: the request
// and answer bodies, the error body and the one table that maps the error
// codes to the sentinel errors of package queue and to HTTP statuses,
// durations, strict decoding, and the conversions between queue's types and
// their wire form. It imports nothing of the project but queue.
//
// Tasks use snake_case fields (TaskSpec, Task); ttl and interval are
// seconds, or a Go duration string on input ("90s"); times are RFC 3339.
// JSON numbers in args, kwargs and results arrive as int64 when integral
// and float64 otherwise, as the embedded engine gives them back after a
// round trip through its log, and a float is always written with a decimal
// point or an exponent, so that it comes back a float.
//
// The task forms (TaskSpec, Task, Batch, TaskList, OutcomesRequest,
// OutcomesAnswer) are encoded and decoded by hand, for the hot paths of
// the server and the client (encode.go, fastdecode.go). encoding/json
// remains their definition: the hand-written encoders write its bytes and
// the decoder gives its values, and each hands what it is unsure of to
// encoding/json itself, so results and errors are always encoding/json's.
package wire
