package faults

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"time"
)

// faultKind is one kind of injected fault.
type faultKind uint8

const (
	killOmniqd        faultKind = iota + 1 // SIGKILL of a ready omniqd, then a restart
	killDuringStartup                      // restart, SIGKILL again after Delay (often mid-replay), restart
	serverFault                            // kill -9 and restart of the store's server (postgres: terminate omniqd's backends, or restart)
	pauseNode                              // cluster: SIGSTOP of one node for Down (past the lease timeout), then SIGCONT
)

func (k faultKind) String() string {
	switch k {
	case killOmniqd:
		return "kill omniqd"
	case killDuringStartup:
		return "kill omniqd, again while starting"
	case serverFault:
		return "server fault"
	case pauseNode:
		return "pause node"
	}
	return fmt.Sprintf("fault(%d)", k)
}

// fault is one entry of a schedule.
type fault struct {
	At    time.Duration // from the start of the load
	Kind  faultKind
	Delay time.Duration // killDuringStartup: from the restart to the second kill
	Down  time.Duration // serverFault: how long the server stays down; cluster: how long the node stays down or paused
	// Cluster only. Busy: aim at a node that granted leases workers hold
	// now (when there is one), else at any. Abandon (kills): the workers
	// co-located with the node die with it, dropping the leases they hold
	// through it unanswered.
	Busy    bool
	Abandon bool
}

// rngFor returns the random source of one part of one store's run. The same
// seed gives the same stream for a store whichever stores run with it.
func rngFor(seed uint64, store, part string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(store + "/" + part))
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

// newSchedule draws the faults of one store's run: kills SIGKILLs of
// omniqd (about a quarter of the faults are two kills: the second while it
// starts again) and serverFaults faults of its server, at uniform moments
// of the middle 90% of d, in time order.
func newSchedule(seed uint64, store string, d time.Duration, kills, serverFaults int) []fault {
	rng := rngFor(seed, store, "schedule")
	at := func() time.Duration { return d/20 + time.Duration(rng.Int64N(int64(d*9/10)+1)) }
	var out []fault
	for left := kills; left > 0; left-- {
		f := fault{At: at(), Kind: killOmniqd}
		if left >= 2 && rng.IntN(4) == 0 {
			f.Kind, f.Delay = killDuringStartup, time.Duration(rng.Int64N(int64(400*time.Millisecond)))
			left--
		}
		out = append(out, f)
	}
	for range serverFaults {
		out = append(out, fault{At: at(), Kind: serverFault, Down: 500*time.Millisecond + time.Duration(rng.Int64N(int64(3*time.Second)))})
	}
	slices.SortStableFunc(out, func(a, b fault) int { return int(a.At - b.At) })
	return out
}

// killsPerStore spreads total kills over n stores, the first ones taking
// the remainder.
func killsPerStore(total, n, i int) int {
	k := total / n
	if i < total%n {
		k++
	}
	return k
}

// newClusterSchedule draws the faults of one store's cluster run, at
// uniform moments of the middle 90% of d, in time order: kills SIGKILLs of
// a node (about a quarter of them two kills, the second while it starts
// again), each down 1 to 3 s before its restart, half of them taking the
// node's co-located workers with it; pauses SIGSTOPs of a node for 1.2 to 2
// lease timeouts (so its workers' leases run out meanwhile), then SIGCONT;
// and serverFaults faults of the store's server. Half the kills and pauses
// aim at a node some worker holds a lease through.
func newClusterSchedule(seed uint64, store string, d time.Duration, kills, pauses, serverFaults int, lease time.Duration) []fault {
	rng := rngFor(seed, store, "cluster-schedule")
	at := func() time.Duration { return d/20 + time.Duration(rng.Int64N(int64(d*9/10)+1)) }
	var out []fault
	for left := kills; left > 0; left-- {
		f := fault{At: at(), Kind: killOmniqd, Down: time.Second + time.Duration(rng.Int64N(int64(2*time.Second))),
			Busy: rng.IntN(2) == 0, Abandon: rng.IntN(2) == 0}
		if left >= 2 && rng.IntN(4) == 0 {
			f.Kind, f.Delay = killDuringStartup, time.Duration(rng.Int64N(int64(400*time.Millisecond)))
			left--
		}
		out = append(out, f)
	}
	for range pauses {
		out = append(out, fault{At: at(), Kind: pauseNode, Down: lease*6/5 + time.Duration(rng.Int64N(int64(lease*4/5)+1)), Busy: rng.IntN(2) == 0})
	}
	for range serverFaults {
		out = append(out, fault{At: at(), Kind: serverFault, Down: 500*time.Millisecond + time.Duration(rng.Int64N(int64(3*time.Second)))})
	}
	slices.SortStableFunc(out, func(a, b fault) int { return int(a.At - b.At) })
	return out
}
