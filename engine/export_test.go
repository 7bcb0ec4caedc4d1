package engine

import "time"

// WithCheckpointRuns makes a checkpoint batch larger than above bytes go in
// runs of at most run bytes of state (see runs.go), so that tests reach the
// path with small states.
func WithCheckpointRuns(above, run int) Option {
	return func(c *config) { c.runs = runSizes{above: above, run: run} }
}

// WithCompactHold sets the Hold of the log.compacting notices this engine
// appends before a checkpoint on a shared log (see compact_hold.go).
func WithCompactHold(d time.Duration) Option {
	return func(c *config) { c.compactHold = d }
}
