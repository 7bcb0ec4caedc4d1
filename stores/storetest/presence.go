package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omniq/omniq/stores"
)

// clockSlack is how far a backend's expiry may stray from the test's clock:
// test servers run on the test's host, so the clocks are one.
const clockSlack = 100 * time.Millisecond

// presence opens the log called name and returns it as a stores.Presence,
// or skips the test. The log is closed when the test ends.
func (h Harness) presence(t *testing.T, name string) stores.Presence {
	t.Helper()
	l := h.Open(t, name)
	t.Cleanup(func() { _ = l.Close() })
	p, ok := l.(stores.Presence)
	if !ok {
		t.Skipf("%T does not implement stores.Presence", l)
	}
	return p
}

// presencePair opens two handles on one fresh log, as two processes would
// have them; without h.Shared, both are the one handle.
func (h Harness) presencePair(t *testing.T) (a, b stores.Presence, name string) {
	t.Helper()
	name = freshName(t)
	a = h.presence(t, name)
	b = a
	if h.Shared {
		b = h.presence(t, name)
	}
	return a, b, name
}

func mustAnnounce(t testing.TB, p stores.Presence, node string, info []byte, ttl time.Duration) {
	t.Helper()
	if err := p.Announce(context.Background(), node, info, ttl); err != nil {
		t.Fatalf("announce %s: %v", node, err)
	}
}

func mustMembers(t testing.TB, p stores.Presence) []stores.Member {
	t.Helper()
	ms, err := p.Members(context.Background())
	if err != nil {
		t.Fatalf("members: %v", err)
	}
	return ms
}

// nodesOf returns the node names of ms, in order.
func nodesOf(ms []stores.Member) []string {
	return mapped(ms, func(m stores.Member) string { return m.Node })
}

// checkNodes fails unless p lists exactly nodes, in that order.
func checkNodes(t testing.TB, p stores.Presence, nodes ...string) []stores.Member {
	t.Helper()
	ms := mustMembers(t, p)
	if got := nodesOf(ms); !slices.Equal(got, nodes) {
		t.Fatalf("members %q, want %q", got, nodes)
	}
	return ms
}

// RunPresence checks stores.Presence: records announced through one handle
// are listed through another (when h.Shared), in node order, with their
// info; announcing again replaces a record; Leave removes one; records expire
// after their ttl by the backend's clock; logs of different names keep
// separate records; bad arguments and calls after Close are refused.
// Backends whose logs are not stores.Presence skip it.
func RunPresence(t *testing.T, h Harness) {
	ctx := context.Background()

	t.Run("ListedInOrder", func(t *testing.T) {
		a, b, _ := h.presencePair(t)
		checkNodes(t, a)
		const ttl = time.Minute
		start := time.Now()
		mustAnnounce(t, a, "host-b", []byte("info of b"), ttl)
		mustAnnounce(t, b, "10.0.0.7:4000", []byte{0, 1, 2, 0xff}, ttl)
		mustAnnounce(t, a, "..x:", nil, ttl)
		end := time.Now()
		want := map[string][]byte{"host-b": []byte("info of b"), "10.0.0.7:4000": {0, 1, 2, 0xff}, "..x:": nil}
		for _, p := range []stores.Presence{a, b} {
			ms := checkNodes(t, p, "..x:", "10.0.0.7:4000", "host-b")
			for _, m := range ms {
				if !bytes.Equal(m.Info, want[m.Node]) {
					t.Errorf("node %s: info %q, want %q", m.Node, m.Info, want[m.Node])
				}
				if m.Expires.Before(start.Add(ttl-clockSlack)) || m.Expires.After(end.Add(ttl+clockSlack)) {
					t.Errorf("node %s expires at %v, want %v after the announce (%v to %v)", m.Node, m.Expires, ttl, start, end)
				}
			}
		}
	})

	t.Run("AnnounceReplaces", func(t *testing.T) {
		a, b, _ := h.presencePair(t)
		mustAnnounce(t, a, "n1", []byte("first"), 10*time.Second)
		mustAnnounce(t, a, "n2", []byte("other"), time.Minute)
		first := checkNodes(t, b, "n1", "n2")[0].Expires
		mustAnnounce(t, b, "n1", []byte("second"), time.Minute)
		for _, p := range []stores.Presence{a, b} {
			ms := checkNodes(t, p, "n1", "n2")
			if string(ms[0].Info) != "second" || string(ms[1].Info) != "other" {
				t.Fatalf("infos %q, %q after re-announcing n1; want second, other", ms[0].Info, ms[1].Info)
			}
			if !ms[0].Expires.After(first.Add(40 * time.Second)) {
				t.Fatalf("n1 expires at %v after re-announcing for a minute, was %v", ms[0].Expires, first)
			}
		}
	})

	t.Run("Leave", func(t *testing.T) {
		a, b, _ := h.presencePair(t)
		if err := a.Leave(ctx, "never-announced"); err != nil {
			t.Fatalf("leave before any announce: %v", err)
		}
		mustAnnounce(t, a, "n1", []byte("1"), time.Minute)
		mustAnnounce(t, b, "n2", []byte("2"), time.Minute)
		mustAnnounce(t, a, "n3", []byte("3"), time.Minute)
		if err := b.Leave(ctx, "n1"); err != nil {
			t.Fatalf("leave n1: %v", err)
		}
		checkNodes(t, a, "n2", "n3")
		for _, node := range []string{"n1", "never-announced"} {
			if err := a.Leave(ctx, node); err != nil {
				t.Fatalf("leave %s, which has no record: %v", node, err)
			}
		}
		checkNodes(t, b, "n2", "n3")
		mustAnnounce(t, a, "n1", []byte("back"), time.Minute)
		ms := checkNodes(t, b, "n1", "n2", "n3")
		if string(ms[0].Info) != "back" {
			t.Fatalf("n1 info %q after announcing again, want back", ms[0].Info)
		}
	})

	t.Run("Expiry", func(t *testing.T) {
		a, b, _ := h.presencePair(t)
		const ttl = 1500 * time.Millisecond
		start := time.Now()
		mustAnnounce(t, a, "short", []byte("s"), ttl)
		mustAnnounce(t, b, "long", []byte("l"), time.Minute)
		ms, since := mustMembers(t, b), time.Since(start)
		if since < ttl-clockSlack && !slices.Equal(nodesOf(ms), []string{"long", "short"}) {
			t.Fatalf("members %q %v after announcing, want long and short", nodesOf(ms), since)
		}
		deadline := start.Add(ttl + 5*time.Second)
		for {
			began := time.Now()
			ms := mustMembers(t, a)
			if !slices.Contains(nodesOf(ms), "short") {
				if early := began.Sub(start); early < ttl-clockSlack {
					t.Fatalf("record with ttl %v gone from a Members call begun %v after it was announced", ttl, early)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("record with ttl %v still listed %v after it was announced", ttl, time.Since(start))
			}
			time.Sleep(50 * time.Millisecond)
		}
		checkNodes(t, a, "long")
		checkNodes(t, b, "long")
		// An expired record can be announced again.
		mustAnnounce(t, b, "short", []byte("again"), time.Minute)
		ms = checkNodes(t, a, "long", "short")
		if string(ms[1].Info) != "again" {
			t.Fatalf("info %q after announcing an expired node again, want again", ms[1].Info)
		}
	})

	t.Run("SeparateLogs", func(t *testing.T) {
		x := h.presence(t, freshName(t))
		y := h.presence(t, freshName(t))
		mustAnnounce(t, x, "n1", []byte("x"), time.Minute)
		mustAnnounce(t, y, "n2", []byte("y"), time.Minute)
		mustAnnounce(t, y, "shared-name", []byte("y"), time.Minute)
		mustAnnounce(t, x, "shared-name", []byte("x"), time.Minute)
		for _, c := range []struct {
			p     stores.Presence
			nodes []string
			info  string
		}{{x, []string{"n1", "shared-name"}, "x"}, {y, []string{"n2", "shared-name"}, "y"}} {
			for _, m := range checkNodes(t, c.p, c.nodes...) {
				if string(m.Info) != c.info {
					t.Fatalf("node %s has info %q, want %q", m.Node, m.Info, c.info)
				}
			}
		}
		if err := y.Leave(ctx, "n1"); err != nil {
			t.Fatal(err)
		}
		if err := y.Leave(ctx, "shared-name"); err != nil {
			t.Fatal(err)
		}
		checkNodes(t, x, "n1", "shared-name")
		checkNodes(t, y, "n2")
	})

	t.Run("Concurrent", func(t *testing.T) {
		a, b, _ := h.presencePair(t)
		const workers, each = 4, 5
		var wg sync.WaitGroup
		errs := make(chan error, 2*workers*each)
		var want []string
		for i, p := range []stores.Presence{a, b} {
			for w := range workers {
				var nodes []string
				for j := range each {
					nodes = append(nodes, fmt.Sprintf("h%d-w%d-n%d", i, w, j))
				}
				want = append(want, nodes...)
				wg.Go(func() {
					for _, n := range nodes {
						if err := p.Announce(ctx, n, []byte(n), time.Minute); err != nil {
							errs <- fmt.Errorf("announce %s: %w", n, err)
						}
					}
				})
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if t.Failed() {
			return
		}
		slices.Sort(want)
		for _, m := range checkNodes(t, a, want...) {
			if string(m.Info) != m.Node {
				t.Fatalf("node %s has info %q", m.Node, m.Info)
			}
		}
	})

	t.Run("Limits", func(t *testing.T) {
		a, b, _ := h.presencePair(t)
		longest := strings.Repeat("aZ09._:-", stores.MaxNodeLen/8)
		big := bytes.Repeat([]byte{0, 'x', 0xff, '\n'}, stores.MaxInfoLen/4)
		mustAnnounce(t, a, longest, big, time.Minute)
		mustAnnounce(t, a, "longest-ttl", nil, stores.MaxPresenceTTL)
		ms := checkNodes(t, b, longest, "longest-ttl")
		if !bytes.Equal(ms[0].Info, big) {
			t.Fatalf("info of %d bytes came back as %d bytes, or changed", len(big), len(ms[0].Info))
		}
		bad := []struct {
			node string
			info []byte
			ttl  time.Duration
		}{
			{"", nil, time.Minute},
			{"a b", nil, time.Minute},
			{"a/b", nil, time.Minute},
			{"a=b", nil, time.Minute},
			{"a*", nil, time.Minute},
			{"a>", nil, time.Minute},
			{"ünï", nil, time.Minute},
			{longest + "a", nil, time.Minute},
			{"n", make([]byte, stores.MaxInfoLen+1), time.Minute},
			{"n", nil, 0},
			{"n", nil, -time.Second},
			{"n", nil, 500 * time.Microsecond},
			{"n", nil, stores.MaxPresenceTTL + time.Second},
		}
		for _, c := range bad {
			if err := a.Announce(ctx, c.node, c.info, c.ttl); err == nil {
				t.Errorf("announce %q with %d bytes of info for %v succeeded", c.node, len(c.info), c.ttl)
			}
			if c.ttl == time.Minute && len(c.info) == 0 {
				if err := a.Leave(ctx, c.node); err == nil {
					t.Errorf("leave %q succeeded", c.node)
				}
			}
		}
		checkNodes(t, b, longest, "longest-ttl")
	})

	t.Run("AfterClose", func(t *testing.T) {
		l := h.Open(t, freshName(t))
		p, ok := l.(stores.Presence)
		if !ok {
			_ = l.Close()
			t.Skipf("%T does not implement stores.Presence", l)
		}
		mustAnnounce(t, p, "n1", nil, time.Minute)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if err := p.Announce(ctx, "n1", nil, time.Minute); !errors.Is(err, stores.ErrClosed) {
			t.Errorf("announce after close: %v, want ErrClosed", err)
		}
		if _, err := p.Members(ctx); !errors.Is(err, stores.ErrClosed) {
			t.Errorf("members after close: %v, want ErrClosed", err)
		}
		if err := p.Leave(ctx, "n1"); !errors.Is(err, stores.ErrClosed) {
			t.Errorf("leave after close: %v, want ErrClosed", err)
		}
	})

	t.Run("DropRemoves", func(t *testing.T) {
		if !h.Durable {
			t.Skip("the harness does not reopen a log by name")
		}
		name := freshName(t)
		l := h.Open(t, name)
		d, ok := l.(stores.Dropper)
		p, ok2 := l.(stores.Presence)
		if !ok || !ok2 {
			_ = l.Close()
			t.Skipf("%T does not implement both stores.Dropper and stores.Presence", l)
		}
		mustAnnounce(t, p, "n1", nil, time.Minute)
		if err := d.Drop(ctx); err != nil {
			t.Fatalf("drop: %v", err)
		}
		_ = l.Close()
		checkNodes(t, h.presence(t, name))
	})
}
