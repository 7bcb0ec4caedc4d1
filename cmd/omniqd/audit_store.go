package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/omniq/omniq/engine/archive"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/storeurl"
)

// errNoStore: an audit command was pointed at a local store that does not
// exist (opening it would create an empty one and audit nothing).
var errNoStore = errors.New("no store there")

// auditStoreFlag adds the --store flag the audit commands share.
func auditStoreFlag(fs *flag.FlagSet) *string {
	return fs.String("store", envOr("OMNIQ_STORE", storeurl.Default), "store URL (env OMNIQ_STORE): memory://, file:///dir, pebble:///dir, sqlite:///file.db, postgres://…, redis://…, nats://…")
}

// openAuditStore opens the store raw names. Unless create is set, a local
// store (file, pebble, sqlite) must already exist. An embedded store that a
// running daemon holds is locked: stop the daemon, or audit a copy.
func openAuditStore(ctx context.Context, raw string, create bool) (stores.Log, error) {
	if !create {
		if scheme, rest, ok := strings.Cut(raw, "://"); ok && (scheme == "file" || scheme == "pebble" || scheme == "sqlite") {
			if _, err := os.Stat(rest); errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("%w: %s does not exist", errNoStore, rest)
			}
		}
	}
	log, err := storeurl.Open(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", storeurl.Redact(raw), err)
	}
	return log, nil
}

// auditParseFlags parses args, refusing positional arguments.
func auditParseFlags(fs *flag.FlagSet, args []string) error {
	_, err := parseArgs(fs, args, argSpec{})
	return err
}

// auditArchiveFlag adds the --archive flag of the commands that read a
// whole history (replay, verify, export).
func auditArchiveFlag(fs *flag.FlagSet) *string {
	return fs.String("archive", "", "a retention archive directory (omniqd serve --archive; by default beside the data, e.g. ./omniq-data.archive): read its events first, then the log's after them")
}

// parseAndOpenHistory parses args into fs, then opens the history named by
// store and archiveDir, the flags auditStoreFlag and auditArchiveFlag added
// to fs (see openAuditHistory).
func parseAndOpenHistory(ctx context.Context, fs *flag.FlagSet, args []string, store, archiveDir *string) (stores.Log, error) {
	if err := auditParseFlags(fs, args); err != nil {
		return nil, err
	}
	return openAuditHistory(ctx, *store, *archiveDir)
}

// openAuditHistory opens the store raw names, preceded by the retention
// archive in dir when dir is set (see archive.Join).
func openAuditHistory(ctx context.Context, raw, dir string) (stores.Log, error) {
	log, err := openAuditStore(ctx, raw, false)
	if err != nil || dir == "" {
		return log, err
	}
	if _, err := os.Stat(dir); err != nil {
		log.Close()
		return nil, fmt.Errorf("--archive: %w", err)
	}
	j, err := archive.Join(log, dir)
	if err != nil {
		log.Close()
		return nil, fmt.Errorf("--archive: %w", err)
	}
	return j, nil
}
