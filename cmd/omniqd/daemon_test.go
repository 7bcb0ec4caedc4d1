package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/omniq/omniq/client"
)

// testDaemon is a daemon whose API tests call directly (no listener). The
// routes themselves are package server's, tested there; these tests are
// about what the daemon adds: its flags, its store, compaction, limits.
type testDaemon struct {
	t *testing.T
	*daemon
	handler http.Handler // the daemon's API, every exchange checked against openapi.json
}

// newTestDaemon opens cfg's store (memory:// when none) and its engine.
func newTestDaemon(t *testing.T, cfg serveConfig) *testDaemon {
	t.Helper()
	if cfg.Store == "" {
		cfg.Store = "memory://"
	}
	d := newDaemon(cfg, slog.New(slog.DiscardHandler))
	if err := d.openEngine(context.Background()); err != nil {
		_ = d.shutdown()
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.shutdown() })
	return &testDaemon{t, d, checkingHandler(t, d.api)}
}

// call sends one request through the daemon's API.
func (td *testDaemon) call(method, path, body string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	td.handler.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
	return rec
}

// want checks the status and decodes the body into out (when not nil).
func (td *testDaemon) want(rec *httptest.ResponseRecorder, status int, out any) {
	td.t.Helper()
	if rec.Code != status {
		td.t.Fatalf("status %d, want %d; body %s", rec.Code, status, rec.Body)
	} else if out != nil && json.Unmarshal(rec.Body.Bytes(), out) != nil {
		td.t.Fatalf("undecodable body %s", rec.Body)
	}
}

// enqueue enqueues the task body describes.
func (td *testDaemon) enqueue(body string) {
	td.t.Helper()
	td.want(td.call("POST", "/v1/tasks", body), 201, nil)
}

// head is the position of the daemon's log.
func (td *testDaemon) head() uint64 {
	td.t.Helper()
	h, err := td.log.Head(context.Background())
	if err != nil {
		td.t.Fatal(err)
	}
	return h
}

// startTestServer runs a daemon in process on a free loopback port, its
// engine open, and returns it and the URL of a second listener that serves
// the daemon's API through checkingHandler.
func startTestServer(t *testing.T, cfg serveConfig) (*daemon, string) {
	t.Helper()
	if cfg.Store == "" {
		cfg.Store = "memory://"
	}
	cfg.Listen = "127.0.0.1:0"
	d, err := startDaemon(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.shutdown() })
	if err := d.openEngine(context.Background()); err != nil {
		t.Fatal(err)
	}
	return d, checkedServer(t, d.api)
}

// newTestClient returns a client of url, closed when the test ends. Over
// plain HTTP its exchanges are checked against openapi.json on the client's
// side (newCheckingTransport): that covers the daemons the e2e tests run as
// child processes. opts may replace the HTTP client.
func newTestClient(t *testing.T, url string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(url, append(checkedClientOptions(t, url), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
	}
}
