package queue

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on names and lists, so that a hostile request cannot bloat the log.
const (
	MaxIDLen        = 128
	MaxFuncLen      = 256
	MaxQueueNameLen = 128
	MaxDependencies = 1000
	MinInterval     = time.Second
	// MaxDuration bounds TTL and Interval, and MaxRunAt run_at, so that every
	// deadline the engine computes fits the log's nanosecond timestamps.
	MaxDuration = 100 * 365 * 24 * time.Hour
	// Bounds of Task.Meta: entries, and the bytes of a key and of a value.
	// A W3C traceparent is 55 bytes, a tracestate at most 512.
	MaxMetaEntries  = 32
	MaxMetaKeyLen   = 128
	MaxMetaValueLen = 1024
)

// Bounds of Schedule.RunAt. The log holds times as int64 nanoseconds since
// 1970 (up to 2262-04-11): MaxRunAt plus MaxDuration (a first fire and one
// interval after it) stays inside that range, so no computed time wraps.
var (
	MinRunAt = time.Date(1970, 1, 2, 0, 0, 0, 0, time.UTC)
	MaxRunAt = time.Date(2150, 1, 1, 0, 0, 0, 0, time.UTC)
)

// ValidateQueueName checks a queue name: 1 to 128 characters of letters,
// digits and "-_.:". The empty name means DefaultQueue and is accepted.
func ValidateQueueName(name string) error {
	if len(name) > MaxQueueNameLen {
		return fmt.Errorf("%w: %d bytes is longer than %d", ErrInvalidQueueName, len(name), MaxQueueNameLen)
	}
	if !plainName(name, "-_.:") {
		return fmt.Errorf("%w: %q may hold only letters, digits and -_.:", ErrInvalidQueueName, trunc(name))
	}
	return nil
}

// plainName reports whether s holds only ASCII letters and digits and the
// characters of punct.
func plainName(s, punct string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(punct, r)) {
			return false
		}
	}
	return true
}

// ValidateMeta checks a task's Meta: at most MaxMetaEntries entries; each
// key 1 to MaxMetaKeyLen bytes of letters, digits and "-_.:/"; each value
// valid UTF-8 of at most MaxMetaValueLen bytes. Errors wrap ErrInvalidMeta
// and name the first bad key in sorted order.
func ValidateMeta(meta map[string]string) error {
	if len(meta) == 0 {
		return nil
	}
	if len(meta) > MaxMetaEntries {
		return fmt.Errorf("%w: %d entries, at most %d", ErrInvalidMeta, len(meta), MaxMetaEntries)
	}
	for _, k := range slices.Sorted(maps.Keys(meta)) {
		if k == "" || len(k) > MaxMetaKeyLen {
			return fmt.Errorf("%w: key %q must be 1 to %d bytes", ErrInvalidMeta, trunc(k), MaxMetaKeyLen)
		}
		if !plainName(k, "-_.:/") {
			return fmt.Errorf("%w: key %q may hold only letters, digits and -_.:/", ErrInvalidMeta, trunc(k))
		}
		if v := meta[k]; len(v) > MaxMetaValueLen || !utf8.ValidString(v) {
			return fmt.Errorf("%w: the value of %q must be valid UTF-8 of at most %d bytes (it has %d)", ErrInvalidMeta, k, MaxMetaValueLen, len(v))
		}
	}
	return nil
}

// QueueList checks the queue names of a call that takes several, in order
// of preference, and returns them normalized in a new slice: none means
// DefaultQueue, and so does "".
func QueueList(queues []string) ([]string, error) {
	if len(queues) == 0 {
		return []string{DefaultQueue}, nil
	}
	names := make([]string, len(queues))
	for i, q := range queues {
		if err := ValidateQueueName(q); err != nil {
			return nil, err
		}
		names[i] = q
		if q == "" {
			names[i] = DefaultQueue
		}
	}
	return names, nil
}

// trunc shortens a name quoted in an error message.
func trunc(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
