package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Every omniqd command reads its command line through parseArgs, so that
// help, flag errors and argument counts behave the same in all of them:
// the flag package prints nothing (ContinueOnError, output discarded);
// parseArgs prints the help on stdout for -h/--help and turns every other
// failure into a usageError, which run prints once on stderr (exit 2).

// argSpec says what a command takes besides its flags.
type argSpec struct {
	// npos is how many positional arguments the command takes. Flags and
	// positional arguments may come in any order; after "--" every
	// argument is positional.
	npos int
	// env makes a flag not given on the command line take its value from
	// OMNIQ_<NAME> (dashes as underscores) when that is set.
	env bool
}

// newFlagSet returns the flag set of the command name: ContinueOnError,
// printing nothing itself (parseArgs reports).
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseArgs parses args into fs (see argSpec) and returns the positional
// arguments. For -h or --help it prints the command's help on stdout and
// returns flag.ErrHelp; every other error is a usageError.
func parseArgs(fs *flag.FlagSet, args []string, spec argSpec) ([]string, error) {
	var bad *flagValueError
	restore := checkValues(fs, &bad)
	defer restore()

	var pos []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			restore() // the help describes the flags' own values
			printHelp(stdout, fs)
			return nil, flag.ErrHelp
		}
		if err != nil {
			if bad != nil {
				return nil, &usageError{bad}
			}
			return nil, &usageError{flagSyntaxError(err)}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...) // after "--", no more flags
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if spec.env {
		if err := setFromEnv(fs, &bad); err != nil {
			return nil, &usageError{err}
		}
	}
	switch {
	case len(pos) > spec.npos && spec.npos == 0:
		return nil, usageErrorf("unexpected argument %q: %s takes none", pos[0], fs.Name())
	case len(pos) > spec.npos:
		return nil, usageErrorf("unexpected argument %q: %s takes %d", pos[spec.npos], fs.Name(), spec.npos)
	case len(pos) < spec.npos:
		return nil, usageErrorf("missing argument (usage: omniqd %s %s)", fs.Name(), commands[fs.Name()].usage)
	}
	return pos, nil
}

// setFromEnv gives each flag not set on the command line the value of its
// OMNIQ_* variable, when that is set and not empty.
func setFromEnv(fs *flag.FlagSet, bad **flagValueError) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		env := envName(f.Name)
		if v, ok := os.LookupEnv(env); ok && v != "" && !given[f.Name] && err == nil {
			*bad = nil
			if e := fs.Set(f.Name, v); e != nil {
				if *bad != nil {
					(*bad).env = env
					err = *bad
				} else {
					err = fmt.Errorf("invalid value %q for %s (flag --%s): %v", v, env, f.Name, e)
				}
			}
		}
	})
	return err
}

// envName is the environment variable of the flag name: OMNIQ_LEASE_TIMEOUT
// for lease-timeout.
func envName(flagName string) string {
	return "OMNIQ_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// flagValueError is a flag value the flag refused.
type flagValueError struct {
	flag, value, want string
	env               string // the variable the value came from ("": the command line)
}

func (e *flagValueError) Error() string {
	if e.env != "" {
		return fmt.Sprintf("invalid value %q for %s (flag --%s): %s", e.value, e.env, e.flag, e.want)
	}
	return fmt.Sprintf("invalid value %q for flag --%s: %s", e.value, e.flag, e.want)
}

// checkedValue wraps a flag's value while parseArgs parses, to learn which
// flag refused which value and why (the flag package's own message says
// only "parse error" for its built-in types).
type checkedValue struct {
	flag.Value
	name string
	bad  **flagValueError
}

func (v *checkedValue) Set(s string) error {
	err := v.Value.Set(s)
	if err != nil {
		*v.bad = &flagValueError{flag: v.name, value: s, want: wantOf(v.Value, err)}
	}
	return err
}

// checkedBool is a checkedValue of a boolean flag, which takes no value
// (--paused, or --paused=false).
type checkedBool struct{ *checkedValue }

func (checkedBool) IsBoolFlag() bool { return true }

// checkValues wraps every flag of fs in a checkedValue; restore puts the
// flags' own values back (calling it again does nothing).
func checkValues(fs *flag.FlagSet, bad **flagValueError) (restore func()) {
	orig := map[*flag.Flag]flag.Value{}
	fs.VisitAll(func(f *flag.Flag) {
		orig[f] = f.Value
		cv := &checkedValue{Value: f.Value, name: f.Name, bad: bad}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			f.Value = checkedBool{cv}
		} else {
			f.Value = cv
		}
	})
	return func() {
		for f, v := range orig {
			f.Value = v
		}
		clear(orig)
	}
}

// wantOf says what a flag of v's type takes, given the error its Set
// returned: the flag package's built-in types say only "parse error" or
// "value out of range"; omniqd's own values say what they want.
func wantOf(v flag.Value, err error) string {
	g, ok := v.(flag.Getter)
	if !ok {
		return err.Error()
	}
	switch g.Get().(type) {
	case time.Duration:
		return "want a duration such as 30s, 5m or 1h30m"
	case bool:
		return "want true or false"
	case int, int64:
		return "want a whole number such as 10 or -1"
	case uint, uint64:
		return "want a whole number, 0 or more"
	case float64:
		return "want a number such as 0.5 or 100"
	}
	return err.Error()
}

// flagSyntaxError rewords the flag package's errors about the command line
// itself (an unknown flag, a flag without its value), naming flags as the
// help does, with two dashes.
func flagSyntaxError(err error) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return fmt.Errorf("unknown flag --%s", name)
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return fmt.Errorf("flag --%s needs a value", name)
	}
	return err
}

// printHelp writes the help of the command fs parses: its usage line, what
// it does, and its flags.
func printHelp(w io.Writer, fs *flag.FlagSet) {
	cmd := commands[fs.Name()]
	fmt.Fprintf(w, "usage: %s\n\n", strings.TrimSpace("omniqd "+fs.Name()+" "+cmd.usage))
	if cmd.summary != "" {
		fmt.Fprintf(w, "%s%s.\n\n", strings.ToUpper(cmd.summary[:1]), cmd.summary[1:])
	}
	if cmd.about != "" {
		fmt.Fprintf(w, "%s\n\n", strings.TrimSpace(cmd.about))
	}
	fmt.Fprintln(w, "flags:")
	fs.VisitAll(func(f *flag.Flag) {
		var b strings.Builder
		name, text := flag.UnquoteUsage(f)
		fmt.Fprintf(&b, "  --%s", f.Name)
		if name != "" {
			b.WriteString(" " + name)
		}
		b.WriteString("\n    \t")
		b.WriteString(strings.ReplaceAll(text, "\n", "\n    \t"))
		if !zeroDefault(f) {
			if g, ok := f.Value.(flag.Getter); ok {
				if _, isString := g.Get().(string); isString {
					fmt.Fprintf(&b, " (default %q)", f.DefValue)
				} else {
					fmt.Fprintf(&b, " (default %s)", f.DefValue)
				}
			} else {
				fmt.Fprintf(&b, " (default %s)", f.DefValue)
			}
		}
		fmt.Fprintln(w, b.String())
	})
	fmt.Fprintln(w, "  -h, --help\n    \tprint this help")
}

// zeroDefault reports whether f's default is its type's zero value, which
// the help leaves out.
func zeroDefault(f *flag.Flag) bool {
	switch f.DefValue {
	case "", "0", "0s", "false":
		return true
	}
	return false
}
