package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/internal/benchstate"
)

// BenchmarkListTasks1MHTTP measures the server time of GET /v1/tasks, GET
// /v1/stats and the dashboard's overview and task list over a state of a
// million tasks, encoding of the answer included (no network: each request
// goes straight to the handler).
//
//	go test -run '^$' -bench BenchmarkListTasks1MHTTP -benchtime 10x ./server/
func BenchmarkListTasks1MHTTP(b *testing.B) {
	s := New(nil, Config{UI: true})
	_, q := attachTestEngine(b, s, engine.WithSnapshotEvery(0), engine.WithMaxBatch(10000))
	if err := benchstate.FillHalfEnded(context.Background(), q, 1_000_000); err != nil {
		b.Fatal(err)
	}
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
