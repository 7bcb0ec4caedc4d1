package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/storetest"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		os.Exit(childAppend(path))
	}
	if arg := os.Getenv(racerEnv); arg != "" {
		os.Exit(racerMain(arg))
	}
	goleak.VerifyTestMain(m)
}

// harness opens one file per log name in dir.
func harness(dir string) storetest.Harness {
	return storetest.Harness{
		Open: func(t testing.TB, name string) stores.Log {
			return openTest(t, filepath.Join(dir, name+".db"))
		},
		Durable: true,
		Shared:  true,
	}
}

func openTest(t testing.TB, path string, opts ...Option) *Log {
	t.Helper()
	l, err := Open(path, opts...)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	return l
}

// openTemp opens a new database file called file in a temp dir and closes
// the log when the test ends. It returns the log and the file's path.
func openTemp(t testing.TB, file string, opts ...Option) (*Log, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), file)
	l := openTest(t, path, opts...)
	t.Cleanup(func() { _ = l.Close() })
	return l, path
}

func TestConformance(t *testing.T) { storetest.Run(t, harness(t.TempDir())) }

func BenchmarkLog(b *testing.B) { storetest.Bench(b, harness(b.TempDir())) }

func event(id string, n int) []events.Event { return []events.Event{storetest.Event(id, n)} }

func TestInvalidNameAndPath(t *testing.T) {
	dir := t.TempDir()
	storetest.CheckLogNames(t, MaxNameLen, ErrInvalidName, func(name string) error {
		l, err := Open(filepath.Join(dir, "names.db"), WithName(name))
		if l != nil {
			l.Close()
		}
		return err
	}, validateName)
	for _, path := range []string{"", ":memory:", "file:" + filepath.Join(dir, "x.db"), filepath.Join(dir, "a?b.db")} {
		if l, err := Open(path); err == nil {
			l.Close()
			t.Errorf("open %q succeeded", path)
		}
	}
}

// TestNamesIsolated: two logs in one file do not see each other, and two
// handles on one name do.
func TestNamesIsolated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	ctx := context.Background()
	a := openTest(t, path, WithName("alpha"))
	defer a.Close()
	b := openTest(t, path, WithName("beta"))
	defer b.Close()
	def := openTest(t, path) // "omniq"
	defer def.Close()
	for i := 0; i < 3; i++ {
		if _, err := a.Append(ctx, event("a", i)); err != nil {
			t.Fatal(err)
		}
	}
	if first, err := b.Append(ctx, event("b", 1)); err != nil || first != 1 {
		t.Fatalf("first append to beta = %d, %v; want 1", first, err)
	}
	for _, c := range []struct {
		l    *Log
		want uint64
	}{{a, 3}, {b, 1}, {def, 0}} {
		if head, err := c.l.Head(ctx); err != nil || head != c.want {
			t.Errorf("%s head = %d, %v; want %d", c.l.name, head, err, c.want)
		}
	}
	a2 := openTest(t, path, WithName("alpha"))
	defer a2.Close()
	if head, err := a2.Head(ctx); err != nil || head != 3 {
		t.Errorf("second alpha handle head = %d, %v; want 3", head, err)
	}
}

func TestMigrateConcurrentOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mig.db")
	const n = 4
	logs := make([]*Log, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range logs {
		wg.Go(func() { logs[i], errs[i] = Open(path) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent open %d: %v", i, err)
		}
		defer logs[i].Close()
	}
	again := openTest(t, path)
	defer again.Close()
	ctx := context.Background()
	rows, err := again.db.QueryContext(ctx, `SELECT version FROM `+again.t.migrations+` ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var versions []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	ms := migrations(again.t)
	if len(versions) != len(ms) {
		t.Fatalf("migrations table holds versions %v, want each of %d versions once", versions, len(ms))
	}
	for i, v := range versions {
		if v != ms[i].Version {
			t.Fatalf("migrations table holds versions %v", versions)
		}
	}
	if first, err := logs[1].Append(ctx, event("m", 1)); err != nil || first != 1 {
		t.Fatalf("append = %d, %v; want 1", first, err)
	}
	if head, err := logs[2].Head(ctx); err != nil || head != 1 {
		t.Fatalf("head through another handle = %d, %v; want 1", head, err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "newer.db")
	l := openTest(t, path)
	if _, err := l.db.Exec(`INSERT INTO ` + l.t.migrations + ` (version) VALUES (1000000)`); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if l2, err := Open(path); err == nil {
		l2.Close()
		t.Fatal("open of a log with a newer schema succeeded")
	}
}

func TestPragmas(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		opt  Option
		want int // PRAGMA synchronous: 1 NORMAL, 2 FULL
	}{{WithSync(SyncFull), 2}, {WithSync(SyncNormal), 1}} {
		l := openTest(t, filepath.Join(dir, fmt.Sprintf("sync%d.db", c.want)), c.opt)
		var sync, busy int
		var mode string
		if err := l.db.QueryRow(`PRAGMA synchronous`).Scan(&sync); err != nil {
			t.Fatal(err)
		}
		if err := l.db.QueryRow(`PRAGMA busy_timeout`).Scan(&busy); err != nil {
			t.Fatal(err)
		}
		if err := l.db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
			t.Fatal(err)
		}
		l.Close()
		if sync != c.want || busy != 5000 || mode != "wal" {
			t.Errorf("synchronous = %d, busy_timeout = %d, journal_mode = %s; want %d, 5000, wal", sync, busy, mode, c.want)
		}
	}
	if _, err := Open(filepath.Join(dir, "bad.db"), WithSync(Sync(7))); err == nil {
		t.Error("open with an unknown Sync succeeded")
	}
}

func TestCorruptBatch(t *testing.T) {
	l := openTest(t, filepath.Join(t.TempDir(), "corrupt.db"))
	defer l.Close()
	ctx := context.Background()
	if _, err := l.Append(ctx, append(event("c", 1), storetest.Event("c", 2))); err != nil {
		t.Fatal(err)
	}
	if _, err := l.db.Exec(`UPDATE ` + l.t.batches + ` SET data = x'0201ff'`); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Read(ctx, 1, 10); !errors.Is(err, stores.ErrCorrupt) {
		t.Fatalf("read of a garbled batch = %v, want ErrCorrupt", err)
	}
}

func TestNotADatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "garbage.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("this is not a database. ", 200)), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := Open(path)
	if err == nil {
		l.Close()
	}
	if !errors.Is(err, stores.ErrCorrupt) {
		t.Fatalf("open of a garbage file = %v, want ErrCorrupt", err)
	}
}

// TestBusyIsUnavailable holds the write lock from another connection past
// the busy timeout.
func TestBusyIsUnavailable(t *testing.T) {
	l, path := openTemp(t, "busy.db", WithBusyTimeout(20*time.Millisecond))
	ctx := context.Background()
	other, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, event("busy", 1)); !errors.Is(err, stores.ErrUnavailable) {
		t.Fatalf("append while another connection holds the write lock = %v, want ErrUnavailable", err)
	}
	if _, err := conn.ExecContext(ctx, `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	if first, err := l.Append(ctx, event("busy", 2)); err != nil || first != 1 {
		t.Fatalf("append after the lock was released = %d, %v; want 1", first, err)
	}
}

// TestWriteFailureLatchesReadOnly makes the Log's only connection refuse
// writes (PRAGMA query_only gives SQLITE_READONLY) and checks that the Log
// then refuses appends until reopened, while reads go on.
func TestWriteFailureLatchesReadOnly(t *testing.T) {
	l, path := openTemp(t, "ro.db")
	ctx := context.Background()
	if _, err := l.Append(ctx, event("ro", 1)); err != nil {
		t.Fatal(err)
	}
	l.db.SetMaxOpenConns(1)
	if _, err := l.db.Exec(`PRAGMA query_only = 1`); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, event("ro", 2)); !errors.Is(err, stores.ErrReadOnly) {
		t.Fatalf("append on a refusing connection = %v, want ErrReadOnly", err)
	}
	if _, err := l.db.Exec(`PRAGMA query_only = 0`); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, event("ro", 3)); !errors.Is(err, stores.ErrReadOnly) {
		t.Fatalf("append after a failed write = %v, want ErrReadOnly until reopened", err)
	}
	if got, err := l.Read(ctx, 1, 10); err != nil || len(got) != 1 {
		t.Fatalf("read after a failed write = %d events, %v; want 1", len(got), err)
	}
	l.Close()
	l2 := openTest(t, path)
	defer l2.Close()
	if first, err := l2.Append(ctx, event("ro", 4)); err != nil || first != 2 {
		t.Fatalf("append after reopen = %d, %v; want 2", first, err)
	}
}

const childEnv = "OMNIQ_SQLITE_TEST_CHILD"

// runChild is the body of a child process (this test binary, re-run): it
// opens the log at path and runs fn on it. It returns the exit code: 0, or 1
// after printing the error.
func runChild(path string, fn func(l *Log) error) int {
	l, err := Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer l.Close()
	if err := fn(l); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// childAppend is the other process of TestWaitSeesOtherProcess.
func childAppend(path string) int {
	return runChild(path, func(l *Log) error {
		_, err := l.Append(context.Background(), event("child", 1))
		return err
	})
}

// TestWaitSeesOtherProcess: a Wait wakes on an append made by another
// process (this test binary, re-run as a child).
func TestWaitSeesOtherProcess(t *testing.T) {
	l, path := openTemp(t, "procs.db")
	ctx := context.Background()
	if _, err := l.Append(ctx, event("parent", 1)); err != nil {
		t.Fatal(err)
	}
	woke := make(chan error, 1)
	go func() {
		head, err := l.Wait(ctx, 1)
		if err == nil && head != 2 {
			err = fmt.Errorf("woke with head %d, want 2", head)
		}
		woke <- err
	}()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	storetest.AwaitErr(t, woke, nil, 20*time.Second, "wait", "wait did not wake on another process's append")
	got, err := l.Read(ctx, 1, 10)
	if err != nil || len(got) != 2 || got[1].TaskID != "child" {
		t.Fatalf("read = %v, %v; want the child's event at 2", got, err)
	}
}
