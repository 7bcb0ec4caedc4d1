package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/omniq/omniq/engine"
)

// fill1M enqueues n tasks in batches (4 queues, 2 funcs each, args a
// search finds) and ends every other one (1 in 10 of those failed): half
// the state pending, half ended.
func fill1M(tb testing.TB, q *engine.Engine, n int) {
	ctx := context.Background()
	const batch = 5000
	for i := 0; i < n; i += batch {
		tasks := make([]*engine.Task, batch)
		for j := range tasks {
			k := i + j
			queue := fmt.Sprintf("q%d", k%4)
			tasks[j] = &engine.Task{Func: fmt.Sprintf("%s.f%d", queue, k/4%2), QueueName: queue,
				Args: []any{fmt.Sprintf("user-%d", k), k}, Kwargs: map[string]any{"n": k % 100}}
		}
		if err := q.EnqueueBatch(ctx, tasks); err != nil {
			tb.Fatal(err)
		}
		for queue := range 4 {
			leased, err := q.DequeueN(ctx, fmt.Sprintf("q%d", queue), batch/8)
			if err != nil {
				tb.Fatal(err)
			}
			out := make([]engine.Outcome, len(leased))
			for j, t := range leased {
				out[j] = engine.Outcome{Task: t, Result: "ok"}
				if j%10 == 0 {
					out[j].Err = errors.New("boom")
				}
			}
			if _, err := q.CompleteBatch(ctx, out); err != nil {
				tb.Fatal(err)
			}
		}
	}
}

// BenchmarkListTasks1MHTTP measures the server time of GET /v1/tasks, GET
// /v1/stats and the dashboard's overview and task list over a state of a
// million tasks, encoding of the answer included (no network: each request
// goes straight to the handler).
//
//	go test -run '^$' -bench BenchmarkListTasks1MHTTP -benchtime 10x ./server/
func BenchmarkListTasks1MHTTP(b *testing.B) {
	s := New(nil, Config{UI: true})
	_, q := attachTestEngine(b, s, engine.WithSnapshotEvery(0), engine.WithMaxBatch(10000))
	fill1M(b, q, 1_000_000)
	for _, path := range []string{
		"/v1/stats",
		"/v1/tasks",
		"/v1/tasks?limit=1000",
		"/v1/tasks?queue=q2&state=pending",
		"/v1/tasks?queue=q1&state=failed",
		"/v1/tasks?func=q3.f1",
		"/v1/tasks?q=user-77",
		"/v1/tasks?q=no+such+text",
		"/ui/",
		"/ui/tasks",
		"/ui/tasks?queue=q2&state=pending",
	} {
		b.Run(path, func(b *testing.B) {
			for b.Loop() {
				rec := httptest.NewRecorder()
				s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
				}
			}
		})
	}
}
