package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omniq/omniq/client"
	"github.com/omniq/omniq/engine"
)

// Each client IP gets its rate: past it, 429 rate_limited with Retry-After,
// and nothing is appended; other clients and /healthz are not held back;
// the bucket refills.
func TestAPIRateLimit(t *testing.T) {
	td := newTestServer(t, Config{RateLimit: 4})
	from := func(ip, method, path, body string) *httptest.ResponseRecorder {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req := httptest.NewRequest(method, path, rd)
		req.RemoteAddr = ip + ":40000"
		rec := httptest.NewRecorder()
		td.handler.ServeHTTP(rec, req)
		return rec
	}
	for i := 0; i < 4; i++ { // the burst: a second's worth
		if rec := from("198.51.100.7", "POST", "/v1/tasks", `{"func":"f"}`); rec.Code != http.StatusCreated {
			t.Fatalf("request %d within the burst: %d %s", i, rec.Code, rec.Body)
		}
	}
	before := td.head()
	rec := from("198.51.100.7", "POST", "/v1/tasks", `{"func":"f"}`)
	td.wantError(rec, http.StatusTooManyRequests, client.CodeRateLimited)
	if s, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("Retry-After %q", rec.Header().Get("Retry-After"))
	}
	if td.head() != before {
		t.Error("a rate-limited enqueue was appended")
	}
	if rec := from("198.51.100.8", "GET", "/v1/stats", ""); rec.Code != http.StatusOK {
		t.Errorf("another client was held back: %d", rec.Code)
	}
	if rec := from("198.51.100.7", "GET", "/healthz", ""); rec.Code != http.StatusOK {
		t.Errorf("/healthz was rate limited: %d", rec.Code)
	}
	time.Sleep(300 * time.Millisecond) // 4/s: a token every 250ms
	if rec := from("198.51.100.7", "GET", "/v1/stats", ""); rec.Code != http.StatusOK {
		t.Errorf("the bucket did not refill: %d", rec.Code)
	}
	m := td.call("GET", "/metrics", "")
	if !strings.Contains(m.Body.String(), "omniq_http_rate_limited_total 1") {
		t.Error("metrics do not count the refusal")
	}

	// Off by default.
	open := newTestServer(t, Config{})
	for i := 0; i < 50; i++ {
		if rec := open.call("GET", "/v1/stats", ""); rec.Code != http.StatusOK {
			t.Fatalf("no limit set, request %d: %d", i, rec.Code)
		}
	}
}

// The client turns 429 into ErrRateLimited with the server's Retry-After,
// and its worker waits and retries rather than losing an outcome.
func TestClientRateLimited(t *testing.T) {
	d, url := startTestServer(t, Config{RateLimit: 1})
	q := newTestClient(t, url)
	ctx := context.Background()
	if err := q.Enqueue(ctx, &engine.Task{ID: "a", Func: "f"}); err != nil {
		t.Fatal(err)
	}
	err := q.Enqueue(ctx, &engine.Task{Func: "f"})
	var apiErr *client.Error
	if !errors.Is(err, client.ErrRateLimited) || !errors.As(err, &apiErr) || apiErr.RetryAfter < time.Second {
		t.Fatalf("second request within a second: %v (%+v)", err, apiErr)
	}

	// A worker under the limit still records every outcome.
	_ = q.Register("f", func(context.Context, *engine.Task) (any, error) { return "done", nil })
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = q.Work(wctx, engine.WorkOptions{Concurrency: 1}) }()
	waitFor(t, 20*time.Second, "task a to complete through the rate limit", func() bool {
		task, err := d.q.GetTask(ctx, "a") // not through HTTP: that would spend the worker's tokens
		return err == nil && task.State == engine.StateCompleted
	})
}
