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

// gatedLog holds its first Append until open is closed, and counts appends.
type gatedLog struct {
	stores.Log
	appends atomic.Int32
	entered chan struct{}
	open    chan struct{}
}

func (l *gatedLog) Append(ctx context.Context, batch []events.Event) (uint64, error) {
	if l.appends.Add(1) == 1 {
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
	log := &gatedLog{Log: memory.New(), entered: make(chan struct{}), open: make(chan struct{})}
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
