package events

import (
	"crypto/rand"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// Event is one immutable fact in the log.
type Event struct {
	// Position is the event's place in the log, assigned by the store on append
	// (1 for the first event; gap-free, strictly increasing). Zero before append.
	Position uint64
	// ID is unique per event and sortable by creation time.
	ID ulid.ULID
	// Version is the schema version of the payload (see Payload.SchemaVersion).
	Version uint8
	// TaskID names the task or schedule the event is about.
	TaskID string
	// Time is when the engine decided the event, in UTC with nanosecond precision.
	Time time.Time
	// Payload is the typed body; its Type() is the event's type.
	Payload Payload
}

// Type returns the event's type, taken from its payload.
func (e Event) Type() Type {
	if e.Payload == nil {
		return 0
	}
	return e.Payload.Type()
}

// New builds an event for taskID at time t with payload p and a fresh ID.
// It is safe for concurrent use.
func New(taskID string, t time.Time, p Payload) Event {
	return Event{ID: NewID(t), Version: p.SchemaVersion(), TaskID: taskID, Time: t.UTC(), Payload: p}
}

var (
	entropyMu sync.Mutex
	entropy   io.Reader = ulid.Monotonic(rand.Reader, 0)
)

// NewID returns a new ULID for time t. IDs made in one process are strictly
// increasing for non-decreasing t. It is safe for concurrent use.
func NewID(t time.Time) ulid.ULID {
	entropyMu.Lock()
	defer entropyMu.Unlock()
	id, err := ulid.New(ulid.Timestamp(t), entropy)
	if err != nil {
		// The monotonic reader only fails when 80 bits of entropy overflow within
		// one millisecond; start a fresh sequence rather than fail the caller.
		entropy = ulid.Monotonic(rand.Reader, 0)
		id = ulid.MustNew(ulid.Timestamp(t), entropy)
	}
	return id
}

// String renders the event in one line for logs and error messages.
func (e Event) String() string {
	return fmt.Sprintf("#%d %s task=%s at=%s", e.Position, e.Type(), e.TaskID, e.Time.Format(time.RFC3339Nano))
}
