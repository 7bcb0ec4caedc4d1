package postgres

import (
	"testing"

	"github.com/omniq/omniq/stores/storetest"
)

// TestPresence runs the suite on the conformance harness, whose cleanup
// drops the log's tables and its presence table.
func TestPresence(t *testing.T) { storetest.RunPresence(t, harness(testDSN(t))) }
