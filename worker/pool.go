// Package worker is the worker pool the embedded engine and the omniqd
// client share: both Work calls run it, each over its own source of leases.
//
// One loop per pool talks to the source: it leases up to its free slots in
// one request and sends finished outcomes in batches, each batch leasing the
// next tasks in the same request (FinishBatch), so a busy pool makes a few
// requests for many tasks rather than two per task. Idle, it long-polls the
// source (a lease-only FinishBatch that waits), so a new task starts without
// polling delay. Each leased task's handler runs in its own goroutine
// (Config.Run, which watches its lease); when ctx ends, the pool stops
// taking tasks, runs the ones it holds, waits for running handlers, records
// their outcomes, and returns nil.
//
// While its handlers are quick (each of the last quickRun finished within
// quickHandler), a pool leases up to LeaseAhead-1 times Concurrency tasks
// ahead of its free slots, so that a slot that frees starts the next task
// at once instead of waiting a round trip for it, and each request carries
// more tasks. One slow handler stops the leasing ahead until quick ones come
// again; the tasks already held still run. A task held ahead keeps its
// lease (hold.go): once it has waited a third of its lease for a slot, the
// pool extends the leases of the held tasks in one request
// (HeartbeatBatch), and a held task whose lease is lost (its heartbeat
// refused as stale, or its deadline passed while heartbeats failed) is
// dropped, never run. A request that fails is retried with backoff, its
// outcomes sent again (a repeated outcome that had been recorded is refused
// as a stale lease and changes nothing), unless Config.Fatal says retrying
// cannot help: then the pool drains and returns that error.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/omniq/omniq/queue"
)

// Source is where a pool leases tasks and records their outcomes: the
// engine, or the client of a remote one.
type Source interface {
	// FinishBatch records outcomes and, in the same request, leases up to n
	// ready tasks of queues (in order of preference), waiting up to wait
	// for one when none is ready (see queue.Queue).
	FinishBatch(ctx context.Context, outcomes []queue.Outcome, queues []string, n int, wait time.Duration) ([]error, []*queue.Task, error)
	// HeartbeatBatch extends the leases of tasks (each named by its
	// Attempt) by the lease timeout and copies each extended lease's
	// LeaseDeadline and UpdatedAt into its task. The slice holds, per task,
	// nil or why its lease was not extended (queue.ErrStaleLease: it is
	// lost); the error is for the request as a whole.
	HeartbeatBatch(ctx context.Context, tasks []*queue.Task) ([]error, error)
}

// Config is what a pool runs on.
type Config struct {
	Source Source
	// Queues to lease from, in order of preference, already checked
	// (queue.ValidateQueueName) and without "" (use queue.DefaultQueue).
	Queues []string
	// Concurrency: how many handlers run at once (at least 1).
	Concurrency int
	// Wait bounds one long-poll of an idle pool.
	Wait time.Duration
	// Run runs one attempt of a leased task, leased (or its lease last
	// extended, for a task held for a slot) by a request that left at
	// sent, and returns its outcome: the handler's result (normalized as
	// the log stores it) or why the attempt failed. It watches the lease:
	// the handler's context ends when the lease runs out.
	Run func(task *queue.Task, sent time.Time) queue.Outcome
	// Fatal reports whether a failed request ends the pool (the error is
	// returned once running handlers are done) rather than being retried.
	Fatal func(error) bool
	// TooLarge reports whether a failed request was refused for its size
	// (omniqd's 413): its outcomes are sent again in smaller requests, and
	// one too large alone fails its attempt instead. Checked before Fatal.
	TooLarge func(error) bool
	// RetryAfter, when set, is the least wait before a failed request is
	// retried, as the source asks (0: the backoff decides).
	RetryAfter func(error) time.Duration
	Logger     *slog.Logger
	// LeaseAhead: while handlers are quick, the pool keeps up to
	// LeaseAhead times Concurrency tasks out, running and held (0:
	// DefaultLeaseAhead; 1: none held). A source whose requests are cheap
	// in-process calls batching into one log append gains from more: see
	// the engine's Work.
	LeaseAhead int
	// MaxLease bounds the tasks one request leases (0: DefaultMaxLease,
	// omniqd's bound on one request).
	MaxLease int
}

// The bounds a Config leaves at 0 get. Against PostgreSQL at Concurrency
// 64, the remote pool's defaults were measured against 2 (3 drained a
// median 17% more over 35 interleaved pairs); the engine's Work sets its
// own (engine/worker.go).
const (
	DefaultLeaseAhead = 3
	DefaultMaxLease   = 100
)

// Run runs cfg's pool until ctx ends (nil) or a request fails fatally (that
// error), in either case once running handlers are done and their outcomes
// sent.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.LeaseAhead <= 0 {
		cfg.LeaseAhead = DefaultLeaseAhead
	}
	if cfg.MaxLease <= 0 {
		cfg.MaxLease = DefaultMaxLease
	}
	p := &pool{cfg: cfg, queues: cfg.Queues, n: max(cfg.Concurrency, 1)}
	return p.run(ctx)
}

// Bounds of the Work loop.
const (
	maxSending = 2           // outcome requests in flight at once
	outcomeTTL = time.Minute // how long an outcome is retried before it is given up
	// While handlers still run, an outcome waits outcomeLinger for others
	// to join its request (at most maxLinger in all). Remote, a request is
	// a round trip; in process, a command that carries more outcomes makes
	// bigger appends: without it the engine's pool drained PostgreSQL at
	// 51-55k tasks/s against 62-65k.
	outcomeLinger = 300 * time.Microsecond
	maxLinger     = time.Millisecond
	// A pool leases ahead of its free slots once quickRun handlers in a
	// row each finished within quickHandler: up to Config.LeaseAhead
	// times Concurrency tasks out at once, running and held, each request
	// asking for at most Config.MaxLease.
	quickHandler = 2 * time.Millisecond
	quickRun     = 256
)

// finished is a handler's outcome waiting to be sent.
type finished struct {
	o     queue.Outcome
	first time.Time     // when it was first ready to send
	took  time.Duration // how long the handler ran
}

// held is a task leased ahead of a free slot.
type held struct {
	task *queue.Task
	// sent: when the request that leased it, or last extended its lease,
	// left. Run reads its lease from task and sent.
	sent     time.Time
	lease    time.Duration // its lease's length (0: not known)
	deadline time.Time     // sent+lease: its lease's end on the local clock (zero: not known)
	due      time.Time     // when its lease is extended (zero: never)
	beating  bool          // a heartbeat for it is in flight
	// confirm: leased by a long poll that waited, so the request's
	// departure is no bound on its lease: it runs once a heartbeat has
	// renewed it (deadline is then only an upper bound).
	confirm bool
}

// reply is the answer to one request of the Work loop.
type reply struct {
	sent  []finished
	ask   int
	poll  bool
	sentT time.Time
	errs  []error
	tasks []*queue.Task
	err   error
}

// pool is one Run call's state, owned by its run loop.
type pool struct {
	cfg    Config
	queues []string
	n      int

	running int        // handlers running
	held    []held     // tasks leased ahead, waiting for a slot (oldest first)
	quick   int        // handlers in a row that finished within quickHandler
	asked   int        // tasks asked for by requests in flight
	pending []finished // outcomes not yet sent
	sending int        // outcome requests in flight
	polling bool       // a lease-only request is in flight
	perReq  int        // outcomes one request carries at most (0: maxOutcomesPerReq); lowered by TooLarge
	done    chan finished
	replies chan reply

	beating   bool             // a heartbeat request is in flight
	beats     chan beatReply   // its answer
	beatTimer *time.Timer      // fires at beatAt, when a held task is due a heartbeat
	beatC     <-chan time.Time // beatTimer.C while it is armed, else nil
	beatAt    time.Time
	ctx       context.Context // Run's, for heartbeat requests (never cancelled)
}

func (p *pool) run(ctx context.Context) error {
	p.done = make(chan finished, p.n)
	p.replies = make(chan reply, maxSending+1)
	p.beats = make(chan beatReply, 1)
	p.ctx = context.WithoutCancel(ctx)
	defer func() {
		if p.beatTimer != nil {
			p.beatTimer.Stop()
		}
	}()
	var fatal error
	var pollCancel context.CancelFunc
	var retry <-chan time.Time
	backoff := time.Duration(0)
	ctxDone := ctx.Done()
	for {
		stopping := ctx.Err() != nil || fatal != nil
		if stopping && pollCancel != nil {
			pollCancel()
			pollCancel = nil
		}
		if stopping && p.running == 0 && len(p.held) == 0 && len(p.pending) == 0 && p.sending == 0 && !p.polling && !p.beating {
			return fatal
		}
		if retry == nil && len(p.pending) > 0 && p.sending < maxSending {
			sent := p.pending
			if limit := p.outcomesPerReq(); len(sent) > limit {
				sent = sent[:limit]
			}
			ask := 0
			if !stopping {
				// The slots of the outcomes sent are free again.
				ask = max(min(p.free()-(len(p.pending)-len(sent)), p.cfg.MaxLease), 0)
			}
			p.pending = append([]finished(nil), p.pending[len(sent):]...)
			p.send(context.WithoutCancel(ctx), sent, ask, 0, false)
			continue
		}
		if retry == nil && !stopping && !p.polling && len(p.pending) == 0 {
			if free := p.free(); free > 0 { // no outcome is pending
				var pctx context.Context
				pctx, pollCancel = context.WithCancel(ctx)
				p.send(pctx, nil, min(free, p.cfg.MaxLease), p.cfg.Wait, true)
				continue
			}
		}
		select {
		case f := <-p.done:
			p.finish(f)
			p.collect()
		case r := <-p.replies:
			p.asked -= r.ask
			if r.poll {
				p.polling = false
				if pollCancel != nil {
					pollCancel()
					pollCancel = nil
				}
			} else {
				p.sending--
			}
			for _, t := range r.tasks {
				if r.poll && p.leasedLate(t, r.sentT) {
					p.confirm(t) // sentT is no bound on when it was leased
					continue
				}
				p.start(t, r.sentT)
			}
			if r.err != nil {
				if ctx.Err() != nil && r.poll {
					continue
				}
				if len(r.sent) > 0 && p.cfg.TooLarge != nil && p.cfg.TooLarge(r.err) {
					p.tooLarge(r.sent, r.err)
					continue
				}
				if p.cfg.Fatal != nil && p.cfg.Fatal(r.err) {
					if fatal == nil {
						fatal = r.err
					}
					for _, f := range r.sent {
						p.lost(f, r.err)
					}
					continue
				}
				p.requeue(r.sent, r.err)
				backoff = min(max(2*backoff, 100*time.Millisecond), 5*time.Second)
				pause := backoff
				if p.cfg.RetryAfter != nil {
					pause = max(pause, p.cfg.RetryAfter(r.err)) // as the source asks
				}
				p.cfg.Logger.Warn("omniq worker: request failed, retrying", "err", r.err, "retry_in", pause)
				retry = time.After(pause)
				continue
			}
			backoff = 0
			p.answered(r)
		case b := <-p.beats:
			p.beaten(b)
		case <-p.beatC:
			p.beatC = nil
			p.beat()
		case <-retry:
			retry = nil
		case <-ctxDone:
			ctxDone = nil
		}
	}
}

// collect takes the outcomes already there, and while handlers are still
// running, those that come within outcomeLinger of the last (at most
// maxLinger in all): one request for a lease's tasks that finish together,
// rather than one each, without holding an outcome back for long.
func (p *pool) collect() {
	var timer *time.Timer
	deadline := time.Now().Add(maxLinger)
	for {
		select {
		case f := <-p.done:
			p.finish(f)
			continue
		default:
		}
		wait := min(outcomeLinger, time.Until(deadline))
		if p.running == 0 || wait <= 0 || len(p.pending) >= maxOutcomesPerReq {
			break
		}
		if timer == nil {
			timer = time.NewTimer(wait)
			defer timer.Stop()
		} else {
			timer.Reset(wait)
		}
		select {
		case f := <-p.done:
			p.finish(f)
			timer.Stop()
			continue
		case <-timer.C:
		}
		break
	}
}

// maxOutcomesPerReq bounds one request's outcomes (omniqd takes 1000).
const maxOutcomesPerReq = 1000

func (p *pool) outcomesPerReq() int {
	if p.perReq > 0 {
		return p.perReq
	}
	return maxOutcomesPerReq
}

// errOutcomeTooLarge: an attempt's outcome alone was refused for its size.
var errOutcomeTooLarge = errors.New("the attempt's outcome is too large to record")

// tooLarge takes the outcomes of a request refused for its size: they are
// sent again, in requests half as big (never raised again), and one refused
// alone is sent again as a failure of its attempt.
func (p *pool) tooLarge(sent []finished, err error) {
	if len(sent) > 1 {
		p.perReq = max(len(sent)/2, 1)
		p.requeue(sent, err)
		return
	}
	if f := sent[0]; errors.Is(f.o.Err, errOutcomeTooLarge) {
		p.lost(f, err)
		return
	}
	p.requeue([]finished{asFailure(sent[0], fmt.Errorf("%w: %v", errOutcomeTooLarge, err))}, err)
}

// asFailure is f recorded as a failure of its attempt for why, its result
// dropped: what is sent instead of an outcome the source cannot store.
func asFailure(f finished, why error) finished {
	f.o.Err, f.o.Result = why, nil
	return f
}

// lost logs an outcome that will not be recorded: its task's lease runs
// out and the task runs again.
func (p *pool) lost(f finished, err error) {
	p.cfg.Logger.Warn("omniq worker: could not record task outcome", "task", f.o.Task.ID, "attempt", f.o.Task.Attempt, "err", err)
}

// send starts a request carrying sent outcomes and asking for ask tasks;
// its reply comes back on p.replies.
func (p *pool) send(ctx context.Context, sent []finished, ask int, wait time.Duration, poll bool) {
	p.asked += ask
	if poll {
		p.polling = true
	} else {
		p.sending++
	}
	outcomes := make([]queue.Outcome, len(sent))
	for i, f := range sent {
		outcomes[i] = f.o
	}
	go func() {
		if !poll {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, time.Minute)
			defer cancel()
		}
		r := reply{sent: sent, ask: ask, poll: poll, sentT: time.Now()}
		r.errs, r.tasks, r.err = p.cfg.Source.FinishBatch(ctx, outcomes, p.queues, ask, wait)
		p.replies <- r
	}()
}

// free is how many more tasks the pool may lease: its free slots, and
// while its handlers are quick, LeaseAhead-1 times as many ahead of them.
func (p *pool) free() int {
	limit := p.n
	if p.quick >= quickRun {
		limit *= p.cfg.LeaseAhead
	}
	return limit - p.running - len(p.held) - p.asked
}

// start runs a leased task's handler when a slot is free, and holds it for
// the next slot otherwise.
func (p *pool) start(task *queue.Task, sent time.Time) {
	if p.running >= p.n {
		p.hold(task, sent)
		return
	}
	p.launch(task, sent)
}

// launch runs task's handler in its own goroutine; its outcome comes back
// on p.done.
func (p *pool) launch(task *queue.Task, sent time.Time) {
	p.running++
	go func() {
		began := time.Now()
		f := finished{o: p.cfg.Run(task, sent)}
		f.first = time.Now()
		f.took = f.first.Sub(began)
		p.done <- f
	}()
}

// finish takes a handler's outcome, and gives its slot to a held task.
func (p *pool) finish(f finished) {
	p.running--
	p.pending = append(p.pending, f)
	if f.took <= quickHandler {
		p.quick++
	} else {
		p.quick = 0
	}
	p.fill()
}

// requeue puts back the outcomes of a request that failed as a whole, to
// be sent again, unless they have waited too long. A repeated outcome that
// had in fact been recorded is refused as a stale lease and changes nothing.
func (p *pool) requeue(sent []finished, err error) {
	keep := sent[:0:0]
	for _, f := range sent {
		if time.Since(f.first) > outcomeTTL {
			p.lost(f, err)
			continue
		}
		keep = append(keep, f)
	}
	p.pending = append(keep, p.pending...)
}

// answered handles the per-outcome answers of a request: a completion
// whose result the server could not store is sent again as a failure;
// other refusals (a stale lease: nothing changed) are logged.
func (p *pool) answered(r reply) {
	for i, err := range r.errs {
		if err == nil {
			continue
		}
		f := r.sent[i]
		if f.o.Err == nil && errors.Is(err, queue.ErrInvalidArgument) {
			p.pending = append(p.pending, asFailure(f, fmt.Errorf("handler returned an unstorable result: %w", err)))
			continue
		}
		p.lost(f, err)
	}
}
