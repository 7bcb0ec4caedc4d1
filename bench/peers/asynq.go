package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/omniq/omniq/bench"
)

// asynqProducers is how many goroutines enqueue: asynq has no batch
// enqueue, so concurrency is what it has for insert throughput.
const asynqProducers = 64

// runAsynq burns down jobs no-op tasks with asynq on Redis database db, whose
// asynq keys it deletes before and after. A task counts as worked once the
// queue reports it neither pending nor active (asynq acknowledges after the
// handler returns).
func runAsynq(ctx context.Context, addr string, db, jobs, concurrency int) (bench.Result, error) {
	res := bench.Result{System: "asynq", Store: "redis", API: "Enqueue+server", Jobs: jobs, Workers: concurrency}
	rdb := redis.NewClient(&redis.Options{Addr: addr, DB: db})
	defer rdb.Close()
	if err := clearAsynq(ctx, rdb); err != nil {
		return res, err
	}
	defer clearAsynq(context.Background(), rdb)

	opt := asynq.RedisClientOpt{Addr: addr, DB: db}
	client := asynq.NewClient(opt)
	defer client.Close()
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	began := time.Now()
	for range asynqProducers {
		wg.Go(func() {
			for next.Add(1) <= int64(jobs) {
				if _, err := client.EnqueueContext(ctx, asynq.NewTask("noop", nil)); err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		return res, fmt.Errorf("asynq: enqueue: %w", first)
	}
	res.EnqueuePerSec = float64(jobs) / time.Since(began).Seconds()

	var handled atomic.Int64
	mux := asynq.NewServeMux()
	mux.HandleFunc("noop", func(context.Context, *asynq.Task) error {
		handled.Add(1)
		return nil
	})
	srv := asynq.NewServer(opt, asynq.Config{
		Concurrency: concurrency,
		Queues:      map[string]int{"default": 1},
		// As River's FetchPollInterval: look for work every 20ms when idle.
		TaskCheckInterval: 20 * time.Millisecond,
		LogLevel:          asynq.ErrorLevel,
	})
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	began = time.Now()
	if err := srv.Start(mux); err != nil {
		return res, fmt.Errorf("asynq: start: %w", err)
	}
	defer srv.Shutdown()
	for {
		if handled.Load() >= int64(jobs) {
			info, err := insp.GetQueueInfo("default")
			if err != nil {
				return res, fmt.Errorf("asynq: queue info: %w", err)
			}
			if info.Pending == 0 && info.Active == 0 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	drain := time.Since(began)
	res.WorkSeconds, res.WorkedPerSec = drain.Seconds(), float64(jobs)/drain.Seconds()
	return res, nil
}

// clearAsynq deletes asynq's keys from the dedicated database.
func clearAsynq(ctx context.Context, rdb *redis.Client) error {
	iter := rdb.Scan(ctx, 0, "asynq:*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
		if len(keys) == 1000 {
			if err := rdb.Del(ctx, keys...).Err(); err != nil {
				return fmt.Errorf("asynq: clear: %w", err)
			}
			keys = keys[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("asynq: clear: %w", err)
	}
	if len(keys) > 0 {
		return rdb.Del(ctx, keys...).Err()
	}
	return nil
}
