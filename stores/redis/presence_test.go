package redis_test

import (
	"testing"

	"github.com/omniq/omniq/stores/storetest"
)

// TestPresence runs the suite on the conformance harness, whose cleanup
// deletes the log's keys and its presence keys.
func TestPresence(t *testing.T) { storetest.RunPresence(t, harness()) }
