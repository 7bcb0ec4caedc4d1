package redis_test

import (
	"context"
	"testing"

	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/redis"
	"github.com/omniq/omniq/stores/storetest"
)

// TestPresence runs the suite on the conformance harness, whose cleanup
// deletes the log's keys, and deletes the presence keys too.
func TestPresence(t *testing.T) {
	h := harness()
	open := h.Open
	h.Open = func(t testing.TB, name string) stores.Log {
		l := open(t, name)
		keys := l.(*redis.Log).PresenceKeys()
		c := rawClient(t, serverOptions(t))
		t.Cleanup(func() {
			if err := c.Del(context.Background(), keys...).Err(); err != nil {
				t.Errorf("delete presence keys of %s: %v", name, err)
			}
		})
		return l
	}
	storetest.RunPresence(t, h)
}
