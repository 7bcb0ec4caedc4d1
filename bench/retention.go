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
// engine's default), a description for the report, and a cleanup that
// removes the archive unless cfg.Keep.
func retention(cfg Config) (opt engine.Option, desc string, cleanup func() error, err error) {
	switch {
	case cfg.Retention == 0:
		return nil, "", func() error { return nil }, nil
	case cfg.Retention < 0:
		return engine.WithRetention(engine.Retention{Age: engine.KeepEverything}), "off (keep everything)", func() error { return nil }, nil
	}
	dir, err := os.MkdirTemp("", "omniq-bench-archive-")
	if err != nil {
		return nil, "", nil, fmt.Errorf("bench: archive directory: %w", err)
	}
	// The archive creates its directory when retention first archives.
	a, err := archive.Open(filepath.Join(dir, "archive"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", nil, fmt.Errorf("bench: archive: %w", err)
	}
	r := engine.Retention{Age: cfg.Retention, Every: retentionEvery(cfg.Retention), Archive: a}
	cleanup = func() error {
		if cfg.Keep {
			return nil
		}
		return os.RemoveAll(dir)
	}
	return engine.WithRetention(r), fmt.Sprintf("%s, checked every %s, archive %s", r.Age, r.Every, a), cleanup, nil
}

// retentionEvery is how often a run's retention looks for tasks to
// archive: a twentieth of age, at least a second and at most a minute (the
// engine compacts once its oldest ended task is 5/4 of age old, so a look
// every twentieth adds at most a fifth of that margin).
func retentionEvery(age time.Duration) time.Duration {
	return min(max(age/20, time.Second), time.Minute)
}
