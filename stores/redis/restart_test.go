package redis_test

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/redis"
	"github.com/omniq/omniq/stores/storetest"
)

// privateServer runs a redis-server of its own with the AOF fsynced on every
// write in dir on port, for tests that kill and restart it. It returns a
// function that kills it.
func privateServer(t *testing.T, port int, dir string) (kill func()) {
	t.Helper()
	cmd := exec.Command("redis-server", "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", dir,
		"--appendonly", "yes", "--appendfsync", "always", "--save", "")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	kill = func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	t.Cleanup(kill)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return kill
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not start", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestAOFServerCrash kills a private redis-server running with appendfsync
// always (SIGKILL, no clean shutdown) and starts it again on the same AOF:
// acknowledged appends are still there, appends during the outage fail with
// ErrUnavailable, and the same Log works again once the server is back.
func TestAOFServerCrash(t *testing.T) {
	serverOptions(t) // same gate as the other server tests
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not in PATH")
	}
	port, dir := freePort(t), t.TempDir()
	kill := privateServer(t, port, dir)
	ctx := context.Background()
	l, err := redis.Open(ctx, redis.Options{Port: port, Name: "crash", RequireAOF: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if d, err := l.Durability(ctx); err != nil || !d.AppendOnly || d.AppendFsync != "always" {
		t.Fatalf("durability = %+v, %v", d, err)
	}
	before := []events.Event{storetest.Event("a", 1), storetest.Event("b", 2)}
	if _, err := l.Append(ctx, before); err != nil {
		t.Fatal(err)
	}

	kill()
	if _, err := l.Append(ctx, []events.Event{storetest.Event("lost", 1)}); !errors.Is(err, stores.ErrUnavailable) {
		t.Fatalf("append with the server down: %v, want ErrUnavailable", err)
	}

	privateServer(t, port, dir)
	var first uint64
	for deadline := time.Now().Add(20 * time.Second); ; {
		first, err = l.Append(ctx, []events.Event{storetest.Event("c", 3)})
		if err == nil {
			break
		}
		if !errors.Is(err, stores.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("append after restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if first != 3 {
		t.Fatalf("append after restart at %d, want 3", first)
	}
	got, err := l.Read(ctx, 1, 10)
	if err != nil || len(got) != 3 || got[0].TaskID != "a" || got[2].TaskID != "c" {
		t.Fatalf("read after restart = %v, %v", got, err)
	}
}
