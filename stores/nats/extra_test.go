package nats_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	natsgo "github.com/nats-io/nats.go"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/nats"
	"github.com/omniq/omniq/stores/storetest"
)

func TestOpenRejectsBadOptions(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"", "a.b", "a*", "a>", "with space", "ünicode", string(make([]byte, 65))} {
		if l, err := nats.Open(ctx, []string{"nats://127.0.0.1:1"}, nats.WithName(name)); err == nil {
			l.Close()
			t.Errorf("Open(name %q) succeeded", name)
		}
	}
	if l, err := nats.Open(ctx, []string{"nats://127.0.0.1:1"}, nats.WithReplicas(0)); err == nil {
		l.Close()
		t.Error("Open with 0 replicas succeeded")
	}
}

func TestOpenUnreachable(t *testing.T) {
	// Port 1 on loopback: nothing listens there, the dial is refused at once.
	_, err := nats.Open(context.Background(), []string{"nats://127.0.0.1:1"})
	if !errors.Is(err, stores.ErrUnavailable) {
		t.Fatalf("open on a closed port: %v, want ErrUnavailable", err)
	}
}

func appendUneven(t *testing.T, l stores.Log, batches int, seed uint64) []events.Event {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 2))
	var all []events.Event
	for i := 0; i < batches; i++ {
		b := make([]events.Event, 1+rng.IntN(6))
		for j := range b {
			b[j] = storetest.Event(fmt.Sprintf("w%d-%d", i, j), j+1)
		}
		if _, err := l.Append(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

func checkWindow(t *testing.T, l stores.Log, all []events.Event, from uint64, n int) {
	t.Helper()
	got, err := l.Read(context.Background(), from, n)
	if err != nil {
		t.Fatalf("read(%d, %d): %v", from, n, err)
	}
	start := max(from, 1)
	want := 0
	if start <= uint64(len(all)) {
		want = min(n, len(all)-int(start)+1)
	}
	if len(got) != want {
		t.Fatalf("read(%d, %d) returned %d events, want %d", from, n, len(got), want)
	}
	for i, e := range got {
		p := start + uint64(i)
		if e.Position != p || e.TaskID != all[p-1].TaskID {
			t.Fatalf("read(%d, %d)[%d] = %s at %d, want %s at %d", from, n, i, e.TaskID, e.Position, all[p-1].TaskID, p)
		}
	}
}

// TestLocateColdHandle makes each read come from a handle that knows nothing
// of the log, so the message holding the position is found by search alone.
func TestLocateColdHandle(t *testing.T) {
	name := storetest.UniqueName("cold")
	w := open(t, name)
	all := appendUneven(t, w, 120, 7)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 30; i++ {
		r := open(t, name)
		from := 1 + uint64(rng.IntN(len(all)))
		checkWindow(t, r, all, from, 1+rng.IntN(40))
		r.Close()
	}
}

func TestCorruptMessage(t *testing.T) {
	name := storetest.UniqueName("bad")
	l := open(t, name)
	ctx := context.Background()
	if _, err := l.Append(ctx, []events.Event{storetest.Event("ok", 1)}); err != nil {
		t.Fatal(err)
	}
	// Behind the log's back: a message at position 2 whose batch is garbage.
	js := jetStream(t)
	m := natsgo.NewMsg("omniq." + sanitize(name) + ".log")
	m.Header.Set("Omniq-First", "2")
	m.Header.Set("Omniq-Count", "1")
	m.Data = []byte("garbage")
	if _, err := js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	if got, err := l.Read(ctx, 1, 1); err != nil || len(got) != 1 {
		t.Fatalf("read before the bad message = %d events, %v", len(got), err)
	}
	if _, err := l.Read(ctx, 1, 10); !errors.Is(err, stores.ErrCorrupt) {
		t.Fatalf("read across the bad message: %v, want ErrCorrupt", err)
	}
	// A message without position headers.
	if _, err := js.Publish(ctx, "omniq."+sanitize(name)+".log", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Head(ctx); !errors.Is(err, stores.ErrCorrupt) {
		t.Fatalf("head on a message without headers: %v, want ErrCorrupt", err)
	}
}

func TestWaitCancel(t *testing.T) {
	storetest.WaitCancel(t, open(t, storetest.UniqueName("cancel")))
}
