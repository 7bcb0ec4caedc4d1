package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/omniq/omniq/engine/audit"
	"github.com/omniq/omniq/stores/storeurl"
)

func init() {
	commands["export"] = command{summary: "write a store's events as JSON Lines (stdout or a file)",
		usage: "--store URL [--out FILE] [--from N] [--until N] [flags]", run: runExport}
}

func runExport(ctx context.Context, args []string) error {
	fs := newFlagSet("export")
	store := auditStoreFlag(fs)
	archiveDir := auditArchiveFlag(fs)
	out := fs.String("out", "", "write to this file (replaced only once the export succeeds) instead of stdout")
	from := fs.Uint64("from", 0, "first position to write (default: the log's first)")
	until := fs.Uint64("until", 0, "last position to write (default: the head)")
	log, err := parseAndOpenHistory(ctx, fs, args, store, archiveDir)
	if err != nil {
		return err
	}
	defer log.Close()

	var w io.Writer = auditOut
	var tmp *os.File
	if *out != "" {
		// Write beside the target and rename, so that a failed export never
		// leaves a truncated file that looks whole.
		tmp, err = os.CreateTemp(filepath.Dir(*out), "."+filepath.Base(*out)+".tmp*")
		if err != nil {
			return err
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		w = tmp
	}
	bar := newAuditProgress("export", false)
	bar.on = bar.on && tmp != nil // never draw between records on a terminal
	n, err := audit.Export(ctx, log, w, audit.ExportOptions{From: *from, Until: *until, Progress: bar.set})
	bar.finish()
	if err != nil {
		return err
	}
	if tmp == nil {
		return nil
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), *out); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "exported %d events from %s to %s\n", n, storeurl.Redact(*store), *out)
	return nil
}
