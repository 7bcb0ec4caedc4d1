package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"

	"github.com/omniq/omniq/engine/audit"
)

func init() {
	commands["verify"] = command{
		summary: "replay a store's whole log and check its invariants; exits 1 on a breach, 2 when it cannot check",
		usage:   "--store URL [--archive DIR] [--json] [--strict]",
		about: fmt.Sprintf("Exit status: 0 no breach, %d a breach (the log breaks an invariant),\n"+
			"%d no verdict (bad flags, the store cannot be opened or read).", verifyExitBreach, verifyExitFailed),
		run: runVerify,
	}
}

// The exit codes of "omniqd verify". A monitor must tell "the log breaks
// an invariant" from "the check could not run": only the first is a
// finding about the log.
const (
	verifyExitBreach = 1 // the whole log was read and it breaks an invariant
	verifyExitFailed = 2 // no verdict: bad flags, the store cannot be opened or read, an interrupt
)

// runVerify exits 0 when the log was read to its head and holds no breach,
// verifyExitBreach when it holds one, verifyExitFailed when it could not be
// checked.
func runVerify(ctx context.Context, args []string) error {
	err := verifyStore(ctx, args)
	if errors.Is(err, audit.ErrBreach) {
		return withExitCode(verifyExitBreach, err)
	}
	return withExitCode(verifyExitFailed, err)
}

func verifyStore(ctx context.Context, args []string) error {
	fs := newFlagSet("verify")
	store := auditStoreFlag(fs)
	archiveDir := auditArchiveFlag(fs)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	strict := fs.Bool("strict", false, "count every ignored event as a breach (for a log with a single writer)")
	maxBreaches := fs.Int("max-breaches", 1000, "list at most this many breaches (all are counted)")
	log, err := parseAndOpenHistory(ctx, fs, args, store, archiveDir)
	if err != nil {
		return err
	}
	defer log.Close()
	bar := newAuditProgress("verify", false)
	rep, err := audit.Verify(ctx, log, audit.Options{Strict: *strict, MaxBreaches: *maxBreaches, Progress: bar.set})
	bar.finish()
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(auditOut)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printReport(auditOut, rep)
	}
	return rep.Err()
}

// printReport writes rep for a person.
func printReport(w io.Writer, r *audit.Report) {
	span := "the log is empty"
	if r.Head >= r.First {
		span = fmt.Sprintf("positions %d..%d", r.First, r.Head)
	}
	fmt.Fprintf(w, "read %d events (%s): %d applied, %d ignored\n", r.Events, span, r.Applied, r.Ignored)
	if r.First > 1 {
		fmt.Fprintf(w, "the log was compacted: it starts at position %d and is folded from its first checkpoint\n", r.First)
	}
	if r.Checkpoints > 0 {
		fmt.Fprintf(w, "checkpoints: %d\n", r.Checkpoints)
	}
	switch s := r.Snapshot; {
	case s == nil:
		fmt.Fprintln(w, "snapshot: none")
	case !s.Checked:
		fmt.Fprintf(w, "snapshot at %d (%d bytes): not checked\n", s.Position, s.Bytes)
	case s.Equal:
		fmt.Fprintf(w, "snapshot at %d (%d bytes): equal to the state rebuilt from the events\n", s.Position, s.Bytes)
	default:
		fmt.Fprintf(w, "snapshot at %d (%d bytes): DIFFERS from the state rebuilt from the events\n", s.Position, s.Bytes)
	}
	if r.StateStoppedAt != 0 {
		fmt.Fprintf(w, "state checks stopped at position %d: no replica can fold past it\n", r.StateStoppedAt)
	}
	if len(r.Types) > 0 {
		types := make([]string, 0, len(r.Types))
		for t := range r.Types {
			types = append(types, t)
		}
		sort.Strings(types)
		fmt.Fprint(w, "events:")
		for _, t := range types {
			fmt.Fprintf(w, " %s=%d", t, r.Types[t])
		}
		fmt.Fprintln(w)
	}
	if len(r.Warnings) > 0 {
		fmt.Fprintf(w, "\nwarnings: ignored events that a race between writers explains\n")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprint(tw, "  TYPE\tREASON\tCOUNT\tFIRST\tTASK\tEXAMPLE\n")
		for _, x := range r.Warnings {
			fmt.Fprintf(tw, "  %s\t%s\t%d\t#%d\t%s\t%s\n", x.Type, x.Reason, x.Count, x.First, dash(x.TaskID), x.Example)
		}
		tw.Flush()
	}
	if r.OK() {
		fmt.Fprintln(w, "\nOK: no breach")
		return
	}
	fmt.Fprintf(w, "\nBREACHES: %d\n", r.BreachCount)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "  POSITION\tTASK\tRULE\tMESSAGE\n")
	for _, b := range r.Breaches {
		pos := "-"
		if b.Position != 0 {
			pos = fmt.Sprintf("#%d", b.Position)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", pos, dash(b.TaskID), b.Rule, b.Message)
	}
	tw.Flush()
	if n := r.BreachCount - len(r.Breaches); n > 0 {
		fmt.Fprintf(w, "  … and %d more (--max-breaches)\n", n)
	}
}
