// Command omniqd is OmniQ's daemon, command-line client and audit tool.
//
//	omniqd serve [--store URL] [--listen ADDR] [--token T]   run the daemon (HTTP/JSON API)
//	omniqd enqueue --func F [flags]   enqueue a task on a running daemon (--server, --token)
//	omniqd get|delete|history ID      one task: print it, delete it, print its events
//	omniqd pause|resume ID            hold a schedule (or delayed task) back, let it go again
//	omniqd retry|cancel ID...         retry ended tasks, cancel tasks not started (one batch)
//	omniqd queue pause|resume NAME    stop workers taking a queue's tasks, let them again
//	omniqd list [--q TEXT] [flags]    tasks, filtered and searched, a page at a time
//	omniqd stats [--json]             task counts per queue and state, as a table
//	omniqd demo [--store URL]         run the core queue API's usage example against a store
//	omniqd version                    print the version (also omniqd --version)
//
// The flags of serve and of the client commands have OMNIQ_* environment
// equivalents (--store: OMNIQ_STORE, --server: OMNIQ_SERVER, …).
//
// Every command prints its help on stdout and exits 0 for -h or --help. A
// usage error (an unknown command or flag, a bad flag value, a missing or
// extra argument) is printed once on stderr with a hint, and exits 2; a
// failure at run time exits 1 (verify has its own codes: 1 for a breach,
// 2 when it could not check).
//
// Run "omniqd help" for every command.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one omniqd subcommand.
type command struct {
	summary string // one line, for "omniqd help"
	usage   string // what follows "omniqd NAME" on its usage line: "ID [flags]"
	about   string // more help, printed between the usage line and the flags
	run     func(ctx context.Context, args []string) error
}

// commands is filled by each subcommand's file in its init.
var commands = map[string]command{}

// stdout and stderr are where omniqd prints help and errors (tests replace
// them).
var (
	stdout io.Writer = os.Stdout
	stderr io.Writer = os.Stderr
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:]))
}

// The process's exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and failed
	exitUsage   = 2 // the command line was wrong: nothing was done
)

func run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, "omniqd: no command given\n\n")
		usage(stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		switch {
		case len(args) == 1 || name != "help":
			usage(stdout)
			return exitOK
		case len(args) == 2:
			return run(ctx, []string{args[1], "--help"}) // omniqd help COMMAND
		}
		return usageFailure("", fmt.Errorf("help takes one command, got %d arguments", len(args)-1))
	case "-version", "--version":
		name, args = "version", []string{"version"}
	}
	cmd, ok := commands[name]
	if !ok {
		if strings.HasPrefix(name, "-") {
			return usageFailure("", fmt.Errorf("unknown flag %s: flags go after the command (omniqd COMMAND [flags])", name))
		}
		return usageFailure("", fmt.Errorf("unknown command %q", name))
	}
	err := cmd.run(ctx, args[1:])
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return exitOK // the help, which parseArgs printed
	}
	var ue *usageError
	isUsage := errors.As(err, &ue)
	code := exitFailure
	if isUsage {
		code = exitUsage
	}
	var ec *exitCodeError
	if errors.As(err, &ec) {
		code = ec.code
	}
	if isUsage {
		usageFailure(name, err)
		return code
	}
	fmt.Fprintf(stderr, "omniqd %s: %v\n", name, err)
	return code
}

// usageFailure prints a usage error once, with where to read the usage of
// cmd ("": of omniqd), and returns exitUsage.
func usageFailure(cmd string, err error) int {
	if cmd == "" {
		fmt.Fprintf(stderr, "omniqd: %v\nRun 'omniqd help' for the commands.\n", err)
	} else {
		fmt.Fprintf(stderr, "omniqd %s: %v\nRun 'omniqd %s --help' for usage.\n", cmd, err, cmd)
	}
	return exitUsage
}

// usageError is an error in the command line: the command did nothing.
// It exits 2, and its message is followed by a hint at the help.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usageErrorf returns a usageError; %w wraps as in fmt.Errorf.
func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// asUsageError makes err a usage error; nil stays nil.
func asUsageError(err error) error {
	var ue *usageError
	if err == nil || errors.As(err, &ue) {
		return err
	}
	return &usageError{err}
}

// exitCodeError is a command's error that chooses the process's exit code
// (any other error exits 1, a usage error 2).
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

// usage prints omniqd's help: its commands.
func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: omniqd COMMAND [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun \"omniqd COMMAND --help\" (or \"omniqd help COMMAND\") for a command's flags;\n\"omniqd --version\" prints the version.")
}
