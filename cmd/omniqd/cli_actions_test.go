package main

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/omniq/omniq/client"
	"github.com/omniq/omniq/engine"
)

func TestCLIRetryCancel(t *testing.T) {
	d, url := startTestServer(t, serveConfig{Token: "tok"})
	t.Setenv("OMNIQ_SERVER", url)
	t.Setenv("OMNIQ_TOKEN", "tok")
	ctx := context.Background()
	for _, id := range []string{"f1", "f2", "p1", "p2"} {
		if err := d.q.Enqueue(ctx, &engine.Task{ID: id, Func: "f"}); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 { // f1 and f2 end failed
		tk, err := d.q.Dequeue(ctx, "")
		if err != nil || tk == nil {
			t.Fatalf("dequeue: %v %v", tk, err)
		}
		if err := d.q.Fail(ctx, tk, errors.New("boom")); err != nil {
			t.Fatal(err)
		}
	}
	state := func(id string) engine.State {
		t.Helper()
		tk, err := d.q.GetTask(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return tk.State
	}

	code, out := omniqdCLI(t, "retry", "f1")
	if code != 0 || out != "f1: retried\n" || state("f1") != engine.StatePending {
		t.Fatalf("retry f1: %d %q, f1 %s", code, out, state("f1"))
	}
	// Several ids, flags among them: one line each, exit 1 as one failed.
	code, out, errOut := omniqdRun(t, "retry", "f2", "--server", url, "p1", "ghost")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 1 || len(lines) != 3 || lines[0] != "f2: retried" ||
		!strings.HasPrefix(lines[1], "p1: not retried: task_state: ") || !strings.HasPrefix(lines[2], "ghost: not retried: not_found: ") ||
		!strings.Contains(errOut, "2 of 3 tasks not retried") {
		t.Fatalf("retry f2 p1 ghost: %d\n%s\nstderr: %s", code, out, errOut)
	}
	if state("f2") != engine.StatePending || state("p1") != engine.StatePending {
		t.Errorf("after retry: f2 %s, p1 %s", state("f2"), state("p1"))
	}

	code, out = omniqdCLI(t, "cancel", "p1", "p2")
	if code != 0 || out != "p1: cancelled\np2: cancelled\n" || state("p1") != engine.StateCancelled {
		t.Fatalf("cancel p1 p2: %d %q", code, out)
	}
	code, out = omniqdCLI(t, "cancel", "--", "p1")
	if code != 1 || !strings.HasPrefix(out, "p1: not cancelled: task_state: ") {
		t.Fatalf("cancel of a cancelled task: %d %q", code, out)
	}

	// Usage errors do nothing; help exits 0.
	head := d.q.Position()
	for _, args := range [][]string{{"retry"}, {"cancel"}, {"retry", "--nope", "f1"}, {"cancel", "--server"}} {
		if code, _, errOut := omniqdRun(t, args...); code != 2 || !strings.Contains(errOut, "--help") {
			t.Errorf("%v exited %d: %s", args, code, errOut)
		}
	}
	if code, _ := omniqdCLI(t, "retry", "f1", "--token", "wrong"); code != 1 {
		t.Errorf("retry with a wrong token exited %d", code)
	}
	if d.q.Position() != head {
		t.Errorf("refused command lines appended: %d -> %d", head, d.q.Position())
	}
	if code, out := omniqdCLI(t, "cancel", "--help"); code != 0 || !strings.Contains(out, "usage: omniqd cancel ID...") {
		t.Errorf("cancel --help: %d %s", code, out)
	}
}

func TestCLIQueuePauseResume(t *testing.T) {
	d, url := startTestServer(t, serveConfig{})
	t.Setenv("OMNIQ_SERVER", url)
	ctx := context.Background()
	if err := d.q.Enqueue(ctx, &engine.Task{ID: "t", Func: "f", QueueName: "emails"}); err != nil {
		t.Fatal(err)
	}

	code, out := omniqdCLI(t, "queue", "pause", "emails")
	var st client.QueueState
	if err := json.Unmarshal([]byte(out), &st); code != 0 || err != nil || st.Name != "emails" || !st.Paused || st.Counts["pending"] != 1 {
		t.Fatalf("queue pause: %d %s", code, out)
	}
	if tk, err := d.q.Dequeue(ctx, "emails"); tk != nil || err != nil {
		t.Fatalf("dequeue of a paused queue: %v %v", tk, err)
	}
	// stats marks it, in its table and in its JSON, filtered or not.
	if code, out := omniqdCLI(t, "stats"); code != 0 || !strings.Contains(out, "emails (paused)") || !strings.Contains(out, "paused queues: emails") {
		t.Errorf("stats while paused: %d %s", code, out)
	}
	for _, args := range [][]string{{"stats", "--json"}, {"stats", "--json", "--queue", "emails"}} {
		var sj client.Stats
		if code, out := omniqdCLI(t, args...); code != 0 || json.Unmarshal([]byte(out), &sj) != nil || !slices.Equal(sj.PausedQueues, []string{"emails"}) {
			t.Errorf("%v while paused: %d %s", args, code, out)
		}
	}
	code, _, errOut := omniqdRun(t, "queue", "pause", "emails")
	if code != 1 || !strings.Contains(errOut, "task_state") {
		t.Errorf("pausing a paused queue: %d %s", code, errOut)
	}

	code, out = omniqdCLI(t, "queue", "resume", "emails")
	if err := json.Unmarshal([]byte(out), &st); code != 0 || err != nil || st.Paused {
		t.Fatalf("queue resume: %d %s", code, out)
	}
	if tk, err := d.q.Dequeue(ctx, "emails"); tk == nil || err != nil || tk.ID != "t" {
		t.Fatalf("dequeue after resume: %v %v", tk, err)
	}

	head := d.q.Position()
	for _, args := range [][]string{{"queue"}, {"queue", "pause"}, {"queue", "stop", "emails"}, {"queue", "pause", "a", "b"}} {
		if code, _, errOut := omniqdRun(t, args...); code != 2 || !strings.Contains(errOut, "omniqd queue --help") {
			t.Errorf("%v exited %d: %s", args, code, errOut)
		}
	}
	if code, _ := omniqdCLI(t, "queue", "pause", "bad name"); code != 1 {
		t.Errorf("pausing a bad name exited %d", code)
	}
	if d.q.Position() != head {
		t.Errorf("refused command lines appended: %d -> %d", head, d.q.Position())
	}
	if code, out := omniqdCLI(t, "help", "queue"); code != 0 || !strings.Contains(out, "usage: omniqd queue pause|resume NAME") {
		t.Errorf("help queue: %d %s", code, out)
	}
}
