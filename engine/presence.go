package engine

import (
	"context"
	"encoding/json"
	"time"

	"github.com/omniq/omniq/stores"
)

// Presence: on a shared log that keeps presence records (stores.Presence),
// each engine refreshes its record every announceEvery and the record lives
// presenceTTL, so a node that dies or pauses leaves the list within
// presenceTTL. The records only inform (GET /v1/cluster, the dashboard):
// no decision of the engine reads them.
const (
	announceEvery = time.Second
	presenceTTL   = 5 * time.Second
)

// WithNodeAddr sets the address this engine's node serves at (omniqd's
// listen URL), shown to the other nodes in its presence record.
func WithNodeAddr(addr string) Option {
	return func(c *config) { c.nodeAddr = addr }
}

// nodeInfo is this engine's record as of now.
func (e *Engine) nodeInfo() NodeInfo {
	return NodeInfo{
		Node:      e.cfg.workerID,
		Addr:      e.cfg.nodeAddr,
		Position:  e.Position(),
		Conflicts: e.cluster.conflicts.Load(),
		Started:   e.started,
		Seen:      time.Now().UTC(),
	}
}

// members reads the live presence records.
func (e *Engine) members(ctx context.Context, p stores.Presence) ([]NodeInfo, error) {
	ms, err := p.Members(ctx)
	if err != nil {
		return []NodeInfo{}, err
	}
	out := make([]NodeInfo, 0, len(ms))
	for _, m := range ms {
		var n NodeInfo
		if json.Unmarshal(m.Info, &n) != nil {
			n = NodeInfo{}
		}
		n.Node = m.Node
		out = append(out, n)
	}
	return out, nil
}

// presenceLoop keeps this engine's record live until Close, which removes it.
func (e *Engine) presenceLoop(p stores.Presence) {
	defer e.done.Done()
	t := time.NewTicker(announceEvery)
	defer t.Stop()
	failing := false
	for {
		info, _ := json.Marshal(e.nodeInfo())
		ctx, cancel := context.WithTimeout(context.Background(), presenceTTL)
		err := p.Announce(ctx, e.cfg.workerID, info, presenceTTL)
		cancel()
		if err != nil && !failing {
			e.cfg.logger.Warn("presence record not written (the cluster view will miss this node)", "err", err)
		}
		failing = err != nil
		select {
		case <-e.quit:
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = p.Leave(ctx, e.cfg.workerID)
			cancel()
			return
		case <-t.C:
		}
	}
}
