package memory_test

import (
	"sync"
	"testing"

	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/memory"
	"github.com/omniq/omniq/stores/storetest"
)

func TestPresence(t *testing.T) { storetest.RunPresence(t, harness()) }

// TestPresenceShared runs the suite with engines sharing one *Log per name,
// as engines in one process do.
func TestPresenceShared(t *testing.T) {
	var mu sync.Mutex
	logs := map[string]*memory.Log{}
	storetest.RunPresence(t, storetest.Harness{
		Open: func(_ testing.TB, name string) stores.Log {
			mu.Lock()
			defer mu.Unlock()
			if logs[name] == nil {
				logs[name] = memory.New()
			}
			return logs[name]
		},
		Shared: true,
	})
}
