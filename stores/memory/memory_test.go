package memory_test

import (
	"testing"

	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/memory"
	"github.com/omniq/omniq/stores/storetest"
)

func harness() storetest.Harness {
	return storetest.Harness{Open: func(testing.TB, string) stores.Log { return memory.New() }}
}

func TestConformance(t *testing.T) { storetest.Run(t, harness()) }

func BenchmarkLog(b *testing.B) { storetest.Bench(b, harness()) }
