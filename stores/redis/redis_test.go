package redis_test

import (
	"context"
	"net"
	"os"
	"strconv"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/redis"
	"github.com/omniq/omniq/stores/storetest"
)

// serverOptions returns the test server from OMNIQ_TEST_REDIS, or skips.
func serverOptions(t testing.TB) redis.Options {
	t.Helper()
	raw := os.Getenv("OMNIQ_TEST_REDIS")
	if raw == "" {
		t.Skip("OMNIQ_TEST_REDIS not set: skipping Redis store tests")
	}
	o, err := redis.ParseURL(raw)
	if err != nil {
		t.Fatalf("OMNIQ_TEST_REDIS: %v", err)
	}
	return o
}

// rawClient is a plain go-redis client on the test server, for setup and
// cleanup behind the log's back.
func rawClient(t testing.TB, o redis.Options) *goredis.Client {
	t.Helper()
	host, port := o.Host, o.Port
	if host == "" {
		host = redis.DefaultHost
	}
	if port == 0 {
		port = redis.DefaultPort
	}
	c := goredis.NewClient(&goredis.Options{
		Addr: net.JoinHostPort(host, strconv.Itoa(port)), DB: o.DB,
		Username: o.Username, Password: o.Password, TLSConfig: o.TLS,
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// open opens the log name on the test server and deletes its keys, its
// presence keys included, when the test ends.
func open(t testing.TB, name string) *redis.Log {
	t.Helper()
	o := serverOptions(t)
	o.Name = name
	l, err := redis.Open(context.Background(), o)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	c := rawClient(t, o)
	t.Cleanup(func() {
		_ = l.Close()
		if err := c.Del(context.Background(), append(l.Keys(), l.PresenceKeys()...)...).Err(); err != nil {
			t.Errorf("delete keys of %s: %v", name, err)
		}
	})
	return l
}

func harness() storetest.Harness {
	return storetest.Harness{
		Open:    func(t testing.TB, name string) stores.Log { return open(t, name) },
		Durable: true, // a new client on the same server and name sees everything
		Shared:  true,
	}
}

func TestConformance(t *testing.T) { storetest.Run(t, harness()) }

func BenchmarkLog(b *testing.B) { storetest.Bench(b, harness()) }
