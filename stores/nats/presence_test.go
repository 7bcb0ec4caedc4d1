package nats_test

import (
	"context"
	"testing"

	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/nats"
	"github.com/omniq/omniq/stores/storetest"
)

// TestPresence runs the suite on the conformance harness, whose cleanup
// deletes the log's streams, and deletes the members bucket too.
func TestPresence(t *testing.T) {
	h := harness()
	open := h.Open
	h.Open = func(t testing.TB, name string) stores.Log {
		l := open(t, name)
		js := jetStream(t)
		t.Cleanup(func() {
			bucket := nats.MembersBucket(sanitize(name))
			if err := js.DeleteKeyValue(context.Background(), bucket); err != nil && !isNotFound(err) {
				t.Errorf("delete bucket %s: %v", bucket, err)
			}
		})
		return l
	}
	storetest.RunPresence(t, h)
}
