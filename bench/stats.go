package bench

import (
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Latency summarises a set of durations, in milliseconds.
type Latency struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
	// Negative counts samples below zero (a clock step), kept in the
	// percentiles as they are.
	Negative int `json:"negative,omitempty"`
}

// maxSamples bounds the durations a samples keeps: a long continuous run
// starts tens of millions of tasks, and keeping every start latency would
// grow the benchmark's own memory by 8 bytes a task, which the run's memory
// curve would then show as the engine's.
const maxSamples = 1 << 20

// samples collects durations from many goroutines: every one while there
// are at most maxSamples, then a uniform sample of them (reservoir
// sampling), with the count, the largest and the negative ones exact.
type samples struct {
	mu       sync.Mutex
	all      []time.Duration
	seen     int
	max      time.Duration
	negative int
	rng      *rand.Rand
}

func (s *samples) add(batch []time.Duration) {
	if len(batch) == 0 {
		return
	}
	s.mu.Lock()
	for _, d := range batch {
		s.keep(d)
	}
	s.mu.Unlock()
}

func (s *samples) add1(d time.Duration) {
	s.mu.Lock()
	s.keep(d)
	s.mu.Unlock()
}

// keep adds d (Algorithm R). REQUIRES: s.mu held.
func (s *samples) keep(d time.Duration) {
	s.seen++
	if s.seen == 1 || d > s.max {
		s.max = d
	}
	if d < 0 {
		s.negative++
	}
	if len(s.all) < maxSamples {
		s.all = append(s.all, d)
		return
	}
	if s.rng == nil {
		s.rng = rand.New(rand.NewPCG(1, 2))
	}
	if j := s.rng.IntN(s.seen); j < maxSamples {
		s.all[j] = d
	}
}

func (s *samples) summary() Latency {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := summarize(s.all)
	if s.seen > len(s.all) {
		l.Count, l.Max, l.Negative = s.seen, ms(s.max), s.negative
	}
	return l
}

// summarize sorts d in place and returns its percentiles (nearest rank).
func summarize(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	slices.Sort(d)
	at := func(q float64) float64 {
		i := int(q*float64(len(d))+0.5) - 1
		i = min(max(i, 0), len(d)-1)
		return ms(d[i])
	}
	l := Latency{Count: len(d), P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: ms(d[len(d)-1])}
	for _, v := range d {
		if v >= 0 {
			break
		}
		l.Negative++
	}
	return l
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// rate is n per second over d (0 when d is not positive).
func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}
