package file

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/storetest"
)

// written is a closed log on disk and what the test knows about it.
type written struct {
	dir     string
	events  []events.Event // every event appended, in order
	lastLen int            // events in the last batch
	segs    []segInfo      // the segments, in order
}

type segInfo struct {
	path string
	offs []int64 // record offsets
	size int64
}

// writeLog appends n batches of 3 events to a fresh log in a temp dir and
// closes it.
func writeLog(t *testing.T, n int, opts ...Option) written {
	t.Helper()
	dir := t.TempDir()
	l, err := Open(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	w := written{dir: dir, events: appendBatches(t, l, "w", n, 3), lastLen: 3}
	for _, seg := range l.segs {
		si := segInfo{path: seg.path, size: seg.size}
		for _, b := range seg.batches {
			si.offs = append(si.offs, b.off)
		}
		w.segs = append(w.segs, si)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return w
}

// writeSegments is writeLog with tiny segments, which must come to at least
// segs of them. It returns the options to open the log with too.
func writeSegments(t *testing.T, n, segs int) (written, []Option) {
	t.Helper()
	opts := []Option{WithSegmentSize(tinySegment)}
	w := writeLog(t, n, opts...)
	if len(w.segs) < segs {
		t.Fatalf("%d segments; the test needs %d", len(w.segs), segs)
	}
	return w, opts
}

// openCorrupt fails the test unless Open refuses the log in dir with
// ErrCorrupt and an error that names file (where the damage is) and an
// offset.
func openCorrupt(t *testing.T, dir, file string, opts ...Option) {
	t.Helper()
	l, err := Open(dir, opts...)
	if err == nil {
		l.Close()
		t.Fatal("open of a corrupt log succeeded")
	}
	if !errors.Is(err, stores.ErrCorrupt) {
		t.Fatalf("err = %v, want ErrCorrupt", err)
	}
	if msg := err.Error(); !strings.Contains(msg, filepath.Base(file)) || !strings.Contains(msg, "offset") {
		t.Fatalf("error %q does not name %s and an offset", msg, filepath.Base(file))
	}
}

func (w written) last() segInfo { return w.segs[len(w.segs)-1] }

func truncateFile(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// flipByte inverts one byte of the file at path.
func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0xff
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// putUint32 overwrites 4 bytes of the file at path.
func putUint32(t *testing.T, path string, off int64, v uint32) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint32(b[off:], v)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTornTail damages the end of the last segment the ways a crash during
// Append can, and checks Open drops only the damaged record and appends go on.
func TestTornTail(t *testing.T) {
	garbage := make([]byte, 300)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range garbage {
		garbage[i] = byte(rng.UintN(256))
	}
	cases := []struct {
		name string
		// damage harms the log in w; it returns how many of the last events
		// should be gone.
		damage func(t *testing.T, w written) (lost int)
	}{
		{"chop last byte", func(t *testing.T, w written) int {
			truncateFile(t, w.last().path, w.last().size-1)
			return w.lastLen
		}},
		{"chop into header", func(t *testing.T, w written) int {
			s := w.last()
			truncateFile(t, s.path, s.offs[len(s.offs)-1]+3)
			return w.lastLen
		}},
		{"keep only header", func(t *testing.T, w written) int {
			s := w.last()
			truncateFile(t, s.path, s.offs[len(s.offs)-1]+headerLen)
			return w.lastLen
		}},
		{"bad checksum on final record", func(t *testing.T, w written) int {
			s := w.last()
			flipByte(t, s.path, s.size-5)
			return w.lastLen
		}},
		{"length of final record overruns the file", func(t *testing.T, w written) int {
			s := w.last()
			putUint32(t, s.path, s.offs[len(s.offs)-1], 1<<20)
			return w.lastLen
		}},
		{"garbage appended", func(t *testing.T, w written) int {
			appendFile(t, w.last().path, garbage)
			return 0
		}},
		{"zeros appended", func(t *testing.T, w written) int {
			// Some file systems extend a file with zeros when a crash lands
			// between the size update and the data.
			appendFile(t, w.last().path, make([]byte, 4096))
			return 0
		}},
		{"half a record appended", func(t *testing.T, w written) int {
			s := w.last()
			b := readFile(t, s.path)
			rec := b[s.offs[len(s.offs)-1]:]
			appendFile(t, s.path, rec[:len(rec)/2])
			return 0
		}},
	}
	for _, tc := range cases {
		for _, seg := range []struct {
			name string
			opts []Option
		}{{"OneSegment", nil}, {"TinySegments", []Option{WithSegmentSize(tinySegment)}}} {
			t.Run(tc.name+"/"+seg.name, func(t *testing.T) {
				w := writeLog(t, 40, seg.opts...)
				if seg.opts != nil && len(w.segs) < 2 {
					t.Fatalf("only %d segment; the case needs several", len(w.segs))
				}
				lost := tc.damage(t, w)
				want := w.events[:len(w.events)-lost]

				l := mustOpen(t, w.dir, seg.opts...)
				checkHolds(t, l, want)
				more := appendBatches(t, l, "more", 2, 2)
				want = append(want[:len(want):len(want)], more...)
				checkHolds(t, l, want)
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				// The truncation stuck and the new records follow it cleanly.
				checkHolds(t, mustOpen(t, w.dir, seg.opts...), want)
			})
		}
	}
}

// TestCorruption damages the log where no crash could, and checks Open
// refuses it with ErrCorrupt naming the file.
func TestCorruption(t *testing.T) {
	cases := []struct {
		name   string
		opts   []Option
		damage func(t *testing.T, w written) (file string)
	}{
		{"bad checksum in the first record", nil, func(t *testing.T, w written) string {
			s := w.segs[0]
			flipByte(t, s.path, s.offs[0]+headerLen+bodyHeaderLen+4)
			return s.path
		}},
		{"bad checksum in the record before last", nil, func(t *testing.T, w written) string {
			s := w.last()
			flipByte(t, s.path, s.offs[len(s.offs)-1]-2)
			return s.path
		}},
		{"impossible length in the middle", nil, func(t *testing.T, w written) string {
			s := w.segs[0]
			putUint32(t, s.path, s.offs[5], 3)
			return s.path
		}},
		{"length in the middle overruns the file", nil, func(t *testing.T, w written) string {
			s := w.segs[0]
			putUint32(t, s.path, s.offs[5], uint32(s.size))
			return s.path
		}},
		{"bad checksum at the end of a segment that is not the last", []Option{WithSegmentSize(tinySegment)}, func(t *testing.T, w written) string {
			s := w.segs[0]
			flipByte(t, s.path, s.size-1)
			return s.path
		}},
		{"torn tail on a segment that is not the last", []Option{WithSegmentSize(tinySegment)}, func(t *testing.T, w written) string {
			s := w.segs[1]
			truncateFile(t, s.path, s.size-3)
			return s.path
		}},
		{"a segment is missing", []Option{WithSegmentSize(tinySegment)}, func(t *testing.T, w written) string {
			if err := os.Remove(w.segs[1].path); err != nil {
				t.Fatal(err)
			}
			return w.segs[2].path
		}},
		{"the first segment is missing", []Option{WithSegmentSize(tinySegment)}, func(t *testing.T, w written) string {
			if err := os.Remove(w.segs[0].path); err != nil {
				t.Fatal(err)
			}
			return w.segs[1].path
		}},
		{"an intact record repeated at the end", nil, func(t *testing.T, w written) string {
			// Checksummed but at the wrong position: no crash writes that.
			s := w.last()
			b := readFile(t, s.path)
			appendFile(t, s.path, b[s.offs[0]:s.offs[1]])
			return s.path
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := writeLog(t, 40, tc.opts...)
			if tc.opts != nil && len(w.segs) < 3 {
				t.Fatalf("only %d segments; the case needs several", len(w.segs))
			}
			openCorrupt(t, w.dir, tc.damage(t, w), tc.opts...)
			// A failed Open releases the lock: trying again meets the same
			// corruption, not ErrLocked.
			if _, err := Open(w.dir, tc.opts...); !errors.Is(err, stores.ErrCorrupt) {
				t.Fatalf("second open: %v, want ErrCorrupt again", err)
			}
		})
	}
}

// TestReadDetectsDamageAfterOpen: Read checks checksums too, so bit rot after
// Open reads as corruption instead of as wrong events.
func TestReadDetectsDamageAfterOpen(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir)
	appendBatches(t, l, "r", 5, 3)
	seg := l.segs[0]
	flipByte(t, seg.path, seg.batches[2].off+headerLen+bodyHeaderLen+2)
	if _, err := l.Read(context.Background(), 1, 100); !errors.Is(err, stores.ErrCorrupt) {
		t.Fatalf("read of a damaged record: %v, want ErrCorrupt", err)
	}
	if got, err := l.Read(context.Background(), 1, 6); err != nil || len(got) != 6 {
		t.Fatalf("read of the intact records before it = %d events, %v", len(got), err)
	}
}

// FuzzOpen writes arbitrary bytes as the only segment and opens it: Open
// either fails with ErrCorrupt or gives a log that reads, and appends at
// head+1. It never panics. It skips fsync, which tests nothing here and would
// make each run wait on the disk.
func FuzzOpen(f *testing.F) {
	dir := f.TempDir()
	l, err := Open(dir)
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	for i := 1; i <= 4; i++ {
		b := make([]events.Event, i)
		for j := range b {
			b[j] = storetest.Event("seed", j+1)
		}
		if _, err := l.Append(ctx, b); err != nil {
			f.Fatal(err)
		}
	}
	l.Close()
	valid, err := os.ReadFile(filepath.Join(dir, segmentName(1)))
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte{})
	f.Add(valid)
	f.Add(valid[:len(valid)-1])
	f.Add(valid[:headerLen+3])
	f.Add(append(bytes.Clone(valid), 1, 2, 3, 4, 5, 6, 7, 8, 9))
	f.Add(append(bytes.Clone(valid), valid...))
	f.Add(bytes.Repeat([]byte{0xff}, 64))

	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segmentName(1)), data, 0o644); err != nil {
			t.Fatal(err)
		}
		l, err := Open(dir, withoutSync())
		if err != nil {
			if !errors.Is(err, stores.ErrCorrupt) {
				t.Fatalf("open failed without ErrCorrupt: %v", err)
			}
			return
		}
		defer l.Close()
		head, err := l.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := l.Read(ctx, 1, int(min(head, 1<<16)))
		if err != nil && !errors.Is(err, stores.ErrCorrupt) {
			t.Fatalf("read failed without ErrCorrupt: %v", err)
		}
		if err == nil && uint64(len(evs)) != min(head, 1<<16) {
			t.Fatalf("read %d events, head is %d", len(evs), head)
		}
		first, err := l.Append(ctx, []events.Event{storetest.Event("after", 1)})
		if err != nil || first != head+1 {
			t.Fatalf("append after open = %d, %v; want %d", first, err, head+1)
		}
	})
}
