// Package storeurl opens any OmniQ backend from a URL. It is the one place
// that knows every concrete store (the wiring that cmd/omniqd and bench share);
// the engine and the stores themselves never import it.
//
//	memory://                          in-process, not durable
//	file:///var/lib/omniq              segmented files (absolute path)
//	file://./data                      relative path
//	pebble:///var/lib/omniq            Pebble (the embedded default)
//	sqlite:///var/lib/omniq.db         SQLite
//	postgres://user@host:5432/db       PostgreSQL (postgresql:// too); ?log=NAME picks the log
//	redis://host:6379/0                Redis; ?name=NAME picks the log
//	nats://host:4222[,host:4222]       NATS JetStream; ?name=NAME picks the log
package storeurl

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/file"
	"github.com/omniq/omniq/stores/memory"
	"github.com/omniq/omniq/stores/nats"
	"github.com/omniq/omniq/stores/pebble"
	"github.com/omniq/omniq/stores/postgres"
	"github.com/omniq/omniq/stores/redis"
	"github.com/omniq/omniq/stores/sqlite"
)

// Default is the store omniqd uses when none is given.
const Default = "pebble://./omniq-data"

// ErrUnknownScheme: the URL names no backend this build has.
var ErrUnknownScheme = errors.New("storeurl: unknown store scheme")

// ErrBadURL: the URL cannot be parsed or lacks what its scheme needs.
var ErrBadURL = errors.New("storeurl: bad store URL")

// Schemes lists the schemes Open accepts.
func Schemes() []string {
	return []string{"memory", "file", "pebble", "sqlite", "postgres", "postgresql", "redis", "nats"}
}

// Open opens the log raw names. Errors wrap ErrUnknownScheme, ErrBadURL or
// the backend's own.
func Open(ctx context.Context, raw string) (stores.Log, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, fmt.Errorf("%w: %q has no scheme (want one of %s)", ErrBadURL, Redact(raw), strings.Join(Schemes(), ", "))
	}
	switch scheme {
	case "memory":
		return memory.New(), nil
	case "file", "pebble", "sqlite":
		path, err := localPath(rest)
		if err != nil {
			return nil, err
		}
		switch scheme {
		case "file":
			return file.Open(path)
		case "pebble":
			return pebble.Open(path)
		default:
			return sqlite.Open(path)
		}
	case "postgres", "postgresql":
		u, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadURL, err)
		}
		q := u.Query()
		var opts []postgres.Option
		if name := q.Get("log"); name != "" {
			opts = append(opts, postgres.WithName(name))
			q.Del("log")
			u.RawQuery = q.Encode()
		}
		return postgres.Open(ctx, u.String(), opts...)
	case "redis", "rediss":
		opts, err := redis.ParseURL(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadURL, err)
		}
		return redis.Open(ctx, opts)
	case "nats":
		hosts, query, _ := strings.Cut(rest, "?")
		var servers []string
		for _, h := range strings.Split(hosts, ",") {
			if h = strings.TrimSuffix(strings.TrimPrefix(h, "nats://"), "/"); h != "" {
				servers = append(servers, "nats://"+h)
			}
		}
		if len(servers) == 0 {
			return nil, fmt.Errorf("%w: %q names no server", ErrBadURL, raw)
		}
		var opts []nats.Option
		q, err := url.ParseQuery(query)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadURL, err)
		}
		if name := q.Get("name"); name != "" {
			opts = append(opts, nats.WithName(name))
		}
		return nats.Open(ctx, servers, opts...)
	}
	return nil, fmt.Errorf("%w: %q (want one of %s)", ErrUnknownScheme, scheme, strings.Join(Schemes(), ", "))
}

// localPath turns the part after "scheme://" into a filesystem path:
// "/abs/path" (from scheme:///abs/path) or "./rel" (from scheme://./rel).
func localPath(rest string) (string, error) {
	if rest == "" {
		return "", fmt.Errorf("%w: no path", ErrBadURL)
	}
	if strings.ContainsAny(rest, "?#") {
		return "", fmt.Errorf("%w: a local store path takes no query or fragment", ErrBadURL)
	}
	return rest, nil
}

// secretUserinfo matches the password of a "scheme://user:password@" part
// (up to the authority's last "@", as URL parsers read it); a NATS URL may
// list several servers, each with its own.
var secretUserinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://[^:@/?#\s,]*):[^/?#\s]*@`)

// secretQuery matches the value of a query parameter that carries a secret
// (libpq and pgx read password= and sslpassword= from the query).
var secretQuery = regexp.MustCompile(`(?i)([?&](?:password|passwd|pass|pwd|sslpassword|token|secret|api_key|apikey)=)[^&#]*`)

// Redact returns a store URL fit for logs, errors and archive names: every
// password, in the userinfo or in the query, is replaced by "xxxxx". Unlike
// url.URL.Redacted it also works on what net/url cannot parse.
func Redact(raw string) string {
	s := secretUserinfo.ReplaceAllString(raw, "${1}:xxxxx@")
	return secretQuery.ReplaceAllString(s, "${1}xxxxx")
}
