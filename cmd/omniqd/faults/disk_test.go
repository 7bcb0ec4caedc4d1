package faults

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// mountTmpfs mounts a tmpfs of size at dir, for a disk the harness can fill
// without filling the machine's. Mounting needs root (CAP_SYS_ADMIN): where
// it is refused the store is skipped with that reason; the file store's own
// tests inject ENOSPC without it (stores/file/faults_test.go).
func mountTmpfs(t *testing.T, dir, size string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("file-full needs a tmpfs mount, which this machine refuses (root only): %v: %s", err, out)
	}
	// Registered after the store's daemon: runs once omniqd has stopped.
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fillDisk writes a ballast file into dir until its file system is full
// (ENOSPC), and returns its path: removing it frees the space.
func fillDisk(dir string) (string, error) {
	path := filepath.Join(dir, "ballast")
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	buf := make([]byte, 256<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return path, nil
			}
			return path, fmt.Errorf("fill %s: %w", dir, err)
		}
	}
}
