package pebble

import (
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/omniq/omniq/stores"
)

var _ stores.Placed = (*Log)(nil)

// Place implements stores.Placed: the log's directory, or "" for a log on
// an in-memory file system.
func (l *Log) Place() string { return l.place }

func osPlace(dir string, fs vfs.FS) string {
	if fs != vfs.Default {
		return ""
	}
	return dir
}
