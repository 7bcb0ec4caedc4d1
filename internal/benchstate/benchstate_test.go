package benchstate_test

import (
	"context"
	"testing"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/internal/benchstate"
	"github.com/omniq/omniq/stores/memory"
)

// TestFillHalfEnded: of each queue's tasks, half are pending and half
// ended, one in ten of the ended ones failed.
func TestFillHalfEnded(t *testing.T) {
	ctx := context.Background()
	e, err := engine.Open(ctx, memory.New(), engine.WithSnapshotEvery(0), engine.WithMaxBatch(10000))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := benchstate.FillHalfEnded(ctx, e, 10_000); err != nil {
		t.Fatal(err)
	}
	st, err := e.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"q0", "q1", "q2", "q3"} {
		got := st.Queues[q]
		if got[engine.StatePending] != 1250 || got[engine.StateCompleted] != 1124 || got[engine.StateFailed] != 126 {
			t.Errorf("queue %s: %v; want 1250 pending, 1124 completed, 126 failed", q, got)
		}
	}
}
