package engine

import (
	"context"
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
