package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/jackc/pgx/v5"

	"github.com/omniq/omniq/stores"
)

// ErrInvalidName: the log name given to WithName is not usable as a table
// prefix. Open returns it (wrapped) before connecting.
var ErrInvalidName = errors.New("postgres: invalid log name")

// MaxNameLen is the longest accepted log name: PostgreSQL truncates
// identifiers to 63 bytes, and the longest table suffix is "_migrations"
// (a new table's suffix must be no longer: "_snappieces" is as long).
const MaxNameLen = 63 - len("_migrations")

// validateName reports whether name is a lowercase SQL identifier fragment
// ([a-z_][a-z0-9_]*, at most MaxNameLen bytes), safe to splice into
// statements and never folded or truncated by the server.
func validateName(name string) error {
	if err := stores.CheckLogName(name, MaxNameLen); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidName, err)
	}
	return nil
}

// tables holds the quoted names of one log's tables and its NOTIFY channel.
type tables struct {
	migrations, head, batches, snapshot, snapPieces string
	snapPiecesID                                    pgx.Identifier // snapPieces, for COPY
	channel                                         string         // unquoted, for pg_notify
}

func tablesFor(name string) tables {
	q := func(suffix string) string { return pgx.Identifier{name + suffix}.Sanitize() }
	return tables{
		migrations:   q("_migrations"),
		head:         q("_head"),
		batches:      q("_batches"),
		snapshot:     q("_snapshot"),
		snapPieces:   q("_snappieces"),
		snapPiecesID: pgx.Identifier{name + "_snappieces"},
		channel:      name + "_appended",
	}
}

// all lists every table, for dropping a log.
func (t tables) all() []string {
	return []string{t.batches, t.head, t.snapshot, t.snapPieces, t.migrations}
}

// lockKey derives a 64-bit advisory lock key from the log name. Two names
// that collide only serialize their migrations, which is harmless.
func lockKey(purpose, name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("omniq/stores/postgres/" + purpose + "/" + name))
	return int64(h.Sum64())
}

// migrations returns every schema version in order. Append new versions;
// never edit one that has shipped.
func migrations(t tables) []stores.Migration {
	return []stores.Migration{
		{Version: 1, Stmts: []string{
			`CREATE TABLE ` + t.batches + ` (
				first_pos BIGINT PRIMARY KEY CHECK (first_pos >= 1),
				n         INT    NOT NULL CHECK (n >= 1),
				data      BYTEA  NOT NULL
			)`,
			`CREATE TABLE ` + t.head + ` (
				one  BOOL   PRIMARY KEY DEFAULT true CHECK (one),
				head BIGINT NOT NULL CHECK (head >= 0)
			)`,
			`INSERT INTO ` + t.head + ` (one, head) VALUES (true, 0)`,
			`CREATE TABLE ` + t.snapshot + ` (
				one      BOOL        PRIMARY KEY DEFAULT true CHECK (one),
				position BIGINT      NOT NULL CHECK (position >= 0),
				data     BYTEA       NOT NULL,
				saved_at TIMESTAMPTZ NOT NULL DEFAULT now()
			)`,
		}},
		// A snapshot longer than pieceSize is kept in pieces (snapshot.go).
		// A row written before has size NULL and its data inline, which is
		// still how a short snapshot is kept.
		{Version: 2, Stmts: []string{
			`ALTER TABLE ` + t.snapshot + ` ADD COLUMN size BIGINT CHECK (size >= 0)`,
			`CREATE TABLE ` + t.snapPieces + ` (
				seq  INT   PRIMARY KEY CHECK (seq >= 0),
				data BYTEA NOT NULL
			)`,
		}},
	}
}

// schema is the log's versioned schema.
func (l *Log) schema() stores.Schema {
	return stores.Schema{Backend: "postgres", Log: l.name, Versions: migrations(l.t),
		Record: `INSERT INTO ` + l.t.migrations + ` (version) VALUES ($1)`}
}

// migrate brings the log's schema to the newest version this build knows.
// It runs in one transaction holding an advisory lock on the name, so
// concurrent Opens apply each version exactly once.
func (l *Log) migrate(ctx context.Context) error {
	return l.lockedTx(ctx, "migrate", "migrate", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+l.t.migrations+` (
		version    INT         PRIMARY KEY,
		applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
	)`); err != nil {
			return l.interpretError("migrate: create migrations table", err)
		}
		var current int
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM `+l.t.migrations).Scan(&current); err != nil {
			return l.interpretError("migrate: read version", err)
		}
		return l.schema().Migrate(current, func(op, stmt string, args ...any) error {
			if _, err := tx.Exec(ctx, stmt, args...); err != nil {
				return l.interpretError(op, err)
			}
			return nil
		})
	})
}

// lockedTx runs fn in one transaction that first takes the advisory lock
// of purpose on the log's name, and commits when fn returns nil (it rolls
// back otherwise). The lock serializes schema changes across processes:
// concurrent CREATE TABLE IF NOT EXISTS can still collide without it. op
// names the step in errors.
func (l *Log) lockedTx(ctx context.Context, purpose, op string, fn func(pgx.Tx) error) error {
	tx, err := l.pool.Begin(ctx)
	if err != nil {
		return l.interpretError(op, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // a no-op after Commit
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey(purpose, l.name)); err != nil {
		return l.interpretError(op+": lock", err)
	}
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return l.interpretError(op+": commit", err)
	}
	return nil
}
