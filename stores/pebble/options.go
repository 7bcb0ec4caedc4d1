package pebble

import (
	"errors"
	"log/slog"

	pdb "github.com/cockroachdb/pebble/v2"
)

// Option configures Open.
type Option func(*config)

type config struct {
	logger *slog.Logger
	tune   []func(*pdb.Options)
}

// WithLogger sends Pebble's own logging to l: its informational messages at
// Debug level, its errors at Error. The default is slog.Default(), whose
// default handler drops Debug, so Pebble is quiet unless something is wrong.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithPebbleOptions lets fn adjust the Pebble options after this package's
// defaults are set: for tests (vfs.NewCrashableMem as FS) and for tuning
// experiments. Open refuses options that would break the key layout (a
// Comparer other than Pebble's default) or the durability guarantee
// (DisableWAL).
func WithPebbleOptions(fn func(*pdb.Options)) Option {
	return func(c *config) { c.tune = append(c.tune, fn) }
}

// pebbleOptions returns Pebble options for an append-only log of small values.
// Everything not set here is Pebble's default, on purpose:
//   - MemTableSize stays 4 MiB. The log never overwrites, so a bigger
//     memtable absorbs nothing; it only makes flushes rarer. Measured with
//     storetest.Bench (synced batches of 1000 events), 4 and 8 MiB were
//     alike and 32 or 64 MiB were 30-50% slower: commit time grows with the
//     memtable, synced or not.
//   - No bloom filters (Levels[i].FilterPolicy stays nil): filters speed point
//     lookups of absent keys; the log reads by range scan, and its one point
//     lookup (the snapshot key) is rare.
//   - Compression, block sizes, compaction and L0 thresholds: keys only ever
//     grow, so flushed tables do not overlap and compactions are mostly
//     cheap moves of whole tables; the defaults have no reason to change.
//   - CacheSize is 32 MiB, not Pebble's 8 MiB. Pebble charges its memtables
//     (up to two of 4 MiB, and one kept for reuse) to the block cache, so the
//     default had no room left for blocks once the first memtable was
//     flushed: db.Metrics showed 0 entries and nothing but misses, and every
//     table block a read touched cost a pread and a decompression. A log
//     that has been truncated reads at least one table for every Read,
//     since the table holding the first-position key spans the keys after
//     it (BenchmarkReadAfterTruncations, the newest 100 events of a log
//     truncated 4900 times against a fresh one: 28 µs against 16.5 µs with
//     the default cache, 16.7 µs against 14.6 µs with this one).
//   - FormatMajorVersion stays Pebble's default: FormatNewest made reads no
//     faster in storetest.Bench and would ratchet the directory forward.
//   - WAL: on, and every Append commits with pebble.Sync. WALMinSyncInterval
//     stays 0: the engine already groups commands into one Append per fsync,
//     and a delay here would only add latency.
func pebbleOptions(c *config) (*pdb.Options, error) {
	log := slogLogger{c.logger}
	o := &pdb.Options{
		Logger:        log,
		EventListener: eventListener(log),
		CacheSize:     32 << 20,
	}
	for _, fn := range c.tune {
		fn(o)
	}
	if o.DisableWAL {
		return nil, errors.New("pebble: DisableWAL would void the durability of Append")
	}
	if o.Comparer != nil && o.Comparer.Name != pdb.DefaultComparer.Name {
		return nil, errors.New("pebble: the key layout needs Pebble's default bytewise comparer")
	}
	return o, nil
}
