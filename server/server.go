// Package server is omniqd's HTTP/JSON API as a library: an http.Handler
// over an engine, which a Go program mounts on its own mux or listener
// beside the engine it embeds. It serves every route of the API (its
// OpenAPI document, OpenAPIDocument, lists them), the bearer token and the
// rate limit, /healthz, /readyz, Prometheus metrics at /metrics, the
// document at /openapi.json and, with Config.UI, the web dashboard at /ui/
// (docs/dashboard.md). The request and answer bodies are those of
// package wire, which the Go client (package client) speaks too.
//
//	q, err := engine.Open(ctx, store)
//	…
//	srv := server.New(q, server.Config{Token: token, Logger: logger})
//	mux.Handle("/", srv)
//
// A server may start before its engine: New(nil, …) serves /healthz,
// /metrics and /openapi.json at once and answers the other routes 503
// unavailable (and /readyz 503) until Attach gives it the engine, so a
// process can listen while its engine replays the log. Open the engine
// with engine.WithObserver(srv.Observer()) for the append, lease and
// replay metrics.
//
// The server neither listens nor closes the engine: the program owns
// both. On shutdown, call Drain (http.Server.RegisterOnShutdown(srv.Drain)
// does) so that waiting dequeues answer at once and /readyz says 503, then
// close the engine once the HTTP server has stopped.
package server

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omniq/omniq/engine"
)

// Config is how a Server serves. The zero Config serves without a token or
// a rate limit, with the default bounds, logging nothing.
type Config struct {
	// Token, when set, is required as "Authorization: Bearer <token>" on
	// every request but GET /healthz (compared in constant time).
	Token string
	// RateLimit is how many requests a second each client IP address may
	// send, in bursts of a second's worth; 429 rate_limited past it. 0: no
	// limit.
	RateLimit float64
	// MaxBody is the largest request body in bytes (413 past it); 0 is
	// DefaultMaxBody.
	MaxBody int64
	// MaxWait is the longest long-poll a dequeue may ask for (longer asks
	// are cut to it); 0 is DefaultMaxWait.
	MaxWait time.Duration
	// Logger gets errors, warnings, and a debug line per request (never its
	// headers: they may carry the token); nil logs nothing.
	Logger *slog.Logger
	// Version is what GET /healthz reports as "version"; "" is "devel".
	Version string
	// UI serves the web dashboard under /ui/ (docs/dashboard.md). Off in
	// the zero Config, so a program that mounts the server serves no pages
	// it did not ask for; omniqd turns it on unless --ui=false.
	UI bool
	// UIReadOnly, with UI, serves a dashboard that only reads: it shows no
	// action form (retry, cancel, delete, pause, resume) and refuses every
	// action route 403, changing nothing.
	UIReadOnly bool
}

// Errors of Attach.
var (
	// ErrNoEngine: Attach was given a nil engine.
	ErrNoEngine = errors.New("server: no engine")
	// ErrAttached: the server serves an engine already; it serves one for
	// its whole life.
	ErrAttached = errors.New("server: an engine is attached already")
)

// Server serves the API over one engine. It is an http.Handler, safe for
// concurrent use.
type Server struct {
	api     *api
	metrics *serveMetrics
	handler http.Handler // every route, behind the rate limit, auth and the request observer
}

// New returns a server of eng under cfg. eng may be nil: the engine's
// routes answer 503 until Attach gives it one.
func New(eng *engine.Engine, cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Version == "" {
		cfg.Version = "devel"
	}
	s := &Server{api: newAPI(cfg)}
	s.metrics = newServeMetrics(s.api)
	routes := s.api.mux(apiRoutes(s.api, s.metrics.handler()))
	limited := newRateLimiter(cfg.RateLimit, s.metrics.reg)
	var h http.Handler = requireToken(cfg.Token, s.api, routes)
	if cfg.UI {
		u := newUI(s.api, cfg.Token, routes)
		u.readOnly = cfg.UIReadOnly
		h = u.wrap(h)
	}
	s.handler = s.observe(limited.wrap(s.api, h))
	if eng != nil {
		s.api.q.Store(eng)
	}
	return s
}

// ServeHTTP serves one request of the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Attach gives the server the engine it serves, once it has opened: from
// then on every route answers and /readyz says 200 (until Drain).
func (s *Server) Attach(eng *engine.Engine) error {
	if eng == nil {
		return ErrNoEngine
	}
	if !s.api.q.CompareAndSwap(nil, eng) {
		return ErrAttached
	}
	return nil
}

// Drain begins the server's shutdown: dequeues waiting for a task answer
// at once (204, nothing leased), event streams (GET /v1/events) end, and
// /readyz answers 503 from then on.
// Other requests are still served. Register it with
// http.Server.RegisterOnShutdown.
func (s *Server) Drain() { s.api.beginShutdown() }

// Observer is the engine.Observer that feeds the server's metrics (appends,
// lease expiries, the startup replay): pass it to engine.Open with
// engine.WithObserver.
func (s *Server) Observer() engine.Observer { return s.metrics }

// Metrics is the registry /metrics serves: the server's metrics and the Go
// and process collectors. A program may register its own collectors there.
func (s *Server) Metrics() *prometheus.Registry { return s.metrics.reg }

// observe wraps h with what every request gets: panic recovery, a metrics
// sample by route pattern, and a debug log line (no headers: they may carry
// the token).
func (s *Server) observe(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		began := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.api.logger.Error("handler panic", "method", r.Method, "path", r.URL.Path, "panic", p)
				if sw.status == 0 {
					s.api.writeError(sw, r, fmt.Errorf("panic: %v", p))
				}
			}
			if sw.status == 0 {
				sw.status = http.StatusOK
			}
			took := time.Since(began)
			s.metrics.observeRequest(r.Pattern, sw.status, took)
			s.api.logger.Debug("request", "method", r.Method, "path", r.URL.Path, "route", r.Pattern,
				"status", sw.status, "took", took)
		}()
		h.ServeHTTP(sw, r)
	})
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// OpenAPIDocument returns the API's OpenAPI 3 document, as GET
// /openapi.json serves it: every route, body and error code.
func OpenAPIDocument() []byte { return bytes.Clone(openapiDoc) }
