package redis

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/omniq/omniq/stores"
)

var _ stores.Presence = (*Log)(nil)

// The presence records of a log live in two keys beside it: a sorted set
// {Name}:members of node names, each scored with its record's expiry in Unix
// milliseconds by the server's clock (TIME), and a hash {Name}:members:info
// of each node's info. The scripts below keep the two in step and delete the
// expired records whenever they run; both keys expire (PEXPIREAT) with the
// last record, so a log nobody announces on any more leaves none behind.

// PresenceKeys returns the Redis keys of the log's presence records: the
// sorted set of expiries and the hash of infos.
func (l *Log) PresenceKeys() []string {
	tag := "{" + l.opts.Name + "}"
	return []string{tag + ":members", tag + ":members:info"}
}

// pruneLua sets now (the server's clock, in ms) and deletes the records
// expired at now. KEYS: members, info.
const pruneLua = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
if #gone > 0 then
	for _, n in ipairs(gone) do
		redis.call('HDEL', KEYS[2], n)
	end
	redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
end
`

// announceScript writes one record. KEYS: members, info. ARGV: node, ttl in
// ms, info. It returns the record's expiry in Unix ms.
var announceScript = goredis.NewScript(pruneLua + `
local expires = now + tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], expires, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local at = string.format('%d', tonumber(last[2]))
redis.call('PEXPIREAT', KEYS[1], at)
redis.call('PEXPIREAT', KEYS[2], at)
return expires
`)

// membersScript returns the live records as a flat array: node, expiry in
// Unix ms, info, node, … KEYS: members, info.
var membersScript = goredis.NewScript(pruneLua + `
local live = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local out = {}
for i = 1, #live, 2 do
	out[#out + 1] = live[i]
	out[#out + 1] = tonumber(live[i + 1])
	out[#out + 1] = redis.call('HGET', KEYS[2], live[i]) or ''
end
return out
`)

// Announce implements stores.Presence: one script, timed by the server's
// clock, to the millisecond (a ttl is rounded up to whole ms). Errors:
// stores.ErrClosed, stores.ErrUnavailable.
func (l *Log) Announce(ctx context.Context, node string, info []byte, ttl time.Duration) error {
	if err := stores.CheckAnnounce(node, info, ttl); err != nil {
		return err
	}
	if l.closed.Load() {
		return stores.ErrClosed
	}
	ms := (ttl + time.Millisecond - 1) / time.Millisecond
	if info == nil {
		info = []byte{}
	}
	if err := announceScript.Run(ctx, l.rdb, l.PresenceKeys(), node, int64(ms), info).Err(); err != nil {
		return interpretError(ctx, "announce", err)
	}
	return nil
}

// Members implements stores.Presence. Its script deletes the expired
// records before it lists the others. Errors: stores.ErrClosed,
// stores.ErrUnavailable.
func (l *Log) Members(ctx context.Context) ([]stores.Member, error) {
	if l.closed.Load() {
		return nil, stores.ErrClosed
	}
	res, err := membersScript.Run(ctx, l.rdb, l.PresenceKeys()).Slice()
	if err != nil {
		return nil, interpretError(ctx, "members", err)
	}
	if len(res)%3 != 0 {
		return nil, fmt.Errorf("redis: members: unexpected reply of %d elements from the members script", len(res))
	}
	out := make([]stores.Member, 0, len(res)/3)
	for i := 0; i < len(res); i += 3 {
		node, ok1 := res[i].(string)
		expires, ok2 := res[i+1].(int64)
		info, ok3 := res[i+2].(string)
		if !ok1 || !ok2 || !ok3 {
			return nil, fmt.Errorf("redis: members: unexpected record %v %v %v from the members script", res[i], res[i+1], res[i+2])
		}
		out = append(out, stores.Member{Node: node, Info: []byte(info), Expires: time.UnixMilli(expires)})
	}
	slices.SortFunc(out, func(a, b stores.Member) int { return strings.Compare(a.Node, b.Node) })
	return out, nil
}

// Leave implements stores.Presence: ZREM and HDEL in one MULTI. Errors:
// stores.ErrClosed, stores.ErrUnavailable.
func (l *Log) Leave(ctx context.Context, node string) error {
	if err := stores.CheckNode(node); err != nil {
		return err
	}
	if l.closed.Load() {
		return stores.ErrClosed
	}
	keys := l.PresenceKeys()
	_, err := l.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.ZRem(ctx, keys[0], node)
		p.HDel(ctx, keys[1], node)
		return nil
	})
	if err != nil {
		return interpretError(ctx, "leave", err)
	}
	return nil
}
