package values

import (
	"encoding"
	"fmt"
	"reflect"
	"time"
	"unsafe"
)

// Normalize returns v as the log gives it back after a round trip: integers
// as int64, floats as float64, byte slices and byte arrays as strings,
// non-zero times as UTC time.Time without a monotonic reading (the zero
// time as nil), maps as map[string]any, slices and arrays as []any, structs
// as maps. A value that already has the log's shape (nil, bool, int64,
// float64, string, []byte, and []any and map[string]any of them) is
// returned as it is, byte slices included. Errors wrap ErrUnencodable.
//
// The result is the one the log's msgpack codec (package events) gives;
// the struct rules are the codec's: a field is named by its codec tag, or
// else its json tag, or else its name; a "-" tag leaves it out, as does
// omitempty when it is empty; embedded structs without a name in their tag
// are flattened, the shallowest of same-named fields winning; a struct
// whose "_struct" field is tagged ",toarray" becomes a list of its field
// values. A type that implements both encoding.BinaryMarshaler and
// encoding.BinaryUnmarshaler becomes the string of its MarshalBinary bytes;
// text and JSON marshalers are not used.
func Normalize(v any) (out any, err error) {
	if canonical(v, 0) {
		return v, nil
	}
	if err := Check(v); err != nil {
		return nil, err
	}
	defer func() {
		// A method of v's types (IsZero, MarshalBinary, CodecMissingFields)
		// panicked.
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("%w: %v", ErrUnencodable, r)
		}
	}()
	return normalize(addressable(reflect.ValueOf(v)), false, 0)
}

// canonical reports whether v already has the shape Normalize gives.
func canonical(v any, depth int) bool {
	if depth > MaxDepth {
		return false
	}
	switch v := v.(type) {
	case nil, int64, float64, string, bool, []byte:
		return true
	case []any:
		for _, x := range v {
			if !canonical(x, depth+1) {
				return false
			}
		}
		return true
	case map[string]any:
		for _, x := range v {
			if !canonical(x, depth+1) {
				return false
			}
		}
		return true
	}
	return false
}

// maxNesting is the nesting of lists and maps at which the log's decoder
// refuses a value. Check bounds what it looks at to less; this bounds what
// it does not look at (the fields of an unexported embedded struct).
const maxNesting = 64

var (
	timeType         = reflect.TypeFor[time.Time]()
	byteType         = reflect.TypeFor[byte]()
	binaryMarshaler  = reflect.TypeFor[encoding.BinaryMarshaler]()
	binaryUnmarshal  = reflect.TypeFor[encoding.BinaryUnmarshaler]()
	isZeroerType     = reflect.TypeFor[isZeroer]()
	missingFielderTy = reflect.TypeFor[missingFielder]()
)

// isZeroer: omitempty asks a struct that has IsZero whether it is empty.
type isZeroer interface{ IsZero() bool }

// missingFielder: a struct that has these methods adds the fields
// CodecMissingFields returns to its map.
type missingFielder interface {
	CodecMissingField(field []byte, value any) bool
	CodecMissingFields() map[string]any
}

// normalize returns rv's canonical form. addr says whether rv would be
// addressable in the codec's walk (which decides whether a pointer
// method IsZero is used); rv itself is addressable whenever it is a struct
// or an array, so that its fields may be read whatever the codec's
// addressability. nesting counts the lists and maps around rv.
func normalize(rv reflect.Value, addr bool, nesting int) (any, error) {
	for {
		rv = unlock(rv)
		switch rv.Kind() {
		case reflect.Invalid, reflect.Func:
			return nil, nil
		case reflect.Pointer:
			if rv.IsNil() {
				return nil, nil
			}
			rv, addr = rv.Elem(), true
			continue
		case reflect.Interface:
			if rv.IsNil() {
				return nil, nil
			}
			rv, addr = addressable(rv.Elem()), false
			continue
		case reflect.Slice, reflect.Map:
			if rv.IsNil() {
				return nil, nil
			}
		}
		break
	}
	t := rv.Type()
	if t == timeType {
		return normalTime(rv.Interface().(time.Time)), nil
	}
	if marshalsBinary(t) {
		return binaryString(rv)
	}
	switch rv.Kind() {
	case reflect.Bool:
		return rv.Bool(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		// The log reads every integer back as int64: one above
		// math.MaxInt64 wraps around to a negative number.
		return int64(rv.Uint()), nil
	case reflect.Float32:
		return float64(float32(rv.Float())), nil
	case reflect.Float64:
		return rv.Float(), nil
	case reflect.String:
		return rv.String(), nil
	case reflect.Slice, reflect.Array:
		if t.Elem() == byteType { // byte, not any kind of uint8
			b := make([]byte, rv.Len())
			reflect.Copy(reflect.ValueOf(b), rv)
			return string(b), nil
		}
		if nesting+1 >= maxNesting {
			return nil, deepError()
		}
		out := make([]any, rv.Len())
		for i := range out {
			var err error
			if out[i], err = normalize(rv.Index(i), addr || rv.Kind() == reflect.Slice, nesting+1); err != nil {
				return nil, err
			}
		}
		return out, nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String && rv.Len() > 0 {
			// Only past Check (see maxNesting). The log cannot read
			// such keys back; an empty map has none.
			return nil, fmt.Errorf("%w: a map with %s keys (want string keys)", ErrUnencodable, t.Key())
		}
		if nesting+1 >= maxNesting {
			return nil, deepError()
		}
		out := make(map[string]any, rv.Len())
		for it := rv.MapRange(); it.Next(); {
			x, err := normalize(addressable(it.Value()), false, nesting+1)
			if err != nil {
				return nil, err
			}
			out[it.Key().String()] = x
		}
		return out, nil
	case reflect.Struct:
		return normalStruct(rv, addr, nesting)
	}
	// A channel, a complex number or an unsafe pointer, only past Check.
	return nil, fmt.Errorf("%w: a %s", ErrUnencodable, t)
}

func deepError() error {
	return fmt.Errorf("%w: value nests deeper than %d", ErrUnencodable, maxNesting)
}

// normalTime is t as the log gives it back: nil for the zero time, else the
// same instant in UTC, without a monotonic clock reading.
func normalTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return time.Unix(t.Unix(), int64(t.Nanosecond())).UTC()
}

// marshalsBinary reports whether values of t are written as their
// MarshalBinary bytes: t, or *t, has both MarshalBinary and UnmarshalBinary.
func marshalsBinary(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return (t.Implements(binaryMarshaler) || p.Implements(binaryMarshaler)) &&
		(t.Implements(binaryUnmarshal) || p.Implements(binaryUnmarshal))
}

// binaryString calls MarshalBinary on (a pointer to) rv.
func binaryString(rv reflect.Value) (any, error) {
	if !rv.CanAddr() {
		rv = addressableCopy(rv)
	}
	b, err := rv.Addr().Interface().(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: MarshalBinary: %w", ErrUnencodable, rv.Type(), err)
	}
	if b == nil {
		return nil, nil
	}
	return string(b), nil
}

// addressable returns a struct or an array that is not addressable as an
// addressable copy, so that its fields can be read through unlock.
func addressable(rv reflect.Value) reflect.Value {
	if k := rv.Kind(); (k == reflect.Struct || k == reflect.Array) && !rv.CanAddr() {
		return addressableCopy(rv)
	}
	return rv
}

func addressableCopy(rv reflect.Value) reflect.Value {
	c := reflect.New(rv.Type()).Elem()
	c.Set(rv)
	return c
}

// unlock makes a value read through an unexported field (the exported
// fields of an unexported embedded struct, which the codec writes) usable
// with Interface. Such values are addressable here (see normalize).
func unlock(rv reflect.Value) reflect.Value {
	if rv.IsValid() && !rv.CanInterface() && rv.CanAddr() {
		return reflect.NewAt(rv.Type(), unsafe.Pointer(rv.UnsafeAddr())).Elem()
	}
	return rv
}
