package engine

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/omniq/omniq/projections"
)

// This file holds TaskFilter.Q: a task matches when its id, or the JSON
// text of its args, kwargs or meta, contains the search text, ignoring
// case. The JSON text is encoding/json's without HTML escapes (what the
// HTTP API shows, byte for byte for the log's plain values); the common
// values are written here without reflection, since a search page encodes
// thousands of tasks.

// qMatcher tests TaskFilter.Q against tasks, reusing its buffer from one
// task to the next. The zero value is ready.
type qMatcher struct {
	buf []byte
}

// match reports whether r's id, or the JSON text of its args, kwargs or
// meta, contains q, which is lower case, ignoring case.
func (m *qMatcher) match(r *projections.Task, q string) bool {
	if strings.Contains(strings.ToLower(r.ID), q) {
		return true
	}
	spec := r.Spec()
	for _, v := range [...]any{spec.Args, spec.Kwargs, spec.Meta} {
		switch v := v.(type) {
		case []any:
			if len(v) == 0 {
				continue
			}
		case map[string]any:
			if len(v) == 0 {
				continue
			}
		case map[string]string:
			if len(v) == 0 {
				continue
			}
		}
		m.buf = appendJSON(m.buf[:0], v)
		if containsFold(m.buf, q) {
			return true
		}
	}
	return false
}

// containsFold reports whether text, lower-cased, contains q (lower case).
func containsFold(text []byte, q string) bool {
	for _, c := range text {
		if c >= utf8.RuneSelf || 'A' <= c && c <= 'Z' {
			return bytes.Contains(bytes.ToLower(text), []byte(q))
		}
	}
	return bytes.Contains(text, []byte(q))
}

// appendJSON appends v as encoding/json writes it without HTML escapes.
func appendJSON(b []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, v)
	case int64:
		return strconv.AppendInt(b, v, 10)
	case int:
		return strconv.AppendInt(b, int64(v), 10)
	case string:
		return appendJSONString(b, v)
	case []any:
		b = append(b, '[')
		for i, x := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, x)
		}
		return append(b, ']')
	case map[string]any:
		return appendJSONObject(b, v, appendJSON)
	case map[string]string:
		return appendJSONObject(b, v, appendJSONString)
	}
	return appendEncoded(b, v)
}

// appendJSONObject appends m as a JSON object, its keys sorted as
// encoding/json sorts them, each value written by appendValue.
func appendJSONObject[V any](b []byte, m map[string]V, appendValue func([]byte, V) []byte) []byte {
	b = append(b, '{')
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(appendJSONString(b, k), ':')
		b = appendValue(b, m[k])
	}
	return append(b, '}')
}

// appendEncoded appends v as encoding/json writes it without HTML escapes
// (nothing when it does not encode).
func appendEncoded(b []byte, v any) []byte {
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return b
	}
	return append(b, bytes.TrimSuffix(out.Bytes(), []byte("\n"))...)
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			// Escapes, invalid UTF-8, U+2028 and U+2029: encoding/json's
			// own rules.
			return appendEncoded(b, s)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
