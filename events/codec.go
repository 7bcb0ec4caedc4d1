package events

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/oklog/ulid/v2"
)

// Decoding errors. Match them with errors.Is.
var (
	// ErrCorrupt: the bytes are not a well-formed record or batch.
	ErrCorrupt = errors.New("events: corrupt record")
	// ErrUnknownType: the record names an event type this build does not know.
	ErrUnknownType = errors.New("events: unknown event type")
	// ErrNewerVersion: the record's schema version is newer than this build reads.
	ErrNewerVersion = errors.New("events: schema version newer than supported")
)

const headerLen = 1 + 1 + 16 // version, type, ulid

// maxRecordLen bounds a single record in a batch (64 MiB); larger claims are corrupt.
const maxRecordLen = 64 << 20

var handle = func() *codec.MsgpackHandle {
	h := &codec.MsgpackHandle{WriteExt: true}
	h.MapType = reflect.TypeOf(map[string]any(nil))
	h.RawToString = true
	h.SignedInteger = true
	h.Canonical = true // sorted map keys: the same event always encodes to the same bytes
	h.MaxInitLen = 4096
	h.MaxDepth = 64
	return h
}()

// pooledEncoder keeps an encoder with its output buffer, so that encoding an
// event allocates nothing in the steady state.
type pooledEncoder struct {
	enc *codec.Encoder
	buf []byte
}

var encPool = sync.Pool{New: func() any {
	p := &pooledEncoder{}
	p.enc = codec.NewEncoderBytes(&p.buf, handle)
	return p
}}

// decPool reuses decoders: making one per event is a large part of replay.
var decPool = sync.Pool{New: func() any { return codec.NewDecoderBytes(nil, handle) }}

// encode appends the msgpack encoding of v to dst.
func encode(dst []byte, v any) ([]byte, error) {
	p := encPool.Get().(*pooledEncoder)
	p.buf = p.buf[:0]
	p.enc.ResetBytes(&p.buf)
	err := p.enc.Encode(v)
	if err == nil {
		dst = append(dst, p.buf...)
	}
	if cap(p.buf) <= 64<<10 { // do not pin huge buffers in the pool
		encPool.Put(p)
	}
	return dst, err
}

// Marshal appends the encoding of e (without its position) to dst and returns it.
// It fails (ErrUnencodable) when the payload's arguments or result are not
// plain data (see CheckValue).
func Marshal(dst []byte, e Event) ([]byte, error) {
	if e.Payload == nil {
		return dst, fmt.Errorf("events: marshal %s: nil payload", e.TaskID)
	}
	if err := checkPayload(e.Payload); err != nil {
		return dst, fmt.Errorf("events: marshal %s %s: %w", e.Payload.Type(), e.TaskID, err)
	}
	dst = append(dst, e.Version, byte(e.Payload.Type()))
	dst = append(dst, e.ID[:]...)
	dst = binary.AppendVarint(dst, e.Time.UnixNano())
	dst = binary.AppendUvarint(dst, uint64(len(e.TaskID)))
	dst = append(dst, e.TaskID...)
	if out, ok := encodeFast(dst, e.Payload); ok {
		return out, nil
	}
	dst, err := encode(dst, e.Payload)
	if err != nil {
		return dst, fmt.Errorf("events: marshal %s %s: %w", e.Payload.Type(), e.TaskID, err)
	}
	return dst, nil
}

// Unmarshal decodes one record produced by Marshal. The returned event has
// Position 0; the store sets it. Errors wrap ErrCorrupt, ErrUnknownType or
// ErrNewerVersion. It never panics on any input.
func Unmarshal(b []byte) (ev Event, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: decoder panic: %v", ErrCorrupt, r)
		}
	}()
	if len(b) < headerLen {
		return Event{}, fmt.Errorf("%w: %d bytes is shorter than a header", ErrCorrupt, len(b))
	}
	ev.Version = b[0]
	t := Type(b[1])
	copy(ev.ID[:], b[2:18])
	rest := b[headerLen:]
	ns, n := binary.Varint(rest)
	if n <= 0 {
		return Event{}, fmt.Errorf("%w: bad timestamp", ErrCorrupt)
	}
	rest = rest[n:]
	l, n := binary.Uvarint(rest)
	if n <= 0 || l > uint64(len(rest)-n) {
		return Event{}, fmt.Errorf("%w: bad task id length", ErrCorrupt)
	}
	rest = rest[n:]
	ev.TaskID = string(rest[:l])
	rest = rest[l:]
	p := newPayload(t)
	if p == nil {
		return Event{}, fmt.Errorf("%w: %d", ErrUnknownType, b[1])
	}
	if ev.Version == 0 {
		return Event{}, fmt.Errorf("%w: schema version 0", ErrCorrupt)
	}
	if ev.Version > p.SchemaVersion() {
		return Event{}, fmt.Errorf("%w: %s v%d (this build reads up to v%d)", ErrNewerVersion, t, ev.Version, p.SchemaVersion())
	}
	if !decodeFast(p, rest) {
		p = newPayload(t) // decodeFast may have filled part of it
		if err := decodeReflect(p, rest); err != nil {
			return Event{}, fmt.Errorf("%w: %s payload: %v", ErrCorrupt, t, err)
		}
	}
	ev.Time = Timestamp(ns).Time()
	ev.Payload = p
	return ev, nil
}

// errTrailing: a payload decoded before the end of its record.
var errTrailing = errors.New("trailing bytes")

// decodeReflect decodes b, all of it, into p with the msgpack codec. It
// defines what every payload's bytes mean (see decodeFast). It may panic on
// malformed input; Unmarshal recovers.
func decodeReflect(p Payload, b []byte) error {
	dec := decPool.Get().(*codec.Decoder)
	dec.ResetBytes(b)
	err := dec.Decode(p)
	read := dec.NumBytesRead()
	dec.ResetBytes(nil) // do not pin the record
	decPool.Put(dec)
	if err != nil {
		return err
	}
	if read != len(b) {
		return fmt.Errorf("%w: %d", errTrailing, len(b)-read)
	}
	return nil
}

// MarshalBatch encodes evs as one batch record: a count, then each record
// length-prefixed. Stores that keep one entry per appended batch use it.
func MarshalBatch(dst []byte, evs []Event) ([]byte, error) {
	// Each record is encoded in place, behind room for the longest length
	// prefix, which is then written and the record moved up to it: no
	// scratch copy, and with dst sized for the large parts up front, a
	// checkpoint of N bytes costs about N bytes of heap, not a chain of
	// doublings (the stores send what this returns).
	if need := binary.MaxVarintLen64 + EncodedSizeHint(evs) + len(evs)*(binary.MaxVarintLen64+recordRoom); cap(dst)-len(dst) < need {
		grown := make([]byte, len(dst), len(dst)+need) // not slices.Grow: under -race it allocates twice
		copy(grown, dst)
		dst = grown
	}
	dst = binary.AppendUvarint(dst, uint64(len(evs)))
	var err error
	for _, e := range evs {
		at := len(dst)
		dst = append(dst, make([]byte, binary.MaxVarintLen64)...)
		if dst, err = Marshal(dst, e); err != nil {
			return dst[:at], err
		}
		rec := len(dst) - at - binary.MaxVarintLen64
		n := binary.PutUvarint(dst[at:], uint64(rec))
		copy(dst[at+n:], dst[at+binary.MaxVarintLen64:])
		dst = dst[:at+n+rec]
	}
	return dst, nil
}

// recordRoom is what MarshalBatch sets aside for an event's record beyond
// EncodedSizeHint's part of it: the common records fit, longer ones grow
// the buffer as append does.
const recordRoom = 160

// UnmarshalBatch decodes a batch made by MarshalBatch. Events get positions
// first, first+1, … in batch order. Errors are as for Unmarshal.
func UnmarshalBatch(b []byte, first uint64) ([]Event, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 || count > uint64(len(b)) {
		return nil, fmt.Errorf("%w: bad batch count", ErrCorrupt)
	}
	b = b[n:]
	evs := make([]Event, 0, count)
	for i := uint64(0); i < count; i++ {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > maxRecordLen || l > uint64(len(b)-n) {
			return nil, fmt.Errorf("%w: bad record length in batch", ErrCorrupt)
		}
		ev, err := Unmarshal(b[n : n+int(l)])
		if err != nil {
			return nil, err
		}
		ev.Position = first + i
		evs = append(evs, ev)
		b = b[n+int(l):]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes after batch", ErrCorrupt, len(b))
	}
	return evs, nil
}

// MarshalValue encodes v with the log's msgpack settings (canonical: map keys
// sorted). Snapshots use it so that they decode exactly as events do.
func MarshalValue(v any) ([]byte, error) { return encode(nil, v) }

// UnmarshalValue decodes b, made by MarshalValue, into v (a pointer). It never
// panics; a malformed input gives an error wrapping ErrCorrupt.
func UnmarshalValue(b []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: decoder panic: %v", ErrCorrupt, r)
		}
	}()
	dec := codec.NewDecoderBytes(b, handle)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if dec.NumBytesRead() != len(b) {
		return fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(b)-dec.NumBytesRead())
	}
	return nil
}

// ParseID parses the text form of an event id.
func ParseID(s string) (ulid.ULID, error) { return ulid.ParseStrict(s) }
