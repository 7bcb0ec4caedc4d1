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

// migrations returns every schema version in order. Append new versions;
// never edit one that has shipped.
func migrations(t tables) []stores.Migration {
	return []stores.Migration{
		{Version: 1, Stmts: []string{
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

// schema is the log's versioned schema.
func (l *Log) schema() stores.Schema {
	return stores.Schema{Backend: "sqlite", Log: l.name, Versions: migrations(l.t),
		Record: `INSERT INTO ` + l.t.migrations + ` (version) VALUES (?)`}
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
	err = l.schema().Migrate(current, func(op, stmt string, args ...any) error {
		if _, err := tx.ExecContext(ctx, stmt, args...); err != nil {
			return l.interpretError(op, true, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return l.interpretError("migrate: commit", true, err)
	}
	return nil
}
