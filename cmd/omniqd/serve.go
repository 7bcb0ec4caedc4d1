package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/server"
	"github.com/omniq/omniq/stores/storeurl"
)

func init() {
	commands["serve"] = command{
		summary: "run the daemon: the HTTP/JSON API over a store",
		usage:   "[--store URL] [--listen ADDR] [flags]",
		about: `Opens the store, listens, replays the log (GET /readyz answers 200 once it
has), and serves until SIGTERM or SIGINT. Every flag has an OMNIQ_* environment
variable (--lease-timeout: OMNIQ_LEASE_TIMEOUT); a flag on the command line wins.`,
		run: runServe,
	}
}

// serveOptions is what serve's command line says.
type serveOptions struct {
	cfg       serveConfig
	memLimit  memLimitFlag
	logLevel  string
	logFormat string
}

// parseServeArgs reads serve's command line (and the OMNIQ_* variables).
func parseServeArgs(args []string) (*serveOptions, error) {
	fs := newFlagSet("serve")
	o := &serveOptions{}
	cfg := &o.cfg
	fs.StringVar(&cfg.Store, "store", storeurl.Default, "store URL: "+strings.Join(storeurl.Schemes(), ", ")+" (env OMNIQ_STORE)")
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:7070", "address to listen on (env OMNIQ_LISTEN)")
	fs.StringVar(&cfg.Token, "token", "", "require \"Authorization: Bearer TOKEN\" on every request but /healthz (env OMNIQ_TOKEN; prefer the env, a flag shows in ps)")
	fs.BoolVar(&cfg.Insecure, "insecure", false, "allow a non-loopback --listen without --token (env OMNIQ_INSECURE)")
	fs.DurationVar(&cfg.LeaseTimeout, "lease-timeout", 0, "how long a dequeued task stays leased without a heartbeat (default 30s; env OMNIQ_LEASE_TIMEOUT)")
	maxBody := sizeFlag(server.DefaultMaxBody)
	fs.Var(&maxBody, "max-body", "largest request body, in bytes or with KiB/MiB; 413 past it (default 8MiB; env OMNIQ_MAX_BODY)")
	fs.DurationVar(&cfg.MaxWait, "max-wait", server.DefaultMaxWait, "longest wait a dequeue may ask for (env OMNIQ_MAX_WAIT)")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "how long in-flight requests get to finish on SIGTERM (env OMNIQ_SHUTDOWN_TIMEOUT)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "serve HTTPS with this PEM certificate (chain) file; needs --tls-key (env OMNIQ_TLS_CERT)")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "the PEM private key of --tls-cert (env OMNIQ_TLS_KEY)")
	fs.Float64Var(&cfg.RateLimit, "rate-limit", 0, "requests a second each client IP may send, in bursts of a second's worth; 429 past it (0: no limit; env OMNIQ_RATE_LIMIT)")
	fs.DurationVar(&cfg.CompactEvery, "compact-every", 0, "compact the log this often (0: never; needs --compact-archive; env OMNIQ_COMPACT_EVERY)")
	fs.DurationVar(&cfg.CompactBefore, "compact-before", 24*time.Hour, "compaction drops the tasks that ended this long ago (env OMNIQ_COMPACT_BEFORE)")
	fs.StringVar(&cfg.CompactArchive, "compact-archive", "", "directory for the archive files compaction writes, one per run, named by time (env OMNIQ_COMPACT_ARCHIVE)")
	cfg.Retention = retentionFlag(engine.DefaultRetention)
	fs.Var(&cfg.Retention, "retention", "archive tasks that ended this long ago out of the live state and the log (a duration such as 168h or 30m, or keep: keep everything; env OMNIQ_RETENTION)")
	fs.StringVar(&cfg.Archive, "archive", "", "directory of the retention archive, compressed JSON Lines (default: beside the data, e.g. ./omniq-data.archive, or ./omniq-archive for a server store; env OMNIQ_ARCHIVE)")
	fs.Int64Var(&cfg.SnapshotEvery, "snapshot-every", engine.DefaultSnapshotEvery, "write a state snapshot every N events (and no sooner than after as many events as the last one held tasks) and at shutdown, so a restart replays only what follows it (0: never, as is -1; env OMNIQ_SNAPSHOT_EVERY)")
	fs.Var(&o.memLimit, "memory-limit", "Go soft memory limit: a size (512MiB, 2GiB), a percentage of the cgroup memory limit (90%), or off (default: GOMEMLIMIT when set, else 90% of the cgroup limit when there is one, else none; env OMNIQ_MEMORY_LIMIT)")
	fs.BoolVar(&cfg.UI, "ui", true, "serve the web dashboard at /ui/: queue counts, task lists and pages that follow GET /v1/events live; with --token it asks for the token once (env OMNIQ_UI)")
	fs.BoolVar(&cfg.UIReadOnly, "ui-read-only", false, "serve the dashboard without its actions: no retry, cancel, delete or pause form, and every action route answers 403 (env OMNIQ_UI_READ_ONLY)")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error (env OMNIQ_LOG_LEVEL)")
	fs.StringVar(&o.logFormat, "log-format", "text", "text or json (env OMNIQ_LOG_FORMAT)")
	if _, err := parseArgs(fs, args, argSpec{env: true}); err != nil {
		return nil, err
	}
	cfg.MaxBody = int64(maxBody)
	if err := checkServeConfig(*cfg); err != nil {
		return nil, asUsageError(err)
	}
	return o, nil
}

func runServe(ctx context.Context, args []string) error {
	o, err := parseServeArgs(args)
	if err != nil {
		return err
	}
	logger, err := serveLogger(stderr, o.logLevel, o.logFormat)
	if err != nil {
		return asUsageError(err)
	}
	if err := setMemoryLimit(logger, &o.memLimit); err != nil {
		return err
	}
	// The store is opened before the daemon listens: a store that cannot
	// be opened stops serve before it announces an address.
	d, err := startDaemon(ctx, o.cfg, logger)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped by a signal while opening the store
		}
		return err
	}
	if err := d.openEngine(ctx); err != nil {
		_ = d.shutdown()
		if ctx.Err() != nil {
			return nil // stopped by a signal while replaying
		}
		return err
	}
	waitErr := d.wait(ctx)
	return errors.Join(waitErr, d.shutdown())
}

// serveLogger builds the daemon's slog logger.
func serveLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// sizeFlag is a flag value in bytes that also reads "512KiB", "8MiB", "1GiB".
type sizeFlag int64

func (b *sizeFlag) String() string { return strconv.FormatInt(int64(*b), 10) }

func (b *sizeFlag) Set(s string) error {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 || n > (1<<40)/mult {
		return fmt.Errorf("want a positive size such as 1048576, 512KiB or 8MiB")
	}
	*b = sizeFlag(n * mult)
	return nil
}
