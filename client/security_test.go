package client

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omniq/omniq/engine"
)

func TestRateLimitedCode(t *testing.T) {
	if got := StatusOf(CodeRateLimited); got != http.StatusTooManyRequests {
		t.Errorf("StatusOf(rate_limited) = %d", got)
	}
	if !errors.Is(&Error{Status: http.StatusTooManyRequests, Code: CodeRateLimited}, ErrRateLimited) {
		t.Error("rate_limited does not unwrap to ErrRateLimited")
	}
	// A proxy's bare 429 is rate limiting too.
	if !errors.Is(&Error{Status: http.StatusTooManyRequests, Message: "slow down"}, ErrRateLimited) {
		t.Error("a bare 429 is not ErrRateLimited")
	}
	for in, want := range map[string]time.Duration{"": 0, "3": 3 * time.Second, "-1": 0, "soon": 0, "99999": time.Hour,
		"Wed, 21 Oct 2015 07:28:00 GMT": 0} {
		h := http.Header{}
		if in != "" {
			h.Set("Retry-After", in)
		}
		if got := retryAfter(h); got != want {
			t.Errorf("Retry-After %q = %v, want %v", in, got, want)
		}
	}
}

// An answer refused as rate limited is sent again once Retry-After has
// passed; other 4xx answers are final.
func TestRetryWaitsOutRateLimits(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"error":{"code":"rate_limited","message":"slow down"}}`))
			return
		}
		_, _ = w.Write([]byte(`{"id":"a","func":"f","state":"completed","attempt":1}`))
	}))
	defer srv.Close()
	c, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	task := &engine.Task{ID: "a", Attempt: 1}
	err = c.retry(context.Background(), func() error { return c.Complete(context.Background(), task, nil) })
	if err != nil || calls.Load() != 2 {
		t.Fatalf("retry: %v after %d calls", err, calls.Load())
	}
	if waited := time.Since(began); waited < time.Second {
		t.Errorf("retried after %v, before Retry-After's second", waited)
	}
}

func TestWithTLSConfig(t *testing.T) {
	cfg := &tls.Config{ServerName: "omniq.test", MinVersion: tls.VersionTLS13}
	c, err := New("https://127.0.0.1:7070", WithTLSConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	tr, ok := c.hc.Transport.(*http.Transport)
	if !ok || tr.TLSClientConfig == nil || tr.TLSClientConfig.ServerName != "omniq.test" {
		t.Fatalf("default client transport %#v", c.hc.Transport)
	}
	// Given with WithHTTPClient, in either order: the client's transport is
	// cloned, not changed.
	mine := &http.Transport{}
	hc := &http.Client{Transport: mine, Timeout: time.Minute}
	for _, opts := range [][]Option{{WithHTTPClient(hc), WithTLSConfig(cfg)}, {WithTLSConfig(cfg), WithHTTPClient(hc)}} {
		c, err := New("https://127.0.0.1:7070", opts...)
		if err != nil {
			t.Fatal(err)
		}
		tr, ok := c.hc.Transport.(*http.Transport)
		if !ok || tr == mine || tr.TLSClientConfig.ServerName != "omniq.test" || c.hc.Timeout != time.Minute {
			t.Fatalf("WithHTTPClient + WithTLSConfig: transport %p (mine %p), timeout %v", tr, mine, c.hc.Timeout)
		}
	}
	// (Clone sets up HTTP/2 on the original, which may give it a
	// TLSClientConfig of its own, but never ours.)
	if (mine.TLSClientConfig != nil && mine.TLSClientConfig.ServerName == "omniq.test") || hc.Transport != mine {
		t.Error("WithTLSConfig changed the caller's client")
	}
}
