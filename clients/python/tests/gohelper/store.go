package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	goredis "github.com/redis/go-redis/v9"

	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/storeurl"
)

// drop deletes the log a store URL names on its server (PostgreSQL,
// Redis, NATS), as the Go tests drop theirs: stores.Dropper. Run it once
// the daemons on the log have stopped.
func drop(ctx context.Context, raw string) error {
	l, err := storeurl.Open(ctx, raw)
	if err != nil {
		return err
	}
	defer l.Close()
	d, ok := l.(stores.Dropper)
	if !ok {
		return fmt.Errorf("store %s cannot drop its log", storeurl.Redact(raw))
	}
	return d.Drop(ctx)
}

// leftovers prints, one a line, what the server of a store URL still
// holds of the log the URL names: PostgreSQL tables, Redis keys, NATS
// streams (a bucket is a stream too). It reads without opening the log,
// which would create it.
func leftovers(ctx context.Context, raw string) ([]string, error) {
	scheme, _, _ := strings.Cut(raw, "://")
	switch scheme {
	case "postgres", "postgresql":
		u, err := url.Parse(raw)
		if err != nil {
			return nil, err
		}
		q := u.Query()
		name := q.Get("log")
		q.Del("log")
		u.RawQuery = q.Encode()
		if name == "" {
			return nil, fmt.Errorf("%s names no log (?log=)", storeurl.Redact(raw))
		}
		conn, err := pgx.Connect(ctx, u.String())
		if err != nil {
			return nil, err
		}
		defer conn.Close(ctx)
		rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables
			WHERE table_schema = current_schema() AND left(table_name, length($1) + 1) = $1 || '_'
			ORDER BY table_name`, name)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, pgx.RowTo[string])
	case "redis", "rediss":
		opts, err := goredis.ParseURL(strings.Split(raw, "?")[0])
		if err != nil {
			return nil, err
		}
		u, err := url.Parse(raw)
		if err != nil {
			return nil, err
		}
		name := u.Query().Get("name")
		if name == "" {
			return nil, fmt.Errorf("%s names no log (?name=)", storeurl.Redact(raw))
		}
		rdb := goredis.NewClient(opts)
		defer rdb.Close()
		var out []string
		iter := rdb.Scan(ctx, 0, "{"+name+"}*", 1000).Iterator()
		for iter.Next(ctx) {
			out = append(out, iter.Val())
		}
		return out, iter.Err()
	case "nats":
		hosts, query, _ := strings.Cut(strings.TrimPrefix(raw, "nats://"), "?")
		q, err := url.ParseQuery(query)
		if err != nil {
			return nil, err
		}
		name := q.Get("name")
		if name == "" {
			return nil, fmt.Errorf("%s names no log (?name=)", storeurl.Redact(raw))
		}
		var servers []string
		for _, h := range strings.Split(hosts, ",") {
			servers = append(servers, "nats://"+strings.TrimPrefix(h, "nats://"))
		}
		nc, err := natsgo.Connect(strings.Join(servers, ","))
		if err != nil {
			return nil, err
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return nil, err
		}
		var out []string
		names := js.StreamNames(ctx)
		for s := range names.Name() {
			if strings.Contains(s, "OMNIQ_"+name) {
				out = append(out, s)
			}
		}
		return out, names.Err()
	}
	return nil, fmt.Errorf("%s: not a store on a shared server", storeurl.Redact(raw))
}
