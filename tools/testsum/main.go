// Command testsum turns the JSON stream of `go test -json` back into go
// test's usual output — a line per package (ok, FAIL, no test files) and the
// output of each test that failed — and ends it with a summary: the tests
// that failed, and how many tests were skipped, grouped by skip message, so
// that a run that skipped a whole backend says so on its last line.
//
// It runs the command it is given and reads its standard output:
//
//	testsum [-name LABEL] go test -json ./...
//
// and exits with that command's exit status (1 if the command succeeded but
// a test or package reported a failure). With no command it reads the stream
// from standard input:
//
//	go test -json ./... | testsum
//
// and exits 1 when the stream reports a failure or holds no package result
// (a shell pipeline does not pass go test's own status on).
//
// make test runs it in the first form.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"sort"
	"strings"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the command: it returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("testsum", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "go test", "label of the summary lines")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: testsum [-name LABEL] [go test -json ARGS...]")
		fmt.Fprintln(stderr, "       go test -json ARGS... | testsum [-name LABEL]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	// Unbuffered: a package's line shows as soon as the package is done.
	s := newSummary(stdout)

	if fs.NArg() == 0 {
		if err := s.read(stdin); err != nil {
			fmt.Fprintf(stderr, "testsum: reading the test stream: %v\n", err)
			return 1
		}
		s.finish(*name)
		if s.failed() || s.packages == 0 {
			return 1
		}
		return 0
	}

	cmd := exec.Command(fs.Arg(0), fs.Args()[1:]...)
	cmd.Stdin, cmd.Stderr = stdin, stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintf(stderr, "testsum: %v\n", err)
		return 1
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "testsum: %v\n", err)
		return 1
	}
	// An interrupt from the terminal reaches the command too (it is in the
	// same process group): keep reading until it has said what it has to
	// say. A SIGTERM sent to this process alone is passed on.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer func() {
		signal.Stop(sigs)
		close(sigs)
	}()
	go func() {
		for sig := range sigs {
			if sig == syscall.SIGTERM {
				_ = cmd.Process.Signal(sig)
			}
		}
	}()
	readErr := s.read(pipe)
	if readErr != nil {
		_, _ = io.Copy(io.Discard, pipe) // let the command finish
	}
	waitErr := cmd.Wait()
	s.finish(*name)
	if readErr != nil {
		fmt.Fprintf(stderr, "testsum: reading the test stream: %v\n", readErr)
	}
	var exit *exec.ExitError
	switch {
	case errors.As(waitErr, &exit):
		if code := exit.ExitCode(); code > 0 {
			return code
		}
		return 1 // killed by a signal
	case waitErr != nil:
		fmt.Fprintf(stderr, "testsum: %v\n", waitErr)
		return 1
	case readErr != nil || s.failed():
		return 1
	}
	return 0
}

// event is one line of `go test -json` (cmd/test2json), and the build
// events the go command adds to it.
type event struct {
	Action      string
	Package     string
	Test        string
	Output      string
	ImportPath  string // build-output, build-fail
	FailedBuild string // a package's fail when its build failed
}

// test is what is known of one test (or subtest) while its package runs.
type test struct {
	name   string
	seq    int      // start order within the run
	lines  []string // its output, framing lines left out
	failed bool     // ended with fail
	ended  bool
}

// summary folds the stream and writes go test's usual output as it goes.
type summary struct {
	out      io.Writer
	seq      int
	tests    map[string]map[string]*test // package -> test name -> test
	run      int                         // tests and subtests started
	skips    map[string]int              // skip message -> tests skipped with it
	skipped  int
	failures []string        // "package.Test" of each failed test without a failed subtest
	failedIn map[string]int  // package -> failed tests written
	setup    map[string]bool // packages go test could not set up (no such directory, …)
	badPkgs  []string        // packages that failed other than by a failed test, and why
	packages int             // package results seen (ok, FAIL, no test files)
}

func newSummary(out io.Writer) *summary {
	return &summary{out: out, tests: map[string]map[string]*test{}, skips: map[string]int{}, failedIn: map[string]int{}, setup: map[string]bool{}}
}

// read folds the stream until it ends. Lines that are not JSON (a command
// that writes something else to standard output) are passed on as they are.
func (s *summary) read(r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			var ev event
			if trimmed := bytes.TrimSpace(line); len(trimmed) > 0 && trimmed[0] == '{' && json.Unmarshal(trimmed, &ev) == nil && ev.Action != "" {
				s.fold(ev)
			} else {
				_, _ = s.out.Write(line)
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (s *summary) fold(ev event) {
	switch ev.Action {
	case "build-output":
		io.WriteString(s.out, ev.Output)
		return
	case "build-fail":
		return // the package's own fail follows, with FailedBuild
	}
	if ev.Test == "" {
		s.foldPackage(ev)
		return
	}
	t := s.test(ev.Package, ev.Test)
	switch ev.Action {
	case "run":
		s.run++
	case "output":
		if !framing(ev.Output) {
			t.lines = append(t.lines, ev.Output)
		}
	case "pass":
		t.ended = true
		t.lines = nil
	case "skip":
		t.ended = true
		s.skipped++
		s.skips[skipMessage(t.lines)]++
		t.lines = nil
	case "fail":
		t.ended, t.failed = true, true
		if !strings.Contains(t.name, "/") {
			s.printFailed(ev.Package, t.name)
		}
	}
}

func (s *summary) test(pkg, name string) *test {
	tests := s.tests[pkg]
	if tests == nil {
		tests = map[string]*test{}
		s.tests[pkg] = tests
	}
	t := tests[name]
	if t == nil {
		s.seq++
		t = &test{name: name, seq: s.seq}
		tests[name] = t
	}
	return t
}

func (s *summary) foldPackage(ev event) {
	switch ev.Action {
	case "output":
		if strings.HasPrefix(ev.Output, "FAIL") {
			// The package's FAIL lines come last, after what its
			// crashed tests printed.
			s.flush(ev.Package)
		}
		if strings.HasPrefix(ev.Output, "FAIL\t") && strings.Contains(ev.Output, "[setup failed]") {
			s.setup[ev.Package] = true
		}
		if ev.Output != "PASS\n" { // go test shows it only with -v
			io.WriteString(s.out, ev.Output)
		}
	case "pass", "skip":
		s.packages++
		delete(s.tests, ev.Package)
	case "fail":
		s.packages++
		s.flush(ev.Package)
		switch {
		case s.setup[ev.Package]:
			s.badPkgs = append(s.badPkgs, ev.Package+" (setup failed)")
		case ev.FailedBuild != "":
			s.badPkgs = append(s.badPkgs, ev.Package+" (build failed)")
		case s.failedIn[ev.Package] == 0:
			s.badPkgs = append(s.badPkgs, ev.Package+" (no test failed)")
		}
	}
}

// printFailed writes the output of a failed top-level test and of its failed
// subtests, in the order they started, each headed by its "--- FAIL" line
// as go test prints it, and forgets them.
func (s *summary) printFailed(pkg, top string) {
	var failed []*test
	for name, t := range s.tests[pkg] {
		if name == top || strings.HasPrefix(name, top+"/") {
			if t.failed {
				failed = append(failed, t)
			}
			if t.ended {
				delete(s.tests[pkg], name)
			}
		}
	}
	s.write(pkg, failed)
}

// flush writes what is left of a package that ended: the output of failed
// subtests whose test never ended, and of tests that never ended (the test
// binary crashed or timed out while they ran), which failed.
func (s *summary) flush(pkg string) {
	var left []*test
	for _, t := range s.tests[pkg] {
		if t.failed || !t.ended {
			left = append(left, t)
		}
	}
	delete(s.tests, pkg)
	s.write(pkg, left)
}

func (s *summary) write(pkg string, tests []*test) {
	sort.Slice(tests, func(i, j int) bool { return tests[i].seq < tests[j].seq })
	for i, t := range tests {
		// Name the tests that failed without a failed subtest: naming the
		// parents too would say the same failure twice.
		leaf := true
		for _, u := range tests[i+1:] {
			if strings.HasPrefix(u.name, t.name+"/") {
				leaf = false
				break
			}
		}
		if leaf {
			s.failures = append(s.failures, pkg+"."+t.name)
		}
		s.failedIn[pkg]++
		// The "--- FAIL" line first, then the test's output, a subtest's
		// indented by four spaces a level, as go test prints a failed test
		// without -v.
		lines := t.lines
		for j, l := range lines {
			if strings.HasPrefix(strings.TrimLeft(l, " "), "--- FAIL: ") {
				lines = append(append([]string{l}, lines[:j]...), lines[j+1:]...)
				break
			}
		}
		indent := strings.Repeat("    ", strings.Count(t.name, "/"))
		for _, l := range lines {
			io.WriteString(s.out, indent+l)
		}
	}
}

// framing reports whether a line of a test's output is one that go test
// prints only with -v.
func framing(line string) bool {
	l := strings.TrimLeft(line, " ")
	for _, p := range []string{"=== RUN ", "=== PAUSE ", "=== CONT ", "=== NAME ", "--- PASS: ", "--- SKIP: "} {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return false
}

// logLine matches a line of t.Log output: "    file_test.go:12: message".
var logLine = regexp.MustCompile(`^\s*[\w.\-]+\.go:\d+: (.*)$`)

// skipMessage is the message a skipped test logged last (t.Skip logs it).
func skipMessage(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		if m := logLine.FindStringSubmatch(strings.TrimRight(lines[i], "\n")); m != nil {
			if msg := strings.TrimSpace(m[1]); msg != "" {
				return msg
			}
		}
	}
	return "no message"
}

func (s *summary) failed() bool { return len(s.failures) > 0 || len(s.badPkgs) > 0 }

// finish writes the summary lines; the skip line is the last.
func (s *summary) finish(name string) {
	// Packages the stream ended in the middle of.
	pkgs := make([]string, 0, len(s.tests))
	for pkg := range s.tests {
		pkgs = append(pkgs, pkg)
	}
	sort.Strings(pkgs)
	for _, pkg := range pkgs {
		s.flush(pkg)
		s.badPkgs = append(s.badPkgs, pkg+" (no result)")
	}
	if len(s.failures) > 0 {
		fmt.Fprintf(s.out, "%s: %s failed: %s\n", name, plural(len(s.failures), "test"), strings.Join(s.failures, ", "))
	}
	if len(s.badPkgs) > 0 {
		fmt.Fprintf(s.out, "%s: %s failed: %s\n", name, plural(len(s.badPkgs), "package"), strings.Join(s.badPkgs, ", "))
	}
	switch {
	case s.run == 0:
		fmt.Fprintf(s.out, "%s: no test ran\n", name)
	case s.skipped == 0:
		fmt.Fprintf(s.out, "%s: %s ran, none skipped\n", name, plural(s.run, "test"))
	default:
		type reason struct {
			msg string
			n   int
		}
		var reasons []reason
		for msg, n := range s.skips {
			reasons = append(reasons, reason{msg, n})
		}
		sort.Slice(reasons, func(i, j int) bool {
			if reasons[i].n != reasons[j].n {
				return reasons[i].n > reasons[j].n
			}
			return reasons[i].msg < reasons[j].msg
		})
		parts := make([]string, len(reasons))
		for i, r := range reasons {
			parts[i] = fmt.Sprintf("%s (%d)", r.msg, r.n)
		}
		fmt.Fprintf(s.out, "%s: %d of %s skipped: %s\n", name, s.skipped, plural(s.run, "test"), strings.Join(parts, "; "))
	}
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
