// Command peers runs the same burn-down (insert N no-op jobs, then drain
// them) on River (PostgreSQL), asynq (Redis) and OmniQ on PostgreSQL, Redis
// and embedded Pebble, one after another in one process, then through the
// Go client against an omniqd on Pebble in a process of its own (built from
// this checkout), and prints each result with its drain rate's ratio to
// each peer's.
//
// It is its own Go module so that the main module never depends on River or
// asynq. Run it from this directory:
//
//	go run . --jobs 100000 --workers 2000
//	go run . --json > ../results.json   # input of bench/cmd/benchchart
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/omniq/omniq/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "peers:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("peers", flag.ContinueOnError)
	jobs := fs.Int("jobs", 100_000, "jobs in each burn-down")
	workers := fs.Int("workers", 2000, "concurrent workers: River's MaxWorkers, asynq's Concurrency, OmniQ's worker goroutines for the single and work APIs")
	batchWorkers := fs.Int("batch-workers", 4, "OmniQ batch API: worker goroutines, each leasing up to --batch tasks at a time")
	batch := fs.Int("batch", 1000, "OmniQ batch API: tasks per EnqueueBatch, DequeueWait and CompleteBatch")
	pg := fs.String("postgres", envOr("OMNIQ_TEST_POSTGRES", "postgres://root@127.0.0.1:5432/test"), "PostgreSQL DSN (River and OmniQ)")
	redisAddr := fs.String("redis", "127.0.0.1:6379", "Redis address (asynq and OmniQ)")
	redisDB := fs.Int("redis-db", 13, "Redis database for the run (asynq's keys in it are deleted before and after)")
	only := fs.String("only", "", "comma-separated subset of: river, asynq, omniq-postgres, omniq-redis, omniq-pebble, omniq-remote")
	remoteAPIs := fs.String("remote-apis", "work,work-batch", "OmniQ APIs to run through the client against omniqd (omniq-remote)")
	remoteWorkers := fs.Int("remote-workers", 64, "omniq-remote: the client's Work concurrency")
	apis := fs.String("apis", "single,batch,work", "OmniQ APIs to run on each store")
	snapshotEvery := fs.Int64("snapshot-every", 0, "OmniQ: engine snapshot interval in events (0: the engine's default; -1: none)")
	asJSON := fs.Bool("json", false, "print the results as JSON (an array of bench.Result)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	want := func(name string) bool {
		return *only == "" || slices.Contains(strings.Split(*only, ","), name)
	}
	progress := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "peers: "+format+"\n", args...) }

	var results []bench.Result
	if want("river") {
		progress("river: %d jobs, MaxWorkers %d", *jobs, *workers)
		r, err := runRiver(ctx, *pg, *jobs, *workers)
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	if want("asynq") {
		progress("asynq: %d jobs, Concurrency %d", *jobs, *workers)
		r, err := runAsynq(ctx, *redisAddr, *redisDB, *jobs, *workers)
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	stores := []struct{ name, url string }{
		{"postgres", *pg},
		{"redis", fmt.Sprintf("redis://%s/%d", *redisAddr, *redisDB)},
		{"pebble", "pebble://"},
	}
	for _, st := range stores {
		if !want("omniq-" + st.name) {
			continue
		}
		for _, api := range strings.Split(*apis, ",") {
			cfg := bench.Config{
				Store: st.url, Mode: bench.ModeBurndown, API: bench.API(api),
				Jobs: *jobs, Workers: *workers, Batch: *batch,
				ProbeTasks: -1, SkipRecovery: true, SnapshotEvery: *snapshotEvery,
			}
			if cfg.API == bench.APIBatch {
				cfg.Workers = *batchWorkers
			}
			progress("omniq %s/%s: %d jobs, %d workers", st.name, api, *jobs, cfg.Workers)
			rep, err := bench.Run(ctx, cfg)
			if err != nil {
				return fmt.Errorf("omniq %s/%s: %w", st.name, api, err)
			}
			r := bench.ResultFromReport(st.name, rep)
			if cfg.API == bench.APIBatch {
				r.Note = fmt.Sprintf("%d workers × up to %d tasks", cfg.Workers, *batch)
			}
			if *snapshotEvery < 0 {
				r.API += "-nosnap"
				r.Note = strings.TrimPrefix(r.Note+"; no periodic snapshots", "; ")
			}
			results = append(results, r)
		}
	}
	if want("omniq-remote") {
		rs, err := runRemote(ctx, strings.Split(*remoteAPIs, ","), *jobs, *remoteWorkers, *batch, progress)
		if err != nil {
			return err
		}
		results = append(results, rs...)
	}
	bench.SetRatios(results)
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(results)
	}
	return bench.WriteComparison(os.Stdout, results)
}

// runRemote drains through the Go client against a daemon of its own, one
// burn-down per API, each in a queue of its own on the same daemon.
func runRemote(ctx context.Context, apis []string, jobs, workers, batch int, progress func(string, ...any)) ([]bench.Result, error) {
	d, err := startDaemon(ctx)
	if err != nil {
		return nil, fmt.Errorf("omniq remote: %w", err)
	}
	defer d.stop()
	var results []bench.Result
	for _, api := range apis {
		cfg := bench.Config{
			Remote: d.url, Mode: bench.ModeBurndown, API: bench.API(api),
			Jobs: jobs, Workers: workers, Batch: batch, ProbeTasks: -1, SkipRecovery: true,
		}
		progress("omniq remote/%s: %d jobs, %d workers, omniqd at %s", api, jobs, workers, d.url)
		rep, err := bench.Run(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("omniq remote/%s: %w", api, err)
		}
		r := bench.ResultFromReport("remote", rep)
		r.Note = "client.New against omniqd (Pebble) in its own process"
		results = append(results, r)
	}
	return results, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
