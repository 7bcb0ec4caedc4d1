package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/stores"
)

// measureRecovery reopens the closed store three times, as a restarted
// process would: after a crash (engine.Open from whatever snapshot the store
// holds, plus the events after it), after a clean Close (snapshot at the
// head), and with the snapshot hidden (engine.Replay of every event).
func measureRecovery(ctx context.Context, cfg Config, t *target, opts []engine.Option) (*Recovery, error) {
	rc := &Recovery{}
	cfg.progress("recovery: reopen after a crash")

	// 1. Crash: the store holds the last periodic snapshot, if any.
	began := time.Now()
	l, err := t.open(ctx)
	if err != nil {
		return nil, fmt.Errorf("bench: reopen store: %w", err)
	}
	rc.LogOpenSeconds = seconds(time.Since(began))
	began = time.Now()
	e, err := engine.Open(ctx, l, opts...)
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("bench: recover after crash: %w", err)
	}
	rc.CrashSeconds = seconds(time.Since(began))
	rc.Events = e.Position()
	rc.HeapAfterOpen = heapAfterGC()
	ss, hasSnapshots := l.(stores.SnapshotStore)
	if hasSnapshots {
		if pos, _, err := ss.LoadSnapshot(ctx); err == nil {
			rc.SnapshotPosition = pos
		} else if !errors.Is(err, stores.ErrNoSnapshot) {
			e.Close()
			l.Close()
			return nil, fmt.Errorf("bench: load snapshot: %w", err)
		}
		// What Close writes when the state moved since the last snapshot
		// (here it did not: Open counts the replayed state as snapshotted).
		if rc.SnapshotPosition != rc.Events {
			data, err := e.Snapshot()
			if err == nil {
				err = ss.SaveSnapshot(ctx, e.Position(), data)
			}
			if err != nil {
				e.Close()
				l.Close()
				return nil, fmt.Errorf("bench: save snapshot at the head: %w", err)
			}
		}
	}
	if err := errors.Join(e.Close(), l.Close()); err != nil {
		return nil, fmt.Errorf("bench: close after recovery: %w", err)
	}

	// 2. Clean restart: snapshot at the head.
	cfg.progress("recovery: reopen after a clean close")
	if l, err = t.open(ctx); err != nil {
		return nil, fmt.Errorf("bench: reopen store: %w", err)
	}
	defer l.Close()
	began = time.Now()
	if e, err = engine.Open(ctx, l, opts...); err != nil {
		return nil, fmt.Errorf("bench: recover after close: %w", err)
	}
	rc.CleanSeconds = seconds(time.Since(began))
	if err := e.Close(); err != nil {
		return nil, fmt.Errorf("bench: close after recovery: %w", err)
	}
	heapAfterGC() // let the full replay start from a clean heap

	// 3. Full replay, snapshot hidden.
	cfg.progress("recovery: replay all %d events, snapshot hidden", rc.Events)
	began = time.Now()
	st, err := engine.Replay(ctx, withoutSnapshots(l), 0)
	if err != nil {
		return nil, fmt.Errorf("bench: full replay: %w", err)
	}
	took := time.Since(began)
	rc.ReplaySeconds, rc.ReplayPerSec = seconds(took), float64(st.Position())/took.Seconds()
	return rc, nil
}

// generate grows the log to cfg.Events events through the batch APIs
// (EnqueueBatch, DequeueN, CompleteBatch of cfg.Batch tasks: three events
// per task), from cfg.Producers goroutines on queues of their own, dealt
// round-robin over the nodes. A store that already holds that many events
// is left as it is.
func (r *runner) generate(ctx context.Context) error {
	cfg := r.cfg
	start := r.e.Position()
	if start >= cfg.Events {
		cfg.progress("recovery: the store already holds %d events", start)
		return nil
	}
	cfg.progress("recovery: append %d events (batches of %d tasks, %d producers)", cfg.Events-start, cfg.Batch, cfg.Producers)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
		tasks int64
		mu    sync.Mutex
	)
	began := time.Now()
	for p := range cfg.Producers {
		queue := fmt.Sprintf("%s-gen-%d", Queue, p)
		e := r.nodes[p%len(r.nodes)].e
		wg.Go(func() {
			fail := func(err error) { once.Do(func() { first = err; cancel() }) }
			batch := make([]*engine.Task, cfg.Batch)
			outcomes := make([]engine.Outcome, 0, cfg.Batch)
			for e.Position() < cfg.Events && ctx.Err() == nil {
				for i := range batch {
					batch[i] = &engine.Task{Func: funcMain, QueueName: queue}
				}
				if err := e.EnqueueBatch(ctx, batch); err != nil {
					fail(fmt.Errorf("bench: generate: enqueue: %w", err))
					return
				}
				leased, err := e.DequeueN(ctx, queue, len(batch))
				if err != nil {
					fail(fmt.Errorf("bench: generate: dequeue: %w", err))
					return
				}
				outcomes = outcomes[:0]
				for _, t := range leased {
					outcomes = append(outcomes, engine.Outcome{Task: t})
				}
				if _, err := e.CompleteBatch(ctx, outcomes); err != nil {
					fail(fmt.Errorf("bench: generate: complete: %w", err))
					return
				}
				mu.Lock()
				tasks += int64(len(leased))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	took := time.Since(began)
	if err := r.settle(ctx); err != nil {
		return err
	}
	r.rep.Generated = r.e.Position() - start
	r.rep.GenerateSeconds, r.rep.GenerateTasksSec = seconds(took), rate(tasks, took)
	return nil
}
