package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// stream builds a `go test -json` stream from events given as
// action, package, test, output quadruples.
func stream(t *testing.T, evs ...[4]string) string {
	t.Helper()
	var b strings.Builder
	for _, e := range evs {
		line, err := json.Marshal(map[string]string{"Action": e[0], "Package": e[1], "Test": e[2], "Output": e[3]})
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.String()
}

func summarize(t *testing.T, in string) (out string, status int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	status = run([]string{"-name", "make test"}, strings.NewReader(in), &stdout, &stderr)
	if stderr.Len() > 0 {
		t.Errorf("stderr: %s", stderr.String())
	}
	return stdout.String(), status
}

// expectSummary checks the summary of the stream in: its output and its
// exit status.
func expectSummary(t *testing.T, in, want string, wantStatus int) {
	t.Helper()
	out, status := summarize(t, in)
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
	if status != wantStatus {
		t.Errorf("status %d, want %d", status, wantStatus)
	}
}

// TestSummaryOfAFailingRun feeds a run with a passing test, skips with and
// without a message, a failed subtest, a package without tests and lines
// that are not JSON, and checks go test's usual output, the summary lines
// and the status.
func TestSummaryOfAFailingRun(t *testing.T) {
	const a, b, c = "example.com/a", "example.com/b", "example.com/c"
	in := stream(t,
		[4]string{"start", a, "", ""},
		[4]string{"run", a, "TestOK", ""},
		[4]string{"output", a, "TestOK", "=== RUN   TestOK\n"},
		[4]string{"output", a, "TestOK", "    a_test.go:9: a log line of a passing test\n"},
		[4]string{"output", a, "TestOK", "--- PASS: TestOK (0.00s)\n"},
		[4]string{"pass", a, "TestOK", ""},
		[4]string{"run", a, "TestNeedsServer", ""},
		[4]string{"output", a, "TestNeedsServer", "=== RUN   TestNeedsServer\n"},
		[4]string{"output", a, "TestNeedsServer", "    a_test.go:12: OMNIQ_TEST_POSTGRES not set\n"},
		[4]string{"output", a, "TestNeedsServer", "--- SKIP: TestNeedsServer (0.00s)\n"},
		[4]string{"skip", a, "TestNeedsServer", ""},
		[4]string{"run", a, "TestFail", ""},
		[4]string{"output", a, "TestFail", "=== RUN   TestFail\n"},
		[4]string{"run", a, "TestFail/sub", ""},
		[4]string{"output", a, "TestFail/sub", "=== RUN   TestFail/sub\n"},
		[4]string{"output", a, "TestFail/sub", "    a_test.go:20: boom\n"},
		[4]string{"output", a, "TestFail/sub", "--- FAIL: TestFail/sub (0.00s)\n"},
		[4]string{"fail", a, "TestFail/sub", ""},
		[4]string{"output", a, "TestFail", "--- FAIL: TestFail (0.00s)\n"},
		[4]string{"fail", a, "TestFail", ""},
		[4]string{"output", a, "", "FAIL\n"},
		[4]string{"output", a, "", "FAIL\texample.com/a\t0.01s\n"},
		[4]string{"fail", a, "", ""},
		[4]string{"start", b, "", ""},
		[4]string{"run", b, "TestNeedsServer", ""},
		[4]string{"output", b, "TestNeedsServer", "=== RUN   TestNeedsServer\n"},
		[4]string{"output", b, "TestNeedsServer", "    b_test.go:7: OMNIQ_TEST_POSTGRES not set\n"},
		[4]string{"output", b, "TestNeedsServer", "--- SKIP: TestNeedsServer (0.00s)\n"},
		[4]string{"skip", b, "TestNeedsServer", ""},
		[4]string{"run", b, "TestSkipNow", ""},
		[4]string{"output", b, "TestSkipNow", "=== RUN   TestSkipNow\n"},
		[4]string{"output", b, "TestSkipNow", "--- SKIP: TestSkipNow (0.00s)\n"},
		[4]string{"skip", b, "TestSkipNow", ""},
		[4]string{"output", b, "", "PASS\n"},
		[4]string{"output", b, "", "ok  \texample.com/b\t0.01s\n"},
		[4]string{"pass", b, "", ""},
		[4]string{"start", c, "", ""},
		[4]string{"output", c, "", "?   \texample.com/c\t[no test files]\n"},
		[4]string{"skip", c, "", ""},
	) + "a line that is not JSON\n"
	want := "--- FAIL: TestFail (0.00s)\n" +
		"    --- FAIL: TestFail/sub (0.00s)\n" +
		"        a_test.go:20: boom\n" +
		"FAIL\n" +
		"FAIL\texample.com/a\t0.01s\n" +
		"ok  \texample.com/b\t0.01s\n" +
		"?   \texample.com/c\t[no test files]\n" +
		"a line that is not JSON\n" +
		"make test: 1 test failed: example.com/a.TestFail/sub\n" +
		"make test: 3 of 6 tests skipped: OMNIQ_TEST_POSTGRES not set (2); no message (1)\n"
	expectSummary(t, in, want, 1)
}

// TestSummaryOfAPassingRun: nothing but the package lines and the count.
func TestSummaryOfAPassingRun(t *testing.T) {
	const a = "example.com/a"
	in := stream(t,
		[4]string{"run", a, "TestOK", ""},
		[4]string{"output", a, "TestOK", "=== RUN   TestOK\n"},
		[4]string{"output", a, "TestOK", "--- PASS: TestOK (0.00s)\n"},
		[4]string{"pass", a, "TestOK", ""},
		[4]string{"output", a, "", "PASS\n"},
		[4]string{"output", a, "", "ok  \texample.com/a\t0.01s\n"},
		[4]string{"pass", a, "", ""},
	)
	expectSummary(t, in, "ok  \texample.com/a\t0.01s\nmake test: 1 test ran, none skipped\n", 0)
}

// TestSummaryOfACrash: a test binary that dies while a test runs (a panic,
// a timeout) leaves that test without an end; its output is shown and the
// test counts as failed.
func TestSummaryOfACrash(t *testing.T) {
	const d = "example.com/d"
	in := stream(t,
		[4]string{"run", d, "TestHang", ""},
		[4]string{"output", d, "TestHang", "=== RUN   TestHang\n"},
		[4]string{"output", d, "TestHang", "panic: test timed out after 1s\n"},
		[4]string{"output", d, "", "FAIL\texample.com/d\t1.00s\n"},
		[4]string{"fail", d, "", ""},
	)
	want := "panic: test timed out after 1s\n" +
		"FAIL\texample.com/d\t1.00s\n" +
		"make test: 1 test failed: example.com/d.TestHang\n" +
		"make test: 1 test ran, none skipped\n"
	expectSummary(t, in, want, 1)
}

// TestSummaryOfABuildFailure: the go command's build events are shown and
// the package is named as failed.
func TestSummaryOfABuildFailure(t *testing.T) {
	const e = "example.com/e"
	in := `{"ImportPath":"example.com/e [example.com/e.test]","Action":"build-output","Output":"# example.com/e\n"}
{"ImportPath":"example.com/e [example.com/e.test]","Action":"build-output","Output":"./e.go:3:1: syntax error\n"}
{"ImportPath":"example.com/e [example.com/e.test]","Action":"build-fail"}
` + stream(t,
		[4]string{"start", e, "", ""},
		[4]string{"output", e, "", "FAIL\texample.com/e [build failed]\n"},
	) + `{"Action":"fail","Package":"example.com/e","FailedBuild":"example.com/e [example.com/e.test]"}
`
	want := "# example.com/e\n" +
		"./e.go:3:1: syntax error\n" +
		"FAIL\texample.com/e [build failed]\n" +
		"make test: 1 package failed: example.com/e (build failed)\n" +
		"make test: no test ran\n"
	expectSummary(t, in, want, 1)
}

// TestEmptyStreamFails: a pipe from a go test that did not start carries
// nothing, which must not pass.
func TestEmptyStreamFails(t *testing.T) {
	out, status := summarize(t, "")
	if out != "make test: no test ran\n" || status != 1 {
		t.Errorf("output %q, status %d; want no test ran, 1", out, status)
	}
}

// TestRunsGoTest runs a real go test on a module of its own, with a test
// that passes, one that skips and one that fails, and checks that the
// summary names them and that go test's exit status comes through.
func TestRunsGoTest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a test binary")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH")
	}
	dir := t.TempDir()
	files := map[string]string{
		"go.mod": "module example.com/m\n\ngo 1.21\n",
		"m_test.go": `package m

import (
	"os"
	"testing"
)

func TestPasses(t *testing.T) {}

func TestNeedsServer(t *testing.T) { t.Skip("EXAMPLE_SERVER not set") }

func TestFails(t *testing.T) {
	if os.Getenv("TESTSUM_FAIL") != "" {
		t.Fatal("deliberate failure")
	}
}
`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	t.Setenv("GOWORK", "off")
	t.Setenv("GOFLAGS", "")

	for _, fail := range []bool{false, true} {
		env := ""
		if fail {
			env = "1"
		}
		t.Setenv("TESTSUM_FAIL", env)
		var stdout, stderr bytes.Buffer
		status := run([]string{"-name", "make test", goCmd, "test", "-count=1", "-json", "./..."}, strings.NewReader(""), &stdout, &stderr)
		out := stdout.String()
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		last := lines[len(lines)-1]
		if want := "make test: 1 of 3 tests skipped: EXAMPLE_SERVER not set (1)"; last != want {
			t.Errorf("fail=%v: last line %q, want %q\noutput:\n%s\nstderr:\n%s", fail, last, want, out, stderr.String())
		}
		if !fail {
			if status != 0 || !strings.HasPrefix(out, "ok  \texample.com/m\t") {
				t.Errorf("passing run: status %d, output:\n%s\nstderr:\n%s", status, out, stderr.String())
			}
			continue
		}
		if status != 1 {
			t.Errorf("failing run: status %d, want go test's 1", status)
		}
		for _, want := range []string{
			"--- FAIL: TestFails (",
			"m_test.go:14: deliberate failure\n",
			"FAIL\texample.com/m\t",
			"make test: 1 test failed: example.com/m.TestFails\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("failing run: output lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "=== RUN") || strings.Contains(out, "--- PASS") {
			t.Errorf("failing run: output shows what go test shows only with -v:\n%s", out)
		}
	}
}

// TestSummaryOfASetupFailure: a package go test cannot even set up (here a
// directory that does not exist) is named as such.
func TestSummaryOfASetupFailure(t *testing.T) {
	in := `{"ImportPath":"./nonexistent","Action":"build-output","Output":"# ./nonexistent\n"}
{"ImportPath":"./nonexistent","Action":"build-output","Output":"stat /src/nonexistent: directory not found\n"}
{"ImportPath":"./nonexistent","Action":"build-fail"}
{"Action":"start","Package":"./nonexistent"}
{"Action":"output","Package":"./nonexistent","Output":"FAIL\t./nonexistent [setup failed]\n"}
{"Action":"fail","Package":"./nonexistent","Elapsed":0,"FailedBuild":"./nonexistent"}
`
	want := "# ./nonexistent\n" +
		"stat /src/nonexistent: directory not found\n" +
		"FAIL\t./nonexistent [setup failed]\n" +
		"make test: 1 package failed: ./nonexistent (setup failed)\n" +
		"make test: no test ran\n"
	expectSummary(t, in, want, 1)
}
