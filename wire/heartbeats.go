package wire

import "time"

// MaxHeartbeats is the most leases one POST /v1/heartbeats may extend, so
// that a hostile request cannot make one append unbounded. A client with
// more sends several requests.
const MaxHeartbeats = 1000

// HeartbeatsRequest is the body of POST /v1/heartbeats: many leases,
// extended in one append.
type HeartbeatsRequest struct {
	Heartbeats []HeartbeatSpec `json:"heartbeats"` // required, 1 to MaxHeartbeats
}

// HeartbeatSpec names one lease to extend, as the body of
// POST /v1/tasks/{id}/heartbeat names it for the task of its path.
type HeartbeatSpec struct {
	ID      string `json:"id"`
	Attempt int    `json:"attempt"` // the lease to extend (required)
}

// HeartbeatsAnswer is the answer of POST /v1/heartbeats: per lease, in the
// order sent, what became of it.
type HeartbeatsAnswer struct {
	Heartbeats []HeartbeatAnswer `json:"heartbeats"`
}

// HeartbeatAnswer is what became of one heartbeat. When the lease was
// extended, LeaseDeadline is its new deadline and UpdatedAt the time of the
// heartbeat, both on the server's clock (their difference is the lease's
// length, which a client counts on its own clock); Error is nil. Otherwise
// Error says why not (stale_lease, not_found, …), as the single heartbeat
// would answer it, and nothing changed for that task.
type HeartbeatAnswer struct {
	LeaseDeadline time.Time    `json:"lease_deadline,omitzero"`
	UpdatedAt     time.Time    `json:"updated_at,omitzero"`
	Error         *ErrorDetail `json:"error,omitempty"`
}
