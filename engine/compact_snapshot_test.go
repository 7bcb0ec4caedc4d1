package engine_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores/pebble"
)

// slowSnapshots is a Pebble log whose SaveSnapshot waits for release, and
// which records whether a checkpoint was appended while a snapshot was
// being written.
type slowSnapshots struct {
	*pebble.Log
	started  chan struct{}
	release  chan struct{}
	writing  atomic.Bool
	overlaps atomic.Int32
}

func (s *slowSnapshots) SaveSnapshot(ctx context.Context, pos uint64, data []byte) error {
	s.writing.Store(true)
	defer s.writing.Store(false)
	select {
	case s.started <- struct{}{}:
	default:
	}
	<-s.release
	return s.Log.SaveSnapshot(ctx, pos, data)
}

func (s *slowSnapshots) Append(ctx context.Context, batch []events.Event) (uint64, error) {
	if _, ok := batch[len(batch)-1].Payload.(*events.LogCheckpoint); ok && s.writing.Load() {
		s.overlaps.Add(1)
	}
	return s.Log.Append(ctx, batch)
}

// A compaction waits for a periodic snapshot being written before it
// encodes its checkpoint: each holds an encoding of the whole state, and
// they are not to be live together.
func TestCompactWaitsForSnapshotWrite(t *testing.T) {
	ctx := context.Background()
	l, err := pebble.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s := &slowSnapshots{Log: l, started: make(chan struct{}, 1), release: make(chan struct{})}
	var once sync.Once
	release := func() { once.Do(func() { close(s.release) }) }
	defer release()
	e, err := engine.Open(ctx, s, engine.WithSnapshotEvery(10), engine.WithRetention(engine.Retention{Age: engine.KeepEverything}))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	tasks := make([]*engine.Task, 50)
	for i := range tasks {
		tasks[i] = &engine.Task{Func: "noop"}
	}
	if err := e.EnqueueBatch(ctx, tasks); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.started:
	case <-time.After(10 * time.Second):
		t.Fatal("no periodic snapshot started")
	}
	done := make(chan error, 1)
	go func() {
		_, err := e.Compact(ctx, time.Unix(0, 0), discardArchive{})
		done <- err
	}()
	// Give a compaction that does not wait the time to write its
	// checkpoint; one that waits writes it only after the release.
	select {
	case err := <-done:
		release()
		t.Fatalf("Compact returned while a snapshot was being written (%v)", err)
	case <-time.After(300 * time.Millisecond):
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := s.overlaps.Load(); n != 0 {
		t.Fatalf("%d checkpoints appended while a snapshot was being written", n)
	}
}
