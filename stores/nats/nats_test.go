package nats_test

import (
	"context"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/omniq/omniq/events"
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

// open opens the log name on the test servers and deletes its streams, its
// bucket and its members bucket when the test ends.
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
		if err := js.DeleteKeyValue(ctx, nats.MembersBucket(name)); err != nil && !isNotFound(err) {
			t.Errorf("delete members bucket of %s: %v", name, err)
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

// largeEvent returns an event for task id whose argument is size bytes. From
// 1 MiB on (the server's default limit), a batch holding it is too large for
// a message, and its data goes into an object.
func largeEvent(id string, size int) events.Event {
	return events.New(id, time.Now(), &events.TaskEnqueued{Spec: events.TaskSpec{Func: "f", Queue: "default", Args: []any{strings.Repeat("x", size)}}})
}

// largeBatches lists the objects of large batches in the log's bucket.
func largeBatches(t *testing.T, js jetstream.JetStream, name string) []string {
	t.Helper()
	ctx := context.Background()
	obs, err := js.ObjectStore(ctx, nats.BucketName(sanitize(name)))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := obs.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range objs {
		if strings.HasPrefix(o.Name, "batch-") {
			out = append(out, o.Name)
		}
	}
	return out
}
