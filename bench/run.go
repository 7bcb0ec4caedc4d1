package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/omniq/omniq/engine"
)

// Queue is the queue every benchmark task goes to.
const Queue = "bench"

// Run performs the run cfg describes and reports what it measured. It
// returns an error wrapping ErrConfig for a bad Config, or the first error
// the store or the engine returned (the run stops there). ctx cancels the
// run.
func Run(ctx context.Context, cfg Config) (rep *Report, err error) {
	cfg = cfg.Defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Remote != "" {
		return runRemote(ctx, cfg)
	}
	t, err := newTarget(cfg.Store, cfg.Keep)
	if err != nil {
		return nil, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if cerr := t.cleanup(cctx); cerr != nil && err == nil {
			err = fmt.Errorf("bench: clean up %s: %w", t.display, cerr)
		}
	}()
	cfg.progress("store %s", t.display)

	log, err := t.open(ctx)
	if err != nil {
		return nil, fmt.Errorf("bench: open store: %w", err)
	}
	var crashed atomic.Bool
	// The harness reads the same clock the engine stamps events with.
	var clk engine.Clock = &engine.SystemClock{}
	opts := []engine.Option{engine.WithClock(clk)}
	switch {
	case cfg.SnapshotEvery > 0:
		opts = append(opts, engine.WithSnapshotEvery(uint64(cfg.SnapshotEvery)))
	case cfg.SnapshotEvery < 0:
		opts = append(opts, engine.WithSnapshotEvery(0))
	}
	ropt, rdesc, anotherRetention, removeArchive, err := retention(cfg)
	if err != nil {
		log.Close()
		return nil, err
	}
	defer func() {
		if cerr := removeArchive(); cerr != nil && err == nil {
			err = fmt.Errorf("bench: remove the archive: %w", cerr)
		}
	}()
	// Node 0 (and the recovery measurements) get ropt; every other node
	// the same retention with an archive handle of its own.
	base := opts
	nodeRetention := func(i int) (engine.Option, error) {
		if i == 0 {
			return ropt, nil
		}
		return anotherRetention()
	}
	if ropt != nil {
		opts = append(opts[:len(opts):len(opts)], ropt)
		cfg.progress("retention %s", rdesc)
	}
	rep = newReport(cfg, t.display)
	rep.Retention = rdesc
	if cfg.Mode == ModeRecovery {
		// Everything a recovery run does is measured: generation and reopening.
		stopProfile, err := startProfile(cfg)
		if err != nil {
			log.Close()
			return nil, err
		}
		defer stopProfile()
		head, err := log.Head(ctx)
		if err != nil {
			log.Close()
			return nil, fmt.Errorf("bench: store head: %w", err)
		}
		if head >= cfg.Events {
			cfg.progress("recovery: the store already holds %d events", head)
			if err := log.Close(); err != nil {
				return nil, fmt.Errorf("bench: close: %w", err)
			}
			return recoverInto(ctx, cfg, t, opts, rep)
		}
	}
	nodes, err := openNodes(ctx, cfg, t, log, base, nodeRetention, crashed.Load)
	if err != nil {
		return nil, err
	}
	if cfg.Nodes > 1 {
		cfg.progress("%d nodes on one log, each on a store handle of its own", cfg.Nodes)
	}
	r := &runner{cfg: cfg, nodes: nodes, e: nodes[0].e, clk: clk, rep: rep, drained: make(chan struct{}), dir: t.dir}
	switch cfg.Mode {
	case ModeBurndown, ModeContinuous:
		err = r.workload(ctx)
	case ModeRecovery:
		err = r.generate(ctx)
	}
	if err == nil {
		if err = r.settle(ctx); err == nil {
			rep.Shared, rep.NodeStats = r.nodeStats(ctx)
		}
	}
	rep.PeakRSS = procStatus("VmHWM")
	// The store is left as a crash would leave it: with the engines' last
	// periodic snapshot, not one written by Close.
	crashed.Store(true)
	if cerr := closeNodes(nodes); err == nil && cerr != nil {
		err = fmt.Errorf("bench: close: %w", cerr)
	}
	if err != nil {
		return nil, err
	}
	return recoverInto(ctx, cfg, t, opts, rep)
}

// recoverInto fills rep.Recovery unless the run skips it, and returns rep.
func recoverInto(ctx context.Context, cfg Config, t *target, opts []engine.Option, rep *Report) (*Report, error) {
	if !cfg.SkipRecovery {
		rc, err := measureRecovery(ctx, cfg, t, opts)
		if err != nil {
			return nil, err
		}
		rep.Recovery = rc
	}
	if cfg.Mode == ModeRecovery {
		rep.PeakRSS = procStatus("VmHWM")
	}
	return rep, nil
}

// startProfile starts the CPU profile, when asked for, and returns its
// stop (which may be called more than once).
func startProfile(cfg Config) (stop func(), err error) {
	if cfg.CPUProfile == nil {
		return func() {}, nil
	}
	if err := pprof.StartCPUProfile(cfg.CPUProfile); err != nil {
		return nil, fmt.Errorf("bench: cpu profile: %w", err)
	}
	return pprof.StopCPUProfile, nil
}

// runner holds one run's engines and counters.
type runner struct {
	dir   string // the store's directory, for its size (see dirBytes)
	cfg   Config
	nodes []*node
	// e is node 0's engine: the one whose Stats the run reports (each read
	// brings its state to the log's head first).
	e   *engine.Engine
	clk engine.Clock
	rep *Report

	enqueued  atomic.Int64 // main-phase tasks enqueued
	worked    atomic.Int64 // main-phase tasks worked (completion recorded, or handler run for APIWork)
	probeDone atomic.Int64
	target    int64         // burn-down: drained closes when worked reaches it
	drained   chan struct{} // closed when worked reaches target
	gate      chan struct{} // continuous: one token per outstanding task
	gateMu    sync.Mutex    // held by the producer taking a call's tokens

	load, idle, late samples
}

// Task funcs tell the phases apart.
const (
	funcMain    = "noop"
	funcProbe   = "probe"
	funcProbeAt = "probe-at"
)

func (r *runner) workload(ctx context.Context) error {
	cfg := r.cfg
	wctx, stopWorkers := context.WithCancel(ctx)
	defer stopWorkers()
	werr := make(chan error, 1)
	workersDone := make(chan struct{})
	startWorkers := func() {
		go func() {
			defer close(workersDone)
			if err := r.runWorkers(wctx); err != nil {
				werr <- err
			}
		}()
	}

	switch cfg.Mode {
	case ModeBurndown:
		r.target = int64(cfg.Jobs)
		cfg.progress("burn-down: enqueue %d tasks (%s API, %d producers)", cfg.Jobs, cfg.API, cfg.Producers)
		heap0 := heapAfterGC()
		w, stopProfile, err := r.startMain(ctx)
		if err != nil {
			return err
		}
		defer stopProfile()
		began := time.Now()
		if err := r.produce(ctx, int64(cfg.Jobs), nil); err != nil {
			return err
		}
		took := time.Since(began)
		heap1 := heapAfterGC()
		r.rep.Enqueued = r.enqueued.Load()
		r.rep.EnqueueSeconds, r.rep.EnqueuePerSec = seconds(took), rate(r.rep.Enqueued, took)
		r.rep.HeapPerPending = (float64(heap1) - float64(heap0)) / float64(cfg.Jobs)
		r.rep.RSSPending = procStatus("VmRSS")

		cfg.progress("burn-down: drain with %d workers", cfg.Workers)
		began = time.Now()
		startWorkers()
		if err := r.wait(ctx, r.drained, werr); err != nil {
			return err
		}
		if err := r.awaitCompleted(ctx, int(r.target)); err != nil {
			return err
		}
		drain := time.Since(began)
		w.end(ctx, took+drain)
		stopProfile()
		r.rep.Worked = r.worked.Load()
		r.rep.WorkSeconds, r.rep.WorkedPerSec = seconds(drain), rate(r.rep.Worked, drain)
		r.rep.EndToEndPerSec = rate(r.rep.Worked, took+drain)

	case ModeContinuous:
		cfg.progress("continuous: %s with %d producers and %d workers (%s API)", cfg.Duration, cfg.Producers, cfg.Workers, cfg.API)
		r.target = -1
		r.gate = make(chan struct{}, cfg.Backlog)
		stop := make(chan struct{})
		perr := make(chan error, 1)
		w, stopProfile, err := r.startMain(ctx)
		if err != nil {
			return err
		}
		defer stopProfile()
		began := time.Now()
		startWorkers()
		go func() { perr <- r.produce(ctx, -1, stop) }()
		// One timer, due at the next interval's end or the run's, whichever
		// comes first: the last sample is taken at the run's end, so the
		// intervals add up to the run.
		iv := r.newIntervals(began)
		end, next := began.Add(cfg.Duration), began.Add(cfg.Interval)
		var (
			worked, enqueued int64
			took             time.Duration
		)
		for {
			at, last := next, !next.Before(end)
			if last {
				at = end
			}
			timer := time.NewTimer(time.Until(at))
			select {
			case <-timer.C:
			case err := <-perr:
				timer.Stop()
				if err == nil {
					err = errors.New("bench: producers stopped early")
				}
				return err
			case err := <-werr:
				timer.Stop()
				return err
			case <-ctx.Done():
				timer.Stop()
				return ctx.Err()
			}
			now := time.Now()
			if last {
				worked, enqueued = iv.sample(ctx, now)
				took = now.Sub(began)
				w.end(ctx, took)
				break
			}
			iv.sample(ctx, now)
			next = next.Add(cfg.Interval)
		}
		r.rep.Intervals = iv.out
		stopProfile()
		close(stop)
		if err := <-perr; err != nil {
			return err
		}
		r.rep.EnqueueSeconds, r.rep.EnqueuePerSec = seconds(took), rate(enqueued, took)
		r.rep.WorkSeconds, r.rep.WorkedPerSec = seconds(took), rate(worked, took)
		r.rep.EndToEndPerSec = r.rep.WorkedPerSec
		// Finish the backlog (outside the measured window) so that the
		// probe finds idle workers and the counts add up.
		r.rep.Enqueued = r.enqueued.Load()
		cfg.progress("continuous: finish the backlog of %d", r.rep.Enqueued-r.worked.Load())
		if err := r.awaitWorked(ctx, r.rep.Enqueued, werr); err != nil {
			return err
		}
		if err := r.awaitCompleted(ctx, int(r.rep.Enqueued)); err != nil {
			return err
		}
		r.rep.Worked = r.worked.Load()
	}
	r.rep.Completed = r.completed(ctx)
	r.rep.StartLatency = r.load.summary()

	if cfg.ProbeTasks > 0 {
		cfg.progress("probe: %d tasks at %d/s, %.0f%% delayed up to %s", cfg.ProbeTasks, cfg.ProbeRate, cfg.ScheduledFraction*100, cfg.ScheduleAhead)
		if err := r.probe(ctx, werr); err != nil {
			return err
		}
		r.rep.IdleStartLatency = r.idle.summary()
		r.rep.ScheduledLateness = r.late.summary()
	}
	stopWorkers()
	<-workersDone
	select {
	case err := <-werr:
		return err
	default:
	}
	return nil
}

// window measures what the measured phase cost besides its tasks: CPU,
// the store appends and the batches that lost a conditional append.
type window struct {
	r         *runner
	cpu       cpuMark
	conflicts uint64
	appends   appendTotals
}

// startMain starts the main phase: the CPU profile, when asked for, and the
// window its figures are taken over. stop ends the profile; calling it again
// does nothing.
func (r *runner) startMain(ctx context.Context) (w *window, stop func(), err error) {
	stop, err = startProfile(r.cfg)
	if err != nil {
		return nil, nil, err
	}
	return r.startWindow(ctx), stop, nil
}

func (r *runner) startWindow(ctx context.Context) *window {
	return &window{r: r, cpu: markCPU(), conflicts: r.conflicts(ctx), appends: r.appendTotals()}
}

// end puts the window's figures, over took, into the report.
func (w *window) end(ctx context.Context, took time.Duration) {
	rep := w.r.rep
	rep.CPUCores, rep.MachineBusy = markCPU().since(w.cpu)
	rep.Conflicts = w.r.conflicts(ctx) - w.conflicts
	rep.ConflictsPerSec = rate(int64(rep.Conflicts), took)
	a := w.r.appendTotals()
	rep.Appends = a.appends - w.appends.appends
	rep.AppendsPerSec = rate(int64(rep.Appends), took)
	if rep.Appends > 0 {
		rep.AppendMs = ms(time.Duration(a.nanos-w.appends.nanos)) / float64(rep.Appends)
	}
	if landed := rep.Appends - rep.Conflicts; landed > 0 && rep.Appends >= rep.Conflicts {
		rep.EventsPerAppend = float64(a.events-w.appends.events) / float64(landed)
	}
}

// wait waits for done, a worker error or ctx.
func (r *runner) wait(ctx context.Context, done <-chan struct{}, werr <-chan error) error {
	select {
	case <-done:
		return nil
	case err := <-werr:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// awaitWorked polls until the main phase has worked n tasks.
func (r *runner) awaitWorked(ctx context.Context, n int64, werr <-chan error) error {
	for r.worked.Load() < n {
		if err := pause(ctx, werr); err != nil {
			return err
		}
	}
	return nil
}

// pause waits a millisecond between two polls. It returns sooner with the
// error of the workers, from werr (which carries only errors; nil watches
// none), or ctx's when ctx is done.
func pause(ctx context.Context, werr <-chan error) error {
	select {
	case err := <-werr:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Millisecond):
		return nil
	}
}

// awaitCompleted polls until the engine counts n completed tasks in Queue:
// with the Work pool the harness sees a task when its handler runs, and
// the engine records the completion just after.
func (r *runner) awaitCompleted(ctx context.Context, n int) error {
	if !r.cfg.API.pool() {
		return nil
	}
	for r.completed(ctx) < n {
		if err := pause(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

func (r *runner) completed(ctx context.Context) int {
	// Every task of a run completes: those retention dropped did too.
	st, _ := r.e.Stats(ctx) // an engine's Stats do not fail
	return st.Queues[Queue][engine.StateCompleted] + st.Compacted
}
