package bench

import (
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

// samples collects durations from many goroutines.
type samples struct {
	mu  sync.Mutex
	all []time.Duration
}

func (s *samples) add(batch []time.Duration) {
	if len(batch) == 0 {
		return
	}
	s.mu.Lock()
	s.all = append(s.all, batch...)
	s.mu.Unlock()
}

func (s *samples) add1(d time.Duration) {
	s.mu.Lock()
	s.all = append(s.all, d)
	s.mu.Unlock()
}

func (s *samples) summary() Latency {
	s.mu.Lock()
	defer s.mu.Unlock()
	return summarize(s.all)
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
