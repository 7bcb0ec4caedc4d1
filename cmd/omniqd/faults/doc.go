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
//   - a worker that stalls past its lease and then answers late: its
//     heartbeat, complete and fail must be refused as stale, and the task
//     must be handed out again.
//
// Every client call is written down (the history): each enqueue that
// returned success, each lease handed out with its attempt, each answer that
// returned success, each deliberately stale answer and what it got. After a
// drain with healthy workers, omniqd is stopped and a checker reads the log
// through stores/storeurl and proves, against that history:
//
//	acked_in_log         every acknowledged enqueue is in the log
//	all_terminal         every task in the log reached a terminal state
//	leases_in_log        every lease handed out is a task.leased in the log
//	answers_in_log       every acknowledged complete, fail and heartbeat is
//	                     an applied event of the log
//	completed_once       no task was completed under two different leases
//	                     (in the log, or in the answers clients got)
//	stale_rejected       every deliberately stale heartbeat, complete and fail
//	                     was refused with stale_lease
//	stalled_reissued     every lease that stalled past its deadline expired
//	                     and its task was handed out again
//	pending_reissued     every task the log shows pending or running at an
//	                     omniqd start was handed out again (or ended by the
//	                     lease it held)
//	replay_equal         engine.Replay (snapshot plus tail) gives the state
//	                     of a fold of the whole log
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
