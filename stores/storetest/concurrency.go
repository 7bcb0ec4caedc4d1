package storetest

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
)

// runReadWindows reads every (from, max) window of a log of uneven batches:
// a read must start at from (or the first position) and stop at a batch
// boundary nowhere but where max or the head says.
func runReadWindows(t *testing.T, h Harness) {
	ctx := context.Background()
	l, _ := h.open(t)
	var total uint64
	for i, n := range []int{3, 1, 4, 7, 2} {
		mustAppend(t, l, batch(fmt.Sprintf("w%d", i), n))
		total += uint64(n)
	}
	for from := uint64(0); from <= total+2; from++ {
		for _, max := range []int{0, 1, 2, 3, 5, 100, math.MaxInt} {
			got, err := l.Read(ctx, from, max)
			if err != nil {
				t.Fatalf("read(%d, %d): %v", from, max, err)
			}
			start := max64(from, 1)
			want := 0
			if max > 0 && start <= total {
				want = int(min(uint64(max), total-start+1))
			}
			if len(got) != want {
				t.Fatalf("read(%d, %d) gave %d events, want %d", from, max, len(got), want)
			}
			for i, e := range got {
				if e.Position != start+uint64(i) {
					t.Fatalf("read(%d, %d)[%d] at position %d", from, max, i, e.Position)
				}
			}
		}
	}
	if got, err := l.Read(ctx, math.MaxUint64, 5); err != nil || len(got) != 0 {
		t.Fatalf("read(max uint64) = %v, %v", got, err)
	}
}

func max64(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

// runTailingPrefix: while two handles append concurrently, a third tails
// the log. Whenever it learns a head h, every position up to h must be
// readable at once — what commit-ordered position assignment gives and, for
// instance, a bare PostgreSQL BIGSERIAL would not.
func runTailingPrefix(t *testing.T, h Harness) {
	ctx := context.Background()
	first, name := h.open(t)
	writers := []stores.Log{first, h.Open(t, name)}
	reader := h.Open(t, name)
	defer writers[1].Close()
	defer reader.Close()
	tl := ability[stores.Tailer](t, reader)
	const appends = 40
	var total uint64
	for range writers {
		for j := 0; j < appends; j++ {
			total += uint64(1 + j%3)
		}
	}
	var wg sync.WaitGroup
	for i, l := range writers {
		wg.Go(func() {
			for j := 0; j < appends; j++ {
				if _, err := l.Append(ctx, batch(fmt.Sprintf("p%d-%d", i, j), 1+j%3)); err != nil {
					t.Errorf("writer %d: %v", i, err)
					return
				}
			}
		})
	}
	defer wg.Wait()
	waitCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for next := uint64(1); next <= total; {
		head, err := tl.Wait(waitCtx, next-1)
		if err != nil {
			t.Fatalf("wait(%d): %v", next-1, err)
		}
		got, err := reader.Read(ctx, next, 1000)
		if err != nil {
			t.Fatalf("read(%d): %v", next, err)
		}
		if want := min(head-next+1, 1000); uint64(len(got)) < want {
			t.Fatalf("head is %d but read(%d) gave %d events", head, next, len(got))
		}
		for _, e := range got {
			if e.Position != next {
				t.Fatalf("read event at %d, want %d", e.Position, next)
			}
			next++
		}
	}
}

// runReadDuringTruncate: readers going through the log from position 1
// while it is appended to and truncated (through another handle when the
// backend is Shared) never fail and see strictly increasing positions (a
// reader may skip what a truncation removed under it: Read(from < First)
// starts at First).
func runReadDuringTruncate(t *testing.T, h Harness) {
	l, name := h.open(t)
	tr := ability[stores.Truncater](t, l)
	reader := l
	if h.Shared {
		reader = h.Open(t, name)
		defer reader.Close()
	}
	for i := 0; i < 10; i++ {
		mustAppend(t, l, batch(fmt.Sprintf("rt%d", i), 1+i%3))
	}
	TruncateWhileReading(t, l, tr, reader, 2)
}

// TruncateWhileReading appends 30 batches of 1 to 3 events through w and
// after each truncates through tr to a few events short of the head, while
// readers goroutines read all of r again and again, in pages of 4. Every
// read must succeed and give strictly increasing positions (a reader may
// skip what a truncation removed under it: Read(from < First) starts at
// First). w, tr and r may be one log or handles on it.
func TruncateWhileReading(t testing.TB, w stores.Log, tr stores.Truncater, r stores.Log, readers int) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range readers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				last := uint64(0)
				err := stores.ReadAll(ctx, r, 1, 4, func(e events.Event) error {
					if e.Position <= last {
						return fmt.Errorf("position %d after %d", e.Position, last)
					}
					last = e.Position
					return nil
				})
				if err != nil {
					t.Errorf("read during truncation: %v", err)
					return
				}
			}
		})
	}
	for i := 0; i < 30; i++ {
		head := mustAppend(t, w, batch(fmt.Sprintf("ra%d", i), 1+i%3)) + uint64(i%3)
		if err := tr.TruncateBefore(ctx, head-uint64(i%4)); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}
