package engine

import "time"

// Observer receives the engine's measurements, for metrics. Methods are
// called from the engine's goroutines, must be safe for concurrent use, and
// must return quickly.
type Observer interface {
	// Appended: one batch append finished (err nil on success).
	Appended(events int, took time.Duration, err error)
	// LeasesExpired: n leases ran out without an answer.
	LeasesExpired(n int)
	// Replayed: Open rebuilt the state from the log (and a snapshot, if any).
	Replayed(events uint64, took time.Duration)
}

// WithObserver sets the engine's Observer (default: none).
func WithObserver(o Observer) Option {
	return func(c *config) {
		if o != nil {
			c.observer = o
		}
	}
}

type nopObserver struct{}

func (nopObserver) Appended(int, time.Duration, error) {}
func (nopObserver) LeasesExpired(int)                  {}
func (nopObserver) Replayed(uint64, time.Duration)     {}
