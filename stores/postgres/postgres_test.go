package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testDSN returns the server to test against, or skips.
func testDSN(t testing.TB) string {
	dsn := os.Getenv("OMNIQ_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("OMNIQ_TEST_POSTGRES not set: skipping PostgreSQL store tests")
	}
	return dsn
}

// logName maps a storetest name onto a valid log name, the same way every
// time: the suite's names may hold other characters ('=' in benchmark names)
// and may be longer than MaxNameLen.
func logName(s string) string {
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	n := string(b)
	if n == "" || n[0] >= '0' && n[0] <= '9' {
		n = "l" + n
	}
	if len(n) > MaxNameLen {
		h := fnv.New32a()
		h.Write([]byte(s))
		n = fmt.Sprintf("%s_%08x", n[:MaxNameLen-9], h.Sum32())
	}
	return n
}

// openTest opens the log called name and drops its tables when the test
// ends (after the Close cleanups registered later have run).
func openTest(t testing.TB, dsn, name string, opts ...Option) *Log {
	t.Helper()
	l, err := Open(context.Background(), dsn, append([]Option{WithName(name)}, opts...)...)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	t.Cleanup(func() { dropLog(t, dsn, name) })
	return l
}

// openFresh opens a new log named after prefix on the test server (or
// skips); it is closed and its tables dropped when the test ends.
func openFresh(t testing.TB, prefix string) *Log {
	t.Helper()
	l := openTest(t, testDSN(t), logName(storetest.UniqueName(prefix)))
	t.Cleanup(func() { l.Close() })
	return l
}

// dropLog drops the tables of the log name, its presence table included.
func dropLog(t testing.TB, dsn, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Errorf("drop %s: %v", name, err)
		return
	}
	defer conn.Close(ctx)
	tables := append(tablesFor(name).all(), membersTable(name))
	if _, err := conn.Exec(ctx, `DROP TABLE IF EXISTS `+strings.Join(tables, ", ")); err != nil {
		t.Errorf("drop %s: %v", name, err)
	}
}

func harness(dsn string) storetest.Harness {
	return storetest.Harness{
		Open: func(t testing.TB, name string) stores.Log {
			return openTest(t, dsn, logName(name))
		},
		Durable: true,
		Shared:  true,
	}
}

func TestConformance(t *testing.T) { storetest.Run(t, harness(testDSN(t))) }

func BenchmarkLog(b *testing.B) { storetest.Bench(b, harness(testDSN(b))) }

func TestInvalidName(t *testing.T) {
	// Open must refuse before dialling: this DSN leads nowhere.
	const dsn = "postgres://nobody@127.0.0.1:1/none?connect_timeout=1"
	storetest.CheckLogNames(t, MaxNameLen, ErrInvalidName, func(name string) error {
		l, err := Open(context.Background(), dsn, WithName(name))
		if l != nil {
			l.Close()
		}
		return err
	}, validateName)
}

func TestOpenUnreachable(t *testing.T) {
	_, err := Open(context.Background(), "postgres://nobody@127.0.0.1:1/none?connect_timeout=5")
	if !errors.Is(err, stores.ErrUnavailable) {
		t.Fatalf("open of a closed port = %v, want ErrUnavailable", err)
	}
	if !strings.HasPrefix(err.Error(), "postgres: ") {
		t.Errorf("error %q lacks the package prefix", err)
	}
}

func TestMigrateConcurrentOpen(t *testing.T) {
	dsn := testDSN(t)
	name := logName(storetest.UniqueName("mig"))
	const n = 4
	logs := make([]*Log, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range logs {
		wg.Go(func() { logs[i], errs[i] = Open(context.Background(), dsn, WithName(name)) })
	}
	wg.Wait()
	t.Cleanup(func() { dropLog(t, dsn, name) })
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent open %d: %v", i, err)
		}
		defer logs[i].Close()
	}
	again := openTest(t, dsn, name) // a later open finds nothing to do
	defer again.Close()

	ctx := context.Background()
	var versions []int
	rows, err := logs[0].pool.Query(ctx, `SELECT version FROM `+logs[0].t.migrations+` ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	versions, err = pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	ms := migrations(logs[0].t)
	if len(versions) != len(ms) {
		t.Fatalf("migrations table holds versions %v, want each of %d versions once", versions, len(ms))
	}
	for i, v := range versions {
		if v != ms[i].Version {
			t.Fatalf("migrations table holds versions %v", versions)
		}
	}
	if first, err := logs[1].Append(ctx, []events.Event{storetest.Event("m", 1)}); err != nil || first != 1 {
		t.Fatalf("append = %d, %v; want 1", first, err)
	}
	if head, err := again.Head(ctx); err != nil || head != 1 {
		t.Fatalf("head through another handle = %d, %v; want 1", head, err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	dsn := testDSN(t)
	name := logName(storetest.UniqueName("newer"))
	l := openTest(t, dsn, name)
	defer l.Close()
	if _, err := l.pool.Exec(context.Background(), `INSERT INTO `+l.t.migrations+` (version) VALUES (1000000)`); err != nil {
		t.Fatal(err)
	}
	if l2, err := Open(context.Background(), dsn, WithName(name)); err == nil {
		l2.Close()
		t.Fatal("open of a log with a newer schema succeeded")
	}
}

func TestCorruptBatch(t *testing.T) {
	l := openFresh(t, "corrupt")
	ctx := context.Background()
	if _, err := l.Append(ctx, []events.Event{storetest.Event("c", 1), storetest.Event("c", 2)}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.pool.Exec(ctx, `UPDATE `+l.t.batches+` SET data = '\x0201ff'::bytea`); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Read(ctx, 1, 10); !errors.Is(err, stores.ErrCorrupt) {
		t.Fatalf("read of a garbled batch = %v, want ErrCorrupt", err)
	}
}

// A conditional append that appends nothing tells a moved head
// (ErrConflict) from a missing head row (ErrCorrupt) in its one statement,
// for a batch of one row and for one that travels in pieces.
func TestAppendAtConflictOrMissingHead(t *testing.T) {
	l := openFresh(t, "appendat")
	ctx := context.Background()
	small := []events.Event{storetest.Event("a", 1)}
	big := bigBatch(pieceSize + 1)
	if _, err := l.Append(ctx, small); err != nil {
		t.Fatal(err)
	}
	for name, batch := range map[string][]events.Event{"one row": small, "pieces": big} {
		if _, err := l.AppendAt(ctx, 0, batch); !errors.Is(err, stores.ErrConflict) || errors.Is(err, stores.ErrCorrupt) {
			t.Fatalf("%s: append after a stale head = %v, want ErrConflict", name, err)
		}
	}
	// An append at the head lands, and is announced to the log's listeners.
	conn, err := pgx.Connect(ctx, testDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{l.t.channel}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	head, err := l.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, batch := range [][]events.Event{small, big} {
		first, err := l.AppendAt(ctx, head, batch)
		if err != nil || first != head+1 {
			t.Fatalf("append at the head = %d, %v; want %d", first, err, head+1)
		}
		head += uint64(len(batch))
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err != nil || n.Payload != fmt.Sprint(head) {
			t.Fatalf("notification after the append: %v, %v; want payload %d", n, err, head)
		}
	}
	if _, err := l.pool.Exec(ctx, `DELETE FROM `+l.t.head); err != nil {
		t.Fatal(err)
	}
	for name, batch := range map[string][]events.Event{"one row": small, "pieces": big} {
		if _, err := l.AppendAt(ctx, head, batch); !errors.Is(err, stores.ErrCorrupt) {
			t.Fatalf("%s: conditional append with no head row = %v, want ErrCorrupt", name, err)
		}
		if _, err := l.Append(ctx, batch); !errors.Is(err, stores.ErrCorrupt) {
			t.Fatalf("%s: append with no head row = %v, want ErrCorrupt", name, err)
		}
	}
}

// withApp returns dsn with application_name set, so a test can find (and
// terminate) exactly the connections of one Log.
func withApp(dsn, app string) string {
	if !strings.Contains(dsn, "://") {
		return dsn + " application_name=" + app
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "application_name=" + app
}

// eventually polls cond until it holds, failing the test after a generous
// bound (not a timing assertion: a healthy run takes a fraction of it).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

// TestSurvivesTerminatedConnections kills every server connection of one Log
// (pool and LISTEN), as a server restart or failover would, and checks that
// the Log reports ErrUnavailable rather than anything else, works again on
// its own, that a Wait spans the outage, and that LISTEN comes back.
func TestSurvivesTerminatedConnections(t *testing.T) {
	dsn := testDSN(t)
	ctx := context.Background()
	app := storetest.UniqueName("omniq_kill")
	name := logName(app)
	l := openTest(t, withApp(dsn, app), name, WithPollInterval(time.Hour))
	defer l.Close()
	other := openTest(t, dsn, name) // another process, unaffected
	defer other.Close()
	if _, err := l.Append(ctx, []events.Event{storetest.Event("k", 1)}); err != nil {
		t.Fatal(err)
	}
	listenState := func() (epoch, known uint64, up bool) {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.epoch, l.known, l.listening
	}
	woke := make(chan error, 1)
	go func() {
		_, err := l.Wait(ctx, 1)
		woke <- err
	}()
	eventually(t, "LISTEN", func() bool { _, _, up := listenState(); return up })
	before, _, _ := listenState()

	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var killed int
	if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1 AND pid <> pg_backend_pid()`, app).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed < 2 {
		t.Fatalf("terminated %d connections, want the pool's and the LISTEN one", killed)
	}
	for attempt := 0; ; attempt++ {
		_, err := l.Append(ctx, []events.Event{storetest.Event("k", 2)})
		if err == nil {
			break
		}
		t.Logf("attempt %d: %v", attempt, err)
		if !errors.Is(err, stores.ErrUnavailable) {
			t.Fatalf("append on a terminated connection = %v, want ErrUnavailable", err)
		}
		if attempt == 50 {
			t.Fatalf("append still failing after %d attempts: %v", attempt, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	storetest.AwaitErr(t, woke, nil, 20*time.Second, "wait across terminated connections", "wait did not wake on the append after the outage")

	eventually(t, "LISTEN again", func() bool { e, _, up := listenState(); return up && e > before })
	if _, err := other.Append(ctx, []events.Event{storetest.Event("k", 3)}); err != nil {
		t.Fatal(err)
	}
	// Nothing in l reads the head now: only a notification can tell it.
	eventually(t, "notification of the other handle's append", func() bool { _, k, _ := listenState(); return k >= 3 })
	got, err := other.Read(ctx, 1, 10)
	if err != nil || len(got) != 3 {
		t.Fatalf("after recovery read %d events, %v; want 3", len(got), err)
	}
}

// TestTailWakesOnNotify checks that a handle's Wait is woken by another
// handle's append through LISTEN/NOTIFY alone (polling disabled), whether or
// not the append lands before LISTEN took effect.
func TestTailWakesOnNotify(t *testing.T) {
	dsn := testDSN(t)
	ctx := context.Background()
	name := logName(storetest.UniqueName("notify"))
	a := openTest(t, dsn, name)
	defer a.Close()
	b := openTest(t, dsn, name, WithPollInterval(time.Hour))
	defer b.Close()
	for after := uint64(0); after < 20; after++ {
		woke := make(chan error, 1)
		go func() {
			head, err := b.Wait(ctx, after)
			if err == nil && head <= after {
				err = fmt.Errorf("woke with head %d, want > %d", head, after)
			}
			woke <- err
		}()
		if _, err := a.Append(ctx, []events.Event{storetest.Event("n", int(after))}); err != nil {
			t.Fatal(err)
		}
		storetest.AwaitErr(t, woke, nil, 20*time.Second, fmt.Sprintf("wait(%d)", after), fmt.Sprintf("wait(%d) on one handle did not wake on the other's append", after))
	}
	// With no Wait running, nothing in b reads the head: only a
	// notification can tell it of a's next append.
	head, err := a.Append(ctx, []events.Event{storetest.Event("n", 99)})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "notification", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.known >= head
	})
}
