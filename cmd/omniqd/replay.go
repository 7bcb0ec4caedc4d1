package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/omniq/omniq/engine/audit"
	"github.com/omniq/omniq/projections"
)

func init() {
	commands["replay"] = command{summary: "rebuild a store's state as it was at a position or time, and print it",
		usage: "--store URL [--until POSITION|TIME] [--task ID] [flags]", run: runReplay}
}

// auditOut is where the audit commands print (tests replace it).
var auditOut io.Writer = os.Stdout

func runReplay(ctx context.Context, args []string) error {
	fs := newFlagSet("replay")
	store := auditStoreFlag(fs)
	archiveDir := auditArchiveFlag(fs)
	until := fs.String("until", "", "a log position (1, 2, …) or an RFC 3339 time; the state after the last event at or before it (default: the whole log)")
	task := fs.String("task", "", "also print this task's (or schedule's) state at that point")
	asJSON := fs.Bool("json", false, "print JSON instead of tables")
	useSnapshot := fs.Bool("use-snapshot", false, "start from the snapshot kept beside the log when it is at or before --until (faster; trusts the cache, which verify checks)")
	if err := auditParseFlags(fs, args); err != nil {
		return err
	}
	var u audit.Until
	if *until != "" {
		var err error
		if u, err = audit.ParseUntil(*until); err != nil {
			return usageErrorf("invalid value %q for flag --until: want a log position (1, 2, …) or an RFC 3339 time such as 2030-01-02T15:04:05Z", *until)
		}
	}
	log, err := openAuditHistory(ctx, *store, *archiveDir)
	if err != nil {
		return err
	}
	defer log.Close()
	if *until == "" {
		head, err := log.Head(ctx)
		if err != nil {
			return err
		}
		if head == 0 {
			return fmt.Errorf("the log is empty")
		}
		u = audit.Until{Position: head}
	}
	bar := newAuditProgress("replay", false)
	p, err := audit.Replay(ctx, log, u, audit.ReplayOptions{Progress: bar.set, UseSnapshot: *useSnapshot})
	bar.finish()
	if err != nil {
		return err
	}
	s, err := audit.Summarize(p, *task)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(auditOut)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	printSummary(auditOut, s, u)
	return nil
}

// printSummary writes s as tables.
func printSummary(w io.Writer, s *audit.Summary, u audit.Until) {
	at := "the empty log"
	if s.Position > 0 {
		at = fmt.Sprintf("position %d of %d (event time %s)", s.Position, s.Head, s.Time)
	}
	fmt.Fprintf(w, "state at %s, until %s\n\n", at, u)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	statuses := projections.Statuses()
	fmt.Fprint(tw, "QUEUE\t")
	for _, st := range statuses {
		fmt.Fprintf(tw, "%s\t", strings.ToUpper(st.String()))
	}
	fmt.Fprint(tw, "TOTAL\t\n")
	queues := make([]string, 0, len(s.Queues))
	for q := range s.Queues {
		queues = append(queues, q)
	}
	sort.Strings(queues)
	for _, q := range queues {
		fmt.Fprintf(tw, "%s\t", q)
		total := 0
		for _, st := range statuses {
			n := s.Queues[q][st.String()]
			total += n
			fmt.Fprintf(tw, "%d\t", n)
		}
		fmt.Fprintf(tw, "%d\t\n", total)
	}
	if len(queues) == 0 {
		fmt.Fprint(tw, "(no tasks)\t\n")
	}
	tw.Flush()

	if len(s.Schedules) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprint(tw, "SCHEDULE\tFUNC\tQUEUE\tEVERY\tNEXT FIRE\tSTATE\tFIRES\tLAST INSTANCE\n")
		for _, sc := range s.Schedules {
			every := sc.Cron
			if every == "" {
				every = sc.Interval
			}
			state := "active"
			switch {
			case sc.Deleted:
				state = "deleted"
			case sc.Paused:
				state = "paused"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", sc.ID, sc.Func, sc.Queue, every, dash(sc.NextFire), state, sc.Fires, dash(sc.LastInstance))
		}
		tw.Flush()
	}

	if t := s.Task; t != nil {
		fmt.Fprintf(w, "\n%s %s\n", strings.ToUpper(t.Kind), t.ID)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		row := func(k, v string) {
			if v != "" && v != "0" {
				fmt.Fprintf(tw, "  %s\t%s\n", k, v)
			}
		}
		row("state", t.State)
		row("func", t.Func)
		row("queue", t.Queue)
		row("priority", fmt.Sprint(t.Priority))
		row("args", string(t.Args))
		row("kwargs", string(t.Kwargs))
		row("attempt", fmt.Sprint(t.Attempt))
		row("retries", fmt.Sprint(t.Retries))
		row("max retries", fmt.Sprint(t.MaxRetries))
		row("ttl", t.TTL)
		if len(t.DependsOn) > 0 {
			row("depends on", strings.Join(t.DependsOn, ", "))
		}
		row("unmet dependencies", fmt.Sprint(t.Unmet))
		if t.Paused {
			row("paused", "yes")
		}
		row("worker", t.Worker)
		row("lease deadline", t.LeaseDeadline)
		row("ready at", t.ReadyAt)
		row("result", string(t.Result))
		row("error", t.Error)
		row("cancel reason", t.CancelReason)
		row("cancelled by", t.CancelledBy)
		row("schedule", t.ScheduleID)
		row("cron", t.Cron)
		row("interval", t.Interval)
		row("next fire", t.NextFire)
		row("fires", fmt.Sprint(t.Fires))
		row("last instance", t.LastInstance)
		row("created", t.CreatedAt)
		row("updated", t.UpdatedAt)
		row("finished", t.FinishedAt)
		row("enqueued at position", fmt.Sprint(t.EnqueuedPosition))
		tw.Flush()
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
