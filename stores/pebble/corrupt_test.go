package pebble

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	pdb "github.com/cockroachdb/pebble/v2"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/storetest"
)

// quiet drops Pebble's logging, which reports the corruption these tests make.
func quiet() Option { return WithLogger(slog.New(slog.DiscardHandler)) }

// filled returns a closed log in a new directory holding n events and a
// snapshot at position n.
func filled(t *testing.T, n int) string {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	l, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	evs := make([]events.Event, n)
	for i := range evs {
		evs[i] = storetest.Event(fmt.Sprintf("c-%d", i), i+1)
	}
	if _, err := l.Append(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if err := l.SaveSnapshot(ctx, uint64(n), []byte("snap")); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// rawEdit changes a closed log's directory through a bare Pebble handle.
func rawEdit(t *testing.T, dir string, edit func(db *pdb.DB) error) {
	t.Helper()
	db, err := pdb.Open(dir, &pdb.Options{Logger: slogLogger{slog.New(slog.DiscardHandler)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := edit(db); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// record returns a well-formed event record.
func record(t *testing.T) []byte {
	t.Helper()
	b, err := events.Marshal(nil, storetest.Event("r", 1))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func set(key, value []byte) func(*pdb.DB) error {
	return func(db *pdb.DB) error { return db.Set(key, value, pdb.Sync) }
}

func readAll(l *Log) error {
	_, err := l.Read(context.Background(), 1, 100)
	return err
}

func loadSnapshot(l *Log) error {
	_, _, err := l.LoadSnapshot(context.Background())
	return err
}

// TestCorruptRecords damages the log's records (not Pebble's files) and checks
// that the call that meets the damage says ErrCorrupt.
func TestCorruptRecords(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*pdb.DB) error
		// call must fail with ErrCorrupt; nil means Open itself must.
		call func(*Log) error
	}{
		{"garbage event value", set(eventKey(2), bytes.Repeat([]byte{0xab}, 64)), readAll},
		{"event value cut short", set(eventKey(2), []byte{1, 2, 3}), readAll},
		{"trailing bytes after event", set(eventKey(2), append(record(t), 0)), readAll},
		{"missing position", func(db *pdb.DB) error { return db.Delete(eventKey(2), pdb.Sync) }, readAll},
		{"malformed last event key", set([]byte{eventPrefix, 0xff}, []byte("x")), nil},
		{"snapshot value too short", set(snapshotKey, []byte{1, 2}), loadSnapshot},
		{"snapshot chunk changed", set(snapshotChunkKey(0), []byte("snaq")), loadSnapshot},
		{"snapshot chunk cut short", set(snapshotChunkKey(0), []byte("sna")), loadSnapshot},
		{"snapshot chunk missing", func(db *pdb.DB) error { return db.Delete(snapshotChunkKey(0), pdb.Sync) }, loadSnapshot},
		{"snapshot chunk extra", set(snapshotChunkKey(1), []byte("x")), loadSnapshot},
		{"snapshot in a single value", set(snapshotKey, append([]byte{0, 0, 0, 0, 0, 0, 0, 3}, "snap"...)), loadSnapshot},
		{"first position value too short", set(firstKey, []byte{1, 2}), nil},
		{"first position 0", set(firstKey, make([]byte, 8)), nil},
		{"events below the first position", set(firstKey, []byte{0, 0, 0, 0, 0, 0, 0, 2}), nil},
		{"first position missing", func(db *pdb.DB) error {
			if err := db.DeleteRange(eventKey(1), eventKey(3), pdb.Sync); err != nil {
				return err
			}
			return db.Set(firstKey, []byte{0, 0, 0, 0, 0, 0, 0, 2}, pdb.Sync)
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filled(t, 3)
			rawEdit(t, dir, tc.edit)
			l, err := Open(dir, quiet())
			if tc.call == nil {
				if err == nil {
					l.Close()
					t.Fatal("Open succeeded")
				}
				if !errors.Is(err, stores.ErrCorrupt) {
					t.Fatalf("Open = %v, want ErrCorrupt", err)
				}
				t.Log(err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			err = tc.call(l)
			if !errors.Is(err, stores.ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
			t.Log(err)
		})
	}
}

// TestCorruptTable flips a byte inside Pebble's table file: Pebble's block
// checksum catches it, and interpretError turns that into ErrCorrupt (and
// the DataCorruption event is logged, not fatal).
func TestCorruptTable(t *testing.T) {
	dir := filled(t, 500)
	rawEdit(t, dir, func(db *pdb.DB) error { return db.Flush() })
	tables, err := filepath.Glob(filepath.Join(dir, "*.sst"))
	if err != nil || len(tables) == 0 {
		t.Fatalf("no table after flush: %v %v", tables, err)
	}
	for _, name := range tables {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		b[64] ^= 0xff // inside the first data block, which holds position 1
		if err := os.WriteFile(name, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l, err := Open(dir, quiet())
	if err == nil {
		err = readAll(l)
		l.Close()
	}
	if !errors.Is(err, stores.ErrCorrupt) {
		t.Fatalf("err = %v, want ErrCorrupt", err)
	}
	t.Log(err)
}
