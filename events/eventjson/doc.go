// Package eventjson maps OmniQ events to and from JSON Lines, the form
// `omniqd export` writes and `omniqd import` reads: for audit tools, and for
// moving a log from one store to another.
//
// # Format
//
// One event is one JSON object on one line, with its fields in this order:
//
//	{"position":7,"id":"01JDV2…","type":"task.leased","version":1,"task_id":"t1",
//	 "time":"2026-11-27T12:00:01.5Z","payload":{"attempt":1,"deadline":"2026-11-27T12:00:31.5Z","worker":"w1"}}
//
//	position  the event's log position (an unsigned integer)
//	id        the event's ULID (26 characters)
//	type      the dotted event type, e.g. "task.enqueued" (events.Type.String)
//	version   the payload's schema version
//	task_id   the task or schedule the event is about
//	time      when the engine decided the event, RFC 3339 with nanoseconds, UTC
//	payload   the payload's fields, snake_case; timestamps as RFC 3339 strings
//	          (absent when unset), durations as Go duration strings ("1m30s"),
//	          a log.checkpoint's binary state in standard base64
//
// # Exactness
//
// Unmarshal(Marshal(e)) gives back an event that encodes (events.Marshal) to
// the same bytes as e, so a log exported and imported elsewhere rebuilds the
// same state, byte for byte in its snapshot. Plain JSON cannot say everything
// the log can, so free-form values (task args, kwargs, results) follow these
// rules:
//
//	integer            a JSON number without '.' or exponent, read back as int64
//	float              a JSON number that always has '.' or an exponent (2.0,
//	                   1e+21), read back as float64; NaN and ±Inf are
//	                   {"$float":"NaN"}, {"$float":"+Inf"}, {"$float":"-Inf"}
//	string             a JSON string; one that is not valid UTF-8 is
//	                   {"$bytes":"<base64>"} (read back as a string)
//	time               {"$time":"<RFC 3339 nano>"}
//	map                a JSON object; a map whose only key starts with '$' is
//	                   wrapped as {"$map":{…}} so it cannot pass for a tag
//
// Fixed string fields (task ids, errors, worker names, …) that are not valid
// UTF-8 are written as {"$bytes":"<base64>"} too. A map key that is not
// valid UTF-8 cannot be written: Marshal fails with ErrUnrepresentable.
//
// INVARIANT: decoding never panics; any malformed input gives an error
// wrapping ErrSyntax (or events.ErrUnknownType / events.ErrNewerVersion for a
// well-formed record of a type or version this build does not know).
package eventjson
