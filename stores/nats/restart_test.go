package nats_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/nats"
	"github.com/omniq/omniq/stores/storetest"
)

// privateServer runs a nats-server of its own with JetStream in dir on port,
// for tests that kill and restart it. It returns a function that kills it.
func privateServer(t *testing.T, port int, dir string) (kill func()) {
	t.Helper()
	return storetest.PrivateServer(t, port, "nats-server", "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-js", "-sd", dir)
}

// TestServerCrashAndReconnect kills a private nats-server (SIGKILL, no clean
// shutdown) and starts it again on the same store: acknowledged appends are
// still there, appends during the outage fail with ErrUnavailable, and the
// same Log works again once the server is back.
func TestServerCrashAndReconnect(t *testing.T) {
	testServers(t) // same gate as the other server tests
	port, dir := storetest.FreePort(t), t.TempDir()
	kill := privateServer(t, port, dir)
	ctx := context.Background()
	l, err := nats.Open(ctx, []string{"nats://127.0.0.1:" + strconv.Itoa(port)}, nats.WithName("crash"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// A request sent before the client notices the dead connection waits for
	// its timeout; read-only calls find out when the client knows.
	down := func() {
		for deadline := time.Now().Add(20 * time.Second); ; {
			short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			_, err := l.Head(short)
			cancel()
			if errors.Is(err, stores.ErrUnavailable) {
				return
			}
			if err == nil || time.Now().After(deadline) {
				t.Fatalf("head with the server down: %v, want ErrUnavailable", err)
			}
		}
	}
	storetest.ServerCrash(t, l, kill, down, func() { privateServer(t, port, dir) })
}
