package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/omniq/omniq/client"
	"github.com/omniq/omniq/engine"
)

// The client commands talk to a running daemon through package client.

func init() {
	commands["enqueue"] = command{summary: "enqueue a task on a running daemon", usage: "--func NAME [flags]", run: runEnqueue}
	commands["get"] = command{summary: "print a task (or schedule) by id", usage: "ID [flags]", run: runGet}
	commands["delete"] = command{summary: "delete a task (or schedule) by id", usage: "ID [flags]", run: runDelete}
	commands["pause"] = command{summary: "pause a recurring schedule, or hold back a delayed task that has not started", usage: "ID [flags]",
		about: "Nothing fires (or runs) until \"omniqd resume ID\". ID is the schedule's (or task's) id,\nas enqueue printed it. Prints the schedule as it stands after.", run: runPause}
	commands["resume"] = command{summary: "resume a paused schedule or delayed task", usage: "ID [flags]",
		about: "A resumed schedule fires next at its first slot after now; the slots it\nmissed while paused are skipped. Prints the schedule as it stands after.", run: runResume}
	commands["list"] = command{summary: "print task counts per queue and state, as a table", usage: "[--queue Q] [--state S] [flags]",
		about: "Lists every queue the daemon knows with the number of its tasks in each\nstate (from GET /v1/stats), and the number of schedules.", run: runList}
	commands["stats"] = command{summary: "print task counts per queue and state, as JSON", usage: "[flags]", run: runStats}
	commands["history"] = command{summary: "print every event of a task, in log order", usage: "ID [flags]", run: runHistory}
	commands["cluster"] = command{summary: "print the nodes sharing the daemon's log, their positions and lag", usage: "[flags]", run: runCluster}
}

// cliOut is where client commands print; tests replace it.
var cliOut io.Writer = os.Stdout

// defaultServer is the daemon's URL when neither --server nor OMNIQ_SERVER
// says otherwise: where "omniqd serve" listens by default.
const defaultServer = "http://127.0.0.1:7070"

// cliFlags are the flags every client command takes.
type cliFlags struct {
	fs     *flag.FlagSet
	server *string
	token  *string
}

func newCLIFlags(name string) *cliFlags {
	fs := newFlagSet(name)
	return &cliFlags{
		fs:     fs,
		server: fs.String("server", defaultServer, "omniqd server URL (env OMNIQ_SERVER)"),
		token:  fs.String("token", "", "bearer token (env OMNIQ_TOKEN)"),
	}
}

// parse parses args, flags and positional arguments in any order, and
// checks that exactly npos positional arguments were given.
func (c *cliFlags) parse(args []string, npos int) ([]string, error) {
	return parseArgs(c.fs, args, argSpec{npos: npos, env: true})
}

func (c *cliFlags) client() (*client.Client, error) {
	cl, err := client.New(*c.server, client.WithToken(*c.token))
	if err != nil {
		return nil, asUsageError(fmt.Errorf("--server: %w", err))
	}
	return cl, nil
}

// cliRun parses, connects, and runs body. An error answer is printed by its
// code and message; a daemon that cannot be reached, with how to reach it.
func cliRun(f *cliFlags, args []string, npos int, body func(ctx context.Context, c *client.Client, pos []string) error) func(context.Context) error {
	return func(ctx context.Context) error {
		pos, err := f.parse(args, npos)
		if err != nil {
			return err
		}
		c, err := f.client()
		if err != nil {
			return err
		}
		defer c.Close()
		err = body(ctx, c, pos)
		var apiErr *client.Error
		if errors.As(err, &apiErr) {
			return fmt.Errorf("%s: %s", apiErr.Code, strings.TrimPrefix(apiErr.Message, "engine: "))
		}
		if unreachable(err) {
			return f.unreachableError(err)
		}
		return err
	}
}

// unreachable reports whether err says that no daemon answered: the
// connection was refused, or the host could not be found or dialled.
func unreachable(err error) bool {
	if err == nil {
		return false
	}
	var dnsErr *net.DNSError
	var opErr *net.OpError
	return errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &dnsErr) || (errors.As(err, &opErr) && opErr.Op == "dial")
}

// unreachableError says which URL was tried, where it came from, and how to
// point the command at the daemon.
func (f *cliFlags) unreachableError(err error) error {
	from := "the default"
	switch {
	case !f.given("server"):
	case os.Getenv("OMNIQ_SERVER") == *f.server:
		from = "OMNIQ_SERVER"
	default:
		from = "--server"
	}
	return fmt.Errorf("cannot reach the daemon at %s (%s): %w\n"+
		"hint: is \"omniqd serve\" running there? Start it, or give the daemon's URL with --server URL or OMNIQ_SERVER=URL",
		*f.server, from, err)
}

// given reports whether the flag name was set, on the command line or
// from its environment variable.
func (f *cliFlags) given(name string) bool {
	set := false
	f.fs.Visit(func(fl *flag.Flag) { set = set || fl.Name == name })
	return set
}

func runEnqueue(ctx context.Context, args []string) error {
	f := newCLIFlags("enqueue")
	fs := f.fs
	var (
		id        = fs.String("id", "", "task id (default: the server picks a ULID)")
		fn        = fs.String("func", "", "handler name (required)")
		argsJSON  = fs.String("args", "", `positional arguments, a JSON array: '[10, 20]'`)
		kwargs    = fs.String("kwargs", "", `keyword arguments, a JSON object: '{"to": "a@b.c"}'`)
		queue     = fs.String("queue", "", "queue name (default \"default\")")
		priority  = fs.Int("priority", 0, "priority, -1000..1000, higher first")
		ttl       = fs.String("ttl", "", "expire if not started within this long: 90s, 1h or seconds")
		retries   = fs.Int("retries", 0, "retries after a failed attempt")
		maxRetry  = fs.Int("max-retries", 0, "ceiling for retries (0: none)")
		dependsOn = fs.String("depends-on", "", "comma-separated ids that must complete first")
		runAt     = fs.String("run-at", "", "not before this time: RFC 3339, or a duration from now (10m)")
		cron      = fs.String("cron", "", `recurring: a 5-field cron expression ("0 2 * * *")`)
		interval  = fs.String("interval", "", "recurring: every interval (90s, 1h or seconds)")
		paused    = fs.Bool("paused", false, "create the schedule (or delayed task) paused: nothing fires until \"omniqd resume ID\" (\"omniqd pause ID\" pauses one later)")
	)
	return cliRun(f, args, 0, func(ctx context.Context, c *client.Client, _ []string) error {
		if *fn == "" {
			return usageErrorf("--func is required")
		}
		t := &engine.Task{ID: *id, Func: *fn, QueueName: *queue, Priority: *priority, Retries: *retries, MaxRetries: *maxRetry}
		if *argsJSON != "" {
			v, err := client.DecodeValue([]byte(*argsJSON))
			a, ok := v.([]any)
			if err != nil || !ok {
				return usageErrorf("invalid value %q for flag --args: want a JSON array, such as '[10, 20]'", *argsJSON)
			}
			t.Args = a
		}
		if *kwargs != "" {
			v, err := client.DecodeValue([]byte(*kwargs))
			m, ok := v.(map[string]any)
			if err != nil || !ok {
				return usageErrorf(`invalid value %q for flag --kwargs: want a JSON object, such as '{"n": 1}'`, *kwargs)
			}
			t.Kwargs = m
		}
		var err error
		if *ttl != "" {
			if t.TTL, err = client.ParseDuration(*ttl); err != nil {
				return usageErrorf("invalid value %q for flag --ttl: want a duration such as 90s or 1h, or seconds", *ttl)
			}
		}
		if *dependsOn != "" {
			for _, d := range strings.Split(*dependsOn, ",") {
				if d = strings.TrimSpace(d); d != "" {
					t.DependsOn = append(t.DependsOn, d)
				}
			}
		}
		if *runAt != "" || *cron != "" || *interval != "" || *paused {
			sc := &engine.Schedule{Cron: *cron, Paused: *paused}
			if *runAt != "" {
				if sc.RunAt, err = parseRunAt(*runAt, time.Now()); err != nil {
					return asUsageError(err)
				}
			}
			if *interval != "" {
				if sc.Interval, err = client.ParseDuration(*interval); err != nil {
					return usageErrorf("invalid value %q for flag --interval: want a duration such as 90s or 1h, or seconds", *interval)
				}
			}
			t.Schedule = sc
		}
		if err := c.Enqueue(ctx, t); err != nil {
			return err
		}
		return cliPrint(client.TaskOf(t))
	})(ctx)
}

// parseRunAt reads an RFC 3339 time, or a duration from now ("10m").
func parseRunAt(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(d), nil
	}
	return time.Time{}, fmt.Errorf("invalid value %q for flag --run-at: want an RFC 3339 time (2030-01-02T15:04:05Z) or a duration from now (10m)", s)
}

func runGet(ctx context.Context, args []string) error {
	f := newCLIFlags("get")
	return cliRun(f, args, 1, func(ctx context.Context, c *client.Client, pos []string) error {
		t, err := c.GetTask(ctx, pos[0])
		if err != nil {
			return err
		}
		return cliPrint(client.TaskOf(t))
	})(ctx)
}

func runDelete(ctx context.Context, args []string) error {
	f := newCLIFlags("delete")
	return cliRun(f, args, 1, func(ctx context.Context, c *client.Client, pos []string) error {
		if err := c.DeleteTask(ctx, pos[0]); err != nil {
			return err
		}
		return cliPrint(map[string]any{"deleted": pos[0]})
	})(ctx)
}

func runStats(ctx context.Context, args []string) error {
	f := newCLIFlags("stats")
	return cliRun(f, args, 0, func(ctx context.Context, c *client.Client, _ []string) error {
		s, err := c.Stats(ctx)
		if err != nil {
			return err
		}
		return cliPrint(client.StatsOf(s))
	})(ctx)
}

func runCluster(ctx context.Context, args []string) error {
	f := newCLIFlags("cluster")
	asJSON := f.fs.Bool("json", false, "print the answer as JSON")
	return cliRun(f, args, 0, func(ctx context.Context, c *client.Client, _ []string) error {
		st, err := c.Cluster(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return cliPrint(st)
		}
		shared := "no: one process owns the log"
		if st.Shared {
			shared = "yes: every node appends, conditionally on the head it validated against"
		}
		fmt.Fprintf(cliOut, "node %s at position %d, log head %d, lag %d\nshared: %s\n", st.Node, st.Position, st.Head, st.Lag, shared)
		if st.Shared {
			fmt.Fprintf(cliOut, "conflicts %d, events caught up %d, reads synced %d\n", st.Conflicts, st.CaughtUp, st.SyncedReads)
		}
		if st.NodesErr != "" {
			fmt.Fprintf(cliOut, "nodes: cannot be listed: %s\n", st.NodesErr)
		}
		fmt.Fprintf(cliOut, "\n%-28s %-28s %12s %8s %10s %s\n", "NODE", "ADDR", "POSITION", "LAG", "CONFLICTS", "STARTED")
		for _, n := range st.Nodes {
			name := n.Node
			if n.Self {
				name += " *"
			}
			started := "-"
			if !n.Started.IsZero() {
				started = n.Started.Format(time.RFC3339)
			}
			fmt.Fprintf(cliOut, "%-28s %-28s %12d %8d %10d %s\n", name, n.Addr, n.Position, n.Lag, n.Conflicts, started)
		}
		return nil
	})(ctx)
}

func runHistory(ctx context.Context, args []string) error {
	f := newCLIFlags("history")
	return cliRun(f, args, 1, func(ctx context.Context, c *client.Client, pos []string) error {
		evs, err := c.History(ctx, pos[0])
		if err != nil {
			return err
		}
		return cliPrint(client.HistoryOf(evs))
	})(ctx)
}

func runPause(ctx context.Context, args []string) error {
	f := newCLIFlags("pause")
	return cliRun(f, args, 1, func(ctx context.Context, c *client.Client, pos []string) error {
		if err := c.PauseSchedule(ctx, pos[0]); err != nil {
			return err
		}
		return printTaskAfter(ctx, c, pos[0])
	})(ctx)
}

func runResume(ctx context.Context, args []string) error {
	f := newCLIFlags("resume")
	return cliRun(f, args, 1, func(ctx context.Context, c *client.Client, pos []string) error {
		if err := c.ResumeSchedule(ctx, pos[0]); err != nil {
			return err
		}
		return printTaskAfter(ctx, c, pos[0])
	})(ctx)
}

// printTaskAfter prints the schedule (or task) id after a pause or resume.
func printTaskAfter(ctx context.Context, c *client.Client, id string) error {
	t, err := c.GetTask(ctx, id)
	if err != nil {
		return err
	}
	return cliPrint(client.TaskOf(t))
}

func runList(ctx context.Context, args []string) error {
	f := newCLIFlags("list")
	queue := f.fs.String("queue", "", "only this queue")
	// taskStates are in the order of a task's life: a column each.
	state := f.fs.String("state", "", "only this state: waiting, pending, running, completed, failed, expired or cancelled")
	asJSON := f.fs.Bool("json", false, "print the counts as JSON (the form of omniqd stats)")
	return cliRun(f, args, 0, func(ctx context.Context, c *client.Client, _ []string) error {
		states := taskStates
		if *state != "" {
			i := slices.Index(taskStates, engine.State(*state))
			if i < 0 {
				return usageErrorf("invalid value %q for flag --state: want waiting, pending, running, completed, failed, expired or cancelled", *state)
			}
			states = taskStates[i : i+1]
		}
		st, err := c.Stats(ctx)
		if err != nil {
			return err
		}
		queues := make([]string, 0, len(st.Queues))
		for q := range st.Queues {
			if *queue == "" || q == *queue {
				queues = append(queues, q)
			}
		}
		if *queue != "" && len(queues) == 0 {
			queues = append(queues, *queue) // a queue the daemon holds no task of
		}
		sort.Strings(queues)
		if *asJSON {
			out := client.Stats{Position: st.Position, Queues: map[string]map[string]int{}, Schedules: st.Schedules}
			for _, q := range queues {
				m := map[string]int{}
				for _, s := range states {
					if n := st.Queues[q][s]; n > 0 {
						m[string(s)] = n
					}
				}
				out.Queues[q] = m
			}
			return cliPrint(out)
		}
		tw := tabwriter.NewWriter(cliOut, 0, 0, 2, ' ', 0)
		row := []string{"QUEUE"}
		for _, s := range states {
			row = append(row, strings.ToUpper(string(s)))
		}
		if len(states) > 1 {
			row = append(row, "TOTAL")
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
		for _, q := range queues {
			row, total := []string{q}, 0
			for _, s := range states {
				n := st.Queues[q][s]
				total += n
				row = append(row, strconv.Itoa(n))
			}
			if len(states) > 1 {
				row = append(row, strconv.Itoa(total))
			}
			fmt.Fprintln(tw, strings.Join(row, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if len(queues) == 0 {
			fmt.Fprintln(cliOut, "(no tasks)")
		}
		fmt.Fprintf(cliOut, "\nschedules: %d (omniqd pause|resume ID)\nlog position: %d\n", st.Schedules, st.Position)
		return nil
	})(ctx)
}

// cliPrint writes v as indented JSON.
func cliPrint(v any) error {
	enc := json.NewEncoder(cliOut)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// taskStates are the states a task (not a schedule) can be in, in the order
// of its life: list shows a column for each, as /metrics reports each.
var taskStates = []engine.State{
	engine.StateWaiting, engine.StatePending, engine.StateRunning, engine.StateCompleted,
	engine.StateFailed, engine.StateExpired, engine.StateCancelled,
}
