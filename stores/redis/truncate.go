package redis

import (
	"context"
	"fmt"
	"strconv"

	goredis "github.com/redis/go-redis/v9"

	"github.com/omniq/omniq/stores"
)

// truncateScript removes the entries whose batches end before a position.
// KEYS: stream, head. ARGV: pos. It returns the number of entries removed.
//
// The entry holding pos stays whole; when pos is past the head every entry
// goes and the head key stands. Entry IDs are <first>-1, so XTRIM MINID
// <keep>-1 removes exactly the entries that start before keep. Being a
// script, it runs between two appends, never during one.
var truncateScript = goredis.NewScript(`
local pos = tonumber(ARGV[1])
local head = tonumber(redis.call('GET', KEYS[2]) or '0')
local keep
if pos > head then
	keep = head + 1
else
	local e = redis.call('XREVRANGE', KEYS[1], string.format('%d-1', pos), '-', 'COUNT', 1)
	if #e == 0 then
		return 0
	end
	keep = tonumber(string.match(e[1][1], '^(%d+)-'))
end
return redis.call('XTRIM', KEYS[1], 'MINID', string.format('%d-1', keep))
`)

// firstScript returns the first position held: the first entry's, or head+1
// when the stream holds none. KEYS: stream, head. One script, so no append or
// truncation falls between the two reads.
var firstScript = goredis.NewScript(`
local e = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
if #e > 0 then
	return string.match(e[1][1], '^(%d+)-')
end
return string.format('%d', tonumber(redis.call('GET', KEYS[2]) or '0') + 1)
`)

// TruncateBefore implements stores.Truncater by whole entries: it removes the
// entries whose batches end before pos and keeps the entry holding pos, so up
// to one batch of older events stays. The head key is untouched, so the head
// stands even when every entry goes. A pos at or below First does nothing.
// The trim is as durable as an append (see the package doc). Errors:
// stores.ErrClosed, stores.ErrUnavailable (the trim may or may not have
// happened).
func (l *Log) TruncateBefore(ctx context.Context, pos uint64) error {
	if l.closed.Load() {
		return stores.ErrClosed
	}
	// Lua numbers are doubles; positions past 2^53 are out of reach anyway.
	pos = min(pos, 1<<53)
	err := truncateScript.Run(ctx, l.rdb, []string{l.streamKey, l.headKey}, strconv.FormatUint(pos, 10)).Err()
	return interpretError(ctx, "truncate", err)
}

// First implements stores.Truncater: the position of the oldest event held,
// head+1 when the log holds none. Errors: stores.ErrClosed,
// stores.ErrCorrupt, stores.ErrUnavailable.
func (l *Log) First(ctx context.Context) (uint64, error) {
	if l.closed.Load() {
		return 0, stores.ErrClosed
	}
	s, err := firstScript.Run(ctx, l.rdb, []string{l.streamKey, l.headKey}).Text()
	if err != nil {
		return 0, interpretError(ctx, "first", err)
	}
	first, err := strconv.ParseUint(s, 10, 64)
	if err != nil || first == 0 {
		return 0, fmt.Errorf("redis: first position %q: %w", s, stores.ErrCorrupt)
	}
	return first, nil
}

// firstEntry returns the first position of the first entry, and false when
// the stream holds none.
func (l *Log) firstEntry(ctx context.Context) (uint64, bool, error) {
	msgs, err := l.rdb.XRangeN(ctx, l.streamKey, "-", "+", 1).Result()
	if err != nil {
		return 0, false, interpretError(ctx, "read", err)
	}
	if len(msgs) == 0 {
		return 0, false, nil
	}
	evs, err := decodeEntry(msgs[0])
	if err != nil {
		return 0, false, err
	}
	return evs[0].Position, true, nil
}
