package engine

import (
	"context"
	"time"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/projections"
)

// maxDuePerTick bounds the events one timer pass stages; the rest follow in
// the next pass, at once.
const maxDuePerTick = 1024

// kickTimer tells the timer loop that the state changed and its next wake
// time may have moved.
func (e *Engine) kickTimer() {
	select {
	case e.timerKick <- struct{}{}:
	default:
	}
}

// timerLate reports whether the state's next deadline is earlier than the
// one the timer loop sleeps until, so the loop must be kicked. A deadline
// that moved later (a lease answered) needs no kick: the loop wakes early,
// finds nothing due and sleeps again, which is cheaper than re-arming after
// every batch. REQUIRES: e.mu held; the loop reads NextWake and stores
// timerArmed under e.mu too, so no earlier deadline slips between them.
func (e *Engine) timerLate() bool {
	wake := e.state.NextWake()
	if wake == 0 {
		return false
	}
	armed := events.Timestamp(e.timerArmed.Load())
	return armed == 0 || wake < armed
}

// due is a channel that always has a time to receive: a timer that has
// already fired.
var due = func() <-chan time.Time {
	ch := make(chan time.Time)
	close(ch)
	return ch
}()

// timerLoop sleeps until the state's next deadline (a delayed task becoming
// due, a lease or TTL running out, a schedule fire) and then acts on it.
func (e *Engine) timerLoop() {
	defer e.done.Done()
	for {
		e.mu.RLock()
		next := e.state.NextWake()
		e.timerArmed.Store(int64(next))
		e.mu.RUnlock()
		var timer Timer
		var fire <-chan time.Time
		if next != 0 {
			timer = e.cfg.clock.NewTimer(next.Time().Sub(e.now()))
			fire = timer.C()
			if !e.now().Before(next.Time()) {
				// The clock passed next while the timer was made (a
				// manual clock moved between reading it and arming):
				// the timer counts from the new time, so act now.
				timer.Stop()
				fire = due
			}
		}
		select {
		case <-e.quit:
			if timer != nil {
				timer.Stop()
			}
			return
		case <-e.timerKick:
			if timer != nil {
				timer.Stop()
			}
			continue
		case <-fire:
		}
		if more, err := e.RunDue(context.Background()); err != nil {
			e.cfg.logger.Warn("timer pass failed", "err", err)
			select { // back off briefly rather than spin on a failing log
			case <-time.After(100 * time.Millisecond):
			case <-e.quit:
				return
			}
		} else if more {
			e.kickTimer()
		}
	}
}

// RunDue acts on everything due at the clock's current time: it expires
// leases (a failed attempt, retried or failed), expires tasks past their TTL,
// fires due recurring schedules, and hands delayed tasks that became ready
// to waiting dequeues. The timer loop calls it; tests with a ManualClock may call it
// to act at once. It reports whether more was due than one pass handles.
func (e *Engine) RunDue(ctx context.Context) (more bool, err error) {
	expired := 0
	err = e.submit(ctx, func(tx *txn) error {
		more = false
		now := events.At(tx.now)
		// Delayed tasks that came due join their ready queues; the parked
		// dequeues this pass offers the state lease them in the same batch.
		e.state.Promote(now)
		leases, ttls, fires := e.state.Due(now, maxDuePerTick)
		more = len(leases) == maxDuePerTick || len(ttls) == maxDuePerTick || len(fires) == maxDuePerTick
		expired = 0
		skipped := false
		for _, r := range leases {
			if e.reserved[r.ID] || tx.has(r.ID) {
				skipped = true // a command in flight decides this task; look again next pass
				continue
			}
			sub := tx.sub()
			sub.hold(r.ID)
			sub.add(r.ID, &events.TaskLeaseExpired{Attempt: r.Attempt})
			if err := e.stageAttemptFailed(sub, nil, r, "lease expired"); err != nil {
				// Its cascade touches a task this pass already changed:
				// the next pass decides it, so more is due.
				skipped = true
				continue
			}
			tx.merge(sub)
			expired++
		}
		for _, r := range ttls {
			if e.reserved[r.ID] || tx.has(r.ID) {
				skipped = true
				continue
			}
			sub := tx.sub()
			sub.hold(r.ID)
			sub.add(r.ID, &events.TaskExpired{})
			if err := e.stageCascade(sub, r.ID, projections.StatusExpired); err != nil {
				skipped = true // as above
				continue
			}
			tx.merge(sub)
		}
		for _, sc := range fires {
			if e.reserved[sc.ID] || tx.has(sc.ID) {
				skipped = true
				continue
			}
			next, err := nextFire(sc.Cron, time.Duration(sc.Interval), sc.NextFire.Time(), tx.now)
			if err != nil {
				e.cfg.logger.Error("schedule cannot compute its next fire", "schedule", sc.ID, "err", err)
				continue
			}
			instance := events.NewID(tx.now).String()
			spec := sc.Template
			spec.ScheduleID = sc.ID
			tx.hold(sc.ID)
			tx.hold(instance)
			tx.add(sc.ID, &events.ScheduleFired{FireTime: sc.NextFire, Instance: instance, NextFire: events.At(next)})
			tx.add(instance, &events.TaskEnqueued{Spec: spec})
		}
		if skipped && len(tx.events) == 0 {
			// Everything due is held by commands in flight: answer after
			// they are applied, so that a returned RunDue has acted.
			return errConflict
		}
		more = more || skipped
		return nil
	}, func() {
		if expired > 0 {
			e.cfg.observer.LeasesExpired(expired)
		}
	})
	return more, err
}
