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

// timerLoop sleeps until the state's next deadline (a delayed task becoming
// due, a lease or TTL running out, a schedule fire) and then acts on it.
func (e *Engine) timerLoop() {
	defer e.done.Done()
	for {
		e.mu.RLock()
		next := e.state.NextWake()
		e.mu.RUnlock()
		var timer Timer
		var fire <-chan time.Time
		if next != 0 {
			timer = e.cfg.clock.NewTimer(next.Time().Sub(e.now()))
			fire = timer.C()
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
// fires due recurring schedules, and wakes workers for delayed tasks that
// became ready. The timer loop calls it; tests with a ManualClock may call it
// to act at once. It reports whether more was due than one pass handles.
func (e *Engine) RunDue(ctx context.Context) (more bool, err error) {
	expired := 0
	err = e.submit(ctx, func(tx *txn) error {
		more = false
		now := events.At(tx.now)
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
			if err := e.stageAttemptFailed(sub, r, "lease expired"); err != nil {
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
	// Delayed tasks may have become due without any event: wake workers.
	e.mu.Lock()
	e.signalReady()
	e.mu.Unlock()
	return more, err
}
