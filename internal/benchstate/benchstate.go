// Package benchstate builds the engine states that benchmarks of more than
// one package measure, so that they measure the same state.
package benchstate

import (
	"context"
	"errors"
	"fmt"

	"github.com/omniq/omniq/engine"
)

// FillHalfEnded enqueues n tasks (rounded up to a multiple of 5000) into e
// in batches of 5000 — 4 queues q0..q3, 2 funcs each (q1.f0, q1.f1, …), args a search
// finds ("user-K", K) — and, after each batch, leases and ends an eighth of
// it from each queue, 1 in 10 of those failed, the rest completed: half
// the state is pending and half ended (cold records, but for the few
// thousand the state keeps hot).
func FillHalfEnded(ctx context.Context, e *engine.Engine, n int) error {
	const batch = 5000
	for i := 0; i < n; i += batch {
		tasks := make([]*engine.Task, batch)
		for j := range tasks {
			k := i + j
			q := fmt.Sprintf("q%d", k%4)
			tasks[j] = &engine.Task{Func: fmt.Sprintf("%s.f%d", q, k/4%2), QueueName: q,
				Args: []any{fmt.Sprintf("user-%d", k), k}, Kwargs: map[string]any{"n": k % 100}}
		}
		if err := e.EnqueueBatch(ctx, tasks); err != nil {
			return err
		}
		for q := range 4 {
			leased, err := e.DequeueN(ctx, fmt.Sprintf("q%d", q), batch/8)
			if err != nil {
				return err
			}
			out := make([]engine.Outcome, len(leased))
			for j, t := range leased {
				out[j] = engine.Outcome{Task: t, Result: "ok"}
				if j%10 == 0 {
					out[j].Err = errors.New("boom")
				}
			}
			if _, err := e.CompleteBatch(ctx, out); err != nil {
				return err
			}
		}
	}
	return nil
}
