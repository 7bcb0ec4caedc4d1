package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/omniq/omniq/client"
	"github.com/omniq/omniq/engine"
)

// The operator actions from the command line: retry and cancel tasks, by
// one or many ids (one request, one append on the daemon), and pause or
// resume a queue. "omniqd pause|resume ID" (cli.go) hold back a schedule;
// a queue is paused with "omniqd queue pause NAME".

func init() {
	commands["retry"] = command{summary: "give failed, expired or cancelled tasks a new attempt", usage: "ID... [flags]",
		about: "Each task is pending again, with its retries budget restored. The ids are sent in\n" +
			"one request and retried in one append; a line per id says what became of it.\n" +
			"Exits 1 if any id was not retried (task_state: the task did not end failed,\n" +
			"expired or cancelled; not_found: no such task).", run: runRetry}
	commands["cancel"] = command{summary: "cancel tasks that have not started, and the tasks that depend on them", usage: "ID... [flags]",
		about: "A task waiting on its run-at, a retry backoff or its dependencies, or pending,\n" +
			"ends cancelled. The ids are sent in one request and cancelled in one append; a\n" +
			"line per id says what became of it. Exits 1 if any id was not cancelled\n" +
			"(task_state: the task is running or has ended; not_found: no such task).", run: runCancel}
	commands["queue"] = command{summary: "pause or resume a queue: no worker takes its tasks while it is paused", usage: "pause|resume NAME [flags]",
		about: "omniqd queue pause NAME stops every worker from taking tasks of the queue NAME\n" +
			"until omniqd queue resume NAME; tasks may still be enqueued to it, and the\n" +
			"tasks already running run to their end. Pausing a paused queue (or resuming one\n" +
			"that is not paused) fails with task_state. Prints the queue as it stands after:\n" +
			"its name, whether it is paused and its task counts per state.\n" +
			"(omniqd pause|resume ID hold back a schedule, not a queue.)", run: runQueue}
}

func runRetry(ctx context.Context, args []string) error {
	return runBatchAction(ctx, "retry", "retried", args, (*client.Client).RetryTasks)
}

func runCancel(ctx context.Context, args []string) error {
	return runBatchAction(ctx, "cancel", "cancelled", args, (*client.Client).CancelTasks)
}

// runBatchAction runs the command name on the ids of args in one request,
// and prints a line per id: "ID: done" or "ID: not done: CODE: why". An id
// that failed makes the command fail (exit 1) once every line is printed.
func runBatchAction(ctx context.Context, name, done string, args []string,
	act func(*client.Client, context.Context, []string) ([]error, error)) error {
	f := newCLIFlags(name)
	return cliRun(f, args, max(countPositional(newCLIFlags(name).fs, args), 1), func(ctx context.Context, c *client.Client, ids []string) error {
		errs, err := act(c, ctx, ids)
		if err != nil {
			return err
		}
		failed := 0
		for i, id := range ids {
			if errs[i] == nil {
				fmt.Fprintf(cliOut, "%s: %s\n", id, done)
				continue
			}
			failed++
			fmt.Fprintf(cliOut, "%s: not %s: %s\n", id, done, actionError(errs[i]))
		}
		if failed > 0 {
			return fmt.Errorf("%d of %d tasks not %s", failed, len(ids), done)
		}
		return nil
	})(ctx)
}

// actionError says why one id of a batch was refused: its code and the
// server's message, as cliRun says it for a whole request.
func actionError(err error) string {
	var apiErr *client.Error
	if errors.As(err, &apiErr) {
		return apiErr.Code + ": " + strings.TrimPrefix(apiErr.Message, "engine: ")
	}
	return err.Error()
}

// countPositional counts the positional arguments of args as parseArgs
// finds them (flags and arguments in any order, all positional after
// "--"), parsing with fs, a throwaway flag set of the command. It returns
// 0 when the command line does not parse: parseArgs then says why.
func countPositional(fs *flag.FlagSet, args []string) int {
	n := 0
	for {
		if err := fs.Parse(args); err != nil {
			return 0
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return n
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return n + len(rest)
		}
		n++
		args = rest[1:]
	}
}

func runQueue(ctx context.Context, args []string) error {
	f := newCLIFlags("queue")
	return cliRun(f, args, 2, func(ctx context.Context, c *client.Client, pos []string) error {
		verb, name := pos[0], pos[1]
		if name == "" {
			name = engine.DefaultQueue
		}
		var err error
		switch verb {
		case "pause":
			err = c.PauseQueue(ctx, name)
		case "resume":
			err = c.ResumeQueue(ctx, name)
		default:
			return usageErrorf("unknown action %q: want pause or resume (usage: omniqd queue %s)", verb, commands["queue"].usage)
		}
		if err != nil {
			return err
		}
		st, err := c.Stats(ctx)
		if err != nil {
			return err
		}
		return cliPrint(client.QueueStateOf(st, name))
	})(ctx)
}
