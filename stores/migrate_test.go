package stores_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/omniq/omniq/stores"
)

// TestSchemaMigrate: only the versions after the current one run, each
// statement in order and then its record; an exec error stops the
// migration and comes back as it is; a newer schema is refused before
// anything runs.
func TestSchemaMigrate(t *testing.T) {
	s := stores.Schema{Backend: "b", Log: "l", Record: "record", Versions: []stores.Migration{
		{Version: 1, Stmts: []string{"a1", "b1"}},
		{Version: 2, Stmts: []string{"a2"}},
		{Version: 3, Stmts: []string{"a3"}},
	}}
	var ran []string
	exec := func(op, stmt string, args ...any) error {
		ran = append(ran, fmt.Sprint(op, "|", stmt, args))
		return nil
	}
	if err := s.Migrate(1, exec); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"migrate: version 2|a2[]", "migrate: record version 2|record[2]",
		"migrate: version 3|a3[]", "migrate: record version 3|record[3]",
	}
	if !reflect.DeepEqual(ran, want) {
		t.Fatalf("from version 1 ran %q, want %q", ran, want)
	}

	ran = nil
	if err := s.Migrate(3, exec); err != nil || len(ran) != 0 {
		t.Fatalf("at the newest version: %v, ran %q", err, ran)
	}

	failed := errors.New("failed")
	ran = nil
	err := s.Migrate(0, func(op, stmt string, args ...any) error {
		ran = append(ran, stmt)
		if stmt == "b1" {
			return failed
		}
		return nil
	})
	if err != failed || !reflect.DeepEqual(ran, []string{"a1", "b1"}) {
		t.Fatalf("failing statement: %v, ran %q", err, ran)
	}

	ran = nil
	err = s.Migrate(4, exec)
	if err == nil || !strings.Contains(err.Error(), `b: migrate: log "l" has schema version 4, newer than this build's 3`) || len(ran) != 0 {
		t.Fatalf("newer schema: %v, ran %q", err, ran)
	}
}
