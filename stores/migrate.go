package stores

import "fmt"

// Migration is one schema version of a SQL backend's log: statements run in
// order, in the migrating transaction.
type Migration struct {
	Version int
	Stmts   []string
}

// Schema is the versioned schema of one log of a SQL backend, whose
// migrations table records each version applied.
type Schema struct {
	Backend string // names the backend in errors: "postgres"
	Log     string // the log's name
	// Versions lists every schema version in order. Append new versions;
	// never edit one that has shipped.
	Versions []Migration
	// Record is the statement that records a version applied in the
	// migrations table, the version its one argument.
	Record string
}

// Migrate brings the schema from version current (0: none applied) to the
// newest of s.Versions, in the one transaction exec runs its statements
// in: the caller holds the lock that makes concurrent opens apply each
// version exactly once. exec runs one statement with its arguments and
// maps its error onto the sentinels itself, naming op ("migrate: version
// N", "migrate: record version N"); Migrate returns that error as it is.
// A current version newer than this build's newest is refused, and
// nothing is run.
func (s Schema) Migrate(current int, exec func(op, stmt string, args ...any) error) error {
	if latest := s.Versions[len(s.Versions)-1].Version; current > latest {
		return fmt.Errorf("%s: migrate: log %q has schema version %d, newer than this build's %d", s.Backend, s.Log, current, latest)
	}
	for _, m := range s.Versions {
		if m.Version <= current {
			continue
		}
		for _, stmt := range m.Stmts {
			if err := exec(fmt.Sprintf("migrate: version %d", m.Version), stmt); err != nil {
				return err
			}
		}
		if err := exec(fmt.Sprintf("migrate: record version %d", m.Version), s.Record, m.Version); err != nil {
			return err
		}
	}
	return nil
}
