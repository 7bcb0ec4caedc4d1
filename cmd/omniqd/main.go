// Command omniqd is OmniQ's daemon, command-line client and audit tool.
//
//	omniqd serve [--store URL] [--listen ADDR] [--token T]   run the daemon (HTTP/JSON API)
//	omniqd enqueue --func F [flags]   enqueue a task on a running daemon (--server, --token)
//	omniqd get|delete|history ID      one task: print it, delete it, print its events
//	omniqd stats                      task counts per queue and state
//	omniqd demo [--store URL]         run the seed's usage example against a store
//
// The flags of serve and of the client commands have OMNIQ_* environment
// equivalents (--store: OMNIQ_STORE, --server: OMNIQ_SERVER, …).
//
// Run "omniqd help" for every command.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one omniqd subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, args []string) error
}

// commands is filled by each subcommand's file in its init.
var commands = map[string]command{}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:]))
}

func run(ctx context.Context, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage()
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "omniqd: unknown command %q\n\n", args[0])
		usage()
		return 2
	}
	if err := cmd.run(ctx, args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "omniqd %s: %v\n", args[0], err)
		var ec *exitCodeError
		if errors.As(err, &ec) {
			return ec.code
		}
		return 1
	}
	return 0
}

// exitCodeError is a command's error that chooses the process's exit code
// (any other error exits 1).
type exitCodeError struct {
	code int
	err  error
}

func (e *exitCodeError) Error() string { return e.err.Error() }
func (e *exitCodeError) Unwrap() error { return e.err }

// withExitCode makes err exit with code; nil stays nil.
func withExitCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitCodeError{code, err}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: omniqd COMMAND [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(os.Stderr, "\nRun \"omniqd COMMAND -h\" for a command's flags.")
}
