package projections

import (
	"encoding/binary"
	"errors"
	"time"
)

// reader decodes a snapshot. The first error sticks: later reads return
// zero values, so that a decoder checks r.err once per record, not per field.
type reader struct {
	b   []byte
	off int
	err error
}

var errTruncated = errors.New("truncated")

func (r *reader) fail(msg string) {
	if r.err == nil {
		r.err = errors.New(msg)
	}
}

// ready reports whether the next field can be read: no error so far, and
// not short (the bytes left cannot hold it), which fails the reader with
// errTruncated.
func (r *reader) ready(short bool) bool {
	if r.err == nil && short {
		r.err = errTruncated
	}
	return r.err == nil
}

func (r *reader) byte() byte {
	if !r.ready(r.off >= len(r.b)) {
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *reader) uvarint() uint64 { return readVarint(r, binary.Uvarint) }

func (r *reader) varint() int64 { return readVarint(r, binary.Varint) }

// readVarint reads a varint that decode (binary.Uvarint or binary.Varint)
// decodes.
func readVarint[T uint64 | int64](r *reader, decode func([]byte) (T, int)) T {
	// r.off > len(r.b): a reader started past the end (a record cut short).
	if !r.ready(r.off > len(r.b)) {
		return 0
	}
	v, n := decode(r.b[r.off:])
	if n <= 0 {
		r.err = errTruncated
		return 0
	}
	r.off += n
	return v
}

func (r *reader) fixed64() uint64 {
	if !r.ready(len(r.b)-r.off < 8) {
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b[r.off:])
	r.off += 8
	return v
}

// count reads a count of items that take at least minSize bytes each, and
// fails when the bytes left cannot hold that many.
func (r *reader) count(minSize int) int {
	n := r.uvarint()
	if r.err == nil && n > uint64((len(r.b)-r.off)/minSize) {
		r.err = errTruncated
	}
	if r.err != nil {
		return 0
	}
	return int(n)
}

// bytes reads a length-prefixed byte string; the result aliases r.b.
func (r *reader) bytes() []byte {
	n := r.count(1)
	if r.err != nil {
		return nil
	}
	v := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return v
}

func (r *reader) string() string { return string(r.bytes()) }

// internedString reads a string through s.intern, allocating only for a name
// not seen before.
func (r *reader) internedString(s *State) string {
	v := r.bytes()
	if len(v) == 0 {
		return ""
	}
	if name, ok := s.names[string(v)]; ok {
		return name
	}
	return s.intern(string(v))
}

func timeDuration(v int64) time.Duration { return time.Duration(v) }
