package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	xrate "golang.org/x/time/rate"

	"github.com/omniq/omniq/engine"
)

// produce enqueues main-phase tasks from cfg.Producers goroutines, dealt
// round-robin over the nodes: n of them, or, with n < 0, until stop is
// closed, holding one gate token per task; with Config.Rate, at that pace.
func (r *runner) produce(ctx context.Context, n int64, stop <-chan struct{}) error {
	size := 1
	if r.cfg.API.batchEnqueue() {
		size = r.cfg.Batch
	}
	var pace *xrate.Limiter
	if r.cfg.Rate > 0 && n < 0 {
		// The burst is one call's tasks, so that a producer that fell behind
		// (the gate was full) does not catch up in a rush: the offered load
		// stays at most Rate whatever the engine did before.
		pace = xrate.NewLimiter(xrate.Limit(r.cfg.Rate), size)
	}
	var next atomic.Int64
	err := fanOut(ctx, r.cfg.Producers, func(ctx context.Context, p int) error {
		e := r.nodes[p%len(r.nodes)].e
		for {
			k := size
			if n >= 0 {
				i := next.Add(int64(size)) - int64(size)
				if i >= n {
					return nil
				}
				k = int(min(int64(size), n-i))
			}
			if pace != nil && !waitPace(ctx, pace, k, stop) {
				return nil
			}
			if r.gate != nil && !r.admit(k, stop, ctx.Done()) {
				return nil
			}
			if err := r.enqueue(ctx, e, k); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("bench: enqueue: %w", err)
			}
			r.enqueued.Add(int64(k))
		}
	})
	if err == nil && n >= 0 && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// waitPace waits for k tasks' share of the pace; false when stop or ctx
// ended the wait first.
func waitPace(ctx context.Context, pace *xrate.Limiter, k int, stop <-chan struct{}) bool {
	res := pace.ReserveN(time.Now(), k)
	t := time.NewTimer(res.Delay())
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
	case <-ctx.Done():
	}
	res.Cancel()
	return false
}

// admit takes k gate tokens for one call's tasks, all or none: false when
// stop or done came first. One producer takes its tokens at a time, so
// producers that each hold part of a batch cannot fill the gate between them
// with none able to enqueue (a backlog smaller than the producers' batches
// together would stall the run).
func (r *runner) admit(k int, stop, done <-chan struct{}) bool {
	r.gateMu.Lock()
	defer r.gateMu.Unlock()
	for j := range k {
		select {
		case r.gate <- struct{}{}:
		case <-stop:
			r.release(j)
			return false
		case <-done:
			r.release(j)
			return false
		}
	}
	return true
}

func (r *runner) release(k int) {
	for range k {
		<-r.gate
	}
}

// enqueue adds k main-phase tasks through e: one EnqueueBatch with APIBatch
// and APIWorkBatch, one Enqueue otherwise (k is 1 then).
func (r *runner) enqueue(ctx context.Context, e *engine.Engine, k int) error {
	if !r.cfg.API.batchEnqueue() {
		return e.Enqueue(ctx, &engine.Task{Func: funcMain, QueueName: Queue})
	}
	tasks := make([]*engine.Task, k)
	for i := range tasks {
		tasks[i] = &engine.Task{Func: funcMain, QueueName: Queue}
	}
	return e.EnqueueBatch(ctx, tasks)
}

// runWorkers works Queue until ctx ends: cfg.Workers worker goroutines
// dealt round-robin over the nodes, or with the Work pool, one pool per
// node with its share of them as its concurrency.
func (r *runner) runWorkers(ctx context.Context) error {
	if r.cfg.API.pool() {
		h := func(ctx context.Context, t *engine.Task) (any, error) {
			now := r.clk.Now()
			r.sink(t).add1(r.since(t, now))
			runFor(ctx, r.cfg.TaskTime)
			r.done(t)
			return nil, nil
		}
		for _, nd := range r.nodes {
			for _, f := range []string{funcMain, funcProbe, funcProbeAt} {
				if err := nd.e.Register(f, h); err != nil {
					return err
				}
			}
		}
		var working []*node
		for _, nd := range r.nodes {
			if nd.workers > 0 {
				working = append(working, nd)
			}
		}
		// A pool that fails stops the others, so that the error is returned.
		return fanOut(ctx, len(working), func(ctx context.Context, i int) error {
			nd := working[i]
			err := nd.e.Work(ctx, engine.WorkOptions{Queues: []string{Queue}, Concurrency: nd.workers})
			if err != nil && ctx.Err() == nil {
				return fmt.Errorf("bench: work (node %s): %w", nd.name, err)
			}
			return nil
		})
	}
	n := 1
	if r.cfg.API == APIBatch {
		n = r.cfg.Batch
	}
	// A worker that fails stops the others, so that the error is returned.
	return fanOut(ctx, r.cfg.Workers, func(ctx context.Context, w int) error {
		return r.worker(ctx, r.nodes[w%len(r.nodes)].e, n)
	})
}

// worker leases up to n tasks at a time through e, runs the no-op handler
// and records the outcomes, until ctx ends.
func (r *runner) worker(ctx context.Context, e *engine.Engine, n int) error {
	var outcomes []engine.Outcome
	var load, idle, late []time.Duration
	for {
		tasks, err := e.DequeueWait(ctx, Queue, n, 0)
		if ctx.Err() != nil {
			// Leases taken as ctx ended are left to expire: the run is over.
			return nil
		}
		if err != nil {
			return fmt.Errorf("bench: dequeue: %w", err)
		}
		// The lease is durable and the worker holds the task: it starts now.
		now := r.clk.Now()
		load, idle, late = load[:0], idle[:0], late[:0]
		for _, t := range tasks {
			d := r.since(t, now)
			switch t.Func {
			case funcProbe:
				idle = append(idle, d)
			case funcProbeAt:
				late = append(late, d)
			default:
				load = append(load, d)
			}
		}
		r.load.add(load)
		r.idle.add(idle)
		r.late.add(late)
		runFor(ctx, r.cfg.TaskTime)
		// Outcomes are recorded even when ctx ends meanwhile.
		if n == 1 {
			for _, t := range tasks {
				if err := e.Complete(context.Background(), t, nil); err != nil {
					return fmt.Errorf("bench: complete: %w", err)
				}
				r.done(t)
			}
			continue
		}
		outcomes = outcomes[:0]
		for _, t := range tasks {
			outcomes = append(outcomes, engine.Outcome{Task: t})
		}
		errs, err := e.CompleteBatch(context.Background(), outcomes)
		if err != nil {
			return fmt.Errorf("bench: complete batch: %w", err)
		}
		for i, t := range tasks {
			if errs[i] != nil {
				return fmt.Errorf("bench: complete batch: task %s: %w", t.ID, errs[i])
			}
			r.done(t)
		}
	}
}

// since is how long t waited: from its run_at for a delayed probe task,
// from its created_at otherwise; both read from the engine's clock.
func (r *runner) since(t *engine.Task, now time.Time) time.Duration {
	if t.Func == funcProbeAt && t.Schedule != nil && !t.Schedule.RunAt.IsZero() {
		return now.Sub(t.Schedule.RunAt)
	}
	return now.Sub(t.CreatedAt)
}

func (r *runner) sink(t *engine.Task) *samples {
	switch t.Func {
	case funcProbe:
		return &r.idle
	case funcProbeAt:
		return &r.late
	}
	return &r.load
}

// done counts a worked task.
func (r *runner) done(t *engine.Task) {
	if t.Func != funcMain {
		r.probeDone.Add(1)
		return
	}
	if r.gate != nil {
		<-r.gate
	}
	if r.worked.Add(1) == r.target {
		close(r.drained)
	}
}

// probe enqueues cfg.ProbeTasks tasks one per call, paced at cfg.ProbeRate,
// through the nodes in turn, while the workers are idle; a cfg.ScheduledFraction of them are delayed
// by up to cfg.ScheduleAhead. It returns once all were worked.
func (r *runner) probe(ctx context.Context, werr <-chan error) error {
	cfg := r.cfg
	gap := time.Second / time.Duration(cfg.ProbeRate)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	began := time.Now()
	for i := range cfg.ProbeTasks {
		if d := time.Until(began.Add(time.Duration(i) * gap)); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		t := &engine.Task{Func: funcProbe, QueueName: Queue}
		// Every 1/fraction-th task is delayed, spread evenly.
		if int(float64(i+1)*cfg.ScheduledFraction) > int(float64(i)*cfg.ScheduledFraction) {
			ahead := cfg.ScheduleAhead/10 + rand.N(cfg.ScheduleAhead-cfg.ScheduleAhead/10+1)
			t.Func, t.Schedule = funcProbeAt, &engine.Schedule{RunAt: r.clk.Now().Add(ahead)}
		}
		e := r.nodes[i%len(r.nodes)].e
		wg.Go(func() {
			if err := e.Enqueue(ctx, t); err != nil {
				mu.Lock()
				first = errors.Join(first, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if first != nil {
		return fmt.Errorf("bench: probe enqueue: %w", first)
	}
	deadline := time.Now().Add(30*time.Second + cfg.ScheduleAhead)
	for r.probeDone.Load() < int64(cfg.ProbeTasks) {
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: probe: only %d of %d tasks worked within 30s", r.probeDone.Load(), cfg.ProbeTasks)
		}
		if err := pause(ctx, werr); err != nil {
			return err
		}
	}
	return nil
}

// fanOut runs f in n goroutines, the i-th as f(ctx, i), and returns the
// first error; it cancels the others' context when one fails.
func fanOut(ctx context.Context, n int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := f(ctx, i); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		})
	}
	wg.Wait()
	return first
}

// runFor waits d, or until ctx ends.
func runFor(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
