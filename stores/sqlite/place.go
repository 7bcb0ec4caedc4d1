package sqlite

import (
	"strings"

	"github.com/omniq/omniq/stores"
)

var _ stores.Placed = (*Log)(nil)

// Place implements stores.Placed: the database file, or "" for an
// in-memory database or one opened by a URI.
func (l *Log) Place() string { return l.place }

func filePlace(path string) string {
	if path == "" || strings.HasPrefix(path, ":memory:") || strings.HasPrefix(path, "file:") {
		return ""
	}
	return path
}
