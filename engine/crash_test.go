package engine_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/file"
	"github.com/omniq/omniq/stores/pebble"
)

// durableStores open the embedded durable backends on a directory.
var durableStores = map[string]func(dir string) (stores.Log, error){
	"file":   func(dir string) (stores.Log, error) { return file.Open(dir) },
	"pebble": func(dir string) (stores.Log, error) { return pebble.Open(dir) },
}

const crashChildEnv = "OMNIQ_CRASH_CHILD"

// TestCrashKeepsAcknowledged SIGKILLs a child process that enqueues tasks
// from several goroutines, then checks that every task the child saw
// acknowledged is in the reopened log (durable before visible: docs/design.md,
// invariant 1).
func TestCrashKeepsAcknowledged(t *testing.T) {
	if spec := os.Getenv(crashChildEnv); spec != "" {
		crashChild(spec)
		return
	}
	for name := range durableStores {
		t.Run(name, func(t *testing.T) {
			for round := 0; round < 3; round++ {
				dir := filepath.Join(t.TempDir(), "log")
				acked := runCrashChild(t, name, dir, 150+round*100)
				log, err := durableStores[name](dir)
				if err != nil {
					t.Fatalf("reopen after kill: %v", err)
				}
				e, err := engine.Open(context.Background(), log)
				if err != nil {
					t.Fatal(err)
				}
				for _, id := range acked {
					if _, err := e.GetTask(context.Background(), id); err != nil {
						t.Errorf("acknowledged task %s lost: %v", id, err)
					}
				}
				e.Close()
				log.Close()
			}
		})
	}
}

// runCrashChild starts the child, reads acknowledged ids until it has n, kills
// the child with SIGKILL mid-stream, and returns what it read.
func runCrashChild(t *testing.T, store, dir string, n int) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashKeepsAcknowledged$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+store+":"+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "ACK "); ok {
			acked = append(acked, id)
			if len(acked) == n {
				break
			}
		}
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	// Acks printed before the kill landed are acknowledged too.
	for sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "ACK "); ok {
			acked = append(acked, id)
		}
	}
	_ = cmd.Wait()
	if len(acked) < n {
		t.Fatalf("child acknowledged only %d tasks before exiting", len(acked))
	}
	return acked
}

// crashChild enqueues until killed, printing each acknowledged id.
func crashChild(spec string) {
	store, dir, _ := strings.Cut(spec, ":")
	log, err := durableStores[store](dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(2)
	}
	e, err := engine.Open(context.Background(), log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child engine:", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Go(func() {
			for i := 0; ; i++ {
				task := &engine.Task{ID: fmt.Sprintf("g%d-%d", g, i), Func: "f", Args: []any{i}}
				if err := e.Enqueue(context.Background(), task); err != nil {
					fmt.Fprintln(os.Stderr, "child enqueue:", err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintln(w, "ACK", task.ID)
				w.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}
