package memory

import (
	"context"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"weak"

	"github.com/omniq/omniq/stores"
)

var _ stores.Presence = (*Log)(nil)

// rosters holds each Log's presence records, by node, expiring by the local
// clock. A Log is a weak key: its records go when it is collected.
var rosters struct {
	mu sync.Mutex
	m  map[weak.Pointer[Log]]map[string]stores.Member // Lock: mu.
}

// roster returns l's records, creating them when create is set (else it may
// return nil). REQUIRES: rosters.mu held.
func (l *Log) roster(create bool) map[string]stores.Member {
	k := weak.Make(l)
	r := rosters.m[k]
	if r == nil && create {
		if rosters.m == nil {
			rosters.m = make(map[weak.Pointer[Log]]map[string]stores.Member)
		}
		r = make(map[string]stores.Member)
		rosters.m[k] = r
		runtime.AddCleanup(l, func(k weak.Pointer[Log]) {
			rosters.mu.Lock()
			delete(rosters.m, k)
			rosters.mu.Unlock()
		}, k)
	}
	return r
}

func (l *Log) isClosed() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.closed
}

// Announce implements stores.Presence.
func (l *Log) Announce(ctx context.Context, node string, info []byte, ttl time.Duration) error {
	if err := stores.CheckAnnounce(node, info, ttl); err != nil {
		return err
	}
	if l.isClosed() {
		return stores.ErrClosed
	}
	rosters.mu.Lock()
	defer rosters.mu.Unlock()
	l.roster(true)[node] = stores.Member{Node: node, Info: slices.Clone(info), Expires: time.Now().Add(ttl)}
	return nil
}

// Members implements stores.Presence. It forgets the expired records.
func (l *Log) Members(ctx context.Context) ([]stores.Member, error) {
	if l.isClosed() {
		return nil, stores.ErrClosed
	}
	now := time.Now()
	rosters.mu.Lock()
	r := l.roster(false)
	out := make([]stores.Member, 0, len(r))
	for node, m := range r {
		if !m.Expires.After(now) {
			delete(r, node)
			continue
		}
		m.Info = slices.Clone(m.Info)
		out = append(out, m)
	}
	rosters.mu.Unlock()
	slices.SortFunc(out, func(a, b stores.Member) int { return strings.Compare(a.Node, b.Node) })
	return out, nil
}

// Leave implements stores.Presence.
func (l *Log) Leave(ctx context.Context, node string) error {
	if err := stores.CheckNode(node); err != nil {
		return err
	}
	if l.isClosed() {
		return stores.ErrClosed
	}
	rosters.mu.Lock()
	defer rosters.mu.Unlock()
	delete(l.roster(false), node) // a no-op on a nil map
	return nil
}
