package audit_test

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

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
		e, clock := engineOn(rt, log, engine.WithSnapshotEvery(uint64(rapid.IntRange(5, 60).Draw(rt, "snapshotEvery"))))
		workload(rt, e, clock, 120)

		rep, err := audit.Verify(ctx, log, audit.Options{Strict: true, PageSize: rapid.IntRange(1, 50).Draw(rt, "page")})
		if err != nil {
			rt.Fatal(err)
		}
		// The engine's timer loop may append meanwhile: Verify checks the
		// log up to the head it found.
		head := rep.Head
		if !rep.OK() || len(rep.Warnings) != 0 || rep.Events != head || rep.Applied != head {
			rt.Fatalf("engine log fails verification:\n%s", describe(rep))
		}
		if rep.Snapshot != nil && (!rep.Snapshot.Checked || !rep.Snapshot.Equal) {
			rt.Fatalf("snapshot at %d not checked or not equal", rep.Snapshot.Position)
		}

		if err := e.Close(); err != nil {
			rt.Fatal(err)
		}
		head, _ = log.Head(ctx)
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

// TestVerifyPassesOnCompactedEngineLogs: a log compacted at a random point
// of a random workload verifies strictly, alone and with its archive put
// back in front, and both rebuild the live state.
func TestVerifyPassesOnCompactedEngineLogs(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		log := memory.New()
		e, clock := engineOn(rt, log, engine.WithSnapshotEvery(0))
		workload(rt, e, clock, 60)
		arch := &jsonlArchive{}
		before := clock.Now().Add(-time.Duration(rapid.IntRange(0, 120).Draw(rt, "keep")) * time.Second)
		if _, err := e.Compact(ctx, before, arch); err != nil {
			rt.Fatal(err)
		}
		workload(rt, e, clock, 60)
		if err := e.Close(); err != nil { // no timer may append from here on
			rt.Fatal(err)
		}
		live, err := e.Snapshot()
		if err != nil {
			rt.Fatal(err)
		}

		rep, err := audit.Verify(ctx, log, audit.Options{Strict: true})
		if err != nil {
			rt.Fatal(err)
		}
		if !rep.OK() || rep.Checkpoints != 1 {
			rt.Fatalf("compacted log:\n%s", describe(rep))
		}
		whole := memory.New()
		defer whole.Close()
		if _, err := audit.Import(ctx, whole, io.MultiReader(&arch.buf, bytes.NewReader(export(rt, log))), audit.ImportOptions{}); err != nil {
			rt.Fatal(err)
		}
		if rep, err = audit.Verify(ctx, whole, audit.Options{Strict: true}); err != nil || !rep.OK() {
			rt.Fatalf("archive + log: %v\n%s", err, describe(rep))
		}
		if !bytes.Equal(live, rebuilt(rt, log)) || !bytes.Equal(live, rebuilt(rt, whole)) {
			rt.Fatal("a rebuilt state differs from the live one")
		}
	})
}
