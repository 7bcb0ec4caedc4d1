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
)

func (k faultKind) String() string {
	switch k {
	case killOmniqd:
		return "kill omniqd"
	case killDuringStartup:
		return "kill omniqd, again while starting"
	case serverFault:
		return "server fault"
	}
	return fmt.Sprintf("fault(%d)", k)
}

// fault is one entry of a schedule.
type fault struct {
	At    time.Duration // from the start of the load
	Kind  faultKind
	Delay time.Duration // killDuringStartup: from the restart to the second kill
	Down  time.Duration // serverFault: how long the server stays down
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
