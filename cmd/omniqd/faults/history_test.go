package faults

import (
	"errors"
	"net/http"
	"sync"

	"github.com/omniq/omniq/client"
	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/projections"
)

// lease names one lease: a task and its attempt (the fencing token).
type lease struct {
	id      string
	attempt int
}

// enqueueOutcome is what the client learned about one task's enqueue.
type enqueueOutcome uint8

const (
	enqueueUnknown enqueueOutcome = iota // no definite answer: it may or may not be in the log
	enqueueAcked                         // the server answered 201
	enqueueWritten                       // a retry was refused as a duplicate: an earlier try was written
)

// verb is a lease-holder's answer.
type verb string

const (
	verbComplete  verb = "complete"
	verbFail      verb = "fail"
	verbHeartbeat verb = "heartbeat"
)

// answer is one complete, fail or heartbeat a worker sent, with its outcome.
type answer struct {
	lease
	verb verb
	// ok: the server answered success (possibly after retries of a request
	// whose earlier tries got no definite answer).
	ok bool
	// stale: refused with stale_lease.
	stale bool
	// retried: an earlier try got no definite answer (it may have been
	// applied, which would explain a stale refusal of the retry).
	retried bool
}

// staleTry is an answer the harness sent knowing its lease was no longer
// current; err is what it got (nil: it was accepted, a breach).
type staleTry struct {
	lease
	verb     verb
	why      string // "stalled" (lease expired) or "after <verb>" (lease ended by an answer)
	err      error
	definite bool // false: no definite answer within the retry budget
}

// history is the client-side record of one store's run. Safe for
// concurrent use.
type history struct {
	mu        sync.Mutex
	enqueued  map[string]enqueueOutcome
	leases    map[lease]bool // handed out to a client
	nLeases   int
	answers   []answer
	stale     []staleTry
	stalled   []lease  // leases held past their deadline by the stalling worker
	neverUp   []lease  // stalled leases that never stopped being current (checked)
	abandoned []lease  // leases dropped unanswered by workers that died with their node (cluster)
	starts    []uint64 // the log position each omniqd start replayed to
	transport int      // calls that got no answer (connection refused or reset, timeout)
	answer5xx int      // calls answered 5xx (a store down, omniqd starting or stopping)
	answer500 int      // of those, answered 500 internal (not 503 unavailable)
	acks      int      // enqueues acknowledged so far
	// ends: the terminal states the workload allows a task it enqueued
	// (absent: completed only).
	ends map[string][]projections.Status
	// deletes: tasks whose delete was acknowledged (or whose retried
	// delete found it deleted already).
	deletes []string
	// scheduleOps: acknowledged pauses, resumes and deletes of recurring
	// schedules.
	scheduleOps []scheduleOp
	// schedules: recurring schedules whose creation was acknowledged.
	schedules []string
}

// scheduleOp is an acknowledged change of a recurring schedule.
type scheduleOp struct {
	id string
	op events.Type // schedule.paused, schedule.resumed or schedule.deleted
}

func newHistory() *history {
	return &history{enqueued: map[string]enqueueOutcome{}, leases: map[lease]bool{}, ends: map[string][]projections.Status{}}
}

// expectEnd sets the terminal states allowed for task id.
func (h *history) expectEnd(id string, allowed ...projections.Status) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ends[id] = allowed
}

func (h *history) deleted(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.deletes = append(h.deletes, id)
}

func (h *history) scheduleChanged(id string, op events.Type) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if op == events.TypeScheduleCreated {
		h.schedules = append(h.schedules, id)
		return
	}
	h.scheduleOps = append(h.scheduleOps, scheduleOp{id, op})
}

func (h *history) enqueueTried(ids []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range ids {
		if _, ok := h.enqueued[id]; !ok {
			h.enqueued[id] = enqueueUnknown
		}
	}
}

func (h *history) enqueueDone(ids []string, o enqueueOutcome) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.acks++
	for _, id := range ids {
		h.enqueued[id] = o
	}
}

func (h *history) leased(tasks []*engine.Task) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, t := range tasks {
		h.leases[lease{t.ID, t.Attempt}] = true
		h.nLeases++
	}
}

// record appends v to the list *to of h, under h's lock.
func record[T any](h *history, to *[]T, v T) {
	h.mu.Lock()
	defer h.mu.Unlock()
	*to = append(*to, v)
}

func (h *history) answered(a answer) { record(h, &h.answers, a) }

func (h *history) staleTried(s staleTry) { record(h, &h.stale, s) }

func (h *history) stalledLease(l lease, expired bool) {
	if expired {
		record(h, &h.stalled, l)
	} else {
		record(h, &h.neverUp, l)
	}
}

// abandonedLease records a lease its worker dropped without an answer: it
// must run out and its task be handed out again.
func (h *history) abandonedLease(l lease) { record(h, &h.abandoned, l) }

func (h *history) started(pos uint64) { record(h, &h.starts, pos) }

// noAnswer counts a call that got no definite answer.
func (h *history) noAnswer(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var apiErr *client.Error
	if errors.As(err, &apiErr) {
		h.answer5xx++
		if apiErr.Status == 500 {
			h.answer500++
		}
	} else {
		h.transport++
	}
}

// acked returns how many enqueues were acknowledged so far.
func (h *history) acked() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.acks
}

// definite reports whether err is an answer the server decided: success or
// a 4xx. Transport errors and 5xx answers (a failing store, a restart, an
// engine closing) leave the outcome unknown; a 429 (omniqd --rate-limit,
// off here) changed nothing and is retried too.
func definite(err error) bool {
	if err == nil {
		return true
	}
	var apiErr *client.Error
	return errors.As(err, &apiErr) && apiErr.Status < 500 && apiErr.Status != http.StatusTooManyRequests
}
