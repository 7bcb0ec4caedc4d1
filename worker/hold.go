package worker

import (
	"context"
	"errors"
	"time"

	"github.com/omniq/omniq/queue"
)

// Tasks held ahead of a free slot keep their leases.
//
// INVARIANT: a held task is run only on a lease the pool has no reason to
// think lost, and while the source answers, its lease never runs out while
// it is held:
//   - once it has waited holdBeat of its lease (counted on the local clock
//     from when the request that leased it left, so never later than the
//     source counts it), its lease is extended by a heartbeat, together
//     with every other held task that has waited half as long: one
//     HeartbeatBatch request for them all, at most one in flight. The
//     extension restarts the count from when that request left;
//   - a held task whose heartbeat is refused as stale (or whose task is
//     gone) is dropped, never run: its lease is lost, another worker may
//     run it;
//   - a heartbeat that fails otherwise is tried again after beatRetry of
//     the lease; a held task whose deadline passes (heartbeats failing all
//     along) is dropped, never run;
//   - a held task does not start while its heartbeat is in flight: its
//     lease is being renewed, and Run reads the lease from the task and
//     sent (the client's handler deadline). The slot waits for the answer;
//   - a task a long poll answered more than beatRetry of its lease after
//     the poll left may have been leased any time in between, so the
//     poll's departure says little of its lease: it is held, slot or not,
//     and heartbeated at once, and runs only once that heartbeat has
//     renewed its lease from a known departure (confirm).
//
// A task whose lease length is not known (no LeaseDeadline or UpdatedAt)
// is held without heartbeats.
const (
	holdBeat  = 3  // a held task is heartbeated after 1/holdBeat of its lease
	beatRetry = 10 // a failed heartbeat is tried again after 1/beatRetry of the lease
)

// beatReply is the answer to one heartbeat request for held tasks.
type beatReply struct {
	held  []*queue.Task // the held tasks, as the pool holds them
	sent  []*queue.Task // the copies the request extended
	sentT time.Time
	errs  []error
	err   error
}

// hold holds task, leased by a request that left at sent, for the next
// free slot.
func (p *pool) hold(task *queue.Task, sent time.Time) {
	h := held{task: task}
	p.renew(&h, sent)
	p.held = append(p.held, h)
	if !h.due.IsZero() {
		p.arm(h.due)
	}
}

// leasedLate reports whether task, leased by a long poll that left at
// sent, may have been leased so long after sent (a tenth of its lease) that
// counting its lease from sent would cut it short.
func (p *pool) leasedLate(task *queue.Task, sent time.Time) bool {
	if task.LeaseDeadline.IsZero() || task.UpdatedAt.IsZero() {
		return false
	}
	lease := task.LeaseDeadline.Sub(task.UpdatedAt)
	return lease > 0 && time.Since(sent) > lease/beatRetry
}

// confirm holds task, leased by a long poll that waited, until a heartbeat
// renews its lease from a known departure: sent at once.
func (p *pool) confirm(task *queue.Task) {
	now := time.Now()
	h := held{task: task, confirm: true}
	p.renew(&h, now) // the lease was granted before now: it ends by now+lease
	h.due = now      // heartbeat at once
	p.held = append(p.held, h)
	p.beat() // unless one is in flight: beaten calls beat again
}

// renew sets h's lease as task says, extended by a request that left at
// sent.
func (p *pool) renew(h *held, sent time.Time) {
	h.sent = sent
	h.lease = 0
	h.deadline, h.due = time.Time{}, time.Time{}
	t := h.task
	if t.LeaseDeadline.IsZero() || t.UpdatedAt.IsZero() {
		return
	}
	if lease := t.LeaseDeadline.Sub(t.UpdatedAt); lease > 0 {
		h.lease = lease
		h.deadline = sent.Add(lease)
		h.due = sent.Add(lease / holdBeat)
	}
}

// fill gives free slots to held tasks, longest held first, except those
// whose heartbeat is in flight; a held task whose lease ran out is dropped.
func (p *pool) fill() {
	var now time.Time
	for i := 0; p.running < p.n && i < len(p.held); {
		h := p.held[i]
		if h.beating || h.confirm {
			i++
			continue
		}
		if i == 0 {
			p.held = p.held[1:]
		} else {
			p.held = append(p.held[:i], p.held[i+1:]...)
		}
		if !h.deadline.IsZero() {
			if now.IsZero() {
				now = time.Now()
			}
			if !now.Before(h.deadline) {
				p.drop(h, errLeaseRanOut)
				continue
			}
		}
		p.launch(h.task, h.sent)
	}
}

// errLeaseRanOut: a held task's lease ended before it got a slot.
var errLeaseRanOut = errors.New("its lease ran out while it waited for a slot")

func (p *pool) drop(h held, why error) {
	p.cfg.Logger.Warn("omniq worker: dropped a task held for a slot: its lease is lost, it is not run",
		"task", h.task.ID, "attempt", h.task.Attempt, "err", why)
}

// arm makes the heartbeat timer fire at at, unless it fires sooner.
func (p *pool) arm(at time.Time) {
	if p.beatC != nil && !at.Before(p.beatAt) {
		return
	}
	d := time.Until(at)
	if p.beatTimer == nil {
		p.beatTimer = time.NewTimer(d)
	} else {
		p.beatTimer.Reset(d)
	}
	p.beatAt, p.beatC = at, p.beatTimer.C
}

// beat drops held tasks whose lease ran out, sends one heartbeat request
// for those due (unless one is in flight), and arms the timer for the next.
func (p *pool) beat() {
	if p.beating {
		return // beaten calls beat again
	}
	now := time.Now()
	// Tasks due within half their holdBeat join a request only when one is
	// due now: a heartbeat retried after beatRetry waits for it.
	anyDue := false
	for _, h := range p.held {
		if !h.due.IsZero() && !h.due.After(now) {
			anyDue = true
			break
		}
	}
	var next time.Time
	var tasks, copies []*queue.Task
	timeout := time.Duration(0)
	keep := p.held[:0]
	for _, h := range p.held {
		if !h.deadline.IsZero() && !now.Before(h.deadline) {
			p.drop(h, errLeaseRanOut)
			continue
		}
		if anyDue && !h.due.IsZero() && h.due.Sub(now) <= h.lease/(2*holdBeat) {
			h.beating = true
			c := *h.task // the request writes a copy, taken only once answered
			tasks, copies = append(tasks, h.task), append(copies, &c)
			left := h.deadline.Sub(now)
			if timeout == 0 || left < timeout {
				timeout = left
			}
		} else if !h.due.IsZero() && (next.IsZero() || h.due.Before(next)) {
			next = h.due
		}
		keep = append(keep, h)
	}
	clear(p.held[len(keep):])
	p.held = keep
	if !next.IsZero() {
		p.arm(next)
	}
	if len(tasks) == 0 {
		return
	}
	p.beating = true
	go func() {
		// A heartbeat answered after the leases it extends ran out is of
		// no use: the wait is bounded by the nearest deadline.
		ctx, cancel := context.WithTimeout(p.ctx, timeout)
		defer cancel()
		r := beatReply{held: tasks, sent: copies, sentT: time.Now()}
		r.errs, r.err = p.cfg.Source.HeartbeatBatch(ctx, copies)
		if r.err == nil && len(r.errs) != len(copies) {
			r.err = errors.New("heartbeat answered for a different number of tasks")
		}
		p.beats <- r
	}()
}

// beaten takes the answer to a heartbeat request: an extended lease renews
// its held task, a lost one drops it, a failure tries it again later.
func (p *pool) beaten(r beatReply) {
	p.beating = false
	now := time.Now()
	if r.err != nil {
		p.cfg.Logger.Warn("omniq worker: could not extend the leases of tasks held for a slot, retrying",
			"tasks", len(r.held), "err", r.err)
	}
	for k, t := range r.held {
		i := 0
		for i < len(p.held) && p.held[i].task != t {
			i++
		}
		if i == len(p.held) {
			continue // not held since (only a task whose heartbeat is answered can leave)
		}
		h := &p.held[i]
		h.beating = false
		var err error
		if r.err != nil {
			err = r.err
		} else {
			err = r.errs[k]
		}
		switch {
		case err == nil:
			*h.task = *r.sent[k]
			p.renew(h, r.sentT)
			h.confirm = false
		case r.err == nil && (errors.Is(err, queue.ErrStaleLease) || errors.Is(err, queue.ErrNotFound)):
			p.drop(*h, err)
			p.held = append(p.held[:i], p.held[i+1:]...)
		default:
			if r.err == nil {
				p.cfg.Logger.Warn("omniq worker: could not extend the lease of a task held for a slot, retrying",
					"task", t.ID, "attempt", t.Attempt, "err", err)
			}
			h.due = now.Add(h.lease / beatRetry)
		}
	}
	p.fill()
	p.beat()
}
