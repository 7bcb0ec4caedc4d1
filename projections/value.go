package projections

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"

	"github.com/omniq/omniq/events"
)

// Values (task arguments, keyword arguments, results) in a snapshot. The
// shapes the log gives back (see events.Normalize) have a tag of their own,
// so that Restore decodes them without the msgpack decoder, which costs a
// microsecond per call; anything else is carried as events.MarshalValue
// bytes. Each shape decodes to the same Go type it was encoded from, so a
// restored value equals the one in the state that was snapshotted.
//
//	tag  value
//	0    nil
//	1    false
//	2    true
//	3    int64: zig-zag varint
//	4    float64: 8 bytes, little-endian IEEE 754 bits
//	5    string: uvarint length, bytes
//	6    []byte: uvarint length, bytes
//	7    []any: uvarint count, values
//	8    map[string]any: uvarint count, (uvarint length, key bytes, value) in key order
//	9    other: uvarint length, events.MarshalValue bytes (decoded into an any)
//	10   []byte(nil)
//	11   []any(nil)
//	12   map[string]any(nil)
const (
	valNil byte = iota
	valFalse
	valTrue
	valInt
	valFloat
	valString
	valBytes
	valList
	valMap
	valMsgpack
	valNilBytes
	valNilList
	valNilMap
)

// maxValueDepth bounds the nesting Restore accepts, so that a crafted
// snapshot cannot exhaust the stack.
const maxValueDepth = 64

var errValueDepth = errors.New("value nests too deeply")

func appendValue(b []byte, v any, depth int) ([]byte, error) {
	if depth > maxValueDepth {
		return nil, errValueDepth
	}
	switch v := v.(type) {
	case nil:
		return append(b, valNil), nil
	case bool:
		if v {
			return append(b, valTrue), nil
		}
		return append(b, valFalse), nil
	case int64:
		return binary.AppendVarint(append(b, valInt), v), nil
	case float64:
		return binary.LittleEndian.AppendUint64(append(b, valFloat), math.Float64bits(v)), nil
	case string:
		return appendString(append(b, valString), v), nil
	case []byte:
		if v == nil {
			return append(b, valNilBytes), nil
		}
		b = binary.AppendUvarint(append(b, valBytes), uint64(len(v)))
		return append(b, v...), nil
	case []any:
		if v == nil {
			return append(b, valNilList), nil
		}
		b = binary.AppendUvarint(append(b, valList), uint64(len(v)))
		var err error
		for _, x := range v {
			if b, err = appendValue(b, x, depth+1); err != nil {
				return nil, err
			}
		}
		return b, nil
	case map[string]any:
		if v == nil {
			return append(b, valNilMap), nil
		}
		b = binary.AppendUvarint(append(b, valMap), uint64(len(v)))
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var err error
		for _, k := range keys {
			b = appendString(b, k)
			if b, err = appendValue(b, v[k], depth+1); err != nil {
				return nil, err
			}
		}
		return b, nil
	}
	raw, err := events.MarshalValue(v)
	if err != nil {
		return nil, err
	}
	b = binary.AppendUvarint(append(b, valMsgpack), uint64(len(raw)))
	return append(b, raw...), nil
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// readValue decodes one value at r's position.
func (r *reader) readValue(depth int) any {
	if depth > maxValueDepth {
		r.fail("value nests too deeply")
		return nil
	}
	switch tag := r.byte(); tag {
	case valNil:
		return nil
	case valNilBytes:
		return []byte(nil)
	case valNilList:
		return []any(nil)
	case valNilMap:
		return map[string]any(nil)
	case valFalse:
		return false
	case valTrue:
		return true
	case valInt:
		return r.varint()
	case valFloat:
		return math.Float64frombits(r.fixed64())
	case valString:
		return r.string()
	case valBytes:
		return slices.Clone(r.bytes())
	case valList:
		n := r.count(1)
		if n == 0 {
			return []any{}
		}
		out := make([]any, n)
		for i := range out {
			out[i] = r.readValue(depth + 1)
		}
		return out
	case valMap:
		n := r.count(2)
		out := make(map[string]any, n)
		for range n {
			k := r.string()
			out[k] = r.readValue(depth + 1)
		}
		return out
	case valMsgpack:
		var out any
		if raw := r.bytes(); r.err == nil {
			if err := events.UnmarshalValue(raw, &out); err != nil {
				r.fail("value: " + err.Error())
			}
		}
		return out
	default:
		r.fail("unknown value tag")
		return nil
	}
}
