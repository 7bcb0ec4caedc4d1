package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/memory"
)

// gatedLog holds one Append until open is closed (the first, or the one
// after holdNext), and counts appends.
type gatedLog struct {
	stores.Log
	appends atomic.Int32
	holdAt  atomic.Int32 // the append held, counted from 1 (0: the first; -1: none)
	entered chan struct{}
	open    chan struct{}
	opened  sync.Once
}

// release lets the held Append go (once; later calls do nothing).
func (l *gatedLog) release() { l.opened.Do(func() { close(l.open) }) }

func newGatedLog() *gatedLog {
	return &gatedLog{Log: memory.New(), entered: make(chan struct{}), open: make(chan struct{})}
}

// holdNext makes the next Append the one held.
func (l *gatedLog) holdNext() { l.holdAt.Store(l.appends.Load() + 1) }

func (l *gatedLog) Append(ctx context.Context, batch []events.Event) (uint64, error) {
	at := l.holdAt.Load()
	if at == 0 {
		at = 1
	}
	if l.appends.Add(1) == at {
		close(l.entered)
		<-l.open
	}
	return l.Log.Append(ctx, batch)
}

// While one batch is being written, every command that arrives is prepared
// into the next: 200 concurrent enqueues take at most two appends, the first
// batch's and everyone else's.
func TestGroupCommit(t *testing.T) {
	const callers = 200
	log := newGatedLog()
	e, err := Open(context.Background(), log, WithMaxBatch(1000))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			if err := e.Enqueue(context.Background(), &Task{Func: "f"}); err != nil {
				t.Error(err)
			}
		})
	}
	<-log.entered
	// Every enqueue reserves its task id once prepared; reservations last
	// until their batch is applied, which the gate holds back.
	for deadline := time.Now().Add(10 * time.Second); ; {
		e.mu.Lock()
		n := len(e.reserved)
		e.mu.Unlock()
		if n == callers {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d enqueues were prepared", n, callers)
		}
		time.Sleep(time.Millisecond)
	}
	close(log.open)
	wg.Wait()
	if n := log.appends.Load(); n > 2 {
		t.Fatalf("%d concurrent enqueues took %d appends, want at most 2", callers, n)
	}
	if st, _ := e.Stats(context.Background()); st.Queues[DefaultQueue][StatePending] != callers {
		got := st.Queues[DefaultQueue][StatePending]
		t.Fatalf("%d pending, want %d", got, callers)
	}
}

// unencodableLog is a conditional memory log whose appends fail as a store
// fails to encode a batch (wrapping events.ErrUnencodable) while refuse is
// set.
type unencodableLog struct {
	*memory.Log
	refuse  atomic.Bool
	appends atomic.Int32
}

func (l *unencodableLog) AppendAt(ctx context.Context, after uint64, batch []events.Event) (uint64, error) {
	if l.refuse.Load() {
		l.appends.Add(1)
		return 0, fmt.Errorf("test: append: %w: a value it cannot write", events.ErrUnencodable)
	}
	return l.Log.AppendAt(ctx, after, batch)
}

// A batch the store cannot encode fails its commands, once: it is not
// tried again (on a conditional store, where an append that did not land
// is otherwise redone, that was a loop that never answered).
func TestUnencodableBatchFailsOnce(t *testing.T) {
	log := &unencodableLog{Log: memory.New()}
	e, err := Open(context.Background(), log)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	log.refuse.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.Enqueue(ctx, &Task{Func: "f"}); !errors.Is(err, events.ErrUnencodable) {
		t.Fatalf("enqueue: %v, want ErrUnencodable", err)
	}
	if n := log.appends.Load(); n != 1 {
		t.Fatalf("the batch was tried %d times, want once", n)
	}
	log.refuse.Store(false)
	if err := e.Enqueue(ctx, &Task{Func: "f"}); err != nil {
		t.Fatalf("the next enqueue: %v", err)
	}
}
