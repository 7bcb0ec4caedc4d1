package file

import "github.com/omniq/omniq/stores"

var _ stores.Placed = (*Log)(nil)

// Place implements stores.Placed: the log's directory.
func (l *Log) Place() string { return l.dir }
