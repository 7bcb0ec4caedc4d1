package bench

import (
	"context"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/memory"
	"github.com/omniq/omniq/stores/storeurl"
)

// target is the store a run uses: it can be opened, closed and opened again
// (a process restart), and cleaned up after the run.
type target struct {
	url     string // resolved: temporary directory or unique log name filled in
	display string // for reports: url with any password removed
	open    func(ctx context.Context) (stores.Log, error)
	cleanup func(ctx context.Context) error
	dir     string // the store's directory (file, pebble, sqlite); "" for a server store
}

// newTarget resolves raw into a target; see Config.Store for the rules.
func newTarget(raw string, keep bool) (*target, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if raw == "" {
		scheme, rest, ok = "pebble", "", true
	}
	if !ok {
		return nil, fmt.Errorf("%w: store %q has no scheme", ErrConfig, storeurl.Redact(raw))
	}
	t := &target{url: raw, cleanup: func(context.Context) error { return nil }}
	switch scheme {
	case "memory":
		// One log for the whole run: a "restart" reopens a view of it.
		l := memory.New()
		t.open = func(context.Context) (stores.Log, error) { return unclosable{l}, nil }
		t.cleanup = func(context.Context) error { return l.Close() }
	case "file", "pebble", "sqlite":
		if rest == "" {
			dir, err := os.MkdirTemp("", "omniq-bench-")
			if err != nil {
				return nil, fmt.Errorf("bench: temporary store directory: %w", err)
			}
			path := dir
			if scheme == "sqlite" {
				path = dir + "/omniq.db"
			}
			t.dir = dir
			t.url = scheme + "://" + path
			if !keep {
				t.cleanup = func(context.Context) error { return os.RemoveAll(dir) }
			}
		}
		if t.dir == "" {
			t.dir = rest
			if scheme == "sqlite" {
				t.dir = filepath.Dir(rest)
			}
		}
	case "postgres", "postgresql", "redis", "rediss", "nats":
		param := "name"
		if strings.HasPrefix(scheme, "postgres") {
			param = "log"
		}
		u, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: store %q: %v", ErrConfig, storeurl.Redact(raw), err)
		}
		if u.Query().Get(param) == "" {
			q := u.Query()
			q.Set(param, fmt.Sprintf("omniq_bench_%d", time.Now().UnixNano()))
			u.RawQuery = q.Encode()
			t.url = u.String()
			if !keep {
				t.cleanup = t.drop
			}
		}
	}
	if t.open == nil {
		resolved := t.url
		t.open = func(ctx context.Context) (stores.Log, error) { return storeurl.Open(ctx, resolved) }
	}
	t.display = storeurl.Redact(t.url)
	return t, nil
}

// drop deletes a log the run created on a shared server.
func (t *target) drop(ctx context.Context) error {
	l, err := t.open(ctx)
	if err != nil {
		return err
	}
	defer l.Close()
	d, ok := l.(stores.Dropper)
	if !ok {
		return fmt.Errorf("bench: store %s cannot drop its log; remove it by hand", t.display)
	}
	return d.Drop(ctx)
}

// unclosable is a memory log whose Close does nothing, so that a run can
// close it and open it again as a restarted process would.
type unclosable struct{ *memory.Log }

func (unclosable) Close() error { return nil }

// plainLog hides every optional interface of the log it wraps, so that
// engine.Replay finds no snapshot and replays the whole log.
type plainLog struct{ stores.Log }

// pageLog is a plainLog that keeps the log's stores.PageReader: a replay
// at Open reads through it, and the full replay measures that replay.
type pageLog struct {
	plainLog
	stores.PageReader
}

// withoutSnapshots wraps l as a plainLog, or a pageLog when l reads pages
// into memory it is given.
func withoutSnapshots(l stores.Log) stores.Log {
	if pr, ok := l.(stores.PageReader); ok {
		return pageLog{plainLog{l}, pr}
	}
	return plainLog{l}
}

// crashLog forwards a snapshot-keeping log; once crashed is set it drops
// SaveSnapshot calls, so that closing the engine leaves the store as a crash
// would: with the last periodic snapshot only.
type crashLog struct {
	stores.Log
	ss      stores.SnapshotStore
	crashed func() bool
}

func (c crashLog) SaveSnapshot(ctx context.Context, position uint64, data []byte) error {
	if c.crashed() {
		return nil
	}
	return c.ss.SaveSnapshot(ctx, position, data)
}

func (c crashLog) LoadSnapshot(ctx context.Context) (uint64, []byte, error) {
	return c.ss.LoadSnapshot(ctx)
}

// TruncateBefore and First forward to the log, so that retention (which
// needs stores.Truncater) runs in a bench as it does outside one. Every
// store the bench opens implements it.
func (c crashLog) TruncateBefore(ctx context.Context, pos uint64) error {
	return c.Log.(stores.Truncater).TruncateBefore(ctx, pos)
}

func (c crashLog) First(ctx context.Context) (uint64, error) {
	return c.Log.(stores.Truncater).First(ctx)
}

// dirBytes returns the bytes the files under dir hold (0 when dir is "").
// A store's directory holds its log; its size is the log on disk.
func dirBytes(dir string) uint64 {
	if dir == "" {
		return 0
	}
	var n uint64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += uint64(info.Size())
			}
		}
		return nil
	})
	return n
}
