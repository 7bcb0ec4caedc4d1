package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/server"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/storeurl"
)

// serveConfig is what "omniqd serve" is told.
type serveConfig struct {
	Store           string        // store URL (storeurl)
	Listen          string        // host:port; port 0 picks a free one
	Token           string        // bearer token; "" disables auth
	UI              bool          // serve the dashboard at /ui/ (server.Config.UI)
	UIReadOnly      bool          // the dashboard without its actions (server.Config.UIReadOnly)
	Insecure        bool          // allow a non-loopback listen without a token
	LeaseTimeout    time.Duration // engine.WithLeaseTimeout (0: the engine's default)
	MaxBody         int64         // largest request body in bytes (0: server.DefaultMaxBody)
	MaxWait         time.Duration // longest dequeue long-poll (0: server.DefaultMaxWait)
	ShutdownTimeout time.Duration // how long in-flight requests get at shutdown
	TLSCert         string        // PEM certificate (chain) file; with TLSKey, serve HTTPS
	TLSKey          string        // PEM private key file
	RateLimit       float64       // requests a second per client IP (0: no limit)
	CompactEvery    time.Duration // compact this often (0: never)
	CompactBefore   time.Duration // drop tasks that ended this long ago
	CompactArchive  string        // directory of the archive files
	Retention       retentionFlag // how long ended tasks are kept (engine.Retention.Age)
	Archive         string        // the retention archive directory ("": beside the data)
	SnapshotEvery   int64         // snapshot every N events, as engine.WithSnapshotEvery (0, or <0: none)
}

// daemon is a running omniqd: the API (package server) over an engine over
// a store, on a listener. Start it with startDaemon, then openEngine; stop
// it with shutdown. Tests run it in process this way (or drive newDaemon's
// API directly), and as a child process through "omniqd serve".
type daemon struct {
	cfg    serveConfig
	logger *slog.Logger
	api    *server.Server // every route, behind auth and the rate limit
	url    string         // scheme://host:port the daemon serves at
	srv    *http.Server
	served chan error // Serve's result

	compaction *compactionMetrics
	compactor  *compactor // nil unless CompactEvery > 0

	log stores.Log
	q   *engine.Engine
}

// newDaemon builds the daemon's API and metrics; it neither listens nor
// opens the store.
func newDaemon(cfg serveConfig, logger *slog.Logger) *daemon {
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 30 * time.Second
	}
	d := &daemon{cfg: cfg, logger: logger, served: make(chan error, 1)}
	d.api = server.New(nil, server.Config{
		Token: cfg.Token, RateLimit: cfg.RateLimit, MaxBody: cfg.MaxBody, MaxWait: cfg.MaxWait,
		Logger: logger, Version: version(), UI: cfg.UI, UIReadOnly: cfg.UIReadOnly,
	})
	d.compaction = newCompactionMetrics(d.api.Metrics())
	return d
}

// checkServeConfig checks the flags' values and combinations, without
// touching the filesystem or the network.
func checkServeConfig(cfg serveConfig) error {
	if err := checkListenPolicy(cfg.Listen, cfg.Token, cfg.Insecure); err != nil {
		return err
	}
	if cfg.RateLimit < 0 {
		return fmt.Errorf("--rate-limit %g is negative (0 turns it off)", cfg.RateLimit)
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return errTLSPair
	}
	return checkCompactFlags(cfg)
}

// startDaemon checks the configuration and the listen policy, opens the
// store, then binds the address and serves /healthz, /readyz, /metrics and
// /openapi.json at once (over TLS when given a certificate); the /v1 routes
// answer 503 until openEngine has replayed the log.
func startDaemon(ctx context.Context, cfg serveConfig, logger *slog.Logger) (*daemon, error) {
	if err := checkServeConfig(cfg); err != nil {
		return nil, err
	}
	if err := checkCompactConfig(cfg); err != nil {
		return nil, err
	}
	tlsConfig, err := loadTLS(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, err
	}
	d := newDaemon(cfg, logger)
	if err := d.openStore(ctx); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		_ = d.log.Close()
		return nil, fmt.Errorf("listen: %w", err)
	}
	d.srv = &http.Server{
		Handler:           d.api,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	d.srv.RegisterOnShutdown(d.api.Drain)
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
		go func() { d.served <- d.srv.ServeTLS(ln, "", "") }()
	} else {
		go func() { d.served <- d.srv.Serve(ln) }()
	}
	d.url = scheme + "://" + ln.Addr().String()
	logger.Info("listening", "addr", ln.Addr().String(), "url", d.url, "tls", tlsConfig != nil,
		"store", storeurl.Redact(cfg.Store), "auth", cfg.Token != "", "rate_limit", cfg.RateLimit)
	return d, nil
}

// errTLSPair: one of --tls-cert and --tls-key was given without the other.
var errTLSPair = errors.New("--tls-cert and --tls-key go together: give both to serve HTTPS")

// loadTLS reads the certificate and key the daemon serves HTTPS with; both
// or neither must be given (nil, nil: plain HTTP). The files are read once:
// restart the daemon to serve a renewed certificate.
func loadTLS(certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		return nil, nil
	}
	if certFile == "" || keyFile == "" {
		return nil, errTLSPair
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}, nil
}

// openStore opens the store the daemon serves, unless it is open already.
func (d *daemon) openStore(ctx context.Context) error {
	if d.log != nil {
		return nil
	}
	log, err := storeurl.Open(ctx, d.cfg.Store)
	if err != nil {
		return fmt.Errorf("open store %s: %w", storeurl.Redact(d.cfg.Store), err)
	}
	d.log = log
	return nil
}

// openEngine opens the store (unless startDaemon has) and replays it into
// the engine; the API serves from then on and /readyz answers 200. On an
// error, shutdown closes the store.
func (d *daemon) openEngine(ctx context.Context) error {
	began := time.Now()
	if err := d.openStore(ctx); err != nil {
		return err
	}
	log := d.log
	opts := []engine.Option{
		engine.WithObserver(d.api.Observer()),
		engine.WithLogger(d.logger.With("component", "engine")),
		engine.WithNodeAddr(d.url),
	}
	if d.cfg.LeaseTimeout > 0 {
		opts = append(opts, engine.WithLeaseTimeout(d.cfg.LeaseTimeout))
	}
	opts = append(opts, engine.WithSnapshotEvery(uint64(max(d.cfg.SnapshotEvery, 0))))
	ret, err := d.retention()
	if err != nil {
		return err
	}
	opts = append(opts, engine.WithRetention(ret))
	q, err := engine.Open(ctx, log, opts...)
	if err != nil {
		return fmt.Errorf("open engine: %w", err)
	}
	if st := q.RetentionStatus(); st.On {
		d.logger.Info("retention", "age", st.Age, "every", st.Every, "archive", st.Archive)
	} else {
		d.logger.Info("retention off: every ended task is kept")
	}
	d.q = q
	if err := d.startCompactor(); err != nil {
		return err // shutdown closes the engine and the store
	}
	if err := d.api.Attach(q); err != nil {
		return err
	}
	d.logger.Info("ready", "position", q.Position(), "took", time.Since(began).Round(time.Millisecond))
	return nil
}

// wait blocks until ctx ends (nil) or the HTTP server fails (its error).
func (d *daemon) wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-d.served:
		return fmt.Errorf("http server: %w", err)
	}
}

// shutdown stops taking requests, ends waiting dequeues, lets in-flight
// requests finish (up to ShutdownTimeout), then closes the engine (which
// writes what it accepted) and the store.
func (d *daemon) shutdown() error {
	d.logger.Info("shutting down")
	ctx, cancel := context.WithTimeout(context.Background(), d.cfg.ShutdownTimeout)
	defer cancel()
	var errs []error
	if d.srv != nil {
		if err := d.srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
			_ = d.srv.Close()
		}
	}
	d.api.Drain()
	if d.compactor != nil {
		d.compactor.shutdown()
	}
	if d.q != nil {
		if err := d.q.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close engine: %w", err))
		}
	}
	if d.log != nil {
		if err := d.log.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close store: %w", err))
		}
	}
	err := errors.Join(errs...)
	if err != nil {
		d.logger.Error("shutdown", "err", err)
	} else {
		d.logger.Info("stopped")
	}
	return err
}
