package file

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/omniq/omniq/stores"
)

func TestSecondOpenIsRefused(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir)
	_, err := Open(dir)
	if !errors.Is(err, ErrLocked) || !errors.Is(err, stores.ErrUnavailable) {
		t.Fatalf("second open: %v; want ErrLocked", err)
	}
	if pid := fmt.Sprint(os.Getpid()); !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), pid) {
		t.Fatalf("error %q does not name the directory and the owner pid %s", err, pid)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2, err := Open(dir)
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	l2.Close()
}

// lockChildEnv names the directory a re-executed test binary should try to
// open; see TestLockHeldAcrossProcesses.
const lockChildEnv = "OMNIQ_FILE_LOCK_CHILD_DIR"

// TestLockHeldAcrossProcesses opens a log, then runs this test binary again
// as a second process that tries to open the same directory.
func TestLockHeldAcrossProcesses(t *testing.T) {
	if dir := os.Getenv(lockChildEnv); dir != "" {
		l, err := Open(dir)
		if err == nil {
			l.Close()
			fmt.Println("child: opened")
			os.Exit(0)
		}
		fmt.Println("child:", err)
		if errors.Is(err, ErrLocked) {
			os.Exit(3)
		}
		os.Exit(1)
	}
	dir := t.TempDir()
	l := mustOpen(t, dir)

	child := func() (int, string) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLockHeldAcrossProcesses$")
		cmd.Env = append(os.Environ(), lockChildEnv+"="+dir)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("run child: %v", err)
		}
		return cmd.ProcessState.ExitCode(), string(out)
	}
	if code, out := child(); code != 3 {
		t.Fatalf("child opened a locked directory (exit %d):\n%s", code, out)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if code, out := child(); code != 0 {
		t.Fatalf("child could not open the released directory (exit %d):\n%s", code, out)
	}
}
