package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/engine/audit"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/storeurl"
)

// Periodic compaction by the daemon ("omniqd serve --compact-every D"):
// every D it compacts the engine it serves, dropping the tasks that ended
// more than --compact-before ago, into a new JSON Lines file of the
// --compact-archive directory named by the time it started:
//
//	DIR/omniq-20261127T120000.000000000Z.jsonl
//
// The files, in name order, hold every archived event once: each starts
// after the last event of the files before it (a store that removes whole
// segments only hands some archived events to the next compaction again; they
// are skipped). Their concatenation followed by "omniqd export" of the store
// is the whole history.

// archiveFilePrefix and archiveFileSuffix frame the archive files' names.
const (
	archiveFilePrefix = "omniq-"
	archiveFileSuffix = ".jsonl"
	archiveTimeLayout = "20060102T150405.000000000Z"
)

// checkCompactFlags checks the compaction flags' values and combinations.
func checkCompactFlags(cfg serveConfig) error {
	switch {
	case cfg.CompactEvery < 0 || cfg.CompactBefore < 0:
		return errors.New("--compact-every and --compact-before must not be negative")
	case cfg.CompactEvery > 0 && cfg.Archive != "":
		return errArchiveFlag
	case cfg.CompactEvery == 0 && cfg.CompactArchive != "":
		return errors.New("--compact-archive needs --compact-every")
	case cfg.CompactEvery > 0 && cfg.CompactArchive == "":
		return errors.New("--compact-every needs --compact-archive DIR: compaction archives what it removes")
	}
	return nil
}

// checkCompactConfig checks the compaction flags and creates the archive
// directory.
func checkCompactConfig(cfg serveConfig) error {
	if err := checkCompactFlags(cfg); err != nil || cfg.CompactEvery == 0 {
		return err
	}
	if err := os.MkdirAll(cfg.CompactArchive, 0o755); err != nil {
		return fmt.Errorf("--compact-archive: %w", err)
	}
	return nil
}

// compactor runs the daemon's periodic compaction.
type compactor struct {
	d       *daemon
	every   time.Duration
	before  time.Duration
	dir     string
	metrics *compactionMetrics

	stop context.CancelFunc
	done sync.WaitGroup

	// Owned by the loop goroutine.
	scanned    bool   // after holds the archive directory's last position
	after      uint64 // the last event the archive files hold
	checkpoint uint64 // the engine's position after the last compaction
}

// compactionMetrics are the compaction's Prometheus metrics.
type compactionMetrics struct {
	runs     prometheus.Counter
	failures prometheus.Counter
	archived prometheus.Counter
	dropped  prometheus.Counter
	first    atomic.Uint64 // the log's first position, 0 while unknown
}

func newCompactionMetrics(reg prometheus.Registerer) *compactionMetrics {
	m := &compactionMetrics{
		runs:     counter("omniq_compactions_total", "Compactions that completed (log.checkpoint written, events archived and removed)."),
		failures: counter("omniq_compaction_errors_total", "Compactions that failed (the log keeps everything; the next one retries)."),
		archived: counter("omniq_compaction_archived_events_total", "Events written to archive files by compaction."),
		dropped:  counter("omniq_compaction_dropped_total", "Ended tasks and deleted schedules compaction left out of the state."),
	}
	reg.MustRegister(m.runs, m.failures, m.archived, m.dropped,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "omniq_log_first_position", Help: "The log's oldest position (0 until known; rises as compaction removes events).",
		}, func() float64 { return float64(m.first.Load()) }))
	return m
}

// counter makes the unlabelled counter of name and help.
func counter(name, help string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
}

// noteFirst records the log's first position, when the log can say it.
func (m *compactionMetrics) noteFirst(ctx context.Context, log stores.Log) {
	if tr, ok := log.(stores.Truncater); ok {
		if first, err := tr.First(ctx); err == nil {
			m.first.Store(first)
		}
	}
}

// startCompactor starts the compaction loop when the daemon was told to
// compact. REQUIRES: the engine is open.
func (d *daemon) startCompactor() error {
	d.compaction.noteFirst(context.Background(), d.log)
	if d.cfg.CompactEvery <= 0 {
		return nil
	}
	if _, ok := d.log.(stores.Truncater); !ok {
		return fmt.Errorf("--compact-every: %s: %w", storeurl.Redact(d.cfg.Store), engine.ErrCompactionUnsupported)
	}
	if err := checkCompactConfig(d.cfg); err != nil {
		return err
	}
	c := &compactor{d: d, every: d.cfg.CompactEvery, before: d.cfg.CompactBefore, dir: d.cfg.CompactArchive, metrics: d.compaction}
	ctx, cancel := context.WithCancel(context.Background())
	c.stop = cancel
	c.done.Add(1)
	go c.loop(ctx)
	d.compactor = c
	d.logger.Info("compacting periodically", "every", c.every, "before", c.before, "archive", c.dir)
	return nil
}

// shutdown stops the loop and waits for a compaction in progress.
func (c *compactor) shutdown() {
	c.stop()
	c.done.Wait()
}

func (c *compactor) loop(ctx context.Context) {
	defer c.done.Done()
	t := time.NewTicker(c.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := c.once(ctx); err != nil && ctx.Err() == nil {
			c.metrics.failures.Inc()
			c.d.logger.Error("compaction failed; the log keeps everything until the next one", "err", err)
		}
	}
}

// once runs one compaction into a new archive file, unless nothing was
// appended since the last one (ran false).
func (c *compactor) once(ctx context.Context) (ran bool, err error) {
	q := c.d.q
	if q.Position() == c.checkpoint {
		return false, nil
	}
	if !c.scanned {
		if c.after, err = lastArchived(c.dir); err != nil {
			return false, err
		}
		c.scanned = true
	}
	now := time.Now().UTC()
	path := filepath.Join(c.dir, archiveFilePrefix+now.Format(archiveTimeLayout)+archiveFileSuffix)
	fa, err := audit.OpenFileArchive(path, audit.FileArchiveOptions{After: c.after})
	if err != nil {
		return false, err
	}
	arch := &syncedArchive{FileArchive: fa}
	res, err := q.Compact(ctx, now.Add(-c.before), arch)
	closeErr := fa.Close()
	if err != nil {
		if !arch.synced {
			// Nothing was removed on this file's account, and it was never
			// made durable: it must not count as archived.
			_ = os.Remove(path)
			return true, err
		}
		c.after = max(c.after, fa.Last())
		return true, err
	}
	if closeErr != nil {
		c.d.logger.Warn("closing the archive file", "path", path, "err", closeErr)
	}
	c.after = max(c.after, fa.Last())
	c.checkpoint = res.Checkpoint
	c.metrics.runs.Inc()
	c.metrics.archived.Add(float64(fa.Written()))
	c.metrics.dropped.Add(float64(res.Dropped))
	c.metrics.first.Store(res.First)
	c.d.logger.Info("compacted", "checkpoint", res.Checkpoint, "archived", res.Archived, "new_in_archive", fa.Written(),
		"dropped", res.Dropped, "first", res.First, "archive", path)
	return true, nil
}

// syncedArchive remembers whether Sync succeeded: compaction removes events
// from the log only after that.
type syncedArchive struct {
	*audit.FileArchive
	synced bool
}

func (a *syncedArchive) Sync(ctx context.Context) error {
	err := a.FileArchive.Sync(ctx)
	a.synced = err == nil
	return err
}

// lastArchived returns the last position the archive files in dir hold.
func lastArchived(dir string) (uint64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("archive directory: %w", err)
	}
	var last uint64
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasPrefix(name, archiveFilePrefix) || !strings.HasSuffix(name, archiveFileSuffix) {
			continue
		}
		pos, err := audit.ArchiveLast(filepath.Join(dir, name))
		if err != nil {
			return 0, err
		}
		last = max(last, pos)
	}
	return last, nil
}
