package pebble_test

import (
	"path/filepath"
	"testing"

	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/pebble"
	"github.com/omniq/omniq/stores/storetest"
)

// harness opens each named log in its own directory under dir.
func harness(dir string) storetest.Harness {
	return storetest.Harness{
		Open: func(t testing.TB, name string) stores.Log {
			l, err := pebble.Open(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			return l
		},
		Durable: true,
	}
}

func TestConformance(t *testing.T) { storetest.Run(t, harness(t.TempDir())) }

func BenchmarkLog(b *testing.B) { storetest.Bench(b, harness(b.TempDir())) }
