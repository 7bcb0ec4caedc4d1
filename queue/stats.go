package queue

import "time"

// Stats is a point-in-time count of tasks per queue and state.
type Stats struct {
	Position  uint64                   // log position the counts reflect
	Queues    map[string]map[State]int // queue -> state -> tasks (deleted tasks are not counted)
	Schedules int                      // active recurring schedules
	Waiting   int                      // DequeueWait calls waiting for a ready task (idle workers)
	// PausedQueues lists, sorted, the queues PauseQueue paused: no task is
	// leased from them until ResumeQueue.
	PausedQueues []string
	// HotTasks and ColdTasks say how the state holds the tasks it knows:
	// as full records (every task that has not ended) or as compact
	// records of ended tasks, decoded on lookup. Tasks removed by retention
	// are in neither.
	HotTasks, ColdTasks int
	// Compacted counts the ended tasks (and deleted schedules) that
	// compaction, retention's or Compact's, dropped from the state since
	// the engine opened; they are in no count above.
	Compacted int
}

// ClusterStatus says how a node (an engine, or the daemon a client talks
// to) shares its log, and which other processes share it.
type ClusterStatus struct {
	// Node names the engine (engine.WithWorkerID; by default host-pid).
	Node string `json:"node"`
	// Shared: the log takes conditional appends, so other engines may
	// append to it; the counters below move only then.
	Shared bool `json:"shared"`
	// Position is the log position the state reflects; Head the log's
	// head as this engine last learned it (Lag = Head - Position).
	Position uint64 `json:"position"`
	Head     uint64 `json:"head"`
	Lag      uint64 `json:"lag"`
	// Conflicts counts batches another writer beat to the log (their
	// commands were prepared again); CaughtUp the events folded in that
	// other writers appended; SyncedReads the reads that waited to reach
	// the head.
	Conflicts   uint64 `json:"conflicts"`
	CaughtUp    uint64 `json:"caught_up"`
	SyncedReads uint64 `json:"synced_reads"`
	// Nodes lists the engines whose presence record is live (this one
	// included), when the log keeps them (stores.Presence), ordered by
	// name. Every node writes; none leads.
	Nodes []NodeInfo `json:"nodes"`
	// NodesErr says why Nodes could not be read (empty: it was).
	NodesErr string `json:"nodes_error,omitempty"`
}

// NodeInfo is one node's presence record.
type NodeInfo struct {
	Node      string    `json:"node"`
	Addr      string    `json:"addr,omitempty"` // where the node serves (engine.WithNodeAddr)
	Position  uint64    `json:"position"`       // the log position its state reflected
	Lag       uint64    `json:"lag"`            // how far that is behind the newest head known
	Conflicts uint64    `json:"conflicts"`      // its batches another writer beat to the log
	Started   time.Time `json:"started"`        // when it opened the log
	Seen      time.Time `json:"seen"`           // when it wrote the record (its clock)
	Self      bool      `json:"self,omitempty"` // this engine
}
