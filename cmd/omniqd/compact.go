package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/omniq/omniq/client"
	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/engine/audit"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/file"
	"github.com/omniq/omniq/stores/pebble"
	"github.com/omniq/omniq/stores/storeurl"
)

func init() {
	commands["compact"] = command{
		summary: "archive the events of tasks that ended before --before, then remove them from the store",
		usage:   "--store URL --before DURATION --archive FILE.jsonl|STORE_URL [--json]",
		about:   compactAbout,
		run:     runCompact,
	}
}

// compactAbout is compact's help.
const compactAbout = `Writes a log.checkpoint event holding the state without the tasks that ended
(and the schedules deleted) more than DURATION ago, copies every event before
the checkpoint to the archive, makes the archive durable, and only then
removes those events from the store. Replaying the store afterwards gives the
same live state; the checkpoint names the archive.

The archive is a JSON Lines file (the form "omniqd export" writes, each
event with its position) or another store, given by its URL, which then holds
the log's prefix at the same positions. Either takes any number of
compactions: each appends after the last, and the archive holds every event
once. The archive followed by the export of the store is the whole history.

Run it while no daemon uses the store: an embedded store (file, pebble) that
a daemon holds is refused as locked. For a store on a server (postgres,
redis, nats) stop the daemon first, or let the daemon compact on a timer
(omniqd serve --compact-every).`

// compactReport is what "omniqd compact --json" prints.
type compactReport struct {
	Store      string    `json:"store"`
	Archive    string    `json:"archive"`     // as the checkpoint names it
	Before     time.Time `json:"before"`      // tasks that ended before it were dropped
	Checkpoint uint64    `json:"checkpoint"`  // position of the log.checkpoint event
	Archived   int       `json:"archived"`    // events older than the checkpoint, removed or not
	Written    int       `json:"written"`     // of those, new to the archive (the rest it held already)
	Dropped    int       `json:"dropped"`     // tasks and schedules left out of the state
	First      uint64    `json:"first"`       // the log's first position now
	Head       uint64    `json:"head"`        // the log's head now
	Kept       uint64    `json:"kept_before"` // archived events the store still holds (it removes whole segments)
}

func runCompact(ctx context.Context, args []string) error {
	fs := newFlagSet("compact")
	store := auditStoreFlag(fs)
	beforeFlag := fs.String("before", "", "drop tasks that ended more than this long ago: a Go duration (\"72h\", \"30m\") or seconds (required)")
	archiveFlag := fs.String("archive", "", "where the removed events go: a FILE.jsonl, or a store URL (required)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := auditParseFlags(fs, args); err != nil {
		return err
	}
	if *beforeFlag == "" || *archiveFlag == "" {
		return usageErrorf("--before and --archive are required")
	}
	age, err := client.ParseDuration(*beforeFlag)
	if err != nil || age < 0 {
		return usageErrorf("invalid value %q for flag --before: want a duration such as 72h or 30m, or seconds, not negative", *beforeFlag)
	}
	if sameStore(*store, *archiveFlag) {
		return usageErrorf("--archive names the store being compacted (%s): archive to another store or a file", storeurl.Redact(*store))
	}

	log, err := openCompactStore(ctx, *store)
	if err != nil {
		return err
	}
	defer log.Close()
	arch, err := openArchive(ctx, *archiveFlag)
	if err != nil {
		return err
	}
	defer arch.Close()
	q, err := engine.Open(ctx, log, engine.WithLogger(slog.New(slog.DiscardHandler)),
		engine.WithRetention(engine.Retention{Age: engine.KeepEverything}))
	if err != nil {
		return fmt.Errorf("open engine: %w", err)
	}
	defer q.Close()

	before := time.Now().Add(-age).UTC()
	res, err := q.Compact(ctx, before, arch)
	if err != nil {
		return err
	}
	rep := compactReport{
		Store: storeurl.Redact(*store), Archive: arch.String(), Before: before, Checkpoint: res.Checkpoint,
		Archived: res.Archived, Written: arch.Written(), Dropped: res.Dropped, First: res.First,
	}
	if res.First < res.Checkpoint {
		rep.Kept = res.Checkpoint - res.First
	}
	if rep.Head, err = log.Head(ctx); err != nil {
		return err
	}
	if err := q.Close(); err != nil {
		return fmt.Errorf("close engine: %w", err)
	}
	if err := arch.Close(); err != nil {
		return fmt.Errorf("close archive: %w", err)
	}
	if *asJSON {
		enc := json.NewEncoder(auditOut)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printCompactReport(auditOut, rep)
	return nil
}

func printCompactReport(w io.Writer, r compactReport) {
	fmt.Fprintf(w, "compacted %s: log.checkpoint at #%d, naming the archive %s\n", r.Store, r.Checkpoint, r.Archive)
	fmt.Fprintf(w, "archived: %d events before the checkpoint (%d new to the archive)\n", r.Archived, r.Written)
	fmt.Fprintf(w, "dropped: %d tasks and schedules that ended before %s\n", r.Dropped, r.Before.Format(time.RFC3339))
	fmt.Fprintf(w, "the log now holds #%d..#%d\n", r.First, r.Head)
	if r.Kept > 0 {
		fmt.Fprintf(w, "the store removes whole segments only: #%d..#%d stay in it too (they are in the archive)\n", r.First, r.Checkpoint-1)
	}
}

// openCompactStore opens the store to compact, refusing one that exists
// nowhere, one a running daemon holds (locked), and one that cannot remove
// events.
func openCompactStore(ctx context.Context, raw string) (stores.Log, error) {
	log, err := openAuditStore(ctx, raw, false)
	if errors.Is(err, file.ErrLocked) || errors.Is(err, pebble.ErrLocked) {
		return nil, fmt.Errorf("%s is locked: a running omniqd (or another process) has it open; stop it first, "+
			"or let the daemon compact (omniqd serve --compact-every): %w", storeurl.Redact(raw), err)
	}
	if err != nil {
		return nil, err
	}
	if _, ok := log.(stores.Truncater); !ok {
		_ = log.Close()
		return nil, fmt.Errorf("%s: %w", storeurl.Redact(raw), engine.ErrCompactionUnsupported)
	}
	return log, nil
}

// compactArchive is an engine.Archive that says how many events it took and
// can be closed.
type compactArchive interface {
	engine.Archive
	Written() int
	Close() error
}

// openArchive opens raw as an archive: a store URL (anything with "://")
// or a JSON Lines file path.
func openArchive(ctx context.Context, raw string) (compactArchive, error) {
	if !strings.Contains(raw, "://") {
		a, err := audit.OpenFileArchive(raw, audit.FileArchiveOptions{})
		if err != nil {
			return nil, err
		}
		return a, nil
	}
	log, err := openAuditStore(ctx, raw, true)
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	a, err := audit.NewLogArchive(ctx, log, storeurl.Redact(raw))
	if err != nil {
		_ = log.Close()
		return nil, err
	}
	return storeArchive{a, log}, nil
}

// storeArchive is a LogArchive that closes its store.
type storeArchive struct {
	*audit.LogArchive
	log stores.Log
}

func (s storeArchive) Close() error { return s.log.Close() }

// sameStore reports whether two store URLs (or a store URL and an archive
// path) name the same store.
func sameStore(a, b string) bool {
	sa, ra, oka := strings.Cut(a, "://")
	sb, rb, okb := strings.Cut(b, "://")
	if !oka || !okb {
		return false
	}
	switch sa {
	case "file", "pebble", "sqlite":
		return sa == sb && filepath.Clean(ra) == filepath.Clean(rb)
	}
	return a == b
}
