package file

import "os"

// DefaultSegmentSize is the size past which appends move to a new segment
// unless WithSegmentSize says otherwise.
const DefaultSegmentSize int64 = 64 << 20

// Option configures Open.
type Option func(*options)

type options struct {
	segmentSize int64

	// openFile and syncDir are the seam to the operating system. Tests in
	// this package replace them to inject write, fsync and directory-fsync
	// failures.
	openFile func(path string, flag int, perm os.FileMode) (segmentFile, error)
	syncDir  func(dir string) error
}

func defaultOptions() options {
	return options{segmentSize: DefaultSegmentSize, openFile: openOSFile, syncDir: syncOSDir}
}

// WithSegmentSize sets the size in bytes past which appends move to a new
// segment file. It must be positive; Open fails otherwise. Small sizes make
// many small files and are meant for tests that exercise rotation. The size
// may change between opens of one directory.
func WithSegmentSize(n int64) Option {
	return func(o *options) { o.segmentSize = n }
}
