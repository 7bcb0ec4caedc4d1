package faults

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/omniq/omniq/client"
	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/storeurl"
)

// allStores are the durable stores, in the order they run, and the file
// store on a small tmpfs that the harness fills up ("file-full", root only).
var allStores = []string{"pebble", "file", "sqlite", "postgres", "redis", "nats", "file-full"}

var (
	flagSeed         = flag.Uint64("seed", 0, "seed of the fault schedule and the clients' choices (0: pick one from the clock; it is printed)")
	flagDuration     = flag.Duration("duration", 0, "load and faults per store (0: TestFaults is skipped; `make faults` sets it)")
	flagKills        = flag.Int("kills", 12, "SIGKILLs of omniqd in total, spread evenly over the stores")
	flagStores       = flag.String("stores", strings.Join(allStores, ","), "comma-separated stores to run")
	flagServerFaults = flag.Int("server-faults", 2, "faults of the server per server store (redis, nats: kill -9 and restart; postgres: terminated connections; file-full: the disk filled up)")
	flagRestartPG    = flag.Bool("restart-postgres", false, "restart the machine's shared PostgreSQL (pg_ctlcluster) instead of terminating omniqd's connections: full runs only, other tests use that server")
	flagLease        = flag.Duration("lease-timeout", 3*time.Second, "omniqd --lease-timeout")
	flagDrain        = flag.Duration("drain-timeout", 3*time.Minute, "how long the drain with healthy workers may take")
	flagReport       = flag.String("report", "", "write the figures as JSON to this file")
	flagBinary       = flag.String("omniqd", "", "test this omniqd binary instead of building one from the working tree")
	flagCompact      = flag.Duration("compact-every", 0, "omniqd --compact-every, dropping what ended a second before, instead of retention (0: retention)")
	flagRetention    = flag.Duration("retention", time.Second, "omniqd --retention, into a compressed archive directory, when -compact-every is 0 (0: neither)")
	flagCluster      = flag.Bool("cluster", false, "the cluster schedule: -nodes omniqd nodes on one log per store (sqlite, postgres, redis, nats; default postgres,redis,nats), nodes killed and paused")
	flagNodes        = flag.Int("nodes", 3, "-cluster: omniqd nodes per log")
	flagPauses       = flag.Int("pauses", 6, "-cluster: SIGSTOPs of a node (for 1.2 to 2 lease timeouts, then SIGCONT) in total, spread evenly over the stores")
)

// figures is what one store's run did and found.
type figures struct {
	Store           string         `json:"store"`
	Seed            uint64         `json:"seed"`
	Duration        string         `json:"duration"`
	Kills           int            `json:"kills"`         // SIGKILLs of omniqd
	StartupKills    int            `json:"startup_kills"` // of which within 400ms of a restart
	Starts          int            `json:"starts"`        // omniqd starts that became ready
	FailedStarts    int            `json:"failed_starts"` // starts that exited before ready (store not back yet)
	MaxReady        string         `json:"max_ready"`     // longest start-to-ready
	MaxOutage       string         `json:"max_outage"`    // longest from a kill to the next acknowledged enqueue
	MaxServerOutage string         `json:"max_server_outage,omitempty"`
	ServerFaults    int            `json:"server_faults"`
	ServerFaultKind string         `json:"server_fault_kind,omitempty"`
	Enqueued        int            `json:"enqueued"`             // tasks whose enqueue was acknowledged
	EnqueuedRetry   int            `json:"enqueued_after_retry"` // found written by a retry
	EnqueueUnknown  int            `json:"enqueue_unknown"`      // no definite answer
	Leases          int            `json:"leases"`               // leases handed out to clients
	Completes       int            `json:"completes"`            // acknowledged answers
	Fails           int            `json:"fails"`
	Heartbeats      int            `json:"heartbeats"`
	StaleAnswers    int            `json:"stale_answers"` // workers' answers refused: the lease was lost to a fault
	Stalls          int            `json:"stalls"`
	StaleTries      int            `json:"stale_tries"` // deliberately stale answers (all must be refused)
	NoAnswer        int            `json:"no_answer"`   // calls that got no answer (connection refused or reset), retried
	Answer5xx       int            `json:"answer_5xx"`  // calls answered 5xx (store down, omniqd starting), retried
	Answer500       int            `json:"answer_500"`  // of those, answered 500 internal rather than 503
	LogHead         uint64         `json:"log_head"`
	Tasks           int            `json:"tasks"`
	Completed       int            `json:"completed"`
	Failed          int            `json:"failed"`
	LeaseExpiries   int            `json:"lease_expiries"`
	LostLeases      int            `json:"lost_leases"`  // leases written whose answer no client got
	Ignored         int            `json:"ignored"`      // events the log's order made moot
	AtStarts        int            `json:"at_starts"`    // pending/running tasks checked at omniqd starts
	Ends            map[string]int `json:"ends"`         // tasks per terminal state
	Deletes         int            `json:"deletes"`      // acknowledged deletes of tasks
	ScheduleOps     int            `json:"schedule_ops"` // acknowledged pauses, resumes and deletes of schedules
	Checkpoints     int            `json:"checkpoints"`  // compactions in the log's history
	DiskFull        int            `json:"disk_full"`    // omniqd log lines reporting ENOSPC (file-full)
	Archived        int            `json:"archived"`     // events read from the compaction archive
	Drain           string         `json:"drain"`
	Checks          map[string]int `json:"checks"` // items checked per check
	Passed          bool           `json:"passed"`

	// The cluster schedule (-cluster) only.
	Nodes     int             `json:"nodes,omitempty"`     // omniqd nodes on the log
	Pauses    int             `json:"pauses,omitempty"`    // SIGSTOPs of a node
	Abandoned int             `json:"abandoned,omitempty"` // leases dropped by workers that died with their node
	Conflicts uint64          `json:"conflicts,omitempty"` // batches that lost a conditional append (the last incarnations)
	Failover  []*clusterFault `json:"failover,omitempty"`  // each kill and pause of a node, and its failover
}

// TestFaults is the fault harness (see the package doc). It runs only when
// given -duration: `make faults`, or .ci/run's short schedule.
func TestFaults(t *testing.T) {
	if *flagDuration <= 0 {
		t.Skip("the fault harness runs with -duration (make faults)")
	}
	seed := *flagSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano()%1_000_000_000) + 1
	}
	if *flagCluster && !storesGiven() {
		*flagStores = "postgres,redis,nats"
	}
	names := strings.Split(*flagStores, ",")
	bin := *flagBinary
	if *flagCluster {
		all := testCluster(t, seed, bin, names)
		t.Log("\n" + summary(all))
		writeReport(t, all)
		return
	}
	for _, n := range names {
		if !slices.Contains(allStores, n) {
			t.Fatalf("-stores: unknown store %q (want some of %s)", n, strings.Join(allStores, ","))
		}
	}
	replay := func(stores string, kills int) string {
		s := fmt.Sprintf("make faults SEED=%d DURATION=%s KILLS=%d STORES=%s SERVER_FAULTS=%d", seed, *flagDuration, kills, stores, *flagServerFaults)
		return s + faultsArgs()
	}
	t.Logf("seed %d: %d kills over %s, %s of load per store; replay: %s", seed, *flagKills, *flagStores, *flagDuration, replay(*flagStores, *flagKills))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("FAILED with seed %d; replay: %s", seed, replay(*flagStores, *flagKills))
		}
	})
	if bin == "" {
		bin = buildOmniqd(t, t.TempDir())
	}
	var all []*figures
	for i, name := range names {
		kills := killsPerStore(*flagKills, len(names), i)
		t.Run(name, func(t *testing.T) {
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("FAILED with seed %d; replay this store: %s", seed, replay(name, kills))
				}
			})
			f := runStore(t, bin, seed, name, kills)
			f.Passed = !t.Failed()
			all = append(all, f)
		})
	}
	t.Log("\n" + summary(all))
	writeReport(t, all)
}

// faultsArgs is the FAULTS_ARGS part of a replay command: the flags of this
// run that differ from their defaults (" FAULTS_ARGS='…'"), or "" when none
// does.
func faultsArgs() string {
	var more []string
	if *flagLease != 3*time.Second {
		more = append(more, "-lease-timeout="+flagLease.String())
	}
	if *flagRestartPG {
		more = append(more, "-restart-postgres")
	}
	if *flagCompact != 0 {
		more = append(more, "-compact-every="+flagCompact.String())
	}
	if *flagRetention != time.Second {
		more = append(more, "-retention="+flagRetention.String())
	}
	if len(more) == 0 {
		return ""
	}
	return " FAULTS_ARGS='" + strings.Join(more, " ") + "'"
}

// writeReport writes the figures to -report, when given.
func writeReport(t *testing.T, all []*figures) {
	if *flagReport != "" {
		b, _ := json.MarshalIndent(all, "", "  ")
		if err := os.WriteFile(*flagReport, append(b, '\n'), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// storeSetup is one store's URL and how to fault its server.
type storeSetup struct {
	url       string
	faultKind string
	fault     func(ctx context.Context, down time.Duration) error // nil: no server
	// restart: omniqd is restarted after each fault, as a supervisor would
	// (a file store refuses writes after a failed one until reopened).
	restart bool
}

func setupStore(t *testing.T, seed uint64, name string) storeSetup {
	dir := t.TempDir()
	switch name {
	case "pebble":
		return storeSetup{url: "pebble://" + filepath.Join(dir, "pebble")}
	case "file":
		return storeSetup{url: "file://" + filepath.Join(dir, "file")}
	case "sqlite":
		return storeSetup{url: "sqlite://" + filepath.Join(dir, "omniq.db")}
	case "postgres":
		dsn := os.Getenv("OMNIQ_TEST_POSTGRES")
		if dsn == "" {
			t.Fatal("OMNIQ_TEST_POSTGRES is not set (make faults and .ci/run set it): the postgres store cannot run")
		}
		logName := fmt.Sprintf("faults_%d_%d", seed, time.Now().UnixNano()%1_000_000_000)
		app := "omniq_" + logName
		s := storeSetup{url: withQuery(dsn, "log", logName, "application_name", app)}
		if *flagRestartPG {
			s.faultKind = "postgres server restarted (pg_ctlcluster restart)"
			s.fault = func(ctx context.Context, _ time.Duration) error { return restartPostgres(ctx, dsn) }
		} else {
			s.faultKind = "omniqd's postgres connections terminated (pg_terminate_backend)"
			s.fault = func(ctx context.Context, _ time.Duration) error {
				n, err := terminateBackends(ctx, dsn, app)
				if err == nil && n == 0 {
					err = errors.New("no omniqd connection to terminate")
				}
				return err
			}
		}
		// Dropped once omniqd is stopped (cleanups run last first), on a
		// failure too: the seed replays it, and the shared server stays clean.
		t.Cleanup(func() {
			ctx := context.Background()
			log, err := storeurl.Open(ctx, s.url)
			if err != nil {
				t.Logf("drop postgres log %s: %v", logName, err)
				return
			}
			defer log.Close()
			if err := log.(stores.Dropper).Drop(ctx); err != nil {
				t.Logf("drop postgres log %s: %v", logName, err)
			}
		})
		return s
	case "file-full":
		disk := mountTmpfs(t, filepath.Join(dir, "disk"), "32m")
		return storeSetup{
			url:       "file://" + filepath.Join(disk, "file"),
			faultKind: "the store's 32 MiB tmpfs filled up (ENOSPC), freed, omniqd restarted",
			fault: func(ctx context.Context, down time.Duration) error {
				ballast, err := fillDisk(disk)
				if err != nil {
					return err
				}
				sleep(ctx, down)
				return os.Remove(ballast)
			},
			restart: true,
		}
	case "redis", "nats":
		var srv *server
		var url string
		if name == "redis" {
			srv = redisServer(t)
			url = fmt.Sprintf("redis://127.0.0.1:%d/0?name=faults&require_aof=true", srv.port)
		} else {
			srv = natsServer(t)
			url = fmt.Sprintf("nats://127.0.0.1:%d?name=faults", srv.port)
		}
		if err := srv.start(); err != nil {
			t.Fatal(err)
		}
		return storeSetup{
			url:       url,
			faultKind: "private " + srv.name + " killed (SIGKILL) and restarted",
			fault: func(ctx context.Context, down time.Duration) error {
				srv.kill9()
				sleep(ctx, down)
				return srv.start()
			},
		}
	}
	t.Fatalf("unknown store %q", name)
	return storeSetup{}
}

// runStore is one store's run: load and faults for -duration, a drain with
// healthy workers, a clean stop, the checks.
func runStore(t *testing.T, bin string, seed uint64, name string, kills int) *figures {
	ctx := context.Background()
	setup := setupStore(t, seed, name)
	serverFaults := 0
	if setup.fault != nil {
		serverFaults = *flagServerFaults
	}
	f := &figures{Store: name, Seed: seed, Duration: flagDuration.String(), ServerFaultKind: setup.faultKind, Checks: map[string]int{}}
	h := newHistory()
	d := newDaemon(t, bin, setup.url, *flagLease)
	archiveDir, archiveArgs := archiveFlags(t, *flagRetention)
	d.args = append(d.args, archiveArgs...)
	var maxReady time.Duration
	start := func() error { return startReady(ctx, t, d, h, f, setup.fault != nil, &maxReady) }
	if err := start(); err != nil {
		t.Fatal(err)
	}

	schedule := newSchedule(seed, name, *flagDuration, kills, serverFaults)
	var plan []string
	for _, x := range schedule {
		plan = append(plan, fmt.Sprintf("%s@%s", x.Kind, x.At.Round(100*time.Millisecond)))
	}
	t.Logf("%s: %s; schedule: %s", name, setup.url, strings.Join(plan, ", "))

	l := newLoad(t, h, seed, name, []string{d.url()}, *flagLease)
	run := startLoad(ctx)
	defer run.stop() // on a t.Fatal too: no client may outlive the test
	for p := range 2 {
		run.producers.Go(func() { l.produce(run.loadCtx, p) })
	}
	run.producers.Go(func() { l.stall(run.loadCtx, 0) })
	run.producers.Go(func() { l.shape(run.loadCtx, 0) })
	run.producers.Go(func() { l.schedule(run.loadCtx, 0, *flagDuration) })
	for w := range 4 {
		run.workers.Go(func() { l.work(run.workCtx, w) })
	}

	began := time.Now()
	recovered := &checkResult{name: checkRecovered}
	var worst outages
	ok := runSchedule(ctx, t, h, schedule, began, recovered, &worst, func(x fault, _ time.Time) (err error) {
		switch x.Kind {
		case killOmniqd:
			d.kill9()
			f.Kills++
			err = start()
		case killDuringStartup:
			d.kill9()
			f.Kills++
			if err = killStarting(ctx, d, h, f, x.Delay); err == nil {
				err = start()
			}
		case serverFault:
			if err = setup.fault(ctx, x.Down); err == nil {
				f.ServerFaults++
				if setup.restart {
					d.kill9()
					err = start()
				}
			}
		}
		return err
	})
	run.finish(ctx, t, l, f, began, d.url(), ok)

	// A clean stop, then the checks on the log at rest.
	code, stopErr := d.stop(60 * time.Second)
	log, err := storeurl.Open(ctx, setup.url)
	if err != nil {
		t.Fatalf("open the store to check it: %v", err)
	}
	r, err := check(ctx, log, archiveDir, h)
	log.Close()
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	r.checks = append(r.checks, recovered)
	c := r.check(checkCleanShutdown)
	c.checked++
	if stopErr != nil || code != 0 {
		c.fail("omniqd exited %d on SIGTERM: %v\n%s", code, stopErr, d.logTail(20))
	}
	verifyCheck(ctx, t, r.check(checkVerify), bin, setup.url)

	fill(f, h, r, maxReady)
	f.MaxOutage = worst.node.Round(time.Millisecond).String()
	if b, err := os.ReadFile(d.logPath); err == nil {
		f.DiskFull = strings.Count(string(b), "no space left on device")
	}
	if setup.restart {
		t.Logf("%s: omniqd logged %d errors with ENOSPC", name, f.DiskFull)
		if f.ServerFaults > 0 && f.DiskFull == 0 {
			t.Errorf("%s: the disk filled up %d times but omniqd never logged ENOSPC: the fault missed the store", name, f.ServerFaults)
		}
	}
	f.MaxServerOutage = worst.server.Round(time.Millisecond).String()
	t.Logf("%s checks:\n%s", name, r)
	if !r.ok() {
		t.Errorf("%s: checks failed; the end of omniqd's log:\n%s", name, d.logTail(60))
	}
	if t.Failed() {
		keepHistory(ctx, t, bin, setup.url, archiveDir, fmt.Sprintf("omniq-faults-%d-%s", seed, name), []string{d.logPath})
	}
	return f
}

// archiveFlags returns the archive directory of a run ("" for none) and
// the omniqd flags that write it: retention's compressed archive, or the
// periodic compactor's JSON Lines files (-compact-every). The nodes of a
// cluster share one. retention is -retention, or the cluster's floor.
func archiveFlags(t *testing.T, retention time.Duration) (string, []string) {
	switch {
	case *flagCompact > 0:
		dir := filepath.Join(t.TempDir(), "archive")
		return dir, []string{"--compact-every", flagCompact.String(), "--compact-before", "1s", "--compact-archive", dir}
	case retention > 0:
		dir := filepath.Join(t.TempDir(), "archive")
		return dir, []string{"--retention", retention.String(), "--archive", dir}
	}
	return "", []string{"--retention", "keep"}
}

// startReady starts d and waits until it serves, as a supervisor would: a
// start that exits early (a server store not back yet, retry set) is
// retried. It records the start in h and f.
func startReady(ctx context.Context, t *testing.T, d *daemon, h *history, f *figures, retry bool, maxReady *time.Duration) error {
	var last error
	for try := 0; try < 10; try++ {
		began := time.Now()
		p, err := d.start()
		if err != nil {
			return err
		}
		pos, err := d.waitReady(p, 60*time.Second)
		if err == nil {
			h.started(pos)
			f.Starts++
			*maxReady = max(*maxReady, time.Since(began))
			return nil
		}
		last = err
		d.kill9()
		f.FailedStarts++
		if !retry {
			return err // an embedded store has no server to wait for
		}
		t.Logf("omniqd start %d failed, retrying: %v", try+1, firstLine(err))
		sleep(ctx, time.Second)
	}
	return fmt.Errorf("omniqd did not start in 10 tries: %w", last)
}

// verifyCheck runs `omniqd verify` on store (more: its other flags) into c.
func verifyCheck(ctx context.Context, t *testing.T, c *checkResult, bin, store string, more ...string) {
	c.checked++
	vctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	vcode, vrep, vout, err := verify(vctx, bin, store, more...)
	cancel()
	switch {
	case err != nil:
		c.fail("omniqd verify: %v", err)
	case vcode != 0 || vrep == nil || !vrep.OK():
		c.fail("omniqd verify %s exited %d: %s", strings.Join(more, " "), vcode, vout)
		if vrep != nil {
			for _, b := range vrep.Breaches {
				c.fail("%s", b)
			}
		}
	}
	if vrep != nil {
		for _, w := range vrep.Warnings {
			t.Logf("verify warning: %s %s ×%d (first #%d, task %s: %s)", w.Type, w.Reason, w.Count, w.First, w.TaskID, w.Example)
		}
	}
}

// drain waits until the server shows no task waiting, pending or running.
func drain(ctx context.Context, url string, timeout time.Duration) error {
	c, err := client.New(url)
	if err != nil {
		return err
	}
	defer c.Close()
	var last string
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		st, err := c.Stats(cctx)
		cancel()
		if err == nil {
			open := 0
			for _, counts := range st.Queues {
				open += counts[engine.StateWaiting] + counts[engine.StatePending] + counts[engine.StateRunning]
			}
			if open == 0 && st.Schedules == 0 {
				return nil
			}
			last = fmt.Sprintf("%d tasks not ended, %d schedules active: %v", open, st.Schedules, st.Queues)
		} else {
			last = err.Error()
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("not drained within %v: %s", timeout, last)
}

// waitAck waits, at most bound, until an enqueue is acknowledged after the
// call, and returns the time from since until then: the outage clients saw.
func waitAck(ctx context.Context, h *history, since time.Time, bound time.Duration) (time.Duration, error) {
	before := h.acked()
	for deadline := time.Now().Add(bound); h.acked() == before; {
		if time.Now().After(deadline) || !sleep(ctx, 10*time.Millisecond) {
			return time.Since(since), fmt.Errorf("no enqueue acknowledged within %v of the fault's end", bound)
		}
	}
	return time.Since(since), nil
}

// loadRun is a run's load in two groups, each under its own context: the
// producers (with the stalling worker and the other makers of load), which
// stop at the end of the run's duration, and the workers, which stop after
// the drain.
type loadRun struct {
	loadCtx, workCtx   context.Context
	stopLoad, stopWork context.CancelFunc
	producers, workers sync.WaitGroup
}

// startLoad returns a loadRun under ctx with no goroutine yet.
func startLoad(ctx context.Context) *loadRun {
	r := &loadRun{}
	r.loadCtx, r.stopLoad = context.WithCancel(ctx)
	r.workCtx, r.stopWork = context.WithCancel(ctx)
	return r
}

// stop stops both groups and waits for them, a bounded time each.
func (r *loadRun) stop() {
	r.stopLoad()
	r.stopWork()
	waitTimeout(&r.producers, answerBudget+*flagLease+3*time.Minute)
	waitTimeout(&r.workers, answerBudget+time.Minute)
}

// finish ends the load the run's duration after began; then, when the run
// is ok, the drain: healthy workers until every task in the log has ended,
// asking through url, its length recorded in f. Last the workers stop.
func (r *loadRun) finish(ctx context.Context, t *testing.T, l *load, f *figures, began time.Time, url string, ok bool) {
	sleep(ctx, time.Until(began.Add(*flagDuration)))
	r.stopLoad()
	if !waitTimeout(&r.producers, answerBudget+*flagLease+3*time.Minute) {
		t.Error("producers and the stalling worker did not stop")
	}
	l.healthy.Store(true)
	drainBegan := time.Now()
	if ok {
		if err := drain(ctx, url, *flagDrain); err != nil {
			t.Errorf("drain: %v", err)
		}
	}
	f.Drain = time.Since(drainBegan).Round(100 * time.Millisecond).String()
	r.stopWork()
	if !waitTimeout(&r.workers, answerBudget+time.Minute) {
		t.Error("workers did not stop")
	}
}

// killStarting is the second kill of a killDuringStartup fault: it starts
// d and kills it delay later, while it starts. A start that got as far as
// serving counts as a start, since clients may have used it.
func killStarting(ctx context.Context, d *daemon, h *history, f *figures, delay time.Duration) error {
	p, err := d.start()
	if err != nil {
		return err
	}
	sleep(ctx, delay)
	d.kill9()
	f.Kills++
	f.StartupKills++
	select {
	case pos := <-p.ready:
		h.started(pos)
		f.Starts++
	default:
	}
	return nil
}

// runSchedule carries out the faults of schedule by do, each at its time
// after began; after each it waits for an enqueue to be acknowledged again
// (recoveredAfter) and notes the outage in worst. It stops when ctx is
// done, or at the first fault do could not carry out, which fails t and
// makes it return false.
func runSchedule(ctx context.Context, t *testing.T, h *history, schedule []fault, began time.Time, recovered *checkResult, worst *outages, do func(x fault, faultBegan time.Time) error) bool {
	for _, x := range schedule {
		if !sleep(ctx, time.Until(began.Add(x.At))) {
			break
		}
		faultBegan := time.Now()
		if err := do(x, faultBegan); err != nil {
			t.Errorf("%s at %s: %v", x.Kind, x.At, err)
			return false
		}
		worst.note(x.Kind, recoveredAfter(ctx, h, recovered, x, faultBegan))
	}
	return true
}

// recoveredAfter is the check after each fault x, begun at faultBegan: an
// enqueue is acknowledged again within a minute. It returns how long the
// outage lasted.
func recoveredAfter(ctx context.Context, h *history, recovered *checkResult, x fault, faultBegan time.Time) time.Duration {
	recovered.checked++
	outage, err := waitAck(ctx, h, faultBegan, time.Minute)
	if err != nil {
		recovered.fail("%s at %s: %v", x.Kind, x.At, err)
	}
	return outage
}

// outages are the longest outages recoveredAfter measured, after the
// faults of a node (kills) and after those of the store's server.
type outages struct{ node, server time.Duration }

// note counts an outage of d after a fault of kind.
func (o *outages) note(kind faultKind, d time.Duration) {
	if kind == serverFault {
		o.server = max(o.server, d)
	} else {
		o.node = max(o.node, d)
	}
}

// waitTimeout waits for wg, at most d; it reports whether wg finished.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// fill copies the history's and the report's figures into f.
func fill(f *figures, h *history, r *report, maxReady time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f.MaxReady = maxReady.Round(time.Millisecond).String()
	for _, o := range h.enqueued {
		switch o {
		case enqueueAcked:
			f.Enqueued++
		case enqueueWritten:
			f.EnqueuedRetry++
		default:
			f.EnqueueUnknown++
		}
	}
	f.Leases = h.nLeases
	for _, a := range h.answers {
		switch {
		case a.ok && a.verb == verbComplete:
			f.Completes++
		case a.ok && a.verb == verbFail:
			f.Fails++
		case a.ok:
			f.Heartbeats++
		case a.stale:
			f.StaleAnswers++
		}
	}
	f.Stalls = len(h.stalled) + len(h.neverUp)
	f.Abandoned = len(h.abandoned)
	f.StaleTries = len(h.stale)
	f.NoAnswer, f.Answer5xx, f.Answer500 = h.transport, h.answer5xx, h.answer500
	f.LogHead, f.Tasks, f.Completed, f.Failed = r.head, r.tasks, r.completed, r.failed
	f.LeaseExpiries, f.LostLeases, f.Ignored, f.AtStarts = r.expiries, r.lostLeases, r.ignored, r.atStarts
	f.Deletes, f.ScheduleOps, f.Checkpoints, f.Archived = len(h.deletes), len(h.scheduleOps), r.checkpoints, r.archived
	f.Ends = map[string]int{}
	for s, n := range r.ends {
		f.Ends[s.String()] = n
	}
	for _, c := range r.checks {
		f.Checks[c.name] = c.checked
	}
}

// summary is the figures as a table.
func summary(all []*figures) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 1, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "store\tkills\tserver\tstarts\tready\toutage\tsrv outage\ttasks\tleases\tstalls\tstale tries\tstale answers\texpiries\tlost leases\tignored\t5xx\tno answer\tevents\tcompleted/failed/expired/cancelled/deleted\tdeletes\tcheckpoints\tarchived\tdrain\tresult\t")
	var tot figures
	for _, f := range all {
		result := "PASS"
		if !f.Passed {
			result = "FAIL"
		}
		ends := fmt.Sprintf("%d/%d/%d/%d/%d", f.Ends["completed"], f.Ends["failed"], f.Ends["expired"], f.Ends["cancelled"], f.Ends["deleted"])
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%d\t%d\t%d\t%s\t%s\t\n",
			f.Store, f.Kills, f.ServerFaults, f.Starts, f.MaxReady, f.MaxOutage, f.MaxServerOutage, f.Tasks, f.Leases, f.Stalls,
			f.StaleTries, f.StaleAnswers, f.LeaseExpiries, f.LostLeases, f.Ignored, f.Answer5xx, f.NoAnswer, f.LogHead,
			ends, f.Deletes, f.Checkpoints, f.Archived, f.Drain, result)
		tot.Kills += f.Kills
		tot.ServerFaults += f.ServerFaults
		tot.Starts += f.Starts
		tot.Tasks += f.Tasks
		tot.Leases += f.Leases
		tot.Stalls += f.Stalls
		tot.StaleTries += f.StaleTries
		tot.StaleAnswers += f.StaleAnswers
		tot.LeaseExpiries += f.LeaseExpiries
		tot.LostLeases += f.LostLeases
		tot.Ignored += f.Ignored
		tot.Answer5xx += f.Answer5xx
		tot.NoAnswer += f.NoAnswer
		tot.LogHead += f.LogHead
		tot.Deletes += f.Deletes
		tot.Checkpoints += f.Checkpoints
		tot.Archived += f.Archived
	}
	fmt.Fprintf(tw, "total\t%d\t%d\t%d\t\t\t\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\t%d\t%d\t%d\t\t\t\n",
		tot.Kills, tot.ServerFaults, tot.Starts, tot.Tasks, tot.Leases, tot.Stalls, tot.StaleTries, tot.StaleAnswers,
		tot.LeaseExpiries, tot.LostLeases, tot.Ignored, tot.Answer5xx, tot.NoAnswer, tot.LogHead, tot.Deletes, tot.Checkpoints, tot.Archived)
	tw.Flush()
	if slices.ContainsFunc(all, func(f *figures) bool { return f.Nodes > 0 }) {
		b.WriteString("\nfailover (cluster): after each kill and pause of a node, the first enqueue a live node acknowledged;\n" +
			"for the leases that node had granted and its workers never answered, from each lease's deadline to its expiry and to the task's next lease\n")
		b.WriteString(failoverTable(all))
	}
	return b.String()
}
