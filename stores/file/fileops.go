package file

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
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

// seal returns the content of a small file of the log's own (FIRST, the
// snapshot): magic, the CRC-32C checksum of the rest, position and payload.
func seal(magic string, position uint64, payload []byte) []byte {
	buf := make([]byte, len(magic)+4+8, len(magic)+4+8+len(payload))
	copy(buf, magic)
	binary.LittleEndian.PutUint64(buf[len(magic)+4:], position)
	buf = append(buf, payload...)
	binary.LittleEndian.PutUint32(buf[len(magic):], crc32.Checksum(buf[len(magic)+4:], castagnoli))
	return buf
}

// unseal's errors: the bytes are not what seal made with that magic, or
// their checksum does not match.
var (
	errNotSealed = errors.New("bad header")
	errSealSum   = errors.New("checksum mismatch")
)

// unseal reads back what seal wrote with magic: the position and the
// payload. Errors: errNotSealed when b is too short for the header or does
// not start with magic; errSealSum when the checksum does not match the
// rest (the damage shows at offset len(magic)).
func unseal(b []byte, magic string) (uint64, []byte, error) {
	if len(b) < len(magic)+4+8 || string(b[:len(magic)]) != magic {
		return 0, nil, errNotSealed
	}
	covered := b[len(magic)+4:]
	if crc32.Checksum(covered, castagnoli) != binary.LittleEndian.Uint32(b[len(magic):]) {
		return 0, nil, errSealSum
	}
	return binary.LittleEndian.Uint64(covered), covered[8:], nil
}

// replaceFile makes data the content of the file name in the log's
// directory, atomically: data is written and fsynced under the name tmp,
// renamed over name, and the directory fsynced. A crash leaves the old file
// (or none) or the new one, whole, and at worst a tmp that Open removes
// (removeStale).
func (l *Log) replaceFile(name, tmp string, data []byte) error {
	path := filepath.Join(l.dir, tmp)
	if err := writeSynced(path, data); err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(path, filepath.Join(l.dir, name)); err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	if err := l.opts.syncDir(l.dir); err != nil {
		return fmt.Errorf("fsync %s after writing %s: %w", l.dir, name, err)
	}
	return nil
}

// writeSynced writes a new file at path holding data and fsyncs it.
func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// removeStale deletes the file tmp in dir, which a crashed replaceFile
// left half written; it never replaced its file, so nothing is lost.
func removeStale(dir, tmp string) error {
	if err := os.Remove(filepath.Join(dir, tmp)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("file: remove stale %s: %w", tmp, err)
	}
	return nil
}
