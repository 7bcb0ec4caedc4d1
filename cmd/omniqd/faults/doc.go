// Package faults is OmniQ's fault harness: a Go test (TestFaults, run by
// `make faults`, and briefly by .ci/run) that builds the real omniqd binary
// and, for each durable store, drives it over HTTP with enqueuing clients and
// workers while it injects faults on a schedule derived from -seed (and,
// with -cluster, runs several omniqd nodes on one log: the cluster schedule
// below):
//
//   - SIGKILL of omniqd at random moments (some while it is still replaying
//     the log), then a restart on the same store;
//   - a crash (kill -9) and restart of the store's server under load: private
//     redis-server (appendonly yes, appendfsync always) and nats-server
//     (JetStream) processes on free loopback ports in temporary directories;
//     for PostgreSQL, whose server is shared with other tests, the omniqd
//     connections are terminated (pg_terminate_backend), or, with
//     -restart-postgres, the server itself is restarted;
//   - a full disk ("file-full": the file store on a 32 MiB tmpfs, which
//     needs root to mount): a ballast file fills it until ENOSPC, is removed
//     after a while, and omniqd is restarted, as a supervisor would (the file
//     store refuses writes after a failed one until reopened);
//   - a worker that stalls past its lease and then answers late: its
//     heartbeat, complete and fail must be refused as stale, and the task
//     must be handed out again.
//
// omniqd runs with -retention (1s): it archives what ended more than a
// second before into a compressed archive directory (engine/archive) every
// second or so, while it is killed; -compact-every D runs the periodic
// compactor instead, into JSON Lines archive files. Beside plain tasks and
// batches, the load enqueues shapes (shapes_test.go): dependency chains and
// fan-in; a dependency that fails for good, whose dependants are cancelled;
// tasks whose TTL runs out unstarted (their dependants cancelled) or races
// the workers; tasks with a run_at ahead; deletes of tasks never leased and
// of tasks the workers race for; and one recurring schedule that fires every
// second and is paused, resumed and deleted.
//
// Every client call is written down (the history): each enqueue that
// returned success with the ends its shape allows, each lease handed out
// with its attempt, each answer that returned success, each acknowledged
// delete and schedule change, each deliberately stale answer and what it
// got. After a drain with healthy workers, omniqd is stopped and a checker
// folds the whole history — the archive files, then the log through
// stores/storeurl — and proves, against the client history:
//
//	acked_in_log         every acknowledged enqueue (task or schedule) is in
//	                     the log
//	all_terminal         every task in the log reached a terminal state
//	allowed_end          ... one its workload allows: completed, unless it was
//	                     made to fail, expire, be cancelled or be deleted
//	leases_in_log        every lease handed out is a task.leased in the log
//	answers_in_log       every acknowledged complete, fail and heartbeat is
//	                     an applied event of the log
//	completed_once       no task was completed under two different leases
//	                     (in the log, or in the answers clients got)
//	deps_first           no task.leased (applied or not) of a task whose
//	                     dependencies had not all completed
//	timing_kept          no first lease before the task's run_at, nor at or
//	                     after its TTL ran out
//	deleted_not_started  every acknowledged delete is an applied task.deleted,
//	                     and no lease, heartbeat or completion of the task
//	                     follows it in the log or reached a client
//	schedule_kept        every acknowledged pause, resume and delete of a
//	                     schedule is an applied event; no fire while it was
//	                     paused or after it was deleted
//	stale_rejected       every deliberately stale heartbeat, complete and fail
//	                     was refused with stale_lease (or not_found once the
//	                     task was compacted away)
//	stalled_reissued     every lease that stalled past its deadline expired
//	                     and its task was handed out again (or ended)
//	pending_reissued     every task the log shows pending or running at an
//	                     omniqd start was handed out again (or ended by the
//	                     lease it held, or without one: expired, cancelled,
//	                     deleted)
//	replay_equal         engine.Replay (snapshot plus tail) gives the state
//	                     of a fold of the whole history, and every
//	                     log.checkpoint holds the compaction of that fold
//	recovered            after each fault an enqueue is acknowledged again
//	                     within a minute
//	clean_shutdown       omniqd stopped with exit code 0 on SIGTERM
//	verify               `omniqd verify --store URL` exits 0 on the log
//	one_outcome          no task has two outcomes: the log holds at most one
//	                     task.completed or task.failed event for it (applied
//	                     or not), and clients were not told of completes of
//	                     two attempts, of a complete and a fail of one
//	                     lease, or of a complete of a task that failed
//	slot_once            each schedule slot (schedule.fired FireTime) fired
//	                     once
//	timer_once           each lease (task, attempt) expired at most once,
//	                     and no applied task.lease_expired is stamped before
//	                     the deadline of the attempt's last applied lease or
//	                     heartbeat (less 100 ms for the processes' clock
//	                     reads)
//
// The last three hold for one omniqd too, and are checked on every run.
//
// # The cluster schedule
//
// With -cluster (`make faults-cluster`; briefly in .ci/run) each store of
// -stores — postgres, redis and nats by default, sqlite (processes on one
// host) on request — runs -nodes omniqd nodes (3) on one log: one store URL,
// one --archive directory, each node on its own port (docs/cluster.md).
// The load is spread over the nodes: a producer per node, two workers per
// node, a keeper per node (it holds one task at a time for 1.5 to 2.5
// lease timeouts, heartbeating every third of one through each node in
// turn, so that a heartbeat through one node must hold the lease against
// every node's timers), the stalling worker, the shapes and the recurring
// schedule, each client on its home node. A client whose call gets no
// answer (connection refused or reset, its 4 s timeout) or a 503 retries on
// the next node, and goes back home 5 s later. Workers take up to 20 ms
// over a task; producers slow down while more than 300 tasks are ready and
// not leased, so that a task a fault hands back is leased again soon after
// its retry is due. On a schedule drawn from -seed, at moments of the middle
// 90% of -duration, one fault at a time:
//
//   - -kills SIGKILLs of a node in total (a quarter of them two kills, the
//     second while it starts again), down 1 to 3 s, then restarted; half of
//     them take the node's co-located workers with it: a worker holding a
//     lease granted through that node drops it unanswered (the lease must
//     run out through another node's timer);
//   - -pauses SIGSTOPs of a node in total, for 1.2 to 2 lease timeouts
//     (-lease-timeout, 3 s), then SIGCONT: its workers' leases run out
//     meanwhile, and it wakes on a stale state with requests in hand;
//   - -server-faults faults of the store's server per store, as above
//     (every node's connections cut, or the server killed and restarted).
//
// Half the kills and pauses hit a node some worker holds a lease through,
// the others any node. After the load, a drain through the nodes, then:
//
//	same_state           every node reaches the log's head (GET /v1/cluster
//	                     position) and all answer the same GET /v1/stats
//	                     body, within a minute of the drain
//	others_answer        after each kill and pause a live node acknowledged
//	                     an enqueue (a probe through the other nodes in
//	                     turn) within 5 s, the failover bound cluster.md
//	                     documents (the table shows whether it was while
//	                     the node hit was still down)
//	clean_shutdown       every node exits 0 on SIGTERM
//	verify               `omniqd verify --strict` (with --archive: the whole
//	                     history) exits 0: on a shared log every event was
//	                     validated against the events before it, so the fold
//	                     ignores none
//
// and every check above, on the archive and the log the nodes wrote
// together (a lease abandoned by a worker that died with its node must have
// no applied answer and be handed out again: stalled_reissued). The failover
// is measured for each kill and pause: the time from the fault to the
// probe's acknowledgement (the summary's "outage" for a cluster), and, for
// the leases the incarnation hit had granted (task.leased names the node)
// that were open at the fault and ran out, the time from each deadline to
// its task.lease_expired and to the task's next task.leased, and from the
// retry_at of that expiry (the retry backoff, 1 s and doubling) to that
// lease (a deadline that falls while the store's server is down is acted
// on once it is back, and counts so). The summary prints their p50 and p99
// per store and kind of fault.
//
// A store's run that fails leaves its whole history (`omniqd export`: the
// archive, then the log) and the omniqd logs in
// $TMPDIR/omniq-faults-SEED-STORE (-cluster-STORE for a cluster), for the
// positions and nodes its failures name.
//
// TestCheckerCatches feeds the checker histories and logs that break each
// property, so a check that could never fail would be noticed: a late
// failure of a completed task, a task enqueued again once compaction had
// dropped it and run twice, a complete and a fail of one lease
// acknowledged, a slot fired twice, a lease expired twice and one expired
// before its heartbeat's deadline, an abandoned lease never handed out
// again; for the cluster's own checks, fake nodes behind the head or with
// other counts (same_state), a probe answered only once the node was back
// (others_answer), and an ignored event that plain verify only warns about
// and --strict reports.
//
// The engine's clock cannot be stepped from outside the process: its
// SystemClock is anchored once and advances by the monotonic clock (see
// engine/clock.go and engine/clock_internal_test.go), so clock jumps are
// covered by that unit test, not here. docs/reliability.md has the figures.
package faults
