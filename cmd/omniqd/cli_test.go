package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/omniq/omniq/client"
)

// omniqdCLI runs one omniqd command in process and returns its exit code
// and what it printed on stdout.
func omniqdCLI(t *testing.T, args ...string) (int, string) {
	t.Helper()
	code, out, errOut := omniqdRun(t, args...)
	if errOut != "" {
		t.Logf("omniqd %v: stderr: %s", args, errOut)
	}
	return code, out
}

// omniqdRun runs one omniqd command in process and returns its exit code
// and what it printed on stdout and on stderr.
func omniqdRun(t *testing.T, args ...string) (code int, out, errOut string) {
	t.Helper()
	var o, e bytes.Buffer
	oldCLI, oldAudit, oldOut, oldErr := cliOut, auditOut, stdout, stderr
	cliOut, auditOut, stdout, stderr = &o, &o, &o, &e
	defer func() { cliOut, auditOut, stdout, stderr = oldCLI, oldAudit, oldOut, oldErr }()
	code = run(context.Background(), args)
	return code, o.String(), e.String()
}

func TestCLICommands(t *testing.T) {
	d, url := startTestServer(t, serveConfig{Token: "tok"})
	t.Setenv("OMNIQ_SERVER", url) // the env stands in for --server
	t.Setenv("OMNIQ_TOKEN", "tok")

	code, out := omniqdCLI(t, "enqueue", "--func", "add", "--args", "[10, 20.5]", "--kwargs", `{"k":"v"}`,
		"--queue", "q1", "--priority", "7", "--ttl", "90s", "--retries", "2", "--run-at", "1h", "--id", "t1")
	if code != 0 {
		t.Fatalf("enqueue exited %d", code)
	}
	var task client.Task
	if err := json.Unmarshal([]byte(out), &task); err != nil {
		t.Fatalf("enqueue printed %q: %v", out, err)
	}
	if task.ID != "t1" || task.Func != "add" || task.QueueName != "q1" || task.Priority != 7 || time.Duration(task.TTL) != 90*time.Second ||
		task.Retries != 2 || task.State != "waiting" || task.Schedule == nil || task.Schedule.RunAt.Before(time.Now().Add(50*time.Minute)) ||
		len(task.Args) != 2 || task.Kwargs["k"] != "v" {
		t.Fatalf("enqueued %s", out)
	}
	if code, _ := omniqdCLI(t, "enqueue", "--func", "g", "--depends-on", "t1, ", "--id", "t2"); code != 0 {
		t.Fatal("enqueue with --depends-on failed")
	}
	if code, _ := omniqdCLI(t, "enqueue", "--func", "r", "--interval", "60", "--id", "every-minute"); code != 0 {
		t.Fatal("enqueue with --interval failed")
	}

	code, out = omniqdCLI(t, "get", "t2")
	if err := json.Unmarshal([]byte(out), &task); code != 0 || err != nil || task.ID != "t2" || task.DependsOn[0] != "t1" {
		t.Fatalf("get: %d %s", code, out)
	}
	code, out = omniqdCLI(t, "get", "every-minute", "--server", url) // flags after the id
	if err := json.Unmarshal([]byte(out), &task); code != 0 || err != nil || task.State != "scheduled" || time.Duration(task.Schedule.Interval) != time.Minute {
		t.Fatalf("get schedule: %d %s", code, out)
	}

	code, out = omniqdCLI(t, "stats", "--json")
	var stats client.Stats
	if err := json.Unmarshal([]byte(out), &stats); code != 0 || err != nil || stats.Queues["q1"]["waiting"]+stats.Queues["q1"]["pending"] != 1 || stats.Schedules != 1 {
		t.Fatalf("stats: %d %s", code, out)
	}

	code, out = omniqdCLI(t, "history", "t1")
	var hist client.History
	if err := json.Unmarshal([]byte(out), &hist); code != 0 || err != nil || len(hist.Events) != 1 || hist.Events[0].Type != "task.enqueued" {
		t.Fatalf("history: %d %s", code, out)
	}

	if code, out = omniqdCLI(t, "delete", "t1"); code != 0 {
		t.Fatalf("delete: %d %s", code, out)
	}
	if code, _ = omniqdCLI(t, "get", "t1"); code != 1 {
		t.Errorf("get of a deleted task exited %d", code)
	}

	// Bad input fails and appends nothing.
	head := d.q.Position()
	for _, args := range [][]string{
		{"enqueue", "--func", "f", "--cron", "every day"},
		{"enqueue", "--func", "f", "--args", `{"not":"an array"}`},
		{"enqueue", "--func", "f", "--kwargs", `[1]`},
		{"enqueue", "--func", "f", "--ttl", "soon"},
		{"enqueue", "--func", "f", "--run-at", "tomorrow"},
		{"enqueue", "--func", "f", "--depends-on", "ghost"},
		{"enqueue"},
		{"get"},
		{"get", "a", "b"},
		{"stats", "--token", "wrong"},
		{"stats", "--server", "not a url"},
	} {
		if code, _ := omniqdCLI(t, args...); code == 0 {
			t.Errorf("%v exited 0", args)
		}
	}
	if d.q.Position() != head {
		t.Errorf("bad CLI input appended events: %d -> %d", head, d.q.Position())
	}
	if code, _ := omniqdCLI(t, "get", "-h"); code != 0 {
		t.Errorf("get -h exited %d", code)
	}
}

func TestParseRunAt(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2031-02-03T04:05:06Z":      time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC),
		"2031-02-03T04:05:06+01:00": time.Date(2031, 2, 3, 3, 5, 6, 0, time.UTC),
		"10m":                       now.Add(10 * time.Minute),
	} {
		got, err := parseRunAt(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseRunAt(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parseRunAt("next tuesday", now); err == nil {
		t.Error("parseRunAt accepted nonsense")
	}
}

// omniqd list prints tasks under its filter flags as a table, or as JSON,
// with the cursor of the next page when more follow; the counts are
// omniqd stats'.
func TestCLIList(t *testing.T) {
	_, url := startTestServer(t, serveConfig{})
	t.Setenv("OMNIQ_SERVER", url)
	for i, spec := range [][]string{
		{"--func", "send", "--queue", "mail", "--args", `["Hello World"]`, "--id", "a1", "--priority", "3"},
		{"--func", "send", "--queue", "mail", "--kwargs", `{"to":"bob"}`, "--id", "b2"},
		{"--func", "resize", "--queue", "img", "--id", "c3"},
	} {
		if code, out := omniqdCLI(t, append([]string{"enqueue"}, spec...)...); code != 0 {
			t.Fatalf("enqueue %d: %s", i, out)
		}
	}
	rows := func(out string) []string {
		var rows []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			f := strings.Fields(l)
			if len(f) == 7 && f[0] != "ID" {
				if _, err := time.Parse(time.RFC3339, f[6]); err != nil {
					t.Errorf("enqueue time %q: %v", f[6], err)
				}
				rows = append(rows, strings.Join(f[:6], " "))
			}
		}
		return rows
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "[a1 mail send pending 3 0 b2 mail send pending 0 0 c3 img resize pending 0 0]"},
		{[]string{"--queue", "mail", "--state", "pending"}, "[a1 mail send pending 3 0 b2 mail send pending 0 0]"},
		{[]string{"--func", "resize"}, "[c3 img resize pending 0 0]"},
		{[]string{"--q", "HELLO"}, "[a1 mail send pending 3 0]"},
		{[]string{"--q", "bob", "--after", "1h"}, "[b2 mail send pending 0 0]"},
		{[]string{"--before", "1h"}, "[]"},
		{[]string{"--cursor", "a1"}, "[b2 mail send pending 0 0 c3 img resize pending 0 0]"},
	} {
		code, out := omniqdCLI(t, append([]string{"list"}, c.args...)...)
		if got := fmt.Sprint(rows(out)); code != 0 || got != c.want || strings.Contains(out, "next cursor") {
			t.Errorf("list %v: exit %d, rows %s, want %s\n%s", c.args, code, got, c.want, out)
		}
	}
	code, out := omniqdCLI(t, "list", "--limit", "2")
	if got := fmt.Sprint(rows(out)); code != 0 || got != "[a1 mail send pending 3 0 b2 mail send pending 0 0]" || !strings.Contains(out, "next cursor: b2 ") {
		t.Errorf("list --limit 2: exit %d\n%s", code, out)
	}
	var page client.TaskPage
	code, out = omniqdCLI(t, "list", "--json", "--limit", "1", "--cursor", "a1")
	if err := json.Unmarshal([]byte(out), &page); code != 0 || err != nil || len(page.Tasks) != 1 || page.Tasks[0].ID != "b2" || page.NextCursor != "b2" {
		t.Errorf("list --json: exit %d, %v\n%s", code, err, out)
	}
	for _, bad := range [][]string{{"--state", "sleeping"}, {"--after", "yesterday"}, {"--limit", "0"}, {"--limit", "1001"}} {
		if code, _ := omniqdCLI(t, append([]string{"list"}, bad...)...); code != exitUsage {
			t.Errorf("list %v exited %d, want %d", bad, code, exitUsage)
		}
	}
	if code, out := omniqdCLI(t, "list", "--help"); code != 0 || !strings.Contains(out, "omniqd stats") {
		t.Errorf("list --help: exit %d, does not point at omniqd stats:\n%s", code, out)
	}
}
