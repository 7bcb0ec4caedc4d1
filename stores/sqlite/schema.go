package sqlite

import (
	"context"
	"errors"
	"fmt"

	"github.com/omniq/omniq/stores"
)

// ErrInvalidName: the log name given to WithName is not usable as a table
// prefix. Open returns it (wrapped) before touching the file.
var ErrInvalidName = errors.New("sqlite: invalid log name")

// MaxNameLen is the longest accepted log name.
const MaxNameLen = 64

// validateName reports whether name is a lowercase SQL identifier fragment
// ([a-z_][a-z0-9_]*, at most MaxNameLen bytes), safe to splice into
// statements.
func validateName(name string) error {
	if err := stores.CheckLogName(name, MaxNameLen); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidName, err)
	}
	return nil
}

// tables holds the quoted names of one log's tables.
type tables struct {
	migrations, batches, snapshot string
}

func tablesFor(name string) tables {
	// REQUIRES: validateName(name) == nil, so quoting needs no escaping.
	q := func(suffix string) string { return `"` + name + suffix + `"` }
	return tables{
		migrations: q("_migrations"),
		batches:    q("_batches"),
		snapshot:   q("_snapshot"),
	}
}

// migration is one schema version: statements run in order, in the
// migrating transaction.
type migration struct {
	version int
	stmts   []string
}

// migrations returns every schema version in order. Append new versions;
// never edit one that has shipped.
func migrations(t tables) []migration {
	return []migration{
		{version: 1, stmts: []string{
			`CREATE TABLE ` + t.batches + ` (
				first_pos INTEGER PRIMARY KEY CHECK (first_pos >= 1),
				n         INTEGER NOT NULL CHECK (n >= 1),
				data      BLOB    NOT NULL
			) STRICT`,
			`CREATE TABLE ` + t.snapshot + ` (
				one      INTEGER PRIMARY KEY CHECK (one = 1),
				position INTEGER NOT NULL CHECK (position >= 0),
				data     BLOB    NOT NULL,
				saved_at TEXT    NOT NULL
			) STRICT`,
		}},
	}
}

// migrate brings the log's schema to the newest version this build knows, in
// one BEGIN IMMEDIATE transaction: the write lock makes concurrent Opens, in
// any process, apply each version exactly once.
func (l *Log) migrate(ctx context.Context) error {
	tx, err := l.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: see dsn
	if err != nil {
		return l.interpretError("migrate", true, err)
	}
	defer func() { _ = tx.Rollback() }() // a no-op after Commit
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+l.t.migrations+` (
		version    INTEGER PRIMARY KEY,
		applied_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
	) STRICT`); err != nil {
		return l.interpretError("migrate: create migrations table", true, err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM `+l.t.migrations).Scan(&current); err != nil {
		return l.interpretError("migrate: read version", true, err)
	}
	ms := migrations(l.t)
	if latest := ms[len(ms)-1].version; current > latest {
		return fmt.Errorf("sqlite: migrate: log %q has schema version %d, newer than this build's %d", l.name, current, latest)
	}
	for _, m := range ms {
		if m.version <= current {
			continue
		}
		for _, s := range m.stmts {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				return l.interpretError(fmt.Sprintf("migrate: version %d", m.version), true, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO `+l.t.migrations+` (version) VALUES (?)`, m.version); err != nil {
			return l.interpretError(fmt.Sprintf("migrate: record version %d", m.version), true, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return l.interpretError("migrate: commit", true, err)
	}
	return nil
}
