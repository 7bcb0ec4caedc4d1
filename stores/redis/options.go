package redis

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Defaults for zero Options fields.
const (
	DefaultHost      = "127.0.0.1"
	DefaultPort      = 6379
	DefaultName      = "omniq"
	DefaultTailBlock = time.Second
)

// Options says which server and which log to open. The zero value opens the
// log "omniq" in database 0 of 127.0.0.1:6379.
type Options struct {
	Host     string // default 127.0.0.1
	Port     int    // default 6379
	DB       int    // database number, default 0
	Username string // ACL user; empty for the default user
	Password string
	// Name names the log; its keys are {Name}:log, {Name}:head, {Name}:snap.
	// It must not contain braces, spaces or control characters. Default "omniq".
	Name string
	// TLS, when set, connects over TLS with this configuration.
	TLS *tls.Config
	// RequireAOF makes Open fail with ErrNotDurable unless the server runs with
	// appendonly yes (see the package doc on durability).
	RequireAOF bool
	// TailBlock bounds one XREAD BLOCK in Wait; Wait loops until its condition,
	// its context or Close. Default 1s.
	TailBlock time.Duration
	// PoolSize is the go-redis connection pool size; 0 means the go-redis default.
	PoolSize int
}

func (o Options) withDefaults() Options {
	if o.Host == "" {
		o.Host = DefaultHost
	}
	if o.Port == 0 {
		o.Port = DefaultPort
	}
	if o.Name == "" {
		o.Name = DefaultName
	}
	if o.TailBlock <= 0 {
		o.TailBlock = DefaultTailBlock
	}
	return o
}

func (o Options) addr() string { return net.JoinHostPort(o.Host, strconv.Itoa(o.Port)) }

func validateName(name string) error {
	for _, r := range name {
		if r == '{' || r == '}' || r <= ' ' || r == 0x7f {
			return fmt.Errorf("redis: log name %q: braces, spaces and control characters are not allowed", name)
		}
	}
	return nil
}

// ParseURL parses redis://[[user]:password@]host[:port][/db][?name=N&require_aof=true]
// (rediss:// for TLS) into Options. Missing parts keep their defaults.
func ParseURL(rawURL string) (Options, error) {
	var o Options
	u, err := url.Parse(rawURL)
	if err != nil {
		return o, fmt.Errorf("redis: parse url: %w", err)
	}
	switch u.Scheme {
	case "redis":
	case "rediss":
		o.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	default:
		return o, fmt.Errorf("redis: parse url %q: scheme must be redis or rediss", rawURL)
	}
	if u.Opaque != "" {
		return o, fmt.Errorf("redis: parse url %q: want redis://host:port/db", rawURL)
	}
	o.Host = u.Hostname()
	if p := u.Port(); p != "" {
		port, err := strconv.Atoi(p)
		if err != nil || port <= 0 || port > 65535 {
			return Options{}, fmt.Errorf("redis: parse url %q: bad port %q", rawURL, p)
		}
		o.Port = port
	}
	if o.TLS != nil && o.Host != "" {
		o.TLS.ServerName = o.Host
	}
	if u.User != nil {
		o.Username = u.User.Username()
		o.Password, _ = u.User.Password()
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 {
			return Options{}, fmt.Errorf("redis: parse url %q: database %q is not a number", rawURL, db)
		}
		o.DB = n
	}
	for key, vals := range u.Query() {
		v := vals[len(vals)-1]
		switch key {
		case "name":
			if err := validateName(v); err != nil {
				return Options{}, err
			}
			o.Name = v
		case "require_aof":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return Options{}, fmt.Errorf("redis: parse url %q: require_aof=%q is not a boolean", rawURL, v)
			}
			o.RequireAOF = b
		default:
			return Options{}, fmt.Errorf("redis: parse url %q: unknown parameter %q", rawURL, key)
		}
	}
	return o, nil
}
