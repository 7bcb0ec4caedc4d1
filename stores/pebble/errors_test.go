package pebble

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
	"testing"

	pdb "github.com/cockroachdb/pebble/v2"

	"github.com/omniq/omniq/stores"
)

func TestInterpretError(t *testing.T) {
	other := errors.New("disk on fire")
	for _, tc := range []struct {
		name string
		in   error
		want error // nil: no stores sentinel
	}{
		{"closed", fmt.Errorf("wrapped: %w", pdb.ErrClosed), stores.ErrClosed},
		{"corruption", fmt.Errorf("block 3: %w", pdb.ErrCorruption), stores.ErrCorrupt},
		{"read-only", pdb.ErrReadOnly, stores.ErrReadOnly},
		{"not found", pdb.ErrNotFound, stores.ErrNoSnapshot},
		{"other", other, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := interpretError("op", tc.in)
			if !strings.HasPrefix(got.Error(), "pebble: op: ") {
				t.Errorf("message %q lacks the \"pebble: op: \" prefix", got)
			}
			for _, s := range []error{stores.ErrClosed, stores.ErrCorrupt, stores.ErrReadOnly, stores.ErrNoSnapshot} {
				if errors.Is(got, s) != (s == tc.want) {
					t.Errorf("errors.Is(%v, %v) = %v", got, s, !(s == tc.want))
				}
			}
			if tc.want == nil && !errors.Is(got, tc.in) {
				t.Errorf("%v does not wrap %v", got, tc.in)
			}
		})
	}
	if err := interpretError("op", nil); err != nil {
		t.Fatalf("interpretError(nil) = %v", err)
	}
}

func TestInterpretLockError(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     error
		locked bool
	}{
		{"fcntl conflict", syscall.EAGAIN, true},
		{"in-process conflict", errors.New("lock held by current process"), true},
		{"cannot create LOCK", &fs.PathError{Op: "open", Path: "/x/LOCK", Err: syscall.EACCES}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := interpretLockError("/x", tc.in)
			if errors.Is(got, ErrLocked) != tc.locked {
				t.Fatalf("errors.Is(%v, ErrLocked) = %v, want %v", got, !tc.locked, tc.locked)
			}
			if !errors.Is(got, tc.in) {
				t.Fatalf("%v does not wrap %v", got, tc.in)
			}
		})
	}
}
