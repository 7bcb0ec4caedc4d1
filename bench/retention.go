package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/engine/archive"
)

// retention returns the engine option Config.Retention asks for (nil: the
// engine's default), a description for the report, another that returns the
// same option for one more node (with an archive handle of its own on the
// same directory, as another process would open it), and a cleanup that
// removes the archive unless cfg.Keep.
func retention(cfg Config) (opt engine.Option, desc string, another func() (engine.Option, error), cleanup func() error, err error) {
	none := func() error { return nil }
	switch {
	case cfg.Retention == 0:
		return nil, "", func() (engine.Option, error) { return nil, nil }, none, nil
	case cfg.Retention < 0:
		opt = engine.WithRetention(engine.Retention{Age: engine.KeepEverything})
		return opt, "off (keep everything)", func() (engine.Option, error) { return opt, nil }, none, nil
	}
	dir, err := os.MkdirTemp("", "omniq-bench-archive-")
	if err != nil {
		return nil, "", nil, nil, fmt.Errorf("bench: archive directory: %w", err)
	}
	// The archive creates its directory when retention first archives.
	path := filepath.Join(dir, "archive")
	r := engine.Retention{Age: cfg.Retention, Every: retentionEvery(cfg.Retention)}
	another = func() (engine.Option, error) {
		a, err := archive.Open(path)
		if err != nil {
			return nil, fmt.Errorf("bench: archive: %w", err)
		}
		r := r
		r.Archive = a
		return engine.WithRetention(r), nil
	}
	a, err := archive.Open(path)
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", nil, nil, fmt.Errorf("bench: archive: %w", err)
	}
	r.Archive = a
	cleanup = func() error {
		if cfg.Keep {
			return nil
		}
		return os.RemoveAll(dir)
	}
	return engine.WithRetention(r), fmt.Sprintf("%s, checked every %s, archive %s", r.Age, r.Every, a), another, cleanup, nil
}

// retentionEvery is how often a run's retention looks for tasks to
// archive: a twentieth of age, at least a second and at most a minute (the
// engine compacts once its oldest ended task is 5/4 of age old, so a look
// every twentieth adds at most a fifth of that margin).
func retentionEvery(age time.Duration) time.Duration {
	return min(max(age/20, time.Second), time.Minute)
}
