package pebble_test

import (
	"testing"

	pdb "github.com/cockroachdb/pebble/v2"

	"github.com/omniq/omniq/stores/pebble"
)

func TestOpenRefusesUnsafeOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		fn   func(*pdb.Options)
	}{
		{"DisableWAL", func(o *pdb.Options) { o.DisableWAL = true }},
		{"foreign comparer", func(o *pdb.Options) {
			c := *pdb.DefaultComparer
			c.Name = "reversed"
			o.Comparer = &c
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := pebble.Open(t.TempDir(), pebble.WithPebbleOptions(tc.fn))
			if err == nil {
				l.Close()
				t.Fatal("Open succeeded")
			}
		})
	}
}
