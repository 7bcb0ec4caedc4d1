package file

import (
	"io"
	"os"
)

// segmentFile is what the log needs from an open segment file. *os.File
// provides it. It is the seam between the log and the operating system for
// the calls whose failure changes what the log promises (write, sync,
// truncate): tests in this package wrap it to fail on demand.
type segmentFile interface {
	io.ReaderAt
	io.WriterAt
	Sync() error
	Truncate(size int64) error
	Stat() (os.FileInfo, error)
	Close() error
}

// openOSFile opens a segment file on the real file system.
func openOSFile(path string, flag int, perm os.FileMode) (segmentFile, error) {
	f, err := os.OpenFile(path, flag, perm)
	if err != nil {
		// A nil interface, not a nil *os.File inside a non-nil one.
		return nil, err
	}
	return f, nil
}

// syncOSDir fsyncs a directory, making the creation, removal and renaming of
// its entries durable. Without it a file that was fsynced can still vanish
// in a power loss because its name never reached the disk.
func syncOSDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
