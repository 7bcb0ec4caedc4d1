package wire

import "encoding/json"

// OutcomesRequest is the body of POST /v1/outcomes: the answers to many
// leases, recorded in one append, and optionally a request for the next
// leases, taken in the same append.
type OutcomesRequest struct {
	Outcomes []OutcomeSpec `json:"outcomes"`
	Lease    *LeaseSpec    `json:"lease,omitempty"`
}

// OutcomeSpec answers one lease: it completes the task with Result, or,
// when Error is present (even ""), fails the attempt with that message.
type OutcomeSpec struct {
	ID      string  `json:"id"`
	Attempt int     `json:"attempt"` // the lease being answered (required)
	Result  any     `json:"result,omitempty"`
	Error   *string `json:"error,omitempty"`
}

// LeaseSpec asks for up to N ready tasks of Queues (in order of
// preference), leased after the outcomes are recorded. With Wait and none
// ready, the server waits up to Wait (bounded by its own limit) for one.
type LeaseSpec struct {
	Queues []string `json:"queues,omitempty"` // default: ["default"]
	N      int      `json:"n"`
	Wait   Duration `json:"wait,omitzero"`
}

// OutcomesAnswer is the answer of POST /v1/outcomes: per outcome, in the
// order sent, the task's state once recorded or why it was refused; and the
// tasks newly leased.
type OutcomesAnswer struct {
	Outcomes []OutcomeAnswer `json:"outcomes"`
	Tasks    []Task          `json:"tasks"`
}

// OutcomeAnswer is what became of one outcome: State is the task's state
// after it (completed, waiting for a retry, failed, …) when recorded; Error says why it
// was not (stale_lease, not_found, invalid_argument, …), and nothing
// changed for that task.
type OutcomeAnswer struct {
	State string       `json:"state,omitempty"`
	Error *ErrorDetail `json:"error,omitempty"`
}

// marshalOutcomeSpecReflect is OutcomeSpec.MarshalJSON by encoding/json's
// reflection: the definition appendOutcomeSpec keeps to, and its slow path.
func marshalOutcomeSpecReflect(o OutcomeSpec) ([]byte, error) {
	type plain OutcomeSpec
	p := plain(o)
	p.Result = markFloats(p.Result)
	return json.Marshal(p)
}
