package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/omniq/omniq/client"
	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/storeurl"
)

// clusterStores are the shared stores a two-node omniqd cluster runs on
// here: one SQLite file always, PostgreSQL when OMNIQ_TEST_POSTGRES is set.
func clusterStores(t *testing.T) map[string]string {
	out := map[string]string{"sqlite": "sqlite://" + filepath.Join(t.TempDir(), "omniq.db")}
	if dsn := os.Getenv("OMNIQ_TEST_POSTGRES"); dsn != "" {
		name := fmt.Sprintf("cluster_%d", time.Now().UnixNano()%1e9)
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		url := dsn + sep + "log=" + name
		out["postgres"] = url
		t.Cleanup(func() {
			if l, err := storeurl.Open(context.Background(), url); err == nil {
				if d, ok := l.(stores.Dropper); ok {
					_ = d.Drop(context.Background())
				}
				_ = l.Close()
			}
		})
	} else {
		t.Log("OMNIQ_TEST_POSTGRES not set: the two-node run is on SQLite only")
	}
	return out
}

// Two omniqd processes on one log: each answers for the other's writes at
// once; a node paused past its workers' lease (SIGSTOP) neither stops the
// other nor, when it wakes, gets a stale outcome accepted; both end on the
// same state, and the log verifies.
func TestE2ETwoNodesOneLog(t *testing.T) {
	for name, store := range clusterStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			args := []string{"--store", store, "--lease-timeout", "2s"}
			a := startOmniqd(t, nil, args...)
			b := startOmniqd(t, nil, args...)
			ca, cb := a.client(t), b.client(t)

			for i := range 20 {
				id := fmt.Sprintf("t%02d", i)
				if err := ca.Enqueue(ctx, &engine.Task{ID: id, Func: "f", Retries: 1}); err != nil {
					t.Fatal(err)
				}
				if _, err := cb.GetTask(ctx, id); err != nil {
					t.Fatalf("node b right after node a's enqueue of %s: %v", id, err)
				}
			}
			waitFor(t, 10*time.Second, "both nodes in each other's cluster view", func() bool {
				st, err := ca.Cluster(ctx)
				return err == nil && st.Shared && len(st.Nodes) == 2
			})

			// A worker leases through b; b is paused past the lease.
			first, err := cb.Dequeue(ctx, "")
			if err != nil || first == nil {
				t.Fatalf("dequeue through b: %v %v", first, err)
			}
			if err := b.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			paused := true
			defer func() {
				if paused {
					_ = b.cmd.Process.Signal(syscall.SIGCONT)
				}
			}()
			// a keeps serving, expires the lease, and hands the task out again.
			var second *engine.Task
			waitFor(t, 20*time.Second, "node a to lease the task again", func() bool {
				for {
					got, err := ca.Dequeue(ctx, "")
					if err != nil {
						t.Fatalf("dequeue through a while b is paused: %v", err)
					}
					if got == nil {
						return false
					}
					if got.ID == first.ID {
						second = got
						return true
					}
					if err := ca.Complete(ctx, got, nil); err != nil {
						t.Fatal(err)
					}
				}
			})
			if second.Attempt != first.Attempt+1 {
				t.Fatalf("attempts %d then %d", first.Attempt, second.Attempt)
			}
			// The paused node's presence record outlives the 2 s lease: the
			// second worker heartbeats meanwhile, as a live worker would.
			var beat time.Time
			waitFor(t, 15*time.Second, "the paused node to leave the cluster view", func() bool {
				if time.Since(beat) > 500*time.Millisecond {
					if err := ca.Heartbeat(ctx, second); err != nil {
						t.Fatalf("heartbeat of the second lease: %v", err)
					}
					beat = time.Now()
				}
				st, err := ca.Cluster(ctx)
				return err == nil && len(st.Nodes) == 1
			})
			if err := b.cmd.Process.Signal(syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}
			paused = false
			// The first worker answers late through the node that woke up.
			if err := cb.Complete(ctx, first, "late"); !errors.Is(err, engine.ErrStaleLease) {
				t.Fatalf("late outcome through the woken node: %v", err)
			}
			if err := cb.Complete(ctx, second, "ok"); err != nil {
				t.Fatalf("current outcome through the woken node: %v", err)
			}
			got, err := ca.GetTask(ctx, first.ID)
			if err != nil || got.State != engine.StateCompleted || got.Result != "ok" {
				t.Fatalf("task through a: %+v %v", got, err)
			}
			// Drain the rest through both nodes; both agree.
			for _, c := range []*client.Client{ca, cb, ca, cb} {
				for {
					tk, err := c.Dequeue(ctx, "")
					if err != nil {
						t.Fatal(err)
					}
					if tk == nil {
						break
					}
					if err := c.Complete(ctx, tk, nil); err != nil {
						t.Fatal(err)
					}
				}
			}
			sa, err := ca.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			sb, err := cb.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if sa.Position != sb.Position || sa.Queues["default"][engine.StateCompleted] != 20 || sb.Queues["default"][engine.StateCompleted] != 20 {
				t.Fatalf("nodes disagree: a %+v, b %+v", sa, sb)
			}
			for _, n := range []*child{a, b} {
				_ = n.cmd.Process.Signal(syscall.SIGTERM)
				if code := n.waitExit(20 * time.Second); code != 0 {
					t.Fatalf("node exited %d\n%s", code, n.log())
				}
			}
			out, err := exec.Command(omniqdBinary(t), "verify", "--store", store, "--strict").CombinedOutput()
			if err != nil {
				t.Fatalf("verify: %v\n%s", err, out)
			}
		})
	}
}
