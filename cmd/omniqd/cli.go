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
		about: "Nothing fires (or runs) until \"omniqd resume ID\". ID is the schedule's (or task's) id,\nas enqueue printed it. Prints the schedule as it stands after.\n(A queue is paused with \"omniqd queue pause NAME\".)", run: runPause}
	commands["resume"] = command{summary: "resume a paused schedule or delayed task", usage: "ID [flags]",
		about: "A resumed schedule fires next at its first slot after now; the slots it\nmissed while paused are skipped. Prints the schedule as it stands after.", run: runResume}
	commands["list"] = command{summary: "list tasks, filtered and searched, a page at a time", usage: "[--queue Q] [--state S] [--func F] [--q TEXT] [--after T] [--before T] [--limit N] [--cursor C] [flags]",
		about: "Prints the tasks that match the flags, in id order (GET /v1/tasks): id, queue,\nfunc, state, priority, attempt and enqueue time. --q searches ids, args,\nkwargs and meta (as JSON), ignoring case. When more tasks follow, prints the\ncursor to pass as --cursor for the next page.\nTask counts per queue and state: omniqd stats.", run: runList}
	commands["stats"] = command{summary: "print task counts per queue and state, as a table", usage: "[--queue Q] [--state S] [--json] [flags]",
		about: "Prints every queue the daemon knows with the number of its tasks in each\nstate (from GET /v1/stats), and the number of schedules. --json prints the\nanswer of GET /v1/stats.", run: runStats}
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
	return runOnID(ctx, "get", args, taskAfter(nil))
}

func runDelete(ctx context.Context, args []string) error {
	return runOnID(ctx, "delete", args, func(ctx context.Context, c *client.Client, id string) (map[string]any, error) {
		if err := c.DeleteTask(ctx, id); err != nil {
			return nil, err
		}
		return map[string]any{"deleted": id}, nil
	})
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
	return runOnID(ctx, "history", args, func(ctx context.Context, c *client.Client, id string) (client.History, error) {
		evs, err := c.History(ctx, id)
		return client.HistoryOf(evs), err
	})
}

func runPause(ctx context.Context, args []string) error {
	return runOnID(ctx, "pause", args, taskAfter((*client.Client).PauseSchedule))
}

func runResume(ctx context.Context, args []string) error {
	return runOnID(ctx, "resume", args, taskAfter((*client.Client).ResumeSchedule))
}

// runOnID runs the command name on the one task (or schedule) id of args:
// it prints what show answers for the id.
func runOnID[T any](ctx context.Context, name string, args []string, show func(ctx context.Context, c *client.Client, id string) (T, error)) error {
	return cliRun(newCLIFlags(name), args, 1, func(ctx context.Context, c *client.Client, pos []string) error {
		v, err := show(ctx, c, pos[0])
		if err != nil {
			return err
		}
		return cliPrint(v)
	})(ctx)
}

// taskAfter is the show of runOnID that takes act on the id (nothing when
// act is nil) and answers the task as it stands after.
func taskAfter(act func(*client.Client, context.Context, string) error) func(context.Context, *client.Client, string) (client.Task, error) {
	return func(ctx context.Context, c *client.Client, id string) (client.Task, error) {
		if act != nil {
			if err := act(c, ctx, id); err != nil {
				return client.Task{}, err
			}
		}
		t, err := c.GetTask(ctx, id)
		if err != nil {
			return client.Task{}, err
		}
		return client.TaskOf(t), nil
	}
}

func runStats(ctx context.Context, args []string) error {
	f := newCLIFlags("stats")
	queue := f.fs.String("queue", "", "only this queue")
	// taskStates are in the order of a task's life: a column each.
	state := f.fs.String("state", "", "only this state: waiting, pending, running, completed, failed, expired or cancelled")
	asJSON := f.fs.Bool("json", false, "print the counts as JSON (the answer of GET /v1/stats)")
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
		if *asJSON && *queue == "" && *state == "" {
			return cliPrint(client.StatsOf(st))
		}
		if *asJSON {
			out := client.Stats{Position: st.Position, Queues: map[string]map[string]int{}, Schedules: st.Schedules, PausedQueues: []string{}}
			for _, q := range queues {
				if slices.Contains(st.PausedQueues, q) {
					out.PausedQueues = append(out.PausedQueues, q)
				}
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
			name := q
			if slices.Contains(st.PausedQueues, q) {
				name += " (paused)"
			}
			row, total := []string{name}, 0
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
		fmt.Fprintf(cliOut, "\nschedules: %d (omniqd pause|resume ID)\n", st.Schedules)
		if len(st.PausedQueues) > 0 {
			fmt.Fprintf(cliOut, "paused queues: %s (omniqd queue resume NAME)\n", strings.Join(st.PausedQueues, ", "))
		}
		fmt.Fprintf(cliOut, "log position: %d\n", st.Position)
		return nil
	})(ctx)
}

func runList(ctx context.Context, args []string) error {
	f := newCLIFlags("list")
	queue := f.fs.String("queue", "", "only tasks of this queue")
	state := f.fs.String("state", "", "only tasks in this state: waiting, pending, running, completed, failed, expired or cancelled")
	fn := f.fs.String("func", "", "only tasks of this handler name")
	search := f.fs.String("q", "", "only tasks whose id, or args, kwargs or meta as JSON, contain this text (ignoring case)")
	after := f.fs.String("after", "", "only tasks enqueued at or after this time: RFC 3339, or a duration ago (90m)")
	before := f.fs.String("before", "", "only tasks enqueued before this time: RFC 3339, or a duration ago (90m)")
	limit := f.fs.Int("limit", engine.DefaultListLimit, "the most tasks to print (at most 1000)")
	cursor := f.fs.String("cursor", "", "start where a previous list stopped (the cursor it printed)")
	asJSON := f.fs.Bool("json", false, "print the tasks and the next cursor as JSON (the form of GET /v1/tasks)")
	return cliRun(f, args, 0, func(ctx context.Context, c *client.Client, _ []string) error {
		filter := engine.TaskFilter{Queue: *queue, State: engine.State(*state), Func: *fn, Q: *search, After: *cursor}
		if *state != "" && !slices.Contains(taskStates, filter.State) {
			return usageErrorf("invalid value %q for flag --state: want waiting, pending, running, completed, failed, expired or cancelled", *state)
		}
		if *limit < 1 || *limit > engine.MaxListLimit {
			return usageErrorf("invalid value %d for flag --limit: want 1 to %d", *limit, engine.MaxListLimit)
		}
		now := time.Now()
		for _, t := range []struct {
			flag, val string
			to        *time.Time
		}{{"after", *after, &filter.EnqueuedAfter}, {"before", *before, &filter.EnqueuedBefore}} {
			if t.val == "" {
				continue
			}
			at, err := parseListTime(t.val, now)
			if err != nil {
				return usageErrorf("invalid value %q for flag --%s: want an RFC 3339 time or a duration ago", t.val, t.flag)
			}
			*t.to = at
		}
		tasks, next, err := listPages(ctx, c, filter, *limit)
		if err != nil {
			return err
		}
		if *asJSON {
			page := client.TaskPage{Tasks: make([]client.Task, len(tasks)), NextCursor: next}
			for i, t := range tasks {
				page.Tasks[i] = client.TaskOf(t)
			}
			return cliPrint(page)
		}
		tw := tabwriter.NewWriter(cliOut, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tQUEUE\tFUNC\tSTATE\tPRIORITY\tATTEMPT\tENQUEUED")
		for _, t := range tasks {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", t.ID, t.QueueName, t.Func, t.State, t.Priority, t.Attempt,
				t.CreatedAt.UTC().Format(time.RFC3339))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if len(tasks) == 0 {
			fmt.Fprintln(cliOut, "(no tasks)")
		}
		if next != "" {
			fmt.Fprintf(cliOut, "\nnext cursor: %s (omniqd list --cursor %s, with the same filter)\n", next, next)
		}
		return nil
	})(ctx)
}

// listPages asks for pages until it holds limit tasks or the list ends,
// since a page may hold fewer tasks than asked for while more follow (the
// server bounds the work of a page). It stops after listMaxPages pages,
// and returns the tasks and the cursor of what follows ("" at the end).
func listPages(ctx context.Context, c *client.Client, f engine.TaskFilter, limit int) ([]*engine.Task, string, error) {
	var out []*engine.Task
	for range listMaxPages {
		f.Limit = limit - len(out)
		tasks, next, err := c.ListTasks(ctx, f)
		if err != nil {
			return nil, "", err
		}
		out = append(out, tasks...)
		if next == "" || len(out) == limit {
			return out, next, nil
		}
		f.After = next
	}
	return out, f.After, nil
}

// listMaxPages bounds the requests of one omniqd list: a search that
// matches little over millions of tasks prints what it found and the
// cursor to go on from.
const listMaxPages = 100

// parseListTime reads a --after or --before time: RFC 3339, or a duration
// before now.
func parseListTime(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Parse(time.RFC3339Nano, s)
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
