package engine_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/nats"
	"github.com/omniq/omniq/stores/postgres"
	"github.com/omniq/omniq/stores/redis"
)

// serverStores are the backends that need a server; each joins the engine
// suite when its variable is set, and is skipped with a message otherwise.
var serverStores = []struct {
	name, env string
	open      func(ctx context.Context, addr, logName string) (stores.Log, error)
}{
	{"postgres", "OMNIQ_TEST_POSTGRES", func(ctx context.Context, dsn, name string) (stores.Log, error) {
		return postgres.Open(ctx, dsn, postgres.WithName(name))
	}},
	{"redis", "OMNIQ_TEST_REDIS", func(ctx context.Context, url, name string) (stores.Log, error) {
		opts, err := redis.ParseURL(url)
		if err != nil {
			return nil, err
		}
		opts.Name = name
		return redis.Open(ctx, opts)
	}},
	{"nats", "OMNIQ_TEST_NATS", func(ctx context.Context, servers, name string) (stores.Log, error) {
		return nats.Open(ctx, strings.Split(servers, ","), nats.WithName(name))
	}},
}

var logSeq atomic.Int64

func allStoreCases() []storeCase {
	out := append([]storeCase(nil), storeCases...)
	for _, s := range serverStores {
		out = append(out, storeCase{s.name, func(t testing.TB) (stores.Log, func() stores.Log) {
			addr := os.Getenv(s.env)
			if addr == "" {
				t.Skipf("%s not set: skipping the engine suite on %s", s.env, s.name)
			}
			name := fmt.Sprintf("enginetest_%d_%d", time.Now().UnixNano()%1e9, logSeq.Add(1))
			ctx := context.Background()
			mustOpen := func() stores.Log {
				l, err := s.open(ctx, addr, name)
				if err != nil {
					t.Fatalf("open %s: %v", s.name, err)
				}
				return l
			}
			first := mustOpen()
			t.Cleanup(func() {
				l := mustOpen()
				defer l.Close()
				if err := l.(stores.Dropper).Drop(ctx); err != nil {
					t.Errorf("drop %s log %s: %v", s.name, name, err)
				}
			})
			return first, mustOpen
		}})
	}
	return out
}
