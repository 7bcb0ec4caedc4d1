package storetest

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
)

// FreePort returns a TCP port on 127.0.0.1 that nothing listens on now.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// PrivateServer starts a server of the test's own, the command name with
// args, which must listen on 127.0.0.1:port, for tests that kill and restart
// it; it returns once the port takes connections, and skips the test when
// name is not in PATH. The function it returns kills the server (SIGKILL: no
// clean shutdown); it also runs when the test ends.
func PrivateServer(t testing.TB, port int, name string, args ...string) (kill func()) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s not in PATH", name)
	}
	cmd := exec.Command(name, args...)
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
			t.Fatalf("%s on %s did not start", name, addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ServerCrash checks a log through a crash of its server. It appends events
// a and b, calls kill (which stops the server without a clean shutdown) and
// then down (which may wait for the client to notice); an append must then
// fail with ErrUnavailable. restart starts the server again on the same
// data: within 20s appends work again on the same Log (failing only with
// ErrUnavailable meanwhile), the first lands at 3, and a and b are still
// there.
func ServerCrash(t testing.TB, l stores.Log, kill, down, restart func()) {
	t.Helper()
	ctx := context.Background()
	before := []events.Event{Event("a", 1), Event("b", 2)}
	if _, err := l.Append(ctx, before); err != nil {
		t.Fatal(err)
	}

	kill()
	down()
	if _, err := l.Append(ctx, []events.Event{Event("lost", 1)}); !errors.Is(err, stores.ErrUnavailable) {
		t.Fatalf("append with the server down: %v, want ErrUnavailable", err)
	}

	restart()
	var first uint64
	for deadline := time.Now().Add(20 * time.Second); ; {
		var err error
		first, err = l.Append(ctx, []events.Event{Event("c", 3)})
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
