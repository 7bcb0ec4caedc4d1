package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/omniq/omniq/client"
	"github.com/omniq/omniq/engine"
)

// The client commands talk to a running daemon through package client.

func init() {
	commands["enqueue"] = command{"enqueue a task on a running daemon", runEnqueue}
	commands["get"] = command{"print a task (or schedule) by id", runGet}
	commands["delete"] = command{"delete a task (or schedule) by id", runDelete}
	commands["stats"] = command{"print task counts per queue and state", runStats}
	commands["history"] = command{"print every event of a task, in log order", runHistory}
	commands["cluster"] = command{"print the nodes sharing the daemon's log, their positions and lag", runCluster}
}

// cliOut is where client commands print; tests replace it.
var cliOut io.Writer = os.Stdout

// cliFlags are the flags every client command takes.
type cliFlags struct {
	fs     *flag.FlagSet
	server *string
	token  *string
}

func newCLIFlags(name, usage string) *cliFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: omniqd %s %s\n\nflags:\n", name, usage)
		fs.PrintDefaults()
	}
	return &cliFlags{
		fs:     fs,
		server: fs.String("server", "http://127.0.0.1:7070", "omniqd server URL (env OMNIQ_SERVER)"),
		token:  fs.String("token", "", "bearer token (env OMNIQ_TOKEN)"),
	}
}

// parse parses args, flags and positional arguments in any order, and
// checks that exactly npos positional arguments were given.
func (c *cliFlags) parse(args []string, npos int) ([]string, error) {
	var pos []string
	for {
		if err := parseFlagsEnv(c.fs, args); err != nil {
			return nil, err
		}
		if c.fs.NArg() == 0 {
			break
		}
		pos = append(pos, c.fs.Arg(0))
		args = c.fs.Args()[1:]
	}
	if len(pos) != npos {
		c.fs.Usage()
		return nil, fmt.Errorf("want %d argument(s), got %d", npos, len(pos))
	}
	return pos, nil
}

func (c *cliFlags) client() (*client.Client, error) {
	return client.New(*c.server, client.WithToken(*c.token))
}

// cliRun parses, connects, and runs body; help is not an error, and an
// error answer is printed by its code and message.
func cliRun(f *cliFlags, args []string, npos int, body func(ctx context.Context, c *client.Client, pos []string) error) func(context.Context) error {
	return func(ctx context.Context) error {
		pos, err := f.parse(args, npos)
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
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
		return err
	}
}

func runEnqueue(ctx context.Context, args []string) error {
	f := newCLIFlags("enqueue", "--func NAME [flags]")
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
		paused    = fs.Bool("paused", false, "create it paused (see pause/resume)")
	)
	return cliRun(f, args, 0, func(ctx context.Context, c *client.Client, _ []string) error {
		if *fn == "" {
			fs.Usage()
			return errors.New("--func is required")
		}
		t := &engine.Task{ID: *id, Func: *fn, QueueName: *queue, Priority: *priority, Retries: *retries, MaxRetries: *maxRetry}
		if *argsJSON != "" {
			v, err := client.DecodeValue([]byte(*argsJSON))
			a, ok := v.([]any)
			if err != nil || !ok {
				return fmt.Errorf("--args must be a JSON array, such as '[10, 20]'")
			}
			t.Args = a
		}
		if *kwargs != "" {
			v, err := client.DecodeValue([]byte(*kwargs))
			m, ok := v.(map[string]any)
			if err != nil || !ok {
				return fmt.Errorf(`--kwargs must be a JSON object, such as '{"n": 1}'`)
			}
			t.Kwargs = m
		}
		var err error
		if *ttl != "" {
			if t.TTL, err = client.ParseDuration(*ttl); err != nil {
				return fmt.Errorf("--ttl: %w", err)
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
					return err
				}
			}
			if *interval != "" {
				if sc.Interval, err = client.ParseDuration(*interval); err != nil {
					return fmt.Errorf("--interval: %w", err)
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
	return time.Time{}, fmt.Errorf("--run-at %q: want an RFC 3339 time (2030-01-02T15:04:05Z) or a duration from now (10m)", s)
}

func runGet(ctx context.Context, args []string) error {
	f := newCLIFlags("get", "ID [flags]")
	return cliRun(f, args, 1, func(ctx context.Context, c *client.Client, pos []string) error {
		t, err := c.GetTask(ctx, pos[0])
		if err != nil {
			return err
		}
		return cliPrint(client.TaskOf(t))
	})(ctx)
}

func runDelete(ctx context.Context, args []string) error {
	f := newCLIFlags("delete", "ID [flags]")
	return cliRun(f, args, 1, func(ctx context.Context, c *client.Client, pos []string) error {
		if err := c.DeleteTask(ctx, pos[0]); err != nil {
			return err
		}
		return cliPrint(map[string]any{"deleted": pos[0]})
	})(ctx)
}

func runStats(ctx context.Context, args []string) error {
	f := newCLIFlags("stats", "[flags]")
	return cliRun(f, args, 0, func(ctx context.Context, c *client.Client, _ []string) error {
		s, err := c.Stats(ctx)
		if err != nil {
			return err
		}
		return cliPrint(client.StatsOf(s))
	})(ctx)
}

func runCluster(ctx context.Context, args []string) error {
	f := newCLIFlags("cluster", "[flags]")
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
	f := newCLIFlags("history", "ID [flags]")
	return cliRun(f, args, 1, func(ctx context.Context, c *client.Client, pos []string) error {
		evs, err := c.History(ctx, pos[0])
		if err != nil {
			return err
		}
		return cliPrint(client.History{Events: evs})
	})(ctx)
}

// cliPrint writes v as indented JSON.
func cliPrint(v any) error {
	enc := json.NewEncoder(cliOut)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
