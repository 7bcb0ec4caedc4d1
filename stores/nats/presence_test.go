package nats_test

import (
	"testing"

	"github.com/omniq/omniq/stores/storetest"
)

// TestPresence runs the suite on the conformance harness, whose cleanup
// deletes the log's streams and its members bucket.
func TestPresence(t *testing.T) { storetest.RunPresence(t, harness()) }
