// Package faults is OmniQ's fault harness: a Go test (TestFaults, run by
// `make faults`, and briefly by .ci/run) that builds the real omniqd binary
// and, for each durable store, drives it over HTTP with enqueuing clients and
// workers while it injects faults on a schedule derived from -seed:
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
//
// TestCheckerCatches feeds the checker histories and logs that break each
// property, so a check that could never fail would be noticed.
//
// The engine's clock cannot be stepped from outside the process: its
// SystemClock is anchored once and advances by the monotonic clock (see
// engine/clock.go and engine/clock_internal_test.go), so clock jumps are
// covered by that unit test, not here. docs/reliability.md has the figures.
package faults
