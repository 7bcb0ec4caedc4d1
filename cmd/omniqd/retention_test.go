package main

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/omniq/omniq/engine"
)

// TestE2ERetention: omniqd with a short --retention archives an ended task
// beside its Pebble store; the task's lookup answers 410 archived (the Go
// client: engine.ErrArchived and ErrNotFound), its history still answers,
// and after a shutdown, verify and export read the archive then the log:
// the whole history, with no breach.
func TestE2ERetention(t *testing.T) {
	dir := t.TempDir()
	store := "pebble://" + filepath.Join(dir, "data")
	srv := startOmniqd(t, nil, "--store", store, "--retention", "1s")
	q := srv.client(t)
	ctx := context.Background()
	done := &engine.Task{ID: "done", Func: "f"}
	if err := q.Enqueue(ctx, done); err != nil {
		t.Fatal(err)
	}
	task, err := q.Dequeue(ctx, "")
	if err != nil || task == nil {
		t.Fatalf("dequeue: %v %+v", err, task)
	}
	if err := q.Complete(ctx, task, "ok"); err != nil {
		t.Fatal(err)
	}
	live := &engine.Task{ID: "live", Func: "f", Schedule: &engine.Schedule{RunAt: time.Now().Add(time.Hour)}}
	if err := q.Enqueue(ctx, live); err != nil {
		t.Fatal(err)
	}
	// Retention acts once the task ended 1.25 s ago; it looks every second.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err = q.GetTask(ctx, "done")
		if errors.Is(err, engine.ErrArchived) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !errors.Is(err, engine.ErrArchived) || !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("GetTask of an archived task: %v, want engine.ErrArchived", err)
	}
	res, err := http.Get(srv.url + "/v1/tasks/done")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusGone {
		t.Fatalf("GET of an archived task: %d, want 410", res.StatusCode)
	}
	h, err := q.History(ctx, "done")
	if err != nil || len(h) != 3 || h[2].Type != "task.completed" {
		t.Fatalf("history of an archived task: %v %+v", err, h)
	}
	if _, err := q.GetTask(ctx, "live"); err != nil {
		t.Fatalf("a task that has not ended: %v", err)
	}
	if got := metricValue(t, srv.url, `omniq_tasks_resident{form="hot"}`); got != "1" {
		t.Fatalf("hot tasks after retention: %s, want 1", got)
	}
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if srv.waitExit(30*time.Second) != 0 {
		t.Fatalf("omniqd did not exit cleanly:\n%s", srv.log())
	}

	archiveDir := filepath.Join(dir, "data.archive")
	files, _ := filepath.Glob(filepath.Join(archiveDir, "omniq-*.jsonl.gz"))
	if len(files) == 0 {
		t.Fatalf("no archive file beside the store in %s", archiveDir)
	}
	if code, out, errOut := auditRun(t, nil, "verify", "--store", store, "--archive", archiveDir); code != 0 {
		t.Fatalf("verify with the archive: exit %d\n%s\n%s", code, out, errOut)
	}
	exported := filepath.Join(dir, "all.jsonl")
	if code, _, errOut := auditRun(t, nil, "export", "--store", store, "--archive", archiveDir, "--out", exported); code != 0 {
		t.Fatalf("export with the archive: exit %d\n%s", code, errOut)
	}
	data, err := os.ReadFile(exported)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	for i, line := range lines {
		if !strings.Contains(line, `"position":`+strconv.Itoa(i+1)+`,`) {
			t.Fatalf("exported line %d is not position %d: %s", i+1, i+1, line)
		}
	}
	if !strings.Contains(lines[0], `"task_id":"done"`) {
		t.Fatalf("the export does not start with the archived task: %s", lines[0])
	}
}
