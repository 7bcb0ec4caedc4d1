package pebble_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores/pebble"
	"github.com/omniq/omniq/stores/storetest"
)

func TestSecondOpenInProcessFails(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "log")
	l, err := pebble.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(cwd, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, dir string }{
		{"same name", dir},
		{"trailing dot", filepath.Join(dir, ".") + "/."},
		{"relative", rel},
		{"symlink", link},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l2, err := pebble.Open(tc.dir)
			if err == nil {
				l2.Close()
				t.Fatalf("second Open(%s) succeeded", tc.dir)
			}
			if !errors.Is(err, pebble.ErrLocked) {
				t.Fatalf("second Open(%s) = %v, want ErrLocked", tc.dir, err)
			}
			t.Log(err)
		})
	}

	// The refused opens left the first Log working and the lock held by it.
	if _, err := l.Append(ctx, []events.Event{storetest.Event("kept", 1)}); err != nil {
		t.Fatalf("append on the first Log after refused opens: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2, err := pebble.Open(dir)
	if err != nil {
		t.Fatalf("open after the first Log closed: %v", err)
	}
	defer l2.Close()
	if head, err := l2.Head(ctx); err != nil || head != 1 {
		t.Fatalf("reopened head = %d, %v; want 1", head, err)
	}
}

// lockChildEnv names the directory a re-executed test binary tries to open.
const lockChildEnv = "OMNIQ_PEBBLE_LOCK_CHILD_DIR"

// Exit codes of the child process.
const (
	childOpened = 10
	childLocked = 11
	childOther  = 12
)

func TestSecondOpenInOtherProcessFails(t *testing.T) {
	if dir := os.Getenv(lockChildEnv); dir != "" {
		l, err := pebble.Open(dir)
		switch {
		case err == nil:
			l.Close()
			os.Exit(childOpened)
		case errors.Is(err, pebble.ErrLocked):
			os.Exit(childLocked)
		default:
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(childOther)
		}
	}
	dir := t.TempDir()
	l, err := pebble.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	child := func() int {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSecondOpenInOtherProcessFails$", "-test.count=1")
		cmd.Env = append(os.Environ(), lockChildEnv+"="+dir)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("child process: %v\n%s", err, out)
		}
		if exit.ExitCode() == childOther {
			t.Logf("child output:\n%s", out)
		}
		return exit.ExitCode()
	}
	if code := child(); code != childLocked {
		t.Fatalf("child open while locked exited %d, want %d (ErrLocked)", code, childLocked)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if code := child(); code != childOpened {
		t.Fatalf("child open after close exited %d, want %d (opened)", code, childOpened)
	}
}
