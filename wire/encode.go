package wire

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/omniq/omniq/queue"
)

// The hand-written encoders of the task wire forms. encoding/json's
// reflection was the largest CPU cost of the daemon's enqueue, dequeue and
// outcomes answers and of the client's request bodies.
//
// INVARIANT: every appender writes exactly the bytes the reflection-based
// encoding (marshalSpecReflect, marshalTaskReflect, …) writes for the same
// value: field order, omitempty/omitzero, HTML escaping, float marking. An
// appender that meets a value it cannot write (NaN, a time outside years
// 0–9999, a free-form value json.Marshal refuses) reports errSlowPath, and
// its caller runs the reflection-based encoding for the value's exact
// result and error. The tests compare both on random values.

// errSlowPath says the fast encoder gave up; never returned to callers.
var errSlowPath = errSlow{}

type errSlow struct{}

func (errSlow) Error() string { return "wire: fast encoder gave up" }

// AppendTask appends t as Task.MarshalJSON writes TaskOf(t), for the
// server's answers that carry tasks.
func AppendTask(b []byte, t *queue.Task) ([]byte, error) {
	// spec, sc and info live on the stack: the appenders do not keep them.
	spec, sc := specParts(t)
	if t.Schedule != nil {
		spec.Schedule = &sc
	}
	info := infoOf(t)
	out, err := appendTask(b, &spec, &info)
	if err != nil {
		tb, err := marshalTaskReflect(TaskOf(t))
		if err != nil {
			return b, err
		}
		return append(b, tb...), nil
	}
	return out, nil
}

// MarshalJSON writes s with its float arguments marked as floats.
func (s TaskSpec) MarshalJSON() ([]byte, error) {
	b, err := appendSpec(make([]byte, 0, 256), &s)
	if err != nil {
		return marshalSpecReflect(s)
	}
	return b, nil
}

// MarshalJSON writes t as one object: the caller's fields, then the engine's.
func (t Task) MarshalJSON() ([]byte, error) {
	b, err := appendTask(make([]byte, 0, 512), &t.TaskSpec, &t.TaskInfo)
	if err != nil {
		return marshalTaskReflect(t)
	}
	return b, nil
}

// MarshalJSON writes o with a float result marked as a float.
func (o OutcomeSpec) MarshalJSON() ([]byte, error) {
	b, err := appendOutcomeSpec(make([]byte, 0, 64), &o)
	if err != nil {
		return marshalOutcomeSpecReflect(o)
	}
	return b, nil
}

// AppendOutcomeAnswers appends outs as json.Marshal writes them.
func AppendOutcomeAnswers(b []byte, outs []OutcomeAnswer) []byte {
	if outs == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i := range outs {
		if i > 0 {
			b = append(b, ',')
		}
		o := &outs[i]
		b = append(b, '{')
		if o.State != "" {
			b = append(b, `"state":`...)
			b = appendString(b, o.State, true)
		}
		if e := o.Error; e != nil {
			if o.State != "" {
				b = append(b, ',')
			}
			b = append(b, `"error":{"code":`...)
			b = appendString(b, e.Code, true)
			if e.Reason != "" {
				b = append(b, `,"reason":`...)
				b = appendString(b, e.Reason, true)
			}
			b = append(b, `,"message":`...)
			b = appendString(b, e.Message, true)
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// EncodeBody writes v to buf as a json.Encoder with SetEscapeHTML(false)
// writes it (the value, then a newline), for the client's request bodies:
// a Batch, TaskSpec or OutcomesRequest directly, anything else through
// the encoder. On error buf is left as it was.
func EncodeBody(buf *bytes.Buffer, v any) error {
	b, err := appendBody(buf.AvailableBuffer(), v)
	if err != nil {
		return encodeBodyReflect(buf, v)
	}
	buf.Write(append(b, '\n'))
	return nil
}

// appendBody writes v when it is a Batch, TaskSpec or OutcomesRequest or
// a pointer to one; anything else, or a nil pointer (which encoding/json
// writes as null), is errSlowPath.
func appendBody(b []byte, v any) ([]byte, error) {
	switch v.(type) {
	case Batch, *Batch:
		if x := bodyOf[Batch](v); x != nil {
			return appendBatch(b, x)
		}
	case TaskSpec, *TaskSpec:
		if x := bodyOf[TaskSpec](v); x != nil {
			return appendSpec(b, x)
		}
	case OutcomesRequest, *OutcomesRequest:
		if x := bodyOf[OutcomesRequest](v); x != nil {
			return appendOutcomesRequest(b, x)
		}
	}
	return nil, errSlowPath
}

// bodyOf returns v, a T or a *T, as a *T.
func bodyOf[T any](v any) *T {
	if x, ok := v.(*T); ok {
		return x
	}
	x := v.(T)
	return &x
}

// encodeBodyReflect is EncodeBody by encoding/json.
func encodeBodyReflect(buf *bytes.Buffer, v any) error {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// appendBatch writes x as a json.Encoder without HTML escaping does: the
// specs are Marshalers, whose output (HTML-escaped) it keeps.
func appendBatch(b []byte, x *Batch) ([]byte, error) {
	b = append(b, `{"tasks":`...)
	if x.Tasks == nil {
		return append(b, "null}"...), nil
	}
	b = append(b, '[')
	for i := range x.Tasks {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendSpec(b, &x.Tasks[i]); err != nil {
			return nil, err
		}
	}
	return append(b, "]}"...), nil
}

// appendOutcomesRequest writes x as a json.Encoder without HTML escaping
// does: the outcomes are Marshalers (HTML-escaped), the lease's queue
// names are not escaped.
func appendOutcomesRequest(b []byte, x *OutcomesRequest) ([]byte, error) {
	b = append(b, `{"outcomes":`...)
	if x.Outcomes == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range x.Outcomes {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendOutcomeSpec(b, &x.Outcomes[i]); err != nil {
				return nil, err
			}
		}
		b = append(b, ']')
	}
	if l := x.Lease; l != nil {
		b = append(b, `,"lease":{`...)
		if len(l.Queues) > 0 {
			b = append(b, `"queues":`...)
			b = appendStrings(b, l.Queues, false)
			b = append(b, ',')
		}
		b = append(b, `"n":`...)
		b = strconv.AppendInt(b, int64(l.N), 10)
		if l.Wait != 0 {
			b = append(b, `,"wait":`...)
			b = appendDuration(b, l.Wait)
		}
		b = append(b, '}')
	}
	return append(b, '}'), nil
}

func appendOutcomeSpec(b []byte, o *OutcomeSpec) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = appendString(b, o.ID, true)
	b = append(b, `,"attempt":`...)
	b = strconv.AppendInt(b, int64(o.Attempt), 10)
	if o.Result != nil {
		b = append(b, `,"result":`...)
		var err error
		if b, err = appendValue(b, o.Result); err != nil {
			return nil, err
		}
	}
	if o.Error != nil {
		b = append(b, `,"error":`...)
		b = appendString(b, *o.Error, true)
	}
	return append(b, '}'), nil
}

// appendTask writes {spec…,info…}: one object, the caller's fields first.
func appendTask(b []byte, s *TaskSpec, t *TaskInfo) ([]byte, error) {
	b, err := appendSpec(b, s)
	if err != nil {
		return nil, err
	}
	b[len(b)-1] = ','
	b = append(b, `"state":`...)
	b = appendString(b, t.State, true)
	b = append(b, `,"attempt":`...)
	b = strconv.AppendInt(b, int64(t.Attempt), 10)
	if t.Result != nil {
		b = append(b, `,"result":`...)
		if b, err = appendValue(b, t.Result); err != nil {
			return nil, err
		}
	}
	if t.Error != "" {
		b = append(b, `,"error":`...)
		b = appendString(b, t.Error, true)
	}
	for _, f := range [...]struct {
		key string
		at  *time.Time
	}{
		{`,"created_at":`, &t.CreatedAt}, {`,"updated_at":`, &t.UpdatedAt}, {`,"finished_at":`, &t.FinishedAt},
		{`,"lease_deadline":`, &t.LeaseDeadline}, {`,"ready_at":`, &t.ReadyAt},
	} {
		if !f.at.IsZero() {
			b = append(b, f.key...)
			if b, err = appendTime(b, *f.at); err != nil {
				return nil, err
			}
		}
	}
	if t.ScheduleID != "" {
		b = append(b, `,"schedule_id":`...)
		b = appendString(b, t.ScheduleID, true)
	}
	if !t.NextRunAt.IsZero() {
		b = append(b, `,"next_run_at":`...)
		if b, err = appendTime(b, t.NextRunAt); err != nil {
			return nil, err
		}
	}
	if t.Fires != 0 {
		b = append(b, `,"fires":`...)
		b = strconv.AppendInt(b, int64(t.Fires), 10)
	}
	if t.CancelledBy != "" {
		b = append(b, `,"cancelled_by":`...)
		b = appendString(b, t.CancelledBy, true)
	}
	return append(b, '}'), nil
}

// appendSpec writes s as marshalSpecReflect does, in TaskSpec's field order.
func appendSpec(b []byte, s *TaskSpec) ([]byte, error) {
	var err error
	b = append(b, `{"id":`...)
	b = appendString(b, s.ID, true)
	b = append(b, `,"func":`...)
	b = appendString(b, s.Func, true)
	if len(s.Args) > 0 {
		b = append(b, `,"args":`...)
		if b, err = appendArray(b, s.Args); err != nil {
			return nil, err
		}
	}
	if len(s.Kwargs) > 0 {
		b = append(b, `,"kwargs":`...)
		if b, err = appendObject(b, s.Kwargs); err != nil {
			return nil, err
		}
	}
	b = append(b, `,"queue_name":`...)
	b = appendString(b, s.QueueName, true)
	b = append(b, `,"priority":`...)
	b = strconv.AppendInt(b, int64(s.Priority), 10)
	if s.TTL != 0 {
		b = append(b, `,"ttl":`...)
		b = appendDuration(b, s.TTL)
	}
	b = append(b, `,"retries":`...)
	b = strconv.AppendInt(b, int64(s.Retries), 10)
	if s.MaxRetries != 0 {
		b = append(b, `,"max_retries":`...)
		b = strconv.AppendInt(b, int64(s.MaxRetries), 10)
	}
	if len(s.DependsOn) > 0 {
		b = append(b, `,"depends_on":`...)
		b = appendStrings(b, s.DependsOn, true)
	}
	if sc := s.Schedule; sc != nil {
		b = append(b, `,"schedule":{`...)
		n := len(b)
		if !sc.RunAt.IsZero() {
			b = append(b, `"run_at":`...)
			if b, err = appendTime(b, sc.RunAt); err != nil {
				return nil, err
			}
		}
		if sc.Cron != "" {
			b = appendComma(b, n)
			b = append(b, `"cron":`...)
			b = appendString(b, sc.Cron, true)
		}
		if sc.Interval != 0 {
			b = appendComma(b, n)
			b = append(b, `"interval":`...)
			b = appendDuration(b, sc.Interval)
		}
		if sc.Paused {
			b = appendComma(b, n)
			b = append(b, `"paused":true`...)
		}
		b = append(b, '}')
	}
	if len(s.Meta) > 0 {
		b = append(b, `,"meta":`...)
		b = appendStringMap(b, s.Meta)
	}
	return append(b, '}'), nil
}

// appendComma separates a field from the ones written since n, if any.
func appendComma(b []byte, n int) []byte {
	if len(b) > n {
		b = append(b, ',')
	}
	return b
}

// appendDuration writes d as Duration.MarshalJSON does.
func appendDuration(b []byte, d Duration) []byte {
	return strconv.AppendFloat(b, time.Duration(d).Seconds(), 'f', -1, 64)
}

// appendTime writes t as time.Time.MarshalJSON does: RFC 3339 with
// nanoseconds, in t's location. A time RFC 3339 cannot hold (a year
// outside 0–9999, an offset of a day or more), which time.Time refuses
// with an error, is left to the slow path.
func appendTime(b []byte, t time.Time) ([]byte, error) {
	b = append(b, '"')
	n0 := len(b)
	b = t.AppendFormat(b, time.RFC3339Nano)
	// The checks of time.Time.MarshalJSON, on what it would have written.
	if b[n0+len("9999")] != '-' {
		return nil, errSlowPath
	}
	if n := len(b); b[n-1] != 'Z' {
		c := b[n-len("Z07:00")]
		if '0' <= c && c <= '9' || 10*(b[n-5]-'0')+(b[n-4]-'0') >= 24 {
			return nil, errSlowPath
		}
	}
	return append(b, '"'), nil
}

func appendStrings(b []byte, ss []string, escapeHTML bool) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s, escapeHTML)
	}
	return append(b, ']')
}

// appendStringMap writes m with its keys sorted, as encoding/json does.
func appendStringMap(b []byte, m map[string]string) []byte {
	b, _ = appendMap(b, m, func(b []byte, s string) ([]byte, error) { return appendString(b, s, true), nil })
	return b
}

// appendMap writes m with its keys sorted, as encoding/json does, and its
// values by appendV.
func appendMap[V any](b []byte, m map[string]V, appendV func([]byte, V) ([]byte, error)) ([]byte, error) {
	var buf [16]string
	keys := buf[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, strings.Compare)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k, true)
		b = append(b, ':')
		var err error
		if b, err = appendV(b, m[k]); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendValue writes a free-form value (args, kwargs, results) as
// json.Marshal(markFloats(v)) does. Types other than the plain ones of
// JSON go through json.Marshal itself.
func appendValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendString(b, x, true), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case float64:
		return appendMarkedFloat(b, x)
	case float32:
		return appendMarkedFloat(b, float64(x))
	case bool:
		return strconv.AppendBool(b, x), nil
	case []any:
		return appendArray(b, x) // nil too: markFloats copies it to []any{}
	case map[string]any:
		return appendObject(b, x) // nil too: markFloats copies it to map[string]any{}
	}
	vb, err := json.Marshal(v)
	if err != nil {
		return nil, errSlowPath
	}
	return append(b, vb...), nil
}

func appendArray(b []byte, a []any) ([]byte, error) {
	b = append(b, '[')
	for i, e := range a {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendValue(b, e); err != nil {
			return nil, err
		}
	}
	return append(b, ']'), nil
}

func appendObject(b []byte, m map[string]any) ([]byte, error) {
	return appendMap(b, m, appendValue)
}

// appendMarkedFloat writes f as jsonFloat.MarshalJSON does: as
// encoding/json writes a float64, with ".0" added when it has neither a
// decimal point nor an exponent.
func appendMarkedFloat(b []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, errSlowPath
	}
	start := len(b)
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 is written e-9, as encoding/json does.
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
		return b, nil // has an exponent
	}
	if bytes.IndexByte(b[start:], '.') < 0 {
		b = append(b, ".0"...)
	}
	return b, nil
}

// How encoding/json writes, inside a string, each ASCII byte (escaped
// without HTML escaping, escapedHTML with it), U+2028, U+2029 and one byte
// of invalid UTF-8. They are read from encoding/json itself at init, so
// that appendString writes the bytes of the encoding/json it is built with
// (Go versions differ: some write invalid UTF-8 as the escape \ufffd, others
// as the character U+FFFD). htmlSafe[c] and jsonSafe[c] are true for the
// bytes written as they are.
var (
	escaped, escapedHTML [utf8.RuneSelf]string
	htmlSafe, jsonSafe   [utf8.RuneSelf]bool
	lineSep, paraSep     string
	badByte              string
)

func init() {
	for c := range utf8.RuneSelf {
		escaped[c] = jsonStringBody(string(rune(c)), false)
		escapedHTML[c] = jsonStringBody(string(rune(c)), true)
		jsonSafe[c] = escaped[c] == string(rune(c))
		htmlSafe[c] = escapedHTML[c] == string(rune(c))
	}
	lineSep = jsonStringBody("\u2028", false)
	paraSep = jsonStringBody("\u2029", false)
	badByte = jsonStringBody("\xff", false)
}

// jsonStringBody is what encoding/json writes between the quotes of s.
func jsonStringBody(s string, escapeHTML bool) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(escapeHTML)
	if err := enc.Encode(s); err != nil {
		panic("wire: encoding/json refused a string: " + err.Error())
	}
	out := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	return string(out[1 : len(out)-1])
}

// appendString writes s as a JSON string exactly as encoding/json does
// (see escaped): control characters, the quote and the backslash escaped,
// invalid UTF-8 replaced, U+2028 and U+2029 escaped, and with escapeHTML
// <, > and & escaped too.
func appendString(b []byte, s string, escapeHTML bool) []byte {
	safe, esc := &jsonSafe, &escaped
	if escapeHTML {
		safe, esc = &htmlSafe, &escapedHTML
	}
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if safe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			b = append(b, esc[c]...)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		var with string
		switch {
		case r == utf8.RuneError && size == 1:
			with = badByte
		case r == '\u2028':
			with = lineSep
		case r == '\u2029':
			with = paraSep
		default:
			i += size
			continue
		}
		b = append(b, s[start:i]...)
		b = append(b, with...)
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
