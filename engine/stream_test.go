package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/queue"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/memory"
)

// untailedLog hides the memory log's Wait: Follow must poll its head.
type untailedLog struct{ stores.Log }

// openFollowEngine opens an engine over log, closed at the test's end.
func openFollowEngine(t *testing.T, log stores.Log) *engine.Engine {
	t.Helper()
	e, err := engine.Open(context.Background(), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// follower runs Follow in the background and keeps what it saw.
type follower struct {
	mu   sync.Mutex
	seen []events.Event
	done chan error
}

func follow(ctx context.Context, e *engine.Engine, after uint64) *follower {
	f := &follower{done: make(chan error, 1)}
	go func() {
		f.done <- e.Follow(ctx, after, func(ev events.Event) error {
			f.mu.Lock()
			f.seen = append(f.seen, ev)
			f.mu.Unlock()
			return nil
		})
	}()
	return f
}

// waitPositions waits until f saw exactly want, in order.
func (f *follower) waitPositions(t *testing.T, want ...uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		f.mu.Lock()
		got := make([]uint64, len(f.seen))
		for i, ev := range f.seen {
			got[i] = ev.Position
		}
		f.mu.Unlock()
		if fmt.Sprint(got) == fmt.Sprint(want) {
			return
		}
		if time.Now().After(deadline) || len(got) > len(want) {
			t.Fatalf("followed positions %v, want %v", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// wantEnd waits for Follow to return an error that is want.
func (f *follower) wantEnd(t *testing.T, want error) {
	t.Helper()
	select {
	case err := <-f.done:
		if !errors.Is(err, want) {
			t.Fatalf("Follow returned %v, want %v", err, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("Follow did not return (want %v)", want)
	}
}

func enqueueN(t *testing.T, e *engine.Engine, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := e.Enqueue(context.Background(), &engine.Task{ID: id, Func: "f", QueueName: "q"}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFollowReadsThenFollowsLive(t *testing.T) {
	for name, log := range map[string]func() stores.Log{
		"tailer":  func() stores.Log { return memory.New() },
		"polling": func() stores.Log { return untailedLog{memory.New()} },
	} {
		t.Run(name, func(t *testing.T) {
			e := openFollowEngine(t, log())
			enqueueN(t, e, "a", "b", "c")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			f := follow(ctx, e, 1)
			f.waitPositions(t, 2, 3)
			enqueueN(t, e, "d", "e")
			f.waitPositions(t, 2, 3, 4, 5)
			f.mu.Lock()
			if got := f.seen[3].TaskID; got != "e" {
				t.Errorf("event 5 is about %q, want e", got)
			}
			f.mu.Unlock()
			cancel()
			f.wantEnd(t, context.Canceled)
		})
	}
}

func TestFollowFromHeadSeesOnlyNew(t *testing.T) {
	e := openFollowEngine(t, memory.New())
	enqueueN(t, e, "a", "b")
	f := follow(t.Context(), e, e.Position())
	time.Sleep(20 * time.Millisecond)
	enqueueN(t, e, "c")
	f.waitPositions(t, 3)
}

func TestFollowEndsWhenEngineCloses(t *testing.T) {
	e := openFollowEngine(t, memory.New())
	f := follow(context.Background(), e, 0)
	time.Sleep(20 * time.Millisecond)
	_ = e.Close()
	f.wantEnd(t, engine.ErrClosed)
}

func TestFollowReturnsFnError(t *testing.T) {
	e := openFollowEngine(t, memory.New())
	enqueueN(t, e, "a", "b")
	stop := errors.New("enough")
	n := 0
	err := e.Follow(t.Context(), 0, func(events.Event) error {
		n++
		return stop
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("Follow: %v after %d events, want %v after 1", err, n, stop)
	}
}

// followViewsTo follows e's views after position after through f, and
// stops at the event at position last, or a moment later when f leaves it
// out. It returns the views as position:type:name, name being the task id
// or, for a queue event, the queue.
func followViewsTo(ctx context.Context, t *testing.T, e *engine.Engine, after uint64, f engine.EventFilter, last uint64) []string {
	t.Helper()
	var got []string
	ctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	err := e.FollowViews(ctx, after, f, func(ev queue.Event) error {
		name := ev.TaskID
		if ev.TaskID == "" {
			name = fmt.Sprint(ev.Payload["queue"])
		}
		got = append(got, fmt.Sprintf("%d:%s:%s", ev.Position, ev.Type, name))
		if ev.Position == last {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
	return got
}

func TestFollowViewsFilters(t *testing.T) {
	ctx := context.Background()
	e := openFollowEngine(t, memory.New())
	for _, tk := range []*engine.Task{{ID: "a", Func: "f", QueueName: "q1"}, {ID: "b", Func: "f", QueueName: "q2"}} {
		if err := e.Enqueue(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	if tk, err := e.Dequeue(ctx, "q2"); err != nil || tk == nil {
		t.Fatalf("dequeue: %v, %v", tk, err)
	}
	for _, c := range []struct {
		f     engine.EventFilter
		after uint64
		want  string
	}{
		{engine.EventFilter{}, 0, "[1:task.enqueued:a 2:task.enqueued:b 3:task.leased:b]"},
		{engine.EventFilter{Task: "a"}, 0, "[1:task.enqueued:a]"},
		{engine.EventFilter{Queue: "q2"}, 0, "[2:task.enqueued:b 3:task.leased:b]"},
		{engine.EventFilter{Queue: "q2"}, 2, "[3:task.leased:b]"}, // the queue from the state
		{engine.EventFilter{Task: "b", Queue: "q1"}, 0, "[]"},
	} {
		// Nothing passes past position 3: the stream would wait for more.
		if got := followViewsTo(ctx, t, e, c.after, c.f, 3); fmt.Sprint(got) != c.want {
			t.Errorf("FollowViews(%+v, after %d) = %v, want %s", c.f, c.after, got, c.want)
		}
	}
}

// A stream carries a checkpoint without its state (nor its parts' data):
// the kept state is for the log, not for every stream at every compaction.
func TestFollowViewsLeaveCheckpointStateOut(t *testing.T) {
	ctx := context.Background()
	e := openFollowEngine(t, memory.New())
	big := strings.Repeat("x", 8<<10)
	for i := range 100 {
		if err := e.Enqueue(ctx, &engine.Task{Func: "f", Args: []any{big, i}}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := e.Compact(ctx, time.Now(), &sliceArchive{})
	if err != nil || res.Parts == 0 {
		t.Fatalf("compact: %+v, %v; want a checkpoint in parts", res, err)
	}
	var seen int
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err = e.FollowViews(ctx, 0, engine.EventFilter{}, func(ev queue.Event) error {
		switch ev.Type {
		case "log.checkpoint", "log.checkpoint_part":
			seen++
			if _, ok := ev.Payload["state"]; ok {
				t.Errorf("%s at %d carries its state", ev.Type, ev.Position)
			}
			if _, ok := ev.Payload["data"]; ok {
				t.Errorf("%s at %d carries its data", ev.Type, ev.Position)
			}
		}
		if ev.Position == res.Checkpoint {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || seen != res.Parts+1 {
		t.Fatalf("FollowViews: %v after %d checkpoint events, want %d", err, seen, res.Parts+1)
	}
}
