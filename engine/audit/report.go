package audit

import (
	"errors"
	"fmt"
)

// ErrBreach: Verify found at least one breach. Report.Err wraps it.
var ErrBreach = errors.New("audit: log breaks an invariant")

// Rule names an invariant Verify checks (see the package doc).
type Rule string

// The rules.
const (
	RulePositions           Rule = "positions"
	RuleDecode              Rule = "decode"
	RuleCompletedTwice      Rule = "completed_twice"
	RuleCompletedTwoLeases  Rule = "completed_two_leases"
	RuleUnendedLease        Rule = "unended_lease"
	RuleLeaseExpiredFollow  Rule = "lease_expired_follow_up"
	RuleScheduleFiredFollow Rule = "schedule_fired_follow_up"
	RuleImpossibleEvent     Rule = "impossible_event"
	RuleIgnoredEvent        Rule = "ignored_event" // only with Options.Strict
	RuleTerminalChanged     Rule = "terminal_changed"
	RuleExpiredBeforeTTL    Rule = "expired_before_ttl"
	RuleCancelCause         Rule = "cancel_cause"
	RuleSnapshotMismatch    Rule = "snapshot_mismatch"
	RuleCheckpointMismatch  Rule = "checkpoint_mismatch"
	RuleNondeterministic    Rule = "nondeterministic"
	RuleRetryNotEnded       Rule = "retry_not_ended"
	RuleLeasePausedQueue    Rule = "lease_paused_queue"
)

// Breach is one violation of a rule.
type Breach struct {
	Rule Rule `json:"rule"`
	// Position is the event that breaks the rule (for an unended lease, its
	// task.leased; for a snapshot, the position it covers); 0 when the
	// breach is not tied to one event.
	Position uint64 `json:"position,omitempty"`
	TaskID   string `json:"task_id,omitempty"`
	Message  string `json:"message"`
}

func (b Breach) String() string {
	s := string(b.Rule)
	if b.Position != 0 {
		s += fmt.Sprintf(" at #%d", b.Position)
	}
	if b.TaskID != "" {
		s += fmt.Sprintf(" task %s", b.TaskID)
	}
	return s + ": " + b.Message
}

// Warning counts the ignored events of one type that a race between writers
// explains (see the package doc).
type Warning struct {
	Type   string `json:"type"`   // the event type, e.g. "task.completed"
	Reason string `json:"reason"` // why a race explains it
	Count  uint64 `json:"count"`
	// First is the position of the first such event, Example what the
	// projection said about it.
	First   uint64 `json:"first"`
	TaskID  string `json:"task_id"`
	Example string `json:"example"`
}

// Warning reasons.
const (
	ReasonStaleLease       = "stale_lease"       // names a lease that is no longer current
	ReasonDuplicateLease   = "duplicate_lease"   // a second lease of the attempt that holds the task
	ReasonTaskMovedOn      = "task_moved_on"     // the task started, ended or was paused meanwhile
	ReasonDuplicateID      = "duplicate_id"      // the id was enqueued or scheduled before
	ReasonAlreadyDeleted   = "already_deleted"   // a second deletion
	ReasonScheduleInactive = "schedule_inactive" // the schedule was paused, resumed or deleted meanwhile
	ReasonCompacted        = "compacted"         // names a record a log.checkpoint left out
)

// SnapshotCheck says what Verify found beside the log.
type SnapshotCheck struct {
	Position uint64 `json:"position"`
	Bytes    int    `json:"bytes"`
	// Checked is false when the events up to Position could not be folded
	// (an earlier breach stopped the state checks).
	Checked bool `json:"checked"`
	Equal   bool `json:"equal"`
}

// Report is what Verify found. Its zero Breaches means the log keeps every
// invariant checked.
type Report struct {
	Head uint64 `json:"head"` // the log's head when Verify started
	// First is the log's first position: 1, or later for a log compacted
	// through stores.Truncater (the fold then starts at its first checkpoint).
	First       uint64 `json:"first"`
	Checkpoints int    `json:"checkpoints"` // log.checkpoint events read
	Events      uint64 `json:"events"`      // events read
	Applied     uint64 `json:"applied"`     // events the projection applied
	Ignored     uint64 `json:"ignored"`     // events the projection ignored
	// Types counts the events read per type.
	Types map[string]uint64 `json:"types"`
	// Breaches lists the breaches in the order found, at most
	// Options.MaxBreaches; BreachCount counts them all.
	Breaches    []Breach `json:"breaches"`
	BreachCount int      `json:"breach_count"`
	// Warnings counts ignored events a race explains, per type and reason,
	// ordered by first position.
	Warnings []Warning `json:"warnings"`
	// Snapshot is set when the log keeps a snapshot.
	Snapshot *SnapshotCheck `json:"snapshot,omitempty"`
	// StateStoppedAt is set when a gap or an unreadable event at that
	// position stopped the checks that need the state (every rule but
	// positions and decode): no replica can fold the events after it.
	StateStoppedAt uint64 `json:"state_stopped_at,omitempty"`
}

// OK reports whether no breach was found.
func (r *Report) OK() bool { return r.BreachCount == 0 }

// Err returns nil when r is OK, and otherwise an error wrapping ErrBreach
// that names the first breach.
func (r *Report) Err() error {
	if r.OK() {
		return nil
	}
	return fmt.Errorf("%w: %d breach(es), first: %s", ErrBreach, r.BreachCount, r.Breaches[0])
}

// Has reports whether r holds a breach of rule (among those listed).
func (r *Report) Has(rule Rule) bool {
	for _, b := range r.Breaches {
		if b.Rule == rule {
			return true
		}
	}
	return false
}
