package storeurl_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores/storetest"
	"github.com/omniq/omniq/stores/storeurl"
)

func TestOpenLocal(t *testing.T) {
	dir := t.TempDir()
	for _, raw := range []string{
		"memory://",
		"file://" + filepath.Join(dir, "f"),
		"pebble://" + filepath.Join(dir, "p"),
		"sqlite://" + filepath.Join(dir, "s.db"),
	} {
		l, err := storeurl.Open(context.Background(), raw)
		if err != nil {
			t.Fatalf("open %s: %v", raw, err)
		}
		if _, err := l.Append(context.Background(), []events.Event{storetest.Event("x", 1)}); err != nil {
			t.Fatalf("append to %s: %v", raw, err)
		}
		l.Close()
	}
}

func TestOpenServers(t *testing.T) {
	for _, env := range []string{"OMNIQ_TEST_POSTGRES", "OMNIQ_TEST_REDIS", "OMNIQ_TEST_NATS"} {
		raw := os.Getenv(env)
		if raw == "" {
			t.Logf("%s not set: skipping", env)
			continue
		}
		l, err := storeurl.Open(context.Background(), raw)
		if err != nil {
			t.Fatalf("open %s: %v", storeurl.Redact(raw), err)
		}
		if _, err := l.Head(context.Background()); err != nil {
			t.Fatalf("head of %s: %v", raw, err)
		}
		l.Close()
	}
}

func TestOpenErrors(t *testing.T) {
	cases := map[string]error{
		"mysql://x":        storeurl.ErrUnknownScheme,
		"no-scheme":        storeurl.ErrBadURL,
		"file://":          storeurl.ErrBadURL,
		"pebble://dir?x=1": storeurl.ErrBadURL,
		"nats://":          storeurl.ErrBadURL,
	}
	for raw, want := range cases {
		if _, err := storeurl.Open(context.Background(), raw); !errors.Is(err, want) {
			t.Errorf("open %q: %v, want %v", raw, err, want)
		}
	}
	if got := storeurl.Redact("postgres://u:secret@h/db"); got != "postgres://u:xxxxx@h/db" {
		t.Errorf("redact = %q", got)
	}
}

func TestRedactQueryAndServers(t *testing.T) {
	for raw, want := range map[string]string{
		"postgres://h/db?password=secret&sslmode=off": "postgres://h/db?password=xxxxx&sslmode=off",
		"nats://a:pw1@h1:4222,nats://b:pw2@h2:4222":   "nats://a:xxxxx@h1:4222,nats://b:xxxxx@h2:4222",
		"pebble:///var/lib/omniq":                     "pebble:///var/lib/omniq",
	} {
		if got := storeurl.Redact(raw); got != want {
			t.Errorf("Redact(%q) = %q, want %q", raw, got, want)
		}
	}
}
