package projections

import (
	"errors"
	"fmt"
	"sort"

	"github.com/omniq/omniq/events"
)

// ErrBadSnapshot: the bytes are not a snapshot this build can read. A snapshot
// is a cache (DESIGN.md invariant 5): on this error, replay from the log.
var ErrBadSnapshot = errors.New("projections: unreadable snapshot")

const (
	snapshotMagic   = "OQS"
	snapshotVersion = 1
)

// snapshotV1 is the logical state; the heaps are derived from it on Restore.
type snapshotV1 struct {
	Position  uint64      `codec:"p"`
	Tasks     []*Task     `codec:"t"`
	Schedules []*Schedule `codec:"s"`
}

// Snapshot encodes the whole logical state. Two states built from the same
// events give the same bytes.
func (s *State) Snapshot() ([]byte, error) {
	b, _, err := s.snapshot(0)
	return b, err
}

// CompactedSnapshot is Snapshot without the tasks that reached a terminal
// state (and the schedules deleted) before `before`; it reports how many
// records it left out. A log.checkpoint carries it.
func (s *State) CompactedSnapshot(before events.Timestamp) ([]byte, int, error) {
	return s.snapshot(before)
}

func (s *State) snapshot(before events.Timestamp) ([]byte, int, error) {
	snap := snapshotV1{Position: s.position}
	dropped := 0
	s.Tasks(func(t *Task) bool {
		if t.Status.Terminal() && t.FinishedAt < before {
			dropped++
		} else {
			snap.Tasks = append(snap.Tasks, t)
		}
		return true
	})
	s.Schedules(func(sc *Schedule) bool {
		if sc.Deleted && sc.UpdatedAt < before {
			dropped++
		} else {
			snap.Schedules = append(snap.Schedules, sc)
		}
		return true
	})
	body, err := events.MarshalValue(&snap)
	if err != nil {
		return nil, 0, fmt.Errorf("projections: snapshot: %w", err)
	}
	return append([]byte{snapshotMagic[0], snapshotMagic[1], snapshotMagic[2], snapshotVersion}, body...), dropped, nil
}

// Restore decodes a snapshot made by Snapshot into a new State. Errors wrap
// ErrBadSnapshot.
func Restore(b []byte) (*State, error) {
	if len(b) < 4 || string(b[:3]) != snapshotMagic {
		return nil, fmt.Errorf("%w: no snapshot header", ErrBadSnapshot)
	}
	if b[3] != snapshotVersion {
		return nil, fmt.Errorf("%w: version %d, this build reads %d", ErrBadSnapshot, b[3], snapshotVersion)
	}
	var snap snapshotV1
	if err := events.UnmarshalValue(b[4:], &snap); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSnapshot, err)
	}
	s := New()
	s.position = snap.Position
	for _, t := range snap.Tasks {
		if t == nil || t.ID == "" || s.tasks[t.ID] != nil || t.Status == 0 || t.Status >= statusEnd {
			return nil, fmt.Errorf("%w: bad task record", ErrBadSnapshot)
		}
		t.readyIdx, t.delayIdx, t.leaseIdx, t.ttlIdx = -1, -1, -1, -1
		t.Spec.Func, t.Spec.Queue = s.intern(t.Spec.Func), s.intern(t.Spec.Queue)
		s.tasks[t.ID] = t
		s.countStatus(t.Spec.Queue, 0, t.Status)
	}
	for _, sc := range snap.Schedules {
		if sc == nil || sc.ID == "" || s.schedules[sc.ID] != nil {
			return nil, fmt.Errorf("%w: bad schedule record", ErrBadSnapshot)
		}
		sc.fireIdx = -1
		s.schedules[sc.ID] = sc
		if !sc.Deleted && !sc.Paused {
			s.fires.push(sc)
		}
	}
	// Rebuild the derived structures in a fixed order so that ties in the
	// heaps break the same way as in the live state.
	ids := make([]string, 0, len(s.tasks))
	for id := range s.tasks {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return s.tasks[ids[i]].EnqueuedPos < s.tasks[ids[j]].EnqueuedPos })
	for _, id := range ids {
		t := s.tasks[id]
		switch t.Status {
		case StatusPending:
			s.enqueueReady(t)
		case StatusRunning:
			if t.LeaseDeadline != 0 {
				s.leases.push(t)
			}
		}
		if (t.Status == StatusPending || t.Status == StatusWaiting) && t.TTLDeadline() != 0 {
			s.ttls.push(t)
		}
		if t.Status == StatusWaiting {
			for _, dep := range t.Spec.DependsOn {
				if d := s.tasks[dep]; d == nil || d.Status != StatusCompleted {
					s.dependants[dep] = append(s.dependants[dep], t.ID)
				}
			}
		}
	}
	return s, nil
}
