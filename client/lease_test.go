package client

import (
	"context"
	"testing"
	"time"
)

// A lease's timer is armed only within two sweeps of its deadline, and
// then cancels the handler's context when the deadline passes.
func TestLeaseArmsNearItsDeadline(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	now := time.Now()
	l := watchLease(now.Add(time.Hour), cancel)
	if l.timer != nil {
		t.Fatal("a lease an hour long armed a timer at once")
	}
	l.armIfDue(now.Add(time.Hour - 3*leaseSweep))
	if l.timer != nil {
		t.Fatal("armed three sweeps before the deadline")
	}
	l.extend(now.Add(2 * time.Hour))
	l.armIfDue(now.Add(time.Hour - leaseSweep)) // near the old deadline, far from the new one
	if l.timer != nil {
		t.Fatal("armed for the deadline before the heartbeat moved it")
	}
	l.stop()

	short, cancelShort := context.WithCancel(ctx)
	defer cancelShort()
	s := watchLease(time.Now().Add(leaseSweep/5), cancelShort)
	if s.timer == nil {
		t.Fatal("a lease within two sweeps of its deadline has no timer")
	}
	select {
	case <-short.Done():
	case <-time.After(time.Minute):
		t.Fatal("the handler's context outlived its lease")
	}
}

// A handler that returned has its lease stopped: no timer is armed after.
func TestLeaseStoppedNeverArms(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := watchLease(time.Now().Add(time.Hour), cancel)
	l.stop()
	l.armIfDue(time.Now().Add(time.Hour))
	if l.timer != nil || ctx.Err() != nil {
		t.Fatal("a stopped lease armed its timer")
	}
}
