package eventjson

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/omniq/omniq/events"
)

// Errors of this package. Match them with errors.Is.
var (
	// ErrSyntax: the input is not a well-formed event record.
	ErrSyntax = errors.New("eventjson: malformed record")
	// ErrUnrepresentable: the event holds a value the format cannot write
	// exactly (a map key that is not valid UTF-8, an unknown payload type).
	ErrUnrepresentable = errors.New("eventjson: value cannot be written exactly")
)

// MaxLineLen bounds one record on input (256 MiB): the log holds records of
// up to 64 MiB, which JSON may quadruple.
const MaxLineLen = 256 << 20

// Marshal appends the record of ev, followed by a newline, to dst. Errors
// wrap ErrUnrepresentable; dst is then returned unchanged.
func Marshal(dst []byte, ev events.Event) ([]byte, error) {
	if ev.Payload == nil {
		return dst, fmt.Errorf("%w: event at %d has no payload", ErrUnrepresentable, ev.Position)
	}
	j, err := toJSON(ev.Payload)
	if err != nil {
		return dst, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(j); err != nil {
		return dst, fmt.Errorf("%w: %s at %d: %w", ErrUnrepresentable, ev.Type(), ev.Position, unwrapMarshaler(err))
	}
	payload := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))

	out := append(dst, `{"position":`...)
	out = strconv.AppendUint(out, ev.Position, 10)
	out = append(out, `,"id":"`...)
	out = append(out, ev.ID.String()...)
	out = append(out, `","type":"`...)
	out = append(out, ev.Type().String()...)
	out = append(out, `","version":`...)
	out = strconv.AppendUint(out, uint64(ev.Version), 10)
	out = append(out, `,"task_id":`...)
	out = appendText(out, ev.TaskID)
	out = append(out, `,"time":"`...)
	// The log stores a time as Unix nanoseconds and reads 0 back as the zero
	// time; write that as the Unix epoch so that it reads back the same way.
	t := ev.Time
	if t.IsZero() {
		t = time.Unix(0, 0)
	}
	out = appendTime(out, t)
	out = append(out, `","payload":`...)
	out = append(out, payload...)
	return append(out, '}', '\n'), nil
}

// unwrapMarshaler strips encoding/json's wrapper from an error one of our
// MarshalJSON methods returned, so that errors.Is sees our sentinel.
func unwrapMarshaler(err error) error {
	var me *json.MarshalerError
	if errors.As(err, &me) {
		return me.Err
	}
	return err
}

// envelope is a record as read, before its payload is decoded.
type envelope struct {
	Position *uint64         `json:"position"`
	ID       *string         `json:"id"`
	Type     *string         `json:"type"`
	Version  *uint8          `json:"version"`
	TaskID   *text           `json:"task_id"`
	Time     *string         `json:"time"`
	Payload  json.RawMessage `json:"payload"`
}

// Unmarshal decodes one record (surrounding whitespace allowed). Every field
// is required and unknown fields are refused, in the envelope and in the
// payload. Errors wrap ErrSyntax, events.ErrUnknownType (a type this build
// does not know) or events.ErrNewerVersion. It never panics.
func Unmarshal(line []byte) (ev events.Event, err error) {
	defer func() {
		if r := recover(); r != nil {
			ev, err = events.Event{}, fmt.Errorf("%w: decoder panic: %v", ErrSyntax, r)
		}
	}()
	var env envelope
	if err := strictDecode(line, &env); err != nil {
		return events.Event{}, err
	}
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"position", env.Position != nil}, {"id", env.ID != nil}, {"type", env.Type != nil}, {"version", env.Version != nil},
		{"task_id", env.TaskID != nil}, {"time", env.Time != nil}, {"payload", env.Payload != nil && string(env.Payload) != "null"},
	} {
		if !f.set {
			return events.Event{}, fmt.Errorf("%w: no %s", ErrSyntax, f.name)
		}
	}
	ev.Position, ev.Version, ev.TaskID = *env.Position, *env.Version, string(*env.TaskID)
	if ev.ID, err = events.ParseID(*env.ID); err != nil {
		return events.Event{}, fmt.Errorf("%w: id %q: %v", ErrSyntax, *env.ID, err)
	}
	if ev.Time, err = parseTime(*env.Time); err != nil {
		return events.Event{}, fmt.Errorf("time: %w", err)
	}
	if ev.Time.UnixNano() == 0 {
		ev.Time = time.Time{} // as the log reads it back
	}
	t, ok := events.ParseType(*env.Type)
	if !ok {
		return events.Event{}, fmt.Errorf("%w: %q", events.ErrUnknownType, *env.Type)
	}
	dst, build, _ := newJSON(t)
	if newest := build().SchemaVersion(); ev.Version == 0 || ev.Version > newest {
		if ev.Version == 0 {
			return events.Event{}, fmt.Errorf("%w: %s schema version 0", ErrSyntax, t)
		}
		return events.Event{}, fmt.Errorf("%w: %s v%d (this build reads up to v%d)", events.ErrNewerVersion, t, ev.Version, newest)
	}
	if err := strictDecode(env.Payload, dst); err != nil {
		return events.Event{}, fmt.Errorf("%s payload: %w", t, err)
	}
	ev.Payload = build()
	return ev, nil
}

// strictDecode decodes exactly one JSON value from b into v, refusing
// unknown fields and trailing data.
func strictDecode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, ErrSyntax) {
			return err
		}
		return fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: data after the record", ErrSyntax)
	}
	return nil
}

// Decoder reads records, one per line, from a stream. Blank lines are
// skipped. It is not safe for concurrent use.
type Decoder struct {
	r    *bufio.Reader
	line int
	buf  []byte
}

// NewDecoder returns a Decoder reading from r.
func NewDecoder(r io.Reader) *Decoder { return &Decoder{r: bufio.NewReaderSize(r, 1<<16)} }

// Line returns the number of the line Decode read last (1 for the first).
func (d *Decoder) Line() int { return d.line }

// Decode returns the next event, or io.EOF after the last one. Errors name
// the line and wrap what Unmarshal returns, ErrSyntax for a line longer than
// MaxLineLen, or the reader's error.
func (d *Decoder) Decode() (events.Event, error) {
	for {
		line, err := d.readLine()
		if err != nil {
			return events.Event{}, err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		ev, err := Unmarshal(line)
		if err != nil {
			return events.Event{}, fmt.Errorf("line %d: %w", d.line, err)
		}
		return ev, nil
	}
}

func (d *Decoder) readLine() ([]byte, error) {
	d.buf = d.buf[:0]
	for {
		chunk, err := d.r.ReadSlice('\n')
		if len(d.buf)+len(chunk) > MaxLineLen {
			d.line++
			return nil, fmt.Errorf("line %d: %w: longer than %d bytes", d.line, ErrSyntax, MaxLineLen)
		}
		d.buf = append(d.buf, chunk...)
		switch {
		case err == nil:
			d.line++
			return d.buf, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(d.buf) == 0 {
				return nil, io.EOF
			}
			d.line++
			return d.buf, nil
		default:
			return nil, fmt.Errorf("line %d: %w", d.line+1, err)
		}
	}
}
