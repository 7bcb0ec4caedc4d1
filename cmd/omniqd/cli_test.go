package main

import (
	"bytes"
	"context"
	"encoding/json"
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

	code, out = omniqdCLI(t, "stats")
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
