package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/omniq/omniq/bench"
)

// noopArgs is River's job: nothing to do.
type noopArgs struct{}

func (noopArgs) Kind() string { return "noop" }

type noopWorker struct {
	river.WorkerDefaults[noopArgs]
}

func (noopWorker) Work(context.Context, *river.Job[noopArgs]) error { return nil }

// runRiver burns down jobs no-op jobs with River, tuned as "river bench"
// tunes it, in a schema of its own that is dropped afterwards. Like
// "river bench", jobs are inserted with InsertMany in batches of 5,000
// before the client starts, and a job counts as worked when its completion
// event arrives (so the completer's write is included).
func runRiver(ctx context.Context, dsn string, jobs, maxWorkers int) (bench.Result, error) {
	res := bench.Result{System: "river", Store: "postgres", API: "InsertMany+client", Jobs: jobs, Workers: maxWorkers}
	schema := fmt.Sprintf("omniq_bench_river_%d", os.Getpid())
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return res, fmt.Errorf("river: connect: %w", err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return res, fmt.Errorf("river: create schema: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := admin.Exec(cctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			fmt.Fprintf(os.Stderr, "peers: river: drop schema %s: %v\n", schema, err)
		}
	}()

	pcfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return res, fmt.Errorf("river: %w", err)
	}
	pcfg.MaxConns = 20
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return res, fmt.Errorf("river: pool: %w", err)
	}
	defer pool.Close()
	driver := riverpgxv5.New(pool)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

	migrator, err := rivermigrate.New(driver, &rivermigrate.Config{Schema: schema, Logger: logger})
	if err != nil {
		return res, fmt.Errorf("river: migrator: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return res, fmt.Errorf("river: migrate: %w", err)
	}

	workers := river.NewWorkers()
	river.AddWorker(workers, &noopWorker{})
	client, err := river.NewClient(driver, &river.Config{
		FetchCooldown:     2 * time.Millisecond,
		FetchPollInterval: 20 * time.Millisecond,
		Logger:            logger,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: maxWorkers}},
		Schema:            schema,
		Workers:           workers,
	})
	if err != nil {
		return res, fmt.Errorf("river: client: %w", err)
	}

	const insertBatch = 5000
	params := make([]river.InsertManyParams, insertBatch)
	for i := range params {
		params[i].Args = noopArgs{}
	}
	began := time.Now()
	for left := jobs; left > 0; left -= insertBatch {
		if _, err := client.InsertMany(ctx, params[:min(left, insertBatch)]); err != nil {
			return res, fmt.Errorf("river: insert: %w", err)
		}
	}
	res.EnqueuePerSec = float64(jobs) / time.Since(began).Seconds()

	completed, cancelSub := client.SubscribeConfig(&river.SubscribeConfig{
		ChanSize: jobs,
		Kinds:    []river.EventKind{river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled},
	})
	defer cancelSub()
	began = time.Now()
	if err := client.Start(ctx); err != nil {
		return res, fmt.Errorf("river: start: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		client.Stop(sctx)
	}()
	var last time.Time
	for n := 0; n < jobs; n++ {
		select {
		case ev := <-completed:
			if ev == nil {
				return res, fmt.Errorf("river: subscription closed after %d jobs", n)
			}
			if ev.Kind != river.EventKindJobCompleted {
				return res, fmt.Errorf("river: job %d ended %s", ev.Job.ID, ev.Kind)
			}
			last = time.Now()
		case <-ctx.Done():
			return res, ctx.Err()
		}
	}
	drain := last.Sub(began)
	res.WorkSeconds, res.WorkedPerSec = drain.Seconds(), float64(jobs)/drain.Seconds()
	return res, nil
}
