package eventjson

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"iter"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/omniq/omniq/events"
)

// Tags of the values plain JSON cannot hold (see the package doc).
const (
	tagFloat = "$float"
	tagBytes = "$bytes"
	tagTime  = "$time"
	tagMap   = "$map"
)

// appendValue appends the JSON form of v, a value as the log gives it back
// (see events.Normalize): nil, bool, int64, float64, string, time.Time, []any
// or map[string]any. Other numeric and byte-slice types are accepted too.
func appendValue(dst []byte, v any, depth int) ([]byte, error) {
	if depth > events.MaxValueDepth {
		return dst, fmt.Errorf("%w: value nests deeper than %d", ErrUnrepresentable, events.MaxValueDepth)
	}
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case bool:
		return strconv.AppendBool(dst, v), nil
	case int64:
		return strconv.AppendInt(dst, v, 10), nil
	case int:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int32:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case uint64:
		// The log reads every integer back as int64 (events.Normalize).
		return strconv.AppendInt(dst, int64(v), 10), nil
	case float64:
		return appendFloat(dst, v), nil
	case float32:
		return appendFloat(dst, float64(v)), nil
	case string:
		return appendText(dst, v), nil
	case []byte:
		return appendText(dst, string(v)), nil
	case time.Time:
		dst = append(dst, `{"`+tagTime+`":"`...)
		dst = appendTime(dst, v)
		return append(dst, `"}`...), nil
	case []any:
		dst = append(dst, '[')
		for i, x := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendValue(dst, x, depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case map[string]any:
		return appendMap(dst, v, depth)
	}
	return dst, fmt.Errorf("%w: a %T", ErrUnrepresentable, v)
}

// appendMap writes m with its keys sorted, so that output is deterministic.
func appendMap(dst []byte, m map[string]any, depth int) ([]byte, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		if !utf8.ValidString(k) {
			return dst, fmt.Errorf("%w: map key %q is not valid UTF-8", ErrUnrepresentable, k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	wrap := len(keys) == 1 && strings.HasPrefix(keys[0], "$")
	if wrap {
		dst = append(dst, `{"`+tagMap+`":`...)
	}
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
		dst = append(dst, ':')
		var err error
		if dst, err = appendValue(dst, m[k], depth+1); err != nil {
			return dst, err
		}
	}
	dst = append(dst, '}')
	if wrap {
		dst = append(dst, '}')
	}
	return dst, nil
}

// appendFloat writes f so that it reads back as a float: always with a '.'
// or an exponent; NaN and infinities as a $float tag.
func appendFloat(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, `{"`+tagFloat+`":"NaN"}`...)
	case math.IsInf(f, 1):
		return append(dst, `{"`+tagFloat+`":"+Inf"}`...)
	case math.IsInf(f, -1):
		return append(dst, `{"`+tagFloat+`":"-Inf"}`...)
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'g', -1, 64)
	if !bytes.ContainsAny(dst[start:], ".e") {
		dst = append(dst, ".0"...)
	}
	return dst
}

// appendText writes s as a JSON string, or as a $bytes tag when s is not
// valid UTF-8 (JSON would replace the bad bytes).
func appendText(dst []byte, s string) []byte {
	if utf8.ValidString(s) {
		return appendString(dst, s)
	}
	dst = append(dst, `{"`+tagBytes+`":"`...)
	dst = base64.StdEncoding.AppendEncode(dst, []byte(s))
	return append(dst, `"}`...)
}

const hexDigits = "0123456789abcdef"

// appendString writes s, valid UTF-8, as a JSON string. Unlike encoding/json
// it leaves <, > and & alone: the output is for files, not HTML.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// decodeValue reads one free-form value written by appendValue.
func decodeValue(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	return fromJSON(v, 0)
}

// fromJSON converts what encoding/json (with UseNumber) decoded into the
// value the log holds: numbers become int64 or float64, tags are undone.
func fromJSON(v any, depth int) (any, error) {
	if depth > events.MaxValueDepth {
		return nil, fmt.Errorf("%w: value nests deeper than %d", ErrSyntax, events.MaxValueDepth)
	}
	switch v := v.(type) {
	case nil, bool, string:
		return v, nil
	case json.Number:
		return fromNumber(string(v))
	case []any:
		if err := fromEach(slices.All(v), func(i int, y any) { v[i] = y }, depth); err != nil {
			return nil, err
		}
		return v, nil
	case map[string]any:
		if len(v) == 1 {
			for k, x := range v {
				if strings.HasPrefix(k, "$") {
					if out, ok, err := fromTag(k, x, depth); ok || err != nil {
						return out, err
					}
				}
			}
		}
		return fromObject(v, depth)
	}
	return nil, fmt.Errorf("%w: unexpected JSON value %T", ErrSyntax, v)
}

func fromObject(m map[string]any, depth int) (map[string]any, error) {
	if err := fromEach(maps.All(m), func(k string, y any) { m[k] = y }, depth); err != nil {
		return nil, err
	}
	return m, nil
}

// fromEach converts each element of a list or an object with fromJSON and
// stores it back with set: what encoding/json decoded is converted in place.
func fromEach[K any](elems iter.Seq2[K, any], set func(K, any), depth int) error {
	for k, x := range elems {
		y, err := fromJSON(x, depth+1)
		if err != nil {
			return err
		}
		set(k, y)
	}
	return nil
}

// fromTag undoes a tag. ok is false for a key that is no tag of ours: the
// object is then an ordinary map.
func fromTag(key string, x any, depth int) (out any, ok bool, err error) {
	if key == tagMap {
		m, isMap := x.(map[string]any)
		if !isMap {
			return nil, true, fmt.Errorf("%w: %s holds a %T, want an object", ErrSyntax, tagMap, x)
		}
		out, err := fromObject(m, depth)
		return out, true, err
	}
	s, isString := x.(string)
	switch key {
	case tagFloat:
		if !isString {
			return nil, true, fmt.Errorf("%w: %s holds a %T, want a string", ErrSyntax, tagFloat, x)
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil && !math.IsInf(f, 0) {
			return nil, true, fmt.Errorf("%w: %s %q: %v", ErrSyntax, tagFloat, s, err)
		}
		return f, true, nil
	case tagBytes:
		if !isString {
			return nil, true, fmt.Errorf("%w: %s holds a %T, want a base64 string", ErrSyntax, tagBytes, x)
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, true, fmt.Errorf("%w: %s: %v", ErrSyntax, tagBytes, err)
		}
		return string(b), true, nil
	case tagTime:
		if !isString {
			return nil, true, fmt.Errorf("%w: %s holds a %T, want an RFC 3339 string", ErrSyntax, tagTime, x)
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, true, fmt.Errorf("%w: %s: %v", ErrSyntax, tagTime, err)
		}
		return t.UTC(), true, nil
	}
	return nil, false, nil
}

// fromNumber reads a JSON number: without '.' or exponent it is an int64,
// otherwise a float64. Out-of-range numbers are errors, not silently rounded.
func fromNumber(s string) (any, error) {
	if !strings.ContainsAny(s, ".eE") {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: integer %s does not fit in int64", ErrSyntax, s)
		}
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: number %s does not fit in float64", ErrSyntax, s)
	}
	return f, nil
}

// MarshalValue returns the JSON form of a free-form value (a task argument,
// keyword arguments, a result) as the log gives it back, by the rules of the
// package doc. Errors wrap ErrUnrepresentable.
func MarshalValue(v any) (json.RawMessage, error) { return appendValue(nil, v, 0) }

// UnmarshalValue reads what MarshalValue wrote. Errors wrap ErrSyntax.
func UnmarshalValue(raw []byte) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("%w: decoder panic: %v", ErrSyntax, r)
		}
	}()
	return decodeValue(raw)
}
