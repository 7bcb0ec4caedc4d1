package eventjson

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/omniq/omniq/events"
)

// text is a fixed string field: a JSON string, or {"$bytes": …} when the
// string is not valid UTF-8.
type text string

func (t text) MarshalJSON() ([]byte, error) { return appendText(nil, string(t)), nil }

func (t *text) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*t = text(s)
		return nil
	}
	var tagged map[string]string
	if err := json.Unmarshal(b, &tagged); err != nil || len(tagged) != 1 {
		return fmt.Errorf("%w: want a string or {%q: base64}, got %s", ErrSyntax, tagBytes, clip(b))
	}
	enc, ok := tagged[tagBytes]
	if !ok {
		return fmt.Errorf("%w: want a string or {%q: base64}, got %s", ErrSyntax, tagBytes, clip(b))
	}
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrSyntax, tagBytes, err)
	}
	*t = text(raw)
	return nil
}

// texts converts a list of fixed strings; strs converts it back.
func texts(in []string) []text { return convert(in, func(s string) text { return text(s) }) }
func strs(in []text) []string  { return convert(in, func(t text) string { return string(t) }) }

// convert maps a list element by element; nil stays nil.
func convert[T, U any](in []T, f func(T) U) []U {
	if in == nil {
		return nil
	}
	out := make([]U, len(in))
	for i, x := range in {
		out[i] = f(x)
	}
	return out
}

// convertMap is convert for a map.
func convertMap[T, U any](in map[string]T, f func(T) U) map[string]U {
	if in == nil {
		return nil
	}
	out := make(map[string]U, len(in))
	for k, x := range in {
		out[k] = f(x)
	}
	return out
}

// stamp is an events.Timestamp written as RFC 3339 with nanoseconds;
// fields holding one are omitted when it is 0 (unset).
type stamp events.Timestamp

func (s stamp) MarshalJSON() ([]byte, error) {
	b := append(make([]byte, 0, 40), '"')
	b = appendTime(b, events.Timestamp(s).Time())
	return append(b, '"'), nil
}

// appendTime writes t as every time of the format is written: RFC 3339 with
// nanoseconds, in UTC, without quotes.
func appendTime(dst []byte, t time.Time) []byte { return t.UTC().AppendFormat(dst, time.RFC3339Nano) }

func (s *stamp) UnmarshalJSON(b []byte) error {
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		return fmt.Errorf("%w: timestamp: want an RFC 3339 string, got %s", ErrSyntax, clip(b))
	}
	t, err := parseTime(str)
	if err != nil {
		return err
	}
	*s = stamp(t.UnixNano())
	return nil
}

// parseTime reads an RFC 3339 time within the range of Unix nanoseconds.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	if t.Before(minTime) || t.After(maxTime) {
		return time.Time{}, fmt.Errorf("%w: time %s is outside the range of the log (years 1678 to 2261)", ErrSyntax, s)
	}
	return t.UTC(), nil
}

var (
	minTime = time.Unix(0, -1<<63+1).UTC()
	maxTime = time.Unix(0, 1<<63-1).UTC()
)

// dur is a time.Duration written as a Go duration string ("1m30s"). It
// also reads an integer number of nanoseconds.
type dur time.Duration

func (d dur) MarshalJSON() ([]byte, error) {
	return strconv.AppendQuote(nil, time.Duration(d).String()), nil
}

func (d *dur) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] != '"' {
		n, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil {
			return fmt.Errorf("%w: duration: want a string like \"90s\" or integer nanoseconds, got %s", ErrSyntax, clip(b))
		}
		*d = dur(n)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%w: duration: %v", ErrSyntax, err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	*d = dur(v)
	return nil
}

// value is a free-form value (an argument, keyword argument or result).
type value struct{ v any }

func (v value) MarshalJSON() ([]byte, error) { return appendValue(nil, v.v, 0) }

func (v *value) UnmarshalJSON(b []byte) error {
	x, err := decodeValue(b)
	if err != nil {
		return err
	}
	v.v = x
	return nil
}

// values, anys, valueMap and anyMap convert free-form values to their JSON
// form and back; nil stays nil.
func values(in []any) []value                     { return convert(in, wrapValue) }
func anys(in []value) []any                       { return convert(in, unwrapValue) }
func valueMap(in map[string]any) map[string]value { return convertMap(in, wrapValue) }
func anyMap(in map[string]value) map[string]any   { return convertMap(in, unwrapValue) }

func wrapValue(x any) value   { return value{x} }
func unwrapValue(v value) any { return v.v }

// optValue is a result: omitted when nil.
func optValue(v any) *value {
	if v == nil {
		return nil
	}
	return &value{v}
}

func (v *value) get() any {
	if v == nil {
		return nil
	}
	return v.v
}

// clip shortens b for an error message.
func clip(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "…"
	}
	return string(b)
}
