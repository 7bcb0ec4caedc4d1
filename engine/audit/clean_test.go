package audit_test

import (
	"context"
	"testing"

	"pgregory.net/rapid"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/engine/audit"
	"github.com/omniq/omniq/stores/memory"
)

// TestVerifyPassesOnEngineLogs: whatever the engine writes keeps every
// invariant, strictly (one writer ignores nothing), with snapshots taken
// mid-log and at Close.
func TestVerifyPassesOnEngineLogs(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		log := memory.New()
		defer log.Close()
		clock := engine.NewManualClock(start)
		e := openEngine(rt, log, clock, engine.WithSnapshotEvery(uint64(rapid.IntRange(5, 60).Draw(rt, "snapshotEvery"))))
		workload(rt, e, clock)

		rep, err := audit.Verify(ctx, log, audit.Options{Strict: true, PageSize: rapid.IntRange(1, 50).Draw(rt, "page")})
		if err != nil {
			rt.Fatal(err)
		}
		head, _ := log.Head(ctx)
		if !rep.OK() || len(rep.Warnings) != 0 || rep.Events != head || rep.Applied != head {
			rt.Fatalf("engine log fails verification:\n%s", describe(rep))
		}
		if rep.Snapshot != nil && (!rep.Snapshot.Checked || !rep.Snapshot.Equal) {
			rt.Fatalf("snapshot at %d not checked or not equal", rep.Snapshot.Position)
		}

		if err := e.Close(); err != nil {
			rt.Fatal(err)
		}
		rep, err = audit.Verify(ctx, log, audit.Options{Strict: true})
		if err != nil {
			rt.Fatal(err)
		}
		if head > 0 && (rep.Snapshot == nil || rep.Snapshot.Position != head || !rep.Snapshot.Equal) {
			rt.Fatalf("the snapshot Close wrote is not checked equal: %+v", rep.Snapshot)
		}
		if !rep.OK() {
			rt.Fatalf("after Close:\n%s", describe(rep))
		}
	})
}
