package sqlite

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/storetest"
)

// racerEnv makes the test binary a racer of TestProcessesRace:
// "path,writer,start" (start in Unix nanoseconds).
const racerEnv = "OMNIQ_SQLITE_TEST_RACER"

// racerAppends is how many batches each racer lands.
const racerAppends = 30

// landed is one batch a racer appended: at after (for AppendAt; -1 for a
// plain Append), landing at first.
type landed struct {
	Writer    int    `json:"w"`
	I         int    `json:"i"`
	After     int64  `json:"after"`
	First     uint64 `json:"first"`
	Conflicts int    `json:"conflicts"`
}

// racerBatch is writer w's i-th batch: 1 to 3 events with ids p<w>-<i>-<j>.
func racerBatch(w, i int) []events.Event {
	b := make([]events.Event, 1+(w+i)%3)
	for j := range b {
		b[j] = storetest.Event(fmt.Sprintf("p%d-%d-%d", w, i, j), j+1)
	}
	return b
}

// race appends racerAppends batches to l, alternately with Append and with
// AppendAt at the head it reads (again after each conflict), starting at
// start, and reports each batch to report.
func race(ctx context.Context, l *Log, w int, start time.Time, report func(landed)) error {
	time.Sleep(time.Until(start))
	for i := 0; i < racerAppends; i++ {
		b := racerBatch(w, i)
		if i%2 == 0 {
			first, err := l.Append(ctx, b)
			if err != nil {
				return fmt.Errorf("writer %d: append %d: %w", w, i, err)
			}
			report(landed{Writer: w, I: i, After: -1, First: first})
			continue
		}
		for conflicts := 0; ; conflicts++ {
			head, err := l.Head(ctx)
			if err != nil {
				return fmt.Errorf("writer %d: head: %w", w, err)
			}
			first, err := l.AppendAt(ctx, head, b)
			if errors.Is(err, stores.ErrConflict) {
				continue
			}
			if err != nil {
				return fmt.Errorf("writer %d: append %d at %d: %w", w, i, head, err)
			}
			report(landed{Writer: w, I: i, After: int64(head), First: first, Conflicts: conflicts})
			break
		}
	}
	return nil
}

// racerMain is a racer process: it reports its batches as JSON lines.
func racerMain(arg string) int {
	parts := strings.Split(arg, ",")
	if len(parts) != 3 {
		fmt.Fprintf(os.Stderr, "%s=%q: want path,writer,start\n", racerEnv, arg)
		return 2
	}
	w, err1 := strconv.Atoi(parts[1])
	start, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	return runChild(parts[0], func(l *Log) error {
		enc := json.NewEncoder(os.Stdout)
		return race(context.Background(), l, w, time.Unix(0, start), func(s landed) { _ = enc.Encode(s) })
	})
}

// TestProcessesRace: two other processes (this test binary, re-run) and a
// handle in this one append to one file at once, with Append and with
// AppendAt. Every AppendAt must land right after the head it was given,
// and all the batches together must tile the log.
func TestProcessesRace(t *testing.T) {
	l, path := openTemp(t, "race.db")
	ctx := context.Background()
	start := time.Now().Add(500 * time.Millisecond) // past the children's start-up
	const children = 2
	var (
		mu  sync.Mutex
		all []landed
		wg  sync.WaitGroup
	)
	for w := 1; w <= children; w++ {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d,%d", racerEnv, path, w, start.UnixNano()))
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Errorf("racer %d: %v\n%s", w, err, stderr.Bytes())
				return
			}
			sc := bufio.NewScanner(bytes.NewReader(out))
			for sc.Scan() {
				var s landed
				if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
					t.Errorf("racer %d: %q: %v", w, sc.Text(), err)
					return
				}
				mu.Lock()
				all = append(all, s)
				mu.Unlock()
			}
		})
	}
	if err := race(ctx, l, 0, start, func(s landed) {
		mu.Lock()
		all = append(all, s)
		mu.Unlock()
	}); err != nil {
		t.Error(err)
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if len(all) != (children+1)*racerAppends {
		t.Fatalf("racers reported %d batches, want %d", len(all), (children+1)*racerAppends)
	}
	conflicts := 0
	for _, s := range all {
		conflicts += s.Conflicts
		if s.After >= 0 && s.First != uint64(s.After)+1 {
			t.Fatalf("writer %d: batch %d appended at %d landed at %d", s.Writer, s.I, s.After, s.First)
		}
	}
	t.Logf("%d processes landed %d batches; AppendAt met %d conflicts", children+1, len(all), conflicts)
	slices.SortFunc(all, func(a, b landed) int { return cmp.Compare(a.First, b.First) })
	got, err := l.Read(ctx, 1, 10000)
	if err != nil {
		t.Fatal(err)
	}
	next := uint64(1)
	for _, s := range all {
		if s.First != next {
			t.Fatalf("batch at %d, want %d: batches overlap or leave a gap", s.First, next)
		}
		for j, e := range racerBatch(s.Writer, s.I) {
			p := s.First + uint64(j)
			if p > uint64(len(got)) || got[p-1].Position != p || got[p-1].TaskID != e.TaskID {
				t.Fatalf("position %d does not hold %s", p, e.TaskID)
			}
			next++
		}
	}
	if uint64(len(got)) != next-1 {
		t.Fatalf("log holds %d events, racers appended %d", len(got), next-1)
	}
}
