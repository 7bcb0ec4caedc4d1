package nats_test

import (
	"context"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/nats"
	"github.com/omniq/omniq/stores/storetest"
)

// testServers returns the servers from OMNIQ_TEST_NATS, or skips.
func testServers(t testing.TB) []string {
	t.Helper()
	raw := os.Getenv("OMNIQ_TEST_NATS")
	if raw == "" {
		t.Skip("OMNIQ_TEST_NATS not set: skipping NATS store tests")
	}
	return strings.Split(raw, ",")
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9_]+`)

// sanitize turns a suite log name into a valid one: lowercase letters, digits
// and underscores, at most 64 characters (keeping the unique prefix).
func sanitize(name string) string {
	n := unsafeChars.ReplaceAllString(strings.ToLower(name), "_")
	return n[:min(len(n), 64)]
}

// jetStream is a plain JetStream client on the test servers, for setup and
// cleanup behind the log's back.
func jetStream(t testing.TB) jetstream.JetStream {
	t.Helper()
	nc, err := natsgo.Connect(strings.Join(testServers(t), ","))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// open opens the log name on the test servers and deletes its streams when
// the test ends.
func open(t testing.TB, name string) *nats.Log {
	t.Helper()
	name = sanitize(name)
	servers := testServers(t)
	js := jetStream(t)
	l, err := nats.Open(context.Background(), servers, nats.WithName(name))
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = l.Close()
		ctx := context.Background()
		if err := js.DeleteStream(ctx, nats.StreamName(name)); err != nil && !isNotFound(err) {
			t.Errorf("delete stream of %s: %v", name, err)
		}
		if err := js.DeleteObjectStore(ctx, nats.BucketName(name)); err != nil && !isNotFound(err) {
			t.Errorf("delete bucket of %s: %v", name, err)
		}
	})
	return l
}

func isNotFound(err error) bool {
	return errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrBucketNotFound)
}

func harness() storetest.Harness {
	return storetest.Harness{
		Open:    func(t testing.TB, name string) stores.Log { return open(t, name) },
		Durable: true, // a new connection to the same stream sees everything
		Shared:  true,
	}
}

func TestConformance(t *testing.T) { storetest.Run(t, harness()) }

func BenchmarkLog(b *testing.B) { storetest.Bench(b, harness()) }
