package redis_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/omniq/omniq/stores/redis"
	"github.com/omniq/omniq/stores/storetest"
)

// privateServer runs a redis-server of its own with the AOF fsynced on every
// write in dir on port, for tests that kill and restart it. It returns a
// function that kills it.
func privateServer(t *testing.T, port int, dir string) (kill func()) {
	t.Helper()
	return storetest.PrivateServer(t, port, "redis-server", "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", dir,
		"--appendonly", "yes", "--appendfsync", "always", "--save", "")
}

// TestAOFServerCrash kills a private redis-server running with appendfsync
// always (SIGKILL, no clean shutdown) and starts it again on the same AOF:
// acknowledged appends are still there, appends during the outage fail with
// ErrUnavailable, and the same Log works again once the server is back.
func TestAOFServerCrash(t *testing.T) {
	serverOptions(t) // same gate as the other server tests
	port, dir := storetest.FreePort(t), t.TempDir()
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
	storetest.ServerCrash(t, l, kill, func() {}, func() { privateServer(t, port, dir) })
}
