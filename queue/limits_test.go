package queue_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/omniq/omniq/queue"
)

// TestValidateMeta: Meta within the limits passes; each limit, when
// exceeded, gets ErrInvalidMeta (and so ErrInvalidArgument).
func TestValidateMeta(t *testing.T) {
	full := map[string]string{}
	for i := range queue.MaxMetaEntries {
		full[fmt.Sprint("k", i)] = "v"
	}
	ok := []map[string]string{
		nil,
		{},
		{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "tracestate": "rojo=00f067aa0ba902b7"},
		{strings.Repeat("k", queue.MaxMetaKeyLen): strings.Repeat("v", queue.MaxMetaValueLen)},
		{"A-z_0.9:/": ""},
		{"k": "ünïcödé"},
		full,
	}
	for _, m := range ok {
		if err := queue.ValidateMeta(m); err != nil {
			t.Errorf("ValidateMeta(%v) = %v", m, err)
		}
	}
	over := map[string]string{"extra": "v"}
	for k, v := range full {
		over[k] = v
	}
	bad := map[string]map[string]string{
		"too many entries": over,
		"empty key":        {"": "v"},
		"long key":         {strings.Repeat("k", queue.MaxMetaKeyLen+1): "v"},
		"space in key":     {"a b": "v"},
		"non-ASCII key":    {"clé": "v"},
		"long value":       {"k": strings.Repeat("v", queue.MaxMetaValueLen+1)},
		"invalid UTF-8":    {"k": "\xff"},
	}
	for name, m := range bad {
		err := queue.ValidateMeta(m)
		if !errors.Is(err, queue.ErrInvalidMeta) || !errors.Is(err, queue.ErrInvalidArgument) {
			t.Errorf("%s: ValidateMeta = %v, want ErrInvalidMeta", name, err)
		}
	}
}
