package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
)

// node is one engine of a run, on a store handle of its own, as one process
// of several sharing the log would hold it.
type node struct {
	name string
	log  stores.Log // its handle, closed after the engine
	e    *engine.Engine
	// producers and workers: this node's share of Config.Producers and
	// Config.Workers.
	producers, workers int
	appends            appendCounter // its engine's Observer
}

// appendCounter is a node engine's Observer: it counts the engine's
// appends to the store (conditional or not), the events they wrote and the
// time they took.
type appendCounter struct {
	appends, failed, events atomic.Uint64
	nanos                   atomic.Int64
}

func (c *appendCounter) Appended(events int, took time.Duration, err error) {
	c.appends.Add(1)
	c.nanos.Add(int64(took))
	if err != nil {
		c.failed.Add(1)
		return
	}
	c.events.Add(uint64(events))
}

func (*appendCounter) LeasesExpired(int)              {}
func (*appendCounter) Replayed(uint64, time.Duration) {}

// appendTotals are the nodes' appendCounters summed at one moment.
type appendTotals struct {
	appends, events uint64
	nanos           int64
}

func (r *runner) appendTotals() (t appendTotals) {
	for _, n := range r.nodes {
		t.appends += n.appends.appends.Load()
		t.events += n.appends.events.Load()
		t.nanos += n.appends.nanos.Load()
	}
	return t
}

// share is how many of n goroutines dealt round-robin over nodes land on
// node i (goroutine j runs on node j % nodes).
func share(n, nodes, i int) int {
	s := n / nodes
	if i < n%nodes {
		s++
	}
	return s
}

// nodeName is node i's worker ID: the engine's default (host-pid) and the
// node's index.
func nodeName(i int) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "bench"
	}
	return fmt.Sprintf("%s-%d-node%d", host, os.Getpid(), i)
}

// openNodes opens cfg.Nodes engines on t's log: node 0 on first (a handle
// already open), each other node on a handle it opens itself. Node i's
// engine gets opts, its worker ID and the option retention(i) returns (nil
// for none); its log is wrapped by wrapLog with crashed. On error, whatever
// was opened (first included) is closed.
func openNodes(ctx context.Context, cfg Config, t *target, first stores.Log, opts []engine.Option,
	retention func(i int) (engine.Option, error), crashed func() bool) (nodes []*node, err error) {
	defer func() {
		if err != nil {
			closeNodes(nodes)
			if len(nodes) == 0 {
				first.Close()
			}
		}
	}()
	for i := range cfg.Nodes {
		n := &node{name: nodeName(i), producers: share(cfg.Producers, cfg.Nodes, i), workers: share(cfg.Workers, cfg.Nodes, i)}
		nopts := append(opts[:len(opts):len(opts)], engine.WithWorkerID(n.name), engine.WithObserver(&n.appends))
		n.log = first
		if i > 0 {
			if n.log, err = t.open(ctx); err != nil {
				return nodes, fmt.Errorf("bench: open store for node %d: %w", i, err)
			}
		}
		ropt, err := retention(i)
		if err == nil {
			if ropt != nil {
				nopts = append(nopts, ropt)
			}
			err = n.open(ctx, nopts, crashed)
		}
		if err != nil {
			if i > 0 {
				n.log.Close()
			}
			return nodes, fmt.Errorf("bench: open engine (node %d): %w", i, err)
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

// open opens n's engine on n.log (wrapped by wrapLog) with opts.
func (n *node) open(ctx context.Context, opts []engine.Option, crashed func() bool) error {
	elog, err := wrapLog(n.log, crashed)
	if err != nil {
		return err
	}
	n.e, err = engine.Open(ctx, elog, opts...)
	return err
}

// closeNodes closes every engine, then every handle.
func closeNodes(nodes []*node) error {
	var errs []error
	for _, n := range nodes {
		if n.e != nil {
			errs = append(errs, n.e.Close())
		}
	}
	for _, n := range nodes {
		errs = append(errs, n.log.Close())
	}
	return errors.Join(errs...)
}

// sharedLog is what a store that several processes can share offers besides
// stores.Log: the conditional append, the tail and presence records.
type sharedLog interface {
	stores.Conditional
	stores.Tailer
	stores.Presence
}

// wrapLog returns what a node's engine is given for l: l itself when it
// keeps no snapshots, else a crashLog (see there) that also forwards the
// conditional append, the tail and presence records when l has them, so
// that the engine treats the log as shared exactly as it would without the
// harness in between.
func wrapLog(l stores.Log, crashed func() bool) (stores.Log, error) {
	ss, ok := l.(stores.SnapshotStore)
	if !ok {
		return l, nil
	}
	c := crashLog{Log: l, ss: ss, crashed: crashed}
	if _, ok := l.(stores.Conditional); !ok {
		return c, nil
	}
	sh, ok := l.(sharedLog)
	if !ok {
		return nil, errors.New("bench: the store takes conditional appends but cannot tail the log or keep presence records")
	}
	return sharedCrashLog{crashLog: c, sh: sh}, nil
}

// sharedCrashLog is a crashLog of a log several engines can share.
type sharedCrashLog struct {
	crashLog
	sh sharedLog
}

func (c sharedCrashLog) AppendAt(ctx context.Context, after uint64, batch []events.Event) (uint64, error) {
	return c.sh.AppendAt(ctx, after, batch)
}

func (c sharedCrashLog) Wait(ctx context.Context, after uint64) (uint64, error) {
	return c.sh.Wait(ctx, after)
}

func (c sharedCrashLog) Announce(ctx context.Context, node string, info []byte, ttl time.Duration) error {
	return c.sh.Announce(ctx, node, info, ttl)
}

func (c sharedCrashLog) Members(ctx context.Context) ([]stores.Member, error) {
	return c.sh.Members(ctx)
}

func (c sharedCrashLog) Leave(ctx context.Context, node string) error {
	return c.sh.Leave(ctx, node)
}

// settle waits until every node's state has reached the log's head, read
// after the call: what one node reports then counts every node's writes.
func (r *runner) settle(ctx context.Context) error {
	if len(r.nodes) == 1 {
		return nil
	}
	head, err := r.nodes[0].log.Head(ctx)
	if err != nil {
		return fmt.Errorf("bench: store head: %w", err)
	}
	deadline := time.Now().Add(time.Minute)
	for _, n := range r.nodes {
		for n.e.Position() < head {
			if time.Now().After(deadline) {
				return fmt.Errorf("bench: node %s stayed at position %d for a minute; the log's head is %d", n.name, n.e.Position(), head)
			}
			if err := pause(ctx, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// conflicts sums the nodes' batches that lost a conditional append.
func (r *runner) conflicts(ctx context.Context) uint64 {
	var n uint64
	for _, nd := range r.nodes {
		n += nd.e.ClusterCounters().Conflicts
	}
	return n
}

// NodeStats is what sharing the log cost one node over the whole run
// (engine.ClusterStatus), with its share of the producers and workers.
type NodeStats struct {
	Node      string `json:"node"`
	Producers int    `json:"producers"`
	Workers   int    `json:"workers"`
	// Position: where its state was at the end of the run (every node had
	// reached the log's head).
	Position uint64 `json:"position"`
	// Appends: the appends it made to the store (each batch it wrote, each
	// it lost, each that failed), and the events those that landed wrote.
	Appends        uint64 `json:"appends"`
	AppendedEvents uint64 `json:"appended_events"`
	// Conflicts: its batches another node beat to the log (prepared again);
	// CaughtUp: events other nodes wrote that it folded in; SyncedReads:
	// reads (Stats and the like) that waited for its state to reach the head.
	Conflicts   uint64 `json:"conflicts"`
	CaughtUp    uint64 `json:"caught_up_events"`
	SyncedReads uint64 `json:"synced_reads"`
}

// nodeStats reads every node's counters (call after settle).
func (r *runner) nodeStats(ctx context.Context) (shared bool, out []NodeStats) {
	for _, n := range r.nodes {
		cs, _ := n.e.Cluster(ctx) // does not fail: NodesErr says why nodes are missing
		shared = shared || cs.Shared
		out = append(out, NodeStats{
			Node: n.name, Producers: n.producers, Workers: n.workers, Position: cs.Position,
			Appends: n.appends.appends.Load(), AppendedEvents: n.appends.events.Load(),
			Conflicts: cs.Conflicts, CaughtUp: cs.CaughtUp, SyncedReads: cs.SyncedReads,
		})
	}
	return shared, out
}
