package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/engine/archive"
)

// retentionFlag is --retention: a positive duration, or "keep" (also
// "off"), which keeps every ended task.
type retentionFlag time.Duration

func (r *retentionFlag) String() string {
	if time.Duration(*r) < 0 {
		return "keep"
	}
	return time.Duration(*r).String()
}

func (r *retentionFlag) Set(s string) error {
	switch s {
	case "keep", "off":
		*r = retentionFlag(engine.KeepEverything)
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return errors.New("want a positive duration such as 168h or 30m, or keep")
	}
	*r = retentionFlag(d)
	return nil
}

// retention returns the engine's retention from the flags. Periodic
// compaction (--compact-every) is the older, explicit way to bound the
// log: when it is set, it alone compacts, and retention is off.
func (d *daemon) retention() (engine.Retention, error) {
	if d.cfg.CompactEvery > 0 || time.Duration(d.cfg.Retention) < 0 {
		return engine.Retention{Age: engine.KeepEverything}, nil
	}
	r := engine.Retention{Age: time.Duration(d.cfg.Retention)}
	if d.cfg.Archive != "" {
		a, err := archive.Open(d.cfg.Archive)
		if err != nil {
			return r, fmt.Errorf("--archive: %w", err)
		}
		r.Archive = a
	}
	return r, nil
}

// errArchiveFlag: --archive and --compact-every both name where archived
// events go.
var errArchiveFlag = errors.New("--archive is retention's archive; periodic compaction (--compact-every) writes to --compact-archive")
