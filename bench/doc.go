// Package bench runs end-to-end workloads against an OmniQ engine on any
// store and reports what they measured. It is the library behind
// "omniqd bench" and the peer comparison in bench/peers, modelled on River's
// "river bench":
//
//   - burn-down (ModeBurndown): enqueue Jobs tasks with no worker running,
//     then start the workers and time the drain. The insert phase also
//     measures heap bytes per pending task.
//   - continuous (ModeContinuous): producers and workers run together for
//     Duration; producers keep at most Backlog tasks outstanding, and with
//     Rate enqueue at most that many a second (a steady load). The run
//     is sampled every Interval (throughput, resident set, heap in use, the
//     engine's hot and cold tasks) into Report.Intervals; CheckPlateau holds
//     that curve to the soak bounds and WriteCurves draws it.
//   - recovery (ModeRecovery): grow the log to Events events with batch
//     appends (reusing what the store already holds), then time a reopen.
//
// Every mode ends with the same measurements of the log it produced: a
// reopen after a simulated crash (the engine's last periodic snapshot plus
// the events after it), a reopen after a clean Close (snapshot at the head)
// and a full replay with the snapshot hidden. Burn-down and continuous runs
// also run an idle-worker probe: paced single enqueues, a fraction of them
// delayed with Schedule.RunAt, timed from the task's created_at (or run_at)
// to the moment a worker holds its lease, read from the engine's clock.
//
// With Config.Nodes above 1, that many engines share the log, each on a
// store handle of its own, as separate processes would; producers and
// workers are dealt over them, and the report adds what sharing cost each
// node (conflicts, events caught up).
//
// Handlers are no-ops; the figures are the queue's own cost.
package bench
