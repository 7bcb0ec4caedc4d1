package storetest

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
)

// UniqueName returns prefix followed by the time in nanoseconds: a log name
// that no earlier run used, for backend tests on a shared server.
func UniqueName(prefix string) string { return fmt.Sprintf("%s_%d", prefix, time.Now().UnixNano()) }

// AppendSizes appends one batch per size to l and returns the head. Backend
// tests use it to lay out batch boundaries.
func AppendSizes(t testing.TB, l stores.Log, sizes ...int) uint64 {
	t.Helper()
	var head uint64
	for i, n := range sizes {
		first := mustAppend(t, l, batch(fmt.Sprintf("t%d", i), n))
		head = first + uint64(n) - 1
	}
	return head
}

// Truncatable is a log that can be truncated.
type Truncatable interface {
	stores.Log
	stores.Truncater
}

// CheckSpan fails the test unless the truncatable log l reports first and
// head, and a read from any position up to first gives first..head.
func CheckSpan(t testing.TB, l Truncatable, first, head uint64) {
	t.Helper()
	ctx := context.Background()
	if got, err := l.First(ctx); err != nil || got != first {
		t.Fatalf("first = %d, %v; want %d", got, err, first)
	}
	if got, err := l.Head(ctx); err != nil || got != head {
		t.Fatalf("head = %d, %v; want %d", got, err, head)
	}
	for _, from := range []uint64{0, 1, first} {
		got, err := l.Read(ctx, from, math.MaxInt)
		if err != nil {
			t.Fatalf("read(%d): %v", from, err)
		}
		want := uint64(0)
		if head >= first {
			want = head - first + 1
		}
		if uint64(len(got)) != want {
			t.Fatalf("read(%d) gave %d events, want %d", from, len(got), want)
		}
		for i, e := range got {
			if e.Position != first+uint64(i) {
				t.Fatalf("read(%d)[%d] at position %d", from, i, e.Position)
			}
		}
	}
}

// DiskSize returns the bytes of the file at path, or of the files in the tree
// at path, as the file system counts them. A file that is not there, or is
// deleted while DiskSize looks (a store removing an obsolete file), counts
// 0. Tests of disk space use it.
func DiskSize(t testing.TB, path string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(path, func(_ string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		n += info.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// PaddedBatch returns n events that each carry pad random bytes, as hex so
// that no store's compression hides the space they take, and the length of
// one event's record (events.Marshal). Tests of disk space use it.
func PaddedBatch(t testing.TB, n, pad int) ([]events.Event, int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(n), uint64(pad)))
	out := make([]events.Event, n)
	for i := range out {
		b := make([]byte, pad)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		out[i] = events.New(fmt.Sprintf("pad-%d", i), t0,
			&events.TaskEnqueued{Spec: events.TaskSpec{Func: "f", Queue: "default", Args: []any{hex.EncodeToString(b)}}})
	}
	rec, err := events.Marshal(nil, out[0])
	if err != nil {
		t.Fatal(err)
	}
	return out, len(rec)
}

// Retain drives l as retention at steady load does, only harder than the
// engine: rounds times, it appends batch and truncates all but the newest
// window events. From round warmup on, it calls sample every tenth round,
// for the caller to measure the space the log takes.
func Retain(t testing.TB, l Truncatable, batch []events.Event, window uint64, rounds, warmup int, sample func()) {
	t.Helper()
	ctx := context.Background()
	for r := range rounds {
		head := mustAppend(t, l, batch) + uint64(len(batch)) - 1
		if head > window {
			if err := l.TruncateBefore(ctx, head-window+1); err != nil {
				t.Fatalf("truncate before %d: %v", head-window+1, err)
			}
		}
		if r >= warmup && (r-warmup)%10 == 0 {
			sample()
		}
	}
}

// Plateau describes a run of retention at steady load (Retain) in which the
// space a log takes must level off.
type Plateau struct {
	BatchLen, Pad  int    // events per batch, bytes of padding per event (PaddedBatch)
	Window         uint64 // live events after each truncation
	Rounds, Warmup int
	// Bound is the most space the log may take after the warm-up, given the
	// bytes of the live events' records.
	Bound func(live int64) int64
	// Margin: the run must write Margin times the bound, or it cannot tell
	// a plateau from growth.
	Margin int64
}

// SpacePlateaus runs p on l and fails the test if the files at path (see
// DiskSize) ever take more than p's bound after the warm-up.
func SpacePlateaus(t testing.TB, l Truncatable, path string, p Plateau) {
	t.Helper()
	batch, recLen := PaddedBatch(t, p.BatchLen, p.Pad)
	live := int64(p.Window) * int64(recLen)
	bound := p.Bound(live)
	written := int64(p.Rounds * p.BatchLen * recLen)
	if written < p.Margin*bound {
		t.Fatalf("the run writes %d bytes, too few to tell a plateau under %d from growth", written, bound)
	}
	var peak int64
	Retain(t, l, batch, p.Window, p.Rounds, p.Warmup, func() { peak = max(peak, DiskSize(t, path)) })
	t.Logf("live %d KiB, peak %d KiB after warm-up, bound %d KiB, written %d KiB",
		live>>10, peak>>10, bound>>10, written>>10)
	if peak > bound {
		t.Fatalf("the directory grew to %d bytes at steady load; live data is %d, the bound %d", peak, live, bound)
	}
}

// TruncStep is one truncation: truncating before Pos leaves the log
// starting at First.
type TruncStep struct{ Pos, First uint64 }

// TruncateBatches checks a log that truncates by whole batches (rows,
// entries or messages holding one Append each) and keeps the batch that
// holds pos. A new log l starts at 1. It gets batches of 3, 1, 4, 2 and 5
// events, at 1, 4, 5, 9 and 11 (head 15), and is truncated before 0 and 1
// (nothing goes), 3 (inside the first batch: it stays whole), 5 (a batch
// boundary: exactly the events before it go), 4 (less than before: nothing
// happens) and 10 (the batch at 9 stays), then before each of more's Pos;
// after each truncation it must span First to the head. Last, a short read
// from before First must start at First and stop at its limit. It returns
// the head.
func TruncateBatches(t testing.TB, l Truncatable, more ...TruncStep) uint64 {
	t.Helper()
	ctx := context.Background()
	if first, err := l.First(ctx); err != nil || first != 1 {
		t.Fatalf("first of a new log = %d, %v; want 1", first, err)
	}
	head := AppendSizes(t, l, 3, 1, 4, 2, 5)
	first := uint64(1)
	steps := []TruncStep{{0, 1}, {1, 1}, {3, 1}, {5, 5}, {4, 5}, {10, 9}}
	for _, s := range append(steps, more...) {
		if err := l.TruncateBefore(ctx, s.Pos); err != nil {
			t.Fatal(err)
		}
		CheckSpan(t, l, s.First, head)
		first = s.First
	}
	got, err := l.Read(ctx, 2, 2)
	if err != nil || len(got) != 2 || got[0].Position != first || got[1].Position != first+1 {
		t.Fatalf("read(2, 2) = %v, %v; want positions %d and %d", got, err, first, first+1)
	}
	return head
}

// TruncatePastHead truncates a before math.MaxUint64, past its head (which
// a truncation never removes), and checks that b then spans first..head, that
// an append through b lands at head+1, and that a then spans first..head+1.
// a and b are two handles on one log, or the same one.
func TruncatePastHead(t testing.TB, a, b Truncatable, head, first uint64) {
	t.Helper()
	ctx := context.Background()
	if err := a.TruncateBefore(ctx, math.MaxUint64); err != nil {
		t.Fatal(err)
	}
	CheckSpan(t, b, first, head)
	if got, err := b.Append(ctx, []events.Event{Event("after", 1)}); err != nil || got != head+1 {
		t.Fatalf("append after truncating past the head = %d, %v; want %d", got, err, head+1)
	}
	CheckSpan(t, a, first, head+1)
}

// WaitCancel checks that a Wait on tl returns context.Canceled soon after
// its context is cancelled.
func WaitCancel(t testing.TB, tl stores.Tailer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := tl.Wait(ctx, 0); errc <- err }()
	cancel()
	AwaitErr(t, errc, context.Canceled, 10*time.Second, "wait after cancel", "wait did not return after cancel")
}

// AwaitErr fails the test unless errc gives, within timeout, an error
// wrapping want (with want nil: no error, as of a Wait that must wake);
// what names the call in the message, late is the message on timeout.
func AwaitErr(t testing.TB, errc <-chan error, want error, timeout time.Duration, what, late string) {
	t.Helper()
	select {
	case err := <-errc:
		if !errors.Is(err, want) {
			t.Fatalf("%s = %v, want %v", what, err, want)
		}
	case <-time.After(timeout):
		t.Fatal(late)
	}
}

// CheckLogNames checks a backend's rule for log names that become table
// prefixes: lowercase letters, digits and underscores, not starting with a
// digit, 1 to maxLen bytes. open must refuse each bad name with an error
// wrapping invalid (and close what it opens otherwise); valid must accept
// each good name.
func CheckLogNames(t testing.TB, maxLen int, invalid error, open func(name string) error, valid func(name string) error) {
	t.Helper()
	for _, name := range []string{
		"",
		"Omniq",
		"1omniq",
		"a-b",
		"a b",
		"a;drop table x",
		`a"b`,
		"ünïcode",
		strings.Repeat("a", maxLen+1),
	} {
		if err := open(name); !errors.Is(err, invalid) {
			t.Errorf("open with name %q: %v, want %v", name, err, invalid)
		}
	}
	for _, name := range []string{"omniq", "_x", "a1_b2", strings.Repeat("z", maxLen)} {
		if err := valid(name); err != nil {
			t.Errorf("valid name %q refused: %v", name, err)
		}
	}
}
