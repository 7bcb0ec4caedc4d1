package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/omniq/omniq/client"
	"github.com/omniq/omniq/engine"
)

// runRemote is a burn-down run against the omniqd server at cfg.Remote:
// the same producers and workers as an embedded run, each call going
// through client.New(cfg.Remote). Tasks go to a queue of their own
// (bench-<time>), left on the server after the run. The server's store,
// appends, probe and recovery are not measured here: CPU is this
// process's, and the machine's share busy counts the server too.
func runRemote(ctx context.Context, cfg Config) (*Report, error) {
	c, err := client.New(cfg.Remote, client.WithPollWait(time.Second), client.WithEnqueueGathering(!cfg.RemoteUngathered))
	if err != nil {
		return nil, fmt.Errorf("%w: remote: %v", ErrConfig, err)
	}
	defer c.Close()
	rep := newReport(cfg, cfg.Remote+" (remote omniqd)")
	queue := fmt.Sprintf("%s-%d", Queue, time.Now().UnixNano())
	cfg.progress("remote %s, queue %s", cfg.Remote, queue)
	if _, err := c.Stats(ctx); err != nil {
		return nil, fmt.Errorf("bench: remote server: %w", err)
	}

	// Enqueue.
	cfg.progress("burn-down: enqueue %d tasks (%s API, %d producers)", cfg.Jobs, cfg.API, cfg.Producers)
	size := 1
	if cfg.API.batchEnqueue() {
		size = cfg.Batch
	}
	stopProfile, err := startProfile(cfg)
	if err != nil {
		return nil, err
	}
	defer stopProfile()
	cpu0 := markCPU()
	began := time.Now()
	var next, enqueued atomic.Int64
	err = fanOut(ctx, cfg.Producers, func(ctx context.Context, _ int) error {
		for {
			i := next.Add(int64(size)) - int64(size)
			if i >= int64(cfg.Jobs) {
				return nil
			}
			k := int(min(int64(size), int64(cfg.Jobs)-i))
			var err error
			if size == 1 {
				err = c.Enqueue(ctx, &engine.Task{Func: funcMain, QueueName: queue})
			} else {
				tasks := make([]*engine.Task, k)
				for j := range tasks {
					tasks[j] = &engine.Task{Func: funcMain, QueueName: queue}
				}
				err = c.EnqueueBatch(ctx, tasks)
			}
			if err != nil {
				return fmt.Errorf("bench: enqueue: %w", err)
			}
			enqueued.Add(int64(k))
		}
	})
	if err != nil {
		return nil, err
	}
	took := time.Since(began)
	rep.Enqueued = enqueued.Load()
	rep.EnqueueSeconds, rep.EnqueuePerSec = seconds(took), rate(rep.Enqueued, took)

	// Drain.
	cfg.progress("burn-down: drain with %d workers", cfg.Workers)
	var load samples
	var worked atomic.Int64
	drained := make(chan struct{})
	count := func(t *engine.Task) {
		load.add1(time.Since(t.CreatedAt))
		if worked.Add(1) == int64(cfg.Jobs) {
			close(drained)
		}
	}
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	werr := make(chan error, 1)
	began = time.Now()
	go func() { werr <- remoteWorkers(wctx, cfg, c, queue, count) }()
	select {
	case <-drained:
	case err := <-werr:
		if err == nil {
			err = fmt.Errorf("bench: remote workers stopped early")
		}
		return nil, err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	completed := func() int {
		st, err := c.Stats(ctx)
		if err != nil {
			return -1
		}
		return st.Queues[queue][engine.StateCompleted]
	}
	for completed() < cfg.Jobs { // the pool's handler ran: its outcome follows
		if err := pause(ctx, nil); err != nil {
			return nil, err
		}
	}
	drain := time.Since(began)
	rep.CPUCores, rep.MachineBusy = markCPU().since(cpu0)
	stopProfile()
	stop()
	if err := <-werr; err != nil {
		return nil, err
	}
	rep.Worked = worked.Load()
	rep.Completed = completed()
	rep.WorkSeconds, rep.WorkedPerSec = seconds(drain), rate(rep.Worked, drain)
	rep.EndToEndPerSec = rate(rep.Worked, took+drain)
	rep.StartLatency = load.summary()
	rep.PeakRSS = procStatus("VmHWM")
	return rep, nil
}

// remoteWorkers works queue through c until ctx ends: Work with
// cfg.Workers as its concurrency (work, work-batch), or cfg.Workers
// goroutines that lease one task (single) or up to cfg.Batch (batch, as
// many as the server gives one dequeue) and record the outcomes.
func remoteWorkers(ctx context.Context, cfg Config, c *client.Client, queue string, count func(*engine.Task)) error {
	if cfg.API.pool() {
		if err := c.Register(funcMain, func(ctx context.Context, t *engine.Task) (any, error) {
			count(t)
			runFor(ctx, cfg.TaskTime)
			return nil, nil
		}); err != nil {
			return err
		}
		return c.Work(ctx, engine.WorkOptions{Queues: []string{queue}, Concurrency: cfg.Workers})
	}
	n := 1
	if cfg.API == APIBatch {
		n = min(cfg.Batch, 100)
	}
	return fanOut(ctx, cfg.Workers, func(ctx context.Context, _ int) error {
		for {
			tasks, err := c.DequeueWait(ctx, queue, n, time.Second)
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				return fmt.Errorf("bench: dequeue: %w", err)
			}
			for _, t := range tasks {
				count(t)
			}
			runFor(ctx, cfg.TaskTime)
			if n == 1 {
				for _, t := range tasks {
					if err := c.Complete(context.Background(), t, nil); err != nil {
						return fmt.Errorf("bench: complete: %w", err)
					}
				}
				continue
			}
			outcomes := make([]engine.Outcome, len(tasks))
			for i, t := range tasks {
				outcomes[i] = engine.Outcome{Task: t}
			}
			errs, err := c.CompleteBatch(context.Background(), outcomes)
			if err != nil {
				return fmt.Errorf("bench: complete batch: %w", err)
			}
			for i, err := range errs {
				if err != nil {
					return fmt.Errorf("bench: complete batch: task %s: %w", tasks[i].ID, err)
				}
			}
		}
	})
}
