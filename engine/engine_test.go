package engine_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/values"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// pgx, go-redis and nats keep background goroutines per process.
		goleak.IgnoreTopFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).backgroundHealthCheck"),
		goleak.IgnoreAnyFunction("github.com/nats-io/nats.go.(*Conn).doReconnect"),
		// nats.go v1.55 leaves this goroutine parked on a nil channel once a
		// connection that used async publish closes.
		goleak.IgnoreTopFunction("github.com/nats-io/nats.go/jetstream.(*jetStream).resetPendingAcksOnReconnect"),
		goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).reaper"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

var start = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// fixture is an engine on a store with a manual clock.
type fixture struct {
	t       *testing.T
	ctx     context.Context
	clock   *engine.ManualClock
	log     stores.Log
	appends *appendCounter
	reopen  func() stores.Log
	e       *engine.Engine
	opts    []engine.Option
}

func newFixture(t *testing.T, sc storeCase, opts ...engine.Option) *fixture {
	t.Helper()
	l, reopen := sc.open(t)
	f := &fixture{t: t, ctx: context.Background(), clock: engine.NewManualClock(start), log: l, reopen: reopen, appends: &appendCounter{}}
	f.opts = append([]engine.Option{
		engine.WithClock(f.clock),
		engine.WithObserver(f.appends),
		engine.WithBackoff(func(int) time.Duration { return 10 * time.Second }),
		engine.WithLeaseTimeout(30 * time.Second),
	}, opts...)
	e, err := engine.Open(f.ctx, f.log, f.opts...)
	if err != nil {
		t.Fatal(err)
	}
	f.e = e
	t.Cleanup(func() { f.e.Close(); f.log.Close() })
	return f
}

// restart closes the engine and its log and opens both again, as a process
// restart would.
func (f *fixture) restart() {
	f.t.Helper()
	if err := f.e.Close(); err != nil {
		f.t.Fatal(err)
	}
	if err := f.log.Close(); err != nil {
		f.t.Fatal(err)
	}
	f.log = f.reopen()
	e, err := engine.Open(f.ctx, f.log, f.opts...)
	if err != nil {
		f.t.Fatal(err)
	}
	f.e = e
}

func (f *fixture) enqueue(task *engine.Task) *engine.Task {
	f.t.Helper()
	if err := f.e.Enqueue(f.ctx, task); err != nil {
		f.t.Fatalf("enqueue %s: %v", task.Func, err)
	}
	return task
}

func (f *fixture) dequeue(queue string) *engine.Task {
	f.t.Helper()
	task, err := f.e.Dequeue(f.ctx, queue)
	if err != nil {
		f.t.Fatalf("dequeue %q: %v", queue, err)
	}
	return task
}

func (f *fixture) state(id string) engine.State {
	f.t.Helper()
	task, err := f.e.GetTask(f.ctx, id)
	if err != nil {
		f.t.Fatalf("get %s: %v", id, err)
	}
	return task.State
}

func (f *fixture) advance(d time.Duration) {
	f.t.Helper()
	f.clock.Advance(d)
	if _, err := f.e.RunDue(f.ctx); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) head() uint64 {
	f.t.Helper()
	h, err := f.log.Head(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	return h
}

func TestEnqueueGet(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		f := newFixture(t, sc)
		task := f.enqueue(&engine.Task{Func: "add", Args: []any{1, "x"}, Kwargs: map[string]any{"k": 2.5}})
		if task.ID == "" || task.QueueName != engine.DefaultQueue || task.State != engine.StatePending {
			t.Fatalf("after enqueue: id %q queue %q state %s", task.ID, task.QueueName, task.State)
		}
		got, err := f.e.GetTask(f.ctx, task.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Func != "add" || !slices.Equal(got.Args, []any{int64(1), "x"}) || got.Kwargs["k"] != 2.5 || !got.CreatedAt.Equal(start) {
			t.Fatalf("get = %+v", got)
		}
		if _, err := f.e.GetTask(f.ctx, "nope"); !errors.Is(err, engine.ErrNotFound) {
			t.Fatalf("get unknown: %v, want ErrNotFound", err)
		}
		named := f.enqueue(&engine.Task{ID: "mine", Func: "f"})
		if named.ID != "mine" {
			t.Fatalf("caller id replaced: %q", named.ID)
		}
		if err := f.e.Enqueue(f.ctx, &engine.Task{ID: "mine", Func: "f"}); !errors.Is(err, engine.ErrDuplicateID) {
			t.Fatalf("duplicate id: %v", err)
		}
	})
}

// Args nested as deep as values.MaxDepth allows (lists in lists) are
// enqueued, written and read back on every store; one level more is
// refused as invalid args, and nothing is written.
func TestEnqueueArgsNestedToTheLimit(t *testing.T) {
	nested := func(levels int) []any {
		var v any = int64(1)
		for range levels - 1 {
			v = []any{v}
		}
		return []any{v}
	}
	forEachStore(t, func(t *testing.T, sc storeCase) {
		f := newFixture(t, sc)
		deep := nested(values.MaxDepth)
		task := f.enqueue(&engine.Task{Func: "f", Args: deep, Kwargs: map[string]any{"k": nested(values.MaxDepth - 1)}})
		got, err := f.e.GetTask(f.ctx, task.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Args, deep) {
			t.Fatalf("args read back as %v", got.Args)
		}
		head, _ := f.log.Head(f.ctx)
		if err := f.e.Enqueue(f.ctx, &engine.Task{Func: "f", Args: nested(values.MaxDepth + 1)}); !errors.Is(err, engine.ErrInvalidArgs) {
			t.Fatalf("args nested past the limit: %v, want ErrInvalidArgs", err)
		}
		if after, _ := f.log.Head(f.ctx); after != head {
			t.Fatalf("a refused enqueue moved the log's head from %d to %d", head, after)
		}
	})
}

func TestPriorityFIFOAndNamedQueues(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		f := newFixture(t, sc)
		for i, p := range []int{1, 5, 5, -3, 10, 1} {
			f.enqueue(&engine.Task{ID: fmt.Sprintf("t%d", i), Func: "f", Priority: p})
		}
		f.enqueue(&engine.Task{ID: "other", Func: "f", QueueName: "other", Priority: 1000})
		var order []string
		for task := f.dequeue(""); task != nil; task = f.dequeue("") {
			order = append(order, task.ID)
		}
		want := []string{"t4", "t1", "t2", "t0", "t5", "t3"}
		if !slices.Equal(order, want) {
			t.Fatalf("dequeue order %v, want %v", order, want)
		}
		if task := f.dequeue("other"); task == nil || task.ID != "other" {
			t.Fatalf("named queue gave %v", task)
		}
		if task := f.dequeue("empty"); task != nil {
			t.Fatalf("a queue that never had a task gave %v", task)
		}
	})
}

func TestLeaseAndStaleCompletion(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		f := newFixture(t, sc)
		f.enqueue(&engine.Task{ID: "a", Func: "f", Retries: 1})
		task := f.dequeue("")
		if task.State != engine.StateRunning || task.Attempt != 1 || !task.LeaseDeadline.Equal(start.Add(30*time.Second)) {
			t.Fatalf("leased task = state %s attempt %d deadline %v", task.State, task.Attempt, task.LeaseDeadline)
		}
		if again := f.dequeue(""); again != nil {
			t.Fatalf("a leased task was handed out twice: %v", again.ID)
		}
		stale := *task
		stale.Attempt = 7
		before := f.head()
		if err := f.e.Complete(f.ctx, &stale, "x"); !errors.Is(err, engine.ErrStaleLease) {
			t.Fatalf("complete with wrong attempt: %v, want ErrStaleLease", err)
		}
		if err := f.e.Heartbeat(f.ctx, &stale); !errors.Is(err, engine.ErrStaleLease) {
			t.Fatalf("heartbeat with wrong attempt: %v", err)
		}
		if f.head() != before {
			t.Fatal("a stale completion appended events")
		}
		if err := f.e.Complete(f.ctx, task, map[string]any{"ok": true}); err != nil {
			t.Fatal(err)
		}
		got, _ := f.e.GetTask(f.ctx, "a")
		if got.State != engine.StateCompleted || got.Result.(map[string]any)["ok"] != true {
			t.Fatalf("after complete: %s %v", got.State, got.Result)
		}
		if err := f.e.Complete(f.ctx, task, nil); !errors.Is(err, engine.ErrStaleLease) {
			t.Fatalf("second complete: %v, want ErrStaleLease", err)
		}
	})
}

func TestRetriesAndFinalFailure(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		f := newFixture(t, sc)
		f.enqueue(&engine.Task{ID: "r", Func: "f", Retries: 2})
		for attempt := 1; attempt <= 3; attempt++ {
			task := f.dequeue("")
			if task == nil || task.Attempt != attempt {
				t.Fatalf("attempt %d: dequeued %+v", attempt, task)
			}
			if err := f.e.Fail(f.ctx, task, fmt.Errorf("boom %d", attempt)); err != nil {
				t.Fatal(err)
			}
			if attempt < 3 {
				if f.state("r") != engine.StateWaiting {
					t.Fatalf("after failed attempt %d: %s, want waiting (backoff)", attempt, f.state("r"))
				}
				if early := f.dequeue(""); early != nil {
					t.Fatal("retried before its backoff passed")
				}
				f.advance(10 * time.Second)
			}
		}
		got, _ := f.e.GetTask(f.ctx, "r")
		if got.State != engine.StateFailed || got.Error != "boom 3" || got.Attempt != 3 {
			t.Fatalf("final: %s %q attempt %d", got.State, got.Error, got.Attempt)
		}
	})
}

func TestRetriesCeiling(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		f := newFixture(t, sc)
		err := f.e.Enqueue(f.ctx, &engine.Task{Func: "f", Retries: 4, MaxRetries: 3})
		if !errors.Is(err, engine.ErrInvalidRetries) || !errors.Is(err, engine.ErrInvalidArgument) {
			t.Fatalf("retries > max_retries: %v", err)
		}
		f.enqueue(&engine.Task{Func: "f", Retries: 3, MaxRetries: 3})
	})
}

func TestLeaseExpiryIsAFailedAttempt(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		f := newFixture(t, sc)
		f.enqueue(&engine.Task{ID: "l", Func: "f", Retries: 1})
		first := f.dequeue("")
		f.advance(29 * time.Second)
		if f.state("l") != engine.StateRunning {
			t.Fatal("lease expired early")
		}
		if err := f.e.Heartbeat(f.ctx, first); err != nil {
			t.Fatal(err)
		}
		f.advance(29 * time.Second) // within the extended lease
		if f.state("l") != engine.StateRunning {
			t.Fatal("heartbeat did not extend the lease")
		}
		f.advance(2 * time.Second)
		got, _ := f.e.GetTask(f.ctx, "l")
		if got.State != engine.StateWaiting || got.Error != "lease expired" {
			t.Fatalf("after lease expiry: %s %q", got.State, got.Error)
		}
		if err := f.e.Complete(f.ctx, first, nil); !errors.Is(err, engine.ErrStaleLease) {
			t.Fatalf("complete on expired lease: %v", err)
		}
		f.advance(10 * time.Second)
		second := f.dequeue("")
		if second == nil || second.Attempt != 2 {
			t.Fatalf("retry after lease expiry: %+v", second)
		}
		f.advance(31 * time.Second)
		if got, _ := f.e.GetTask(f.ctx, "l"); got.State != engine.StateFailed {
			t.Fatalf("second expiry with no retries left: %s", got.State)
		}
	})
}

func TestTTL(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		f := newFixture(t, sc, engine.WithLeaseTimeout(time.Hour))
		f.enqueue(&engine.Task{ID: "ttl", Func: "f", TTL: time.Minute})
		f.enqueue(&engine.Task{ID: "dep", Func: "f", DependsOn: []string{"ttl"}})
		f.enqueue(&engine.Task{ID: "started", Func: "f", TTL: time.Minute, QueueName: "q2"})
		started := f.dequeue("q2")
		f.clock.Advance(61 * time.Second)
		if task := f.dequeue(""); task != nil {
			t.Fatalf("handed out %s past its TTL", task.ID)
		}
		f.advance(0)
		if f.state("ttl") != engine.StateExpired {
			t.Fatalf("ttl task: %s, want expired", f.state("ttl"))
		}
		if f.state("dep") != engine.StateCancelled {
			t.Fatalf("dependant of expired task: %s, want cancelled", f.state("dep"))
		}
		if f.state("started") != engine.StateRunning {
			t.Fatal("TTL expired a task that had started")
		}
		if err := f.e.Complete(f.ctx, started, nil); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDependencies(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		f := newFixture(t, sc)
		if err := f.e.Enqueue(f.ctx, &engine.Task{Func: "f", DependsOn: []string{"ghost"}}); !errors.Is(err, engine.ErrUnknownDependency) {
			t.Fatalf("unknown dependency: %v", err)
		}
		if err := f.e.Enqueue(f.ctx, &engine.Task{ID: "self", Func: "f", DependsOn: []string{"self"}}); !errors.Is(err, engine.ErrDependencyCycle) {
			t.Fatalf("self dependency: %v", err)
		}
		f.enqueue(&engine.Task{ID: "a", Func: "f"})
		f.enqueue(&engine.Task{ID: "b", Func: "f"})
		f.enqueue(&engine.Task{ID: "c", Func: "f", DependsOn: []string{"a", "b"}})
		f.enqueue(&engine.Task{ID: "d", Func: "f", DependsOn: []string{"c"}})
		if f.state("c") != engine.StateWaiting {
			t.Fatalf("c with unmet deps: %s", f.state("c"))
		}
		for _, id := range []string{"a", "b"} {
			task := f.dequeue("")
			if task.ID != id {
				t.Fatalf("dequeued %s, want %s", task.ID, id)
			}
			if err := f.e.Complete(f.ctx, task, nil); err != nil {
				t.Fatal(err)
			}
		}
		if f.state("c") != engine.StatePending || f.state("d") != engine.StateWaiting {
			t.Fatalf("after deps completed: c %s d %s", f.state("c"), f.state("d"))
		}
		c := f.dequeue("")
		if err := f.e.Fail(f.ctx, c, errors.New("no")); err != nil {
			t.Fatal(err)
		}
		got, _ := f.e.GetTask(f.ctx, "d")
		if got.State != engine.StateCancelled || got.CancelledBy != "c" {
			t.Fatalf("dependant of failed task: %s by %q", got.State, got.CancelledBy)
		}
		// Deleting a dependency cancels the chain behind it.
		f.enqueue(&engine.Task{ID: "x", Func: "f", QueueName: "z"})
		f.enqueue(&engine.Task{ID: "y", Func: "f", DependsOn: []string{"x"}})
		f.enqueue(&engine.Task{ID: "w", Func: "f", DependsOn: []string{"y"}})
		if err := f.e.DeleteTask(f.ctx, "x"); err != nil {
			t.Fatal(err)
		}
		if f.state("y") != engine.StateCancelled || f.state("w") != engine.StateCancelled {
			t.Fatalf("after deleting a dependency: y %s w %s", f.state("y"), f.state("w"))
		}
		// Depending on a task that already failed cancels at once.
		f.enqueue(&engine.Task{ID: "late", Func: "f", DependsOn: []string{"c"}})
		if f.state("late") != engine.StateCancelled {
			t.Fatalf("depending on a failed task: %s", f.state("late"))
		}
		// In one batch, a task may depend on one enqueued before it.
		if err := f.e.EnqueueBatch(f.ctx, []*engine.Task{{ID: "p", Func: "f"}, {ID: "q", Func: "f", DependsOn: []string{"p"}}}); err != nil {
			t.Fatal(err)
		}
		if f.state("q") != engine.StateWaiting {
			t.Fatalf("in-batch dependant: %s", f.state("q"))
		}
	})
}

func TestRunAtAndPause(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		f := newFixture(t, sc)
		f.enqueue(&engine.Task{ID: "later", Func: "f", Schedule: &engine.Schedule{RunAt: start.Add(time.Minute)}})
		if task := f.dequeue(""); task != nil {
			t.Fatal("handed out before run_at")
		}
		if err := f.e.PauseSchedule(f.ctx, "later"); err != nil {
			t.Fatal(err)
		}
		f.advance(2 * time.Minute)
		if task := f.dequeue(""); task != nil {
			t.Fatal("a paused task was handed out")
		}
		if err := f.e.ResumeSchedule(f.ctx, "later"); err != nil {
			t.Fatal(err)
		}
		if task := f.dequeue(""); task == nil || task.ID != "later" {
			t.Fatalf("after resume: %v", task)
		}
		f.enqueue(&engine.Task{ID: "plain", Func: "f"})
		if err := f.e.PauseSchedule(f.ctx, "plain"); !errors.Is(err, engine.ErrNotSchedule) {
			t.Fatalf("pause of an unscheduled task: %v", err)
		}
		if err := f.e.PauseSchedule(f.ctx, "ghost"); !errors.Is(err, engine.ErrNotFound) {
			t.Fatalf("pause of unknown: %v", err)
		}
	})
}

func TestRecurringSchedules(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		f := newFixture(t, sc)
		if err := f.e.Enqueue(f.ctx, &engine.Task{Func: "f", Schedule: &engine.Schedule{Cron: "61 * * * *"}}); !errors.Is(err, engine.ErrInvalidCron) {
			t.Fatalf("invalid cron: %v", err)
		}
		every := f.enqueue(&engine.Task{ID: "every", Func: "tick", QueueName: "cron", Schedule: &engine.Schedule{Interval: time.Minute}})
		if every.State != engine.StateScheduled || !every.NextRunAt.Equal(start.Add(time.Minute)) {
			t.Fatalf("schedule: %s next %v", every.State, every.NextRunAt)
		}
		f.enqueue(&engine.Task{ID: "hourly", Func: "tock", QueueName: "cron", Schedule: &engine.Schedule{Cron: "0 * * * *"}})
		f.advance(time.Minute)
		inst := f.dequeue("cron")
		if inst == nil || inst.ScheduleID != "every" || inst.Func != "tick" {
			t.Fatalf("first fire: %+v", inst)
		}
		if err := f.e.PauseSchedule(f.ctx, "every"); err != nil {
			t.Fatal(err)
		}
		f.advance(5 * time.Minute)
		if task := f.dequeue("cron"); task != nil {
			t.Fatalf("paused schedule fired: %+v", task)
		}
		if err := f.e.ResumeSchedule(f.ctx, "every"); err != nil {
			t.Fatal(err)
		}
		// Missed fires are not replayed: one fire per due time after resume.
		f.advance(time.Minute)
		if task := f.dequeue("cron"); task == nil || task.ScheduleID != "every" {
			t.Fatalf("after resume: %+v", task)
		}
		if task := f.dequeue("cron"); task != nil {
			t.Fatalf("extra fire: %+v", task)
		}
		f.advance(53 * time.Minute) // 13:00
		hourly := f.dequeue("cron")
		if hourly == nil {
			t.Fatal("cron schedule did not fire at the hour")
		}
		got, _ := f.e.GetTask(f.ctx, "hourly")
		if got.Fires != 1 || !got.NextRunAt.Equal(start.Add(2*time.Hour)) {
			t.Fatalf("hourly after a fire: fires %d next %v", got.Fires, got.NextRunAt)
		}
		if err := f.e.DeleteTask(f.ctx, "every"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.e.GetTask(f.ctx, "every"); !errors.Is(err, engine.ErrNotFound) {
			t.Fatalf("get deleted schedule: %v", err)
		}
	})
}

func TestDeleteAndHistory(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		f := newFixture(t, sc)
		f.enqueue(&engine.Task{ID: "h", Func: "f"})
		task := f.dequeue("")
		if err := f.e.DeleteTask(f.ctx, "h"); err != nil {
			t.Fatal(err)
		}
		if err := f.e.Complete(f.ctx, task, nil); !errors.Is(err, engine.ErrStaleLease) {
			t.Fatalf("complete after delete: %v", err)
		}
		if err := f.e.DeleteTask(f.ctx, "h"); !errors.Is(err, engine.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
		if task := f.dequeue(""); task != nil {
			t.Fatal("deleted task handed out")
		}
		hist, err := f.e.History(f.ctx, "h")
		if err != nil {
			t.Fatal(err)
		}
		var types []string
		for _, ev := range hist {
			types = append(types, ev.Type)
		}
		want := []string{events.TypeTaskEnqueued.String(), events.TypeTaskLeased.String(), events.TypeTaskDeleted.String()}
		if !slices.Equal(types, want) {
			t.Fatalf("history %v, want %v", types, want)
		}
		if _, err := f.e.History(f.ctx, "never"); !errors.Is(err, engine.ErrNotFound) {
			t.Fatalf("history of unknown: %v", err)
		}
	})
}

func TestBadInputChangesNothing(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		f := newFixture(t, sc, engine.WithMaxPayload(1024))
		f.enqueue(&engine.Task{ID: "exists", Func: "f"})
		cases := []struct {
			task *engine.Task
			want error
		}{
			{&engine.Task{}, engine.ErrInvalidFunc},
			{&engine.Task{Func: "f", QueueName: "no spaces"}, engine.ErrInvalidQueueName},
			{&engine.Task{Func: "f", QueueName: string(make([]byte, 200))}, engine.ErrInvalidQueueName},
			{&engine.Task{Func: "f", Priority: engine.MaxPriority + 1}, engine.ErrInvalidPriority},
			{&engine.Task{Func: "f", TTL: -time.Second}, engine.ErrInvalidTTL},
			{&engine.Task{Func: "f", Retries: -1}, engine.ErrInvalidRetries},
			{&engine.Task{Func: "f", Args: []any{func() {}}}, engine.ErrInvalidArgs},
			{&engine.Task{Func: "f", Kwargs: map[string]any{"c": make(chan int)}}, engine.ErrInvalidArgs},
			{&engine.Task{Func: "f", Args: []any{string(make([]byte, 2048))}}, engine.ErrPayloadTooLarge},
			{&engine.Task{ID: "has space", Func: "f"}, engine.ErrInvalidID},
			{&engine.Task{ID: "exists", Func: "f"}, engine.ErrDuplicateID},
			{&engine.Task{Func: "f", DependsOn: []string{"ghost"}}, engine.ErrUnknownDependency},
			{&engine.Task{Func: "f", Schedule: &engine.Schedule{Cron: "not cron"}}, engine.ErrInvalidCron},
			{&engine.Task{Func: "f", Schedule: &engine.Schedule{Cron: "* * * * *", Interval: time.Minute}}, engine.ErrInvalidSchedule},
			{&engine.Task{Func: "f", Schedule: &engine.Schedule{Interval: time.Millisecond}}, engine.ErrInvalidSchedule},
			{&engine.Task{Func: "f", DependsOn: []string{"exists"}, Schedule: &engine.Schedule{Interval: time.Minute}}, engine.ErrInvalidSchedule},
			{&engine.Task{Func: "f", TTL: 200 * 365 * 24 * time.Hour}, engine.ErrInvalidTTL},
			{&engine.Task{Func: "f", Schedule: &engine.Schedule{RunAt: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)}}, engine.ErrInvalidSchedule},
			{&engine.Task{Func: "f", Schedule: &engine.Schedule{RunAt: engine.MaxRunAt.Add(time.Hour), Interval: engine.MaxDuration}}, engine.ErrInvalidSchedule},
			{&engine.Task{Func: "f", Schedule: &engine.Schedule{RunAt: time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)}}, engine.ErrInvalidSchedule},
			{&engine.Task{Func: "f", Schedule: &engine.Schedule{Interval: 1 << 62}}, engine.ErrInvalidSchedule},
			{&engine.Task{Func: "f", Schedule: &engine.Schedule{Cron: "CRON_TZ="}}, engine.ErrInvalidCron},
			{&engine.Task{Func: "f", Schedule: &engine.Schedule{Cron: strings.Repeat("1,", 200) + "1 * * * *"}}, engine.ErrInvalidCron},
		}
		before := f.head()
		for _, c := range cases {
			err := f.e.Enqueue(f.ctx, c.task)
			if !errors.Is(err, c.want) || !errors.Is(err, engine.ErrInvalidArgument) {
				t.Errorf("enqueue %+v: %v, want %v", c.task, err, c.want)
			}
		}
		// A batch with one bad task appends none of it.
		err := f.e.EnqueueBatch(f.ctx, []*engine.Task{{Func: "ok"}, {Func: "f", DependsOn: []string{"ghost"}}})
		if !errors.Is(err, engine.ErrUnknownDependency) {
			t.Errorf("bad batch: %v", err)
		}
		if _, err := f.e.Dequeue(f.ctx, "bad queue"); !errors.Is(err, engine.ErrInvalidQueueName) {
			t.Errorf("dequeue from a bad queue name: %v", err)
		}
		if f.head() != before {
			t.Fatalf("bad input appended %d events", f.head()-before)
		}
	})
}

func TestRestartRestoresEverything(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		f := newFixture(t, sc)
		for i := 0; i < 20; i++ {
			f.enqueue(&engine.Task{ID: fmt.Sprintf("t%02d", i), Func: "f", Priority: i % 3, Retries: 1})
		}
		f.enqueue(&engine.Task{ID: "sched", Func: "f", Schedule: &engine.Schedule{Interval: time.Hour}})
		leased := f.dequeue("")
		f.dequeue("")
		if err := f.e.Complete(f.ctx, leased, "done"); err != nil {
			t.Fatal(err)
		}
		before, _ := f.e.Snapshot()
		was := stats(f.e.Stats(f.ctx))
		f.restart()
		after, _ := f.e.Snapshot()
		if string(before) != string(after) {
			t.Fatal("state after restart differs from state before")
		}
		// A restore makes every ended task cold: how tasks are held may
		// change, not how many there are.
		got := stats(f.e.Stats(f.ctx))
		if got.HotTasks+got.ColdTasks != was.HotTasks+was.ColdTasks || got.ColdTasks != 1 {
			t.Fatalf("after restart %d hot and %d cold tasks, before %d and %d", got.HotTasks, got.ColdTasks, was.HotTasks, was.ColdTasks)
		}
		got.HotTasks, got.ColdTasks, was.HotTasks, was.ColdTasks = 0, 0, 0, 0
		if fmt.Sprint(got) != fmt.Sprint(was) {
			t.Fatalf("stats after restart %v, before %v", got, was)
		}
		// Order survives: the next dequeue is what it would have been.
		if next := f.dequeue(""); next == nil || next.Priority != 2 {
			t.Fatalf("after restart dequeued %+v", next)
		}
	})
}

func TestClose(t *testing.T) {
	f := newFixture(t, storeCases[0])
	if err := f.e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.e.Enqueue(f.ctx, &engine.Task{Func: "f"}); !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("enqueue after close: %v", err)
	}
	if err := f.e.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

// The latest accepted run_at plus the longest accepted interval or TTL must
// fit the log's int64 nanosecond timestamps, or a computed fire would wrap.
func TestTimeBoundsFitTheLog(t *testing.T) {
	latest := time.Unix(0, math.MaxInt64)
	if end := engine.MaxRunAt.Add(engine.MaxDuration); !end.Before(latest) {
		t.Fatalf("MaxRunAt + MaxDuration = %s, past %s", end, latest)
	}
}

// stats returns an engine's Stats, which do not fail (the error is for the
// Queue interface, which a remote client implements too).
func stats(s engine.Stats, err error) engine.Stats {
	if err != nil {
		panic(err)
	}
	return s
}
