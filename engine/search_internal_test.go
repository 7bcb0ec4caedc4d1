package engine

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// appendJSON writes what encoding/json writes without HTML escapes.
func TestAppendJSONIsEncodingJSON(t *testing.T) {
	for _, v := range []any{
		nil, true, false, int64(-42), 7, 1.5, 1e21, "plain", "a<b>&c", "quote\" back\\ nl\n", "ü é", "\u2028", "bad\xff",
		[]byte{0, 1, 250}, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		[]any{"x", int64(1), []any{}, map[string]any{}},
		map[string]any{"b": int64(1), "a": []any{"<", nil}, "ü": map[string]any{"z": "Z"}},
		map[string]string{"tenant": "ACME", "k<": "v&"},
	} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
		if got := appendJSON(nil, v); string(got) != string(bytes.TrimSuffix(want.Bytes(), []byte("\n"))) {
			t.Errorf("appendJSON(%#v) = %s, want %s", v, got, want.Bytes())
		}
	}
}
