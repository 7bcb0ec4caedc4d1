package sqlite

import (
	"testing"

	"github.com/omniq/omniq/stores/storetest"
)

func TestPresence(t *testing.T) { storetest.RunPresence(t, harness(t.TempDir())) }
