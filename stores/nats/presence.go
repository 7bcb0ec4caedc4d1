package nats

import (
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/omniq/omniq/stores"
)

var _ stores.Presence = (*Log)(nil)

// The presence records of a log live in key-value bucket MembersBucket(name),
// created by the first Announce, one key per node. A record is timed by the
// server's clock without per-message TTLs (NATS 2.11): its value holds its
// ttl, and it expires ttl after the time the server stored it. To know the
// server's time now, Members first writes the bucket's clock key and reads
// the time the server stored that at. Members deletes the expired records it
// meets; the bucket's own TTL (stores.MaxPresenceTTL) removes what is left,
// delete markers included.

// MembersBucket is the key-value bucket holding the presence records of the
// log called name.
func MembersBucket(name string) string { return "OMNIQ_" + name + "_members" }

// Keys of the members bucket: clockKey, and memberPrefix followed by the
// node's name with '.' and ':' escaped ('.' separates subject tokens, and
// ':' is not allowed in a key; node names never hold '=').
const (
	clockKey     = "clock"
	memberPrefix = "n."
)

var (
	escapeNode   = strings.NewReplacer(".", "=2E", ":", "=3A")
	unescapeNode = strings.NewReplacer("=2E", ".", "=3A", ":")
)

// recordV1 starts a record's value: then the ttl in nanoseconds (8 bytes, big
// endian), then the info.
const recordV1 = 1

// membersWait bounds the watch that lists the records, unless ctx ends first.
const membersWait = 10 * time.Second

// Announce implements stores.Presence: one KV put. Errors: stores.ErrClosed,
// stores.ErrUnavailable.
func (l *Log) Announce(ctx context.Context, node string, info []byte, ttl time.Duration) error {
	if err := stores.CheckAnnounce(node, info, ttl); err != nil {
		return err
	}
	if l.closed.Load() {
		return stores.ErrClosed
	}
	kv, err := l.membersKV(ctx, true)
	if err != nil {
		return interpretError(ctx, "announce: open bucket "+MembersBucket(l.name), err)
	}
	v := make([]byte, 9+len(info))
	v[0] = recordV1
	binary.BigEndian.PutUint64(v[1:9], uint64(ttl))
	copy(v[9:], info)
	if _, err := kv.Put(ctx, memberPrefix+escapeNode.Replace(node), v); err != nil {
		return interpretError(ctx, "announce", err)
	}
	return nil
}

// Members implements stores.Presence. It writes the clock key, then reads
// every key with one watch. Records that do not decode are skipped. Errors:
// stores.ErrClosed, stores.ErrUnavailable.
func (l *Log) Members(ctx context.Context) ([]stores.Member, error) {
	if l.closed.Load() {
		return nil, stores.ErrClosed
	}
	kv, err := l.membersKV(ctx, false)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return []stores.Member{}, nil // nobody announced yet
	}
	if err != nil {
		return nil, interpretError(ctx, "members: open bucket "+MembersBucket(l.name), err)
	}
	if _, err := kv.Put(ctx, clockKey, nil); err != nil {
		return nil, interpretError(ctx, "members: clock", err)
	}
	wctx, cancel := context.WithTimeout(ctx, membersWait)
	defer cancel()
	w, err := kv.WatchAll(wctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, interpretError(ctx, "members: watch", err)
	}
	defer func() { _ = w.Stop() }()
	var now time.Time
	var entries []jetstream.KeyValueEntry
	for done := false; !done; {
		select {
		case e, ok := <-w.Updates():
			switch {
			case !ok:
				return nil, interpretError(ctx, "members: watch", jetstream.ErrConnectionClosed)
			case e == nil:
				done = true // every key's latest value is in
			case e.Key() == clockKey:
				now = e.Created()
			default:
				entries = append(entries, e)
			}
		case <-wctx.Done():
			return nil, interpretError(ctx, "members: watch", wctx.Err())
		}
	}
	if now.IsZero() {
		now = time.Now() // the clock key was deleted behind this package's back
	}
	out := []stores.Member{}
	for _, e := range entries {
		m, ok := decodeRecord(e)
		if !ok {
			continue
		}
		if !now.Before(m.Expires) {
			// Expired. Delete it unless it was renewed meanwhile; if
			// this fails, a later Members or the bucket's TTL will.
			_ = kv.Delete(ctx, e.Key(), jetstream.LastRevision(e.Revision()))
			continue
		}
		out = append(out, m)
	}
	// The watch delivers keys in stream order; list them by node.
	slices.SortFunc(out, func(a, b stores.Member) int { return strings.Compare(a.Node, b.Node) })
	return out, nil
}

// decodeRecord decodes a member key's entry.
func decodeRecord(e jetstream.KeyValueEntry) (stores.Member, bool) {
	esc, ok := strings.CutPrefix(e.Key(), memberPrefix)
	v := e.Value()
	if !ok || len(v) < 9 || v[0] != recordV1 {
		return stores.Member{}, false
	}
	ttl := time.Duration(binary.BigEndian.Uint64(v[1:9]))
	node := unescapeNode.Replace(esc)
	if ttl <= 0 || stores.CheckNode(node) != nil {
		return stores.Member{}, false
	}
	return stores.Member{Node: node, Info: v[9:], Expires: e.Created().Add(ttl)}, true
}

// Leave implements stores.Presence: a KV delete. Errors: stores.ErrClosed,
// stores.ErrUnavailable.
func (l *Log) Leave(ctx context.Context, node string) error {
	if err := stores.CheckNode(node); err != nil {
		return err
	}
	if l.closed.Load() {
		return stores.ErrClosed
	}
	kv, err := l.membersKV(ctx, false)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil // nobody announced yet
	}
	if err != nil {
		return interpretError(ctx, "leave: open bucket "+MembersBucket(l.name), err)
	}
	if err := kv.Delete(ctx, memberPrefix+escapeNode.Replace(node)); err != nil {
		return interpretError(ctx, "leave", err)
	}
	return nil
}

// membersKV opens the members bucket, creating it when create is set.
// Without create, a missing bucket is jetstream.ErrBucketNotFound.
func (l *Log) membersKV(ctx context.Context, create bool) (jetstream.KeyValue, error) {
	bucket := MembersBucket(l.name)
	kv, err := l.js.KeyValue(ctx, bucket)
	if !create || !errors.Is(err, jetstream.ErrBucketNotFound) {
		return kv, err
	}
	replicas := 1
	if info := l.stream.CachedInfo(); info != nil && info.Config.Replicas > 0 {
		replicas = info.Config.Replicas
	}
	kv, err = l.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      bucket,
		Description: "OmniQ log " + l.name + ": presence records",
		History:     1,
		TTL:         stores.MaxPresenceTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = l.js.KeyValue(ctx, bucket) // created by a racing Announce
	}
	return kv, err
}
