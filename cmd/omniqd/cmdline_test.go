package main

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"testing"

	"github.com/omniq/omniq/client"
	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/pebble"
)

// The command line behaves the same in every command: help on stdout with
// exit 0, usage errors once on stderr with exit 2, failures exit 1.

// clearOmniqEnv empties the OMNIQ_* variables a command reads, for the
// test.
func clearOmniqEnv(t *testing.T) {
	for _, name := range []string{"SERVER", "TOKEN", "STORE", "LISTEN", "INSECURE", "LEASE_TIMEOUT", "SNAPSHOT_EVERY", "LOG_LEVEL"} {
		t.Setenv("OMNIQ_"+name, "")
	}
}

// commandNames returns every registered command, sorted.
func commandNames() []string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func TestCliCommandsRegistered(t *testing.T) {
	for _, n := range []string{"serve", "verify", "demo", "bench", "replay", "export", "import", "compact",
		"enqueue", "get", "delete", "stats", "history", "cluster", "pause", "resume", "list", "version"} {
		if _, ok := commands[n]; !ok {
			t.Errorf("no command %q", n)
		}
	}
}

func TestCliVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"-version"}, {"version"}} {
		code, out, errOut := omniqdRun(t, args...)
		if code != 0 || errOut != "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
		want := "omniqd " + version() + " " + runtime.Version() + " "
		if !strings.HasPrefix(out, want) || strings.Count(out, "\n") != 1 {
			t.Errorf("%v printed %q, want a line starting %q", args, out, want)
		}
	}
	if code, _, _ := omniqdRun(t, "version", "extra"); code != exitUsage {
		t.Errorf("version extra: exit %d, want %d", code, exitUsage)
	}
}

func TestCliVersionOf(t *testing.T) {
	for _, tc := range []struct {
		main     string
		settings map[string]string
		want     string
	}{
		{"v1.4.2", map[string]string{"vcs.revision": "0123456789abcdef", "vcs.modified": "true"}, "v1.4.2"},
		{"(devel)", map[string]string{"vcs.revision": "0123456789abcdef", "vcs.modified": "true"}, "devel-0123456789ab+dirty"},
		{"(devel)", map[string]string{"vcs.revision": "0123456789abcdef", "vcs.modified": "false"}, "devel-0123456789ab"},
		{"", nil, "devel"},
	} {
		bi := &debug.BuildInfo{Main: debug.Module{Path: "github.com/omniq/omniq", Version: tc.main}}
		for k, v := range tc.settings {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: k, Value: v})
		}
		if got := versionOf(bi); got != tc.want {
			t.Errorf("versionOf(%q, %v) = %q, want %q", tc.main, tc.settings, got, tc.want)
		}
	}
}

// /healthz answers the version beside its status.
func TestCliHealthzVersion(t *testing.T) {
	td := newTestDaemon(t, serveConfig{})
	var got map[string]string
	td.want(td.call("GET", "/healthz", ""), http.StatusOK, &got)
	if got["status"] != "ok" || got["version"] != version() || got["version"] == "" {
		t.Errorf("/healthz = %v, want status ok and version %q", got, version())
	}
}

// The built binary prints its version too (a build from a module or a VCS
// checkout records one).
func TestE2ECliVersion(t *testing.T) {
	code, out, errOut := auditRun(t, nil, "--version")
	if code != 0 || errOut != "" || !strings.HasPrefix(out, "omniqd ") || !strings.Contains(out, runtime.Version()) {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestCliHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		code, out, errOut := omniqdRun(t, args...)
		if code != 0 || errOut != "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
		for _, n := range commandNames() {
			if !strings.Contains(out, "  "+n+" ") {
				t.Errorf("%v does not list %s:\n%s", args, n, out)
			}
		}
	}
	for _, name := range commandNames() {
		for _, args := range [][]string{{name, "--help"}, {name, "-h"}, {name, "-help"}, {"help", name}} {
			code, out, errOut := omniqdRun(t, args...)
			if code != 0 || errOut != "" || !strings.HasPrefix(out, "usage: omniqd "+name) || !strings.Contains(out, "--help") {
				t.Errorf("%v: exit %d, stderr %q, stdout %q", args, code, errOut, out)
			}
		}
	}
	// Help wins over the arguments around it.
	for _, args := range [][]string{{"serve", "--store", "memory://", "--help"}, {"get", "some-id", "-h"}, {"enqueue", "--func", "f", "--help", "--queue", "q"}} {
		if code, out, errOut := omniqdRun(t, args...); code != 0 || errOut != "" || !strings.HasPrefix(out, "usage: omniqd "+args[0]) {
			t.Errorf("%v: exit %d, stderr %q, stdout %q", args, code, errOut, out)
		}
	}
	// The help of a flag names it with two dashes and gives its default.
	_, out, _ := omniqdRun(t, "serve", "--help")
	if !strings.Contains(out, "  --lease-timeout duration\n") || !strings.Contains(out, "(default 1000000)") {
		t.Errorf("serve --help:\n%s", out)
	}
	_, out, _ = omniqdRun(t, "enqueue", "--help")
	if !strings.Contains(out, "omniqd resume ID") {
		t.Errorf("enqueue --help does not say how to resume a paused schedule:\n%s", out)
	}
}

// usageFailed checks a usage error: exit 2, nothing on stdout, the message
// once on stderr followed by the hint at the help.
func usageFailed(t *testing.T, args []string, want string) {
	t.Helper()
	code, out, errOut := omniqdRun(t, args...)
	if code != exitUsage || out != "" {
		t.Errorf("%v: exit %d (want %d), stdout %q, stderr %q", args, code, exitUsage, out, errOut)
		return
	}
	if n := strings.Count(errOut, want); n != 1 {
		t.Errorf("%v: stderr says %q %d times, want once:\n%s", args, want, n, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "Run 'omniqd ") {
		t.Errorf("%v: stderr is not the message and the hint:\n%s", args, errOut)
	}
}

func TestCliUsageErrors(t *testing.T) {
	clearOmniqEnv(t)
	for _, name := range commandNames() {
		usageFailed(t, []string{name, "--no-such-flag"}, "unknown flag --no-such-flag")
		usageFailed(t, []string{name, "--no-such-flag", "--help"}, "unknown flag --no-such-flag")
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"--frobnicate"}, "unknown flag --frobnicate"},
		{[]string{"help", "frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"get"}, "missing argument"},
		{[]string{"pause"}, "missing argument"},
		{[]string{"resume", "a", "b"}, `unexpected argument "b"`},
		{[]string{"stats", "extra"}, `unexpected argument "extra"`},
		{[]string{"serve", "extra"}, `unexpected argument "extra"`},
		{[]string{"export", "--store", "memory://", "extra"}, `unexpected argument "extra"`},
		{[]string{"verify", "--store", "memory://", "extra"}, `unexpected argument "extra"`},
		{[]string{"bench", "extra"}, `unexpected argument "extra"`},
		{[]string{"get", "--server"}, "flag --server needs a value"},
		{[]string{"enqueue"}, "--func is required"},
		{[]string{"stats", "--server", "not a url"}, "--server"},
	} {
		usageFailed(t, tc.args, tc.want)
	}
	if code, _, errOut := omniqdRun(t); code != exitUsage || !strings.Contains(errOut, "usage: omniqd COMMAND") {
		t.Errorf("no command: exit %d, stderr %q", code, errOut)
	}
}

// A refused flag value names the flag and the value, and says what the
// flag takes.
func TestCliBadFlagValues(t *testing.T) {
	clearOmniqEnv(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--lease-timeout", "abc"}, `invalid value "abc" for flag --lease-timeout: want a duration such as 30s`},
		{[]string{"serve", "--lease-timeout=abc"}, `invalid value "abc" for flag --lease-timeout: want a duration`},
		{[]string{"serve", "--snapshot-every", "often"}, `invalid value "often" for flag --snapshot-every: want a whole number`},
		{[]string{"serve", "--max-body", "huge"}, `invalid value "huge" for flag --max-body: want a positive size`},
		{[]string{"serve", "--retention", "forever"}, `invalid value "forever" for flag --retention: want a positive duration`},
		{[]string{"serve", "--rate-limit", "fast"}, `invalid value "fast" for flag --rate-limit: want a number`},
		{[]string{"serve", "--insecure=maybe"}, `invalid value "maybe" for flag --insecure: want true or false`},
		{[]string{"serve", "--log-level", "loud"}, `--log-level "loud"`},
		{[]string{"serve", "--listen", "0.0.0.0:7070"}, "refusing to listen"},
		{[]string{"bench", "--duration", "1 minute"}, `invalid value "1 minute" for flag --duration: want a duration`},
		{[]string{"bench", "--mode", "sprint", "--store", "memory://"}, `mode "sprint"`},
		{[]string{"enqueue", "--func", "f", "--priority", "high"}, `invalid value "high" for flag --priority: want a whole number`},
		{[]string{"enqueue", "--func", "f", "--ttl", "soon"}, `invalid value "soon" for flag --ttl`},
		{[]string{"enqueue", "--func", "f", "--run-at", "tomorrow"}, `invalid value "tomorrow" for flag --run-at`},
		{[]string{"enqueue", "--func", "f", "--args", "{}"}, `invalid value "{}" for flag --args`},
		{[]string{"list", "--state", "sleeping"}, `invalid value "sleeping" for flag --state`},
		{[]string{"export", "--from", "-3"}, `invalid value "-3" for flag --from: want a whole number, 0 or more`},
		{[]string{"replay", "--store", "memory://", "--until", "yesterday"}, `invalid value "yesterday" for flag --until: want a log position (1, 2, …) or an RFC 3339 time`},
		{[]string{"compact", "--store", "memory://", "--before", "soon", "--archive", "a.jsonl"}, `invalid value "soon" for flag --before`},
	} {
		usageFailed(t, tc.args, tc.want)
		if _, _, errOut := omniqdRun(t, tc.args...); strings.Contains(errOut, "parse error") {
			t.Errorf("%v: %q", tc.args, errOut)
		}
	}
	// A value from the environment names its variable.
	t.Setenv("OMNIQ_LEASE_TIMEOUT", "abc")
	usageFailed(t, []string{"serve"}, `invalid value "abc" for OMNIQ_LEASE_TIMEOUT (flag --lease-timeout): want a duration`)
}

// serve opens the store before it listens: a store that cannot be opened
// stops it with exit 1, naming the store, and it never says "listening".
func TestE2ECliServeBadStore(t *testing.T) {
	notDir := writeFile(t, t.TempDir(), "not-a-directory", "x")
	for _, store := range []string{"bogus://x", "pebble://" + notDir} {
		code, out, errOut := auditRun(t, nil, "serve", "--store", store, "--listen", "127.0.0.1:0")
		if code != exitFailure || out != "" || !strings.Contains(errOut, "open store "+store) || strings.Contains(errOut, "listening") {
			t.Errorf("%s: exit %d, stdout %q, stderr:\n%s", store, code, out, errOut)
		}
	}
}

// --snapshot-every 0 means no snapshots, in serve and in bench; the
// default is a snapshot every engine.DefaultSnapshotEvery events.
func TestCliSnapshotEveryZeroIsNever(t *testing.T) {
	clearOmniqEnv(t)
	for _, tc := range []struct {
		args     []string
		env      string
		every    int64
		snapshot bool // written at shutdown
	}{
		{nil, "", engine.DefaultSnapshotEvery, true},
		{[]string{"--snapshot-every", "0"}, "", 0, false},
		{nil, "0", 0, false},
		{[]string{"--snapshot-every", "-1"}, "", -1, false},
		{[]string{"--snapshot-every", "5"}, "", 5, true},
	} {
		t.Setenv("OMNIQ_SNAPSHOT_EVERY", tc.env)
		o, err := parseServeArgs(tc.args)
		if err != nil {
			t.Fatal(err)
		}
		if o.cfg.SnapshotEvery != tc.every {
			t.Errorf("%v (env %q): SnapshotEvery %d, want %d", tc.args, tc.env, o.cfg.SnapshotEvery, tc.every)
		}
		dir := t.TempDir()
		o.cfg.Store = "pebble://" + dir
		td := newTestDaemon(t, o.cfg)
		td.enqueue(`{"func":"f"}`)
		if err := td.shutdown(); err != nil {
			t.Fatal(err)
		}
		log, err := pebble.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		ss, ok := any(log).(stores.SnapshotStore)
		if !ok {
			t.Fatal("a pebble store keeps no snapshots")
		}
		_, _, err = ss.LoadSnapshot(t.Context())
		_ = log.Close()
		if got := !errors.Is(err, stores.ErrNoSnapshot); got != tc.snapshot || (got && err != nil) {
			t.Errorf("%v (env %q): snapshot written %v (%v), want %v", tc.args, tc.env, got, err, tc.snapshot)
		}
	}
	for n, want := range map[int64]int64{0: -1, -1: -1, 5: 5, engine.DefaultSnapshotEvery: engine.DefaultSnapshotEvery} {
		if got := benchSnapshotEvery(n); got != want {
			t.Errorf("bench --snapshot-every %d: Config.SnapshotEvery %d, want %d", n, got, want)
		}
	}
	if _, out, _ := omniqdRun(t, "bench", "--help"); !strings.Contains(out, "(0: no snapshots") || !strings.Contains(out, "(default 1000000)") {
		t.Errorf("bench --help does not give --snapshot-every's default and 0:\n%s", out)
	}
}

// pause, resume and list against a daemon.
func TestCliPauseResumeList(t *testing.T) {
	_, url := startTestServer(t, serveConfig{Token: "tok"})
	t.Setenv("OMNIQ_SERVER", url)
	t.Setenv("OMNIQ_TOKEN", "tok")
	mustRun := func(args ...string) string {
		t.Helper()
		code, out, errOut := omniqdRun(t, args...)
		if code != 0 || errOut != "" {
			t.Fatalf("%v: exit %d, stderr %q", args, code, errOut)
		}
		return out
	}
	mustRun("enqueue", "--func", "report", "--interval", "1h", "--id", "hourly", "--queue", "reports")
	paused := func(out string) bool {
		t.Helper()
		var task client.Task
		if err := json.Unmarshal([]byte(out), &task); err != nil || !strings.HasPrefix(task.ID, "hourly") || task.Schedule == nil {
			t.Fatalf("printed %q: %v", out, err)
		}
		return task.Schedule.Paused
	}
	if !paused(mustRun("pause", "hourly")) || !paused(mustRun("get", "hourly")) {
		t.Error("pause did not pause the schedule")
	}
	if paused(mustRun("resume", "hourly")) || paused(mustRun("get", "hourly")) {
		t.Error("resume did not resume the schedule")
	}
	if !paused(mustRun("enqueue", "--func", "report", "--interval", "1h", "--id", "hourly2", "--queue", "reports", "--paused")) {
		t.Error("enqueue --paused did not pause")
	}
	if paused(mustRun("resume", "hourly2")) {
		t.Error("resume of a schedule enqueued paused")
	}
	code, out, errOut := omniqdRun(t, "pause", "ghost")
	if code != exitFailure || out != "" || strings.Count(errOut, "not_found") != 1 {
		t.Errorf("pause ghost: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	mustRun("enqueue", "--func", "f", "--queue", "q1")
	mustRun("enqueue", "--func", "f", "--queue", "q1")
	mustRun("enqueue", "--func", "f", "--queue", "q2", "--run-at", "1h")
	out = mustRun("stats")
	lines := strings.Split(out, "\n")
	if len(lines) < 3 || strings.HasSuffix(lines[0], " ") || strings.Join(strings.Fields(lines[0]), " ") != "QUEUE WAITING PENDING RUNNING COMPLETED FAILED EXPIRED CANCELLED TOTAL" ||
		strings.Join(strings.Fields(lines[1]), " ") != "q1 0 2 0 0 0 0 0 2" || strings.Join(strings.Fields(lines[2]), " ") != "q2 1 0 0 0 0 0 0 1" ||
		!strings.Contains(out, "schedules: 2 (") {
		t.Errorf("stats:\n%s", out)
	}
	out = mustRun("stats", "--queue", "q1", "--state", "pending")
	if lines := strings.Split(out, "\n"); strings.Join(strings.Fields(lines[0]), " ") != "QUEUE PENDING" || strings.Join(strings.Fields(lines[1]), " ") != "q1 2" ||
		strings.Contains(out, "q2") {
		t.Errorf("stats --queue q1 --state pending:\n%s", out)
	}
	var st client.Stats
	if err := json.Unmarshal([]byte(mustRun("stats", "--json", "--state", "waiting")), &st); err != nil ||
		st.Queues["q2"]["waiting"] != 1 || st.Queues["q1"] == nil || len(st.Queues["q1"]) != 0 || st.Schedules != 2 {
		t.Errorf("stats --json --state waiting: %+v, %v", st, err)
	}
	if out := mustRun("stats", "--queue", "nothing-here"); !strings.Contains(out, "nothing-here") {
		t.Errorf("stats of an empty queue:\n%s", out)
	}
}

// A client command that finds no daemon says which URL it tried, where that
// came from, and how to point it at the daemon.
func TestCliUnreachableDaemon(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now: the connection is refused
	t.Setenv("OMNIQ_TOKEN", "")
	for _, tc := range []struct {
		env  string
		args []string
		from string
	}{
		{"", []string{"stats", "--server", url}, "(--server)"},
		{url, []string{"list"}, "(OMNIQ_SERVER)"},
		{url, []string{"pause", "hourly"}, "(OMNIQ_SERVER)"},
		{"", []string{"enqueue", "--func", "f", "--server", url}, "(--server)"},
	} {
		t.Setenv("OMNIQ_SERVER", tc.env)
		code, out, errOut := omniqdRun(t, tc.args...)
		if code != exitFailure || out != "" {
			t.Errorf("%v: exit %d, stdout %q", tc.args, code, out)
		}
		for _, want := range []string{"cannot reach the daemon at " + url + " " + tc.from, "connection refused", "omniqd serve", "--server URL", "OMNIQ_SERVER"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("%v: stderr does not say %q:\n%s", tc.args, want, errOut)
			}
		}
		if n := strings.Count(errOut, "cannot reach"); n != 1 {
			t.Errorf("%v: the message came %d times:\n%s", tc.args, n, errOut)
		}
	}
}

// A daemon that answers is not unreachable, whatever it answers.
func TestCliUnreachableOnlyWhenUnreachable(t *testing.T) {
	_, url := startTestServer(t, serveConfig{Token: "tok"})
	t.Setenv("OMNIQ_SERVER", url)
	t.Setenv("OMNIQ_TOKEN", "wrong")
	code, _, errOut := omniqdRun(t, "stats")
	if code != exitFailure || strings.Contains(errOut, "cannot reach") || !strings.Contains(errOut, "unauthorized") {
		t.Errorf("wrong token: exit %d, stderr %q", code, errOut)
	}
}

// serve serves the dashboard at /ui/ unless --ui=false (or OMNIQ_UI=false).
func TestCliServeUI(t *testing.T) {
	clearOmniqEnv(t)
	for _, tc := range []struct {
		args []string
		env  string
		want int
	}{
		{nil, "", http.StatusOK},
		{[]string{"--ui=false"}, "", http.StatusNotFound},
		{nil, "false", http.StatusNotFound},
	} {
		t.Setenv("OMNIQ_UI", tc.env)
		o, err := parseServeArgs(tc.args)
		if err != nil {
			t.Fatal(err)
		}
		o.cfg.Store = "memory://"
		td := newTestDaemon(t, o.cfg)
		if rec := td.call("GET", "/ui/", ""); rec.Code != tc.want {
			t.Errorf("%v (env %q): GET /ui/ answered %d, want %d", tc.args, tc.env, rec.Code, tc.want)
		}
	}
}
