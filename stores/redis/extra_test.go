package redis_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/redis"
	"github.com/omniq/omniq/stores/storetest"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		url  string
		want redis.Options
	}{
		{"redis://127.0.0.1:6379/0", redis.Options{Host: "127.0.0.1", Port: 6379}},
		{"redis://", redis.Options{}},
		{"redis://cache.internal", redis.Options{Host: "cache.internal"}},
		{"redis://:s3cret@h:7000/3", redis.Options{Host: "h", Port: 7000, DB: 3, Password: "s3cret"}},
		{"redis://app:pw@h/2?name=jobs&require_aof=true", redis.Options{Host: "h", DB: 2, Username: "app", Password: "pw", Name: "jobs", RequireAOF: true}},
		{"redis://[::1]:6380/1", redis.Options{Host: "::1", Port: 6380, DB: 1}},
	}
	for _, tt := range tests {
		got, err := redis.ParseURL(tt.url)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tt.url, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseURL(%q) = %+v, want %+v", tt.url, got, tt.want)
		}
	}

	got, err := redis.ParseURL("rediss://secure.example:6390/0")
	if err != nil || got.TLS == nil || got.TLS.ServerName != "secure.example" || got.Port != 6390 {
		t.Errorf("ParseURL(rediss://…) = %+v, %v; want TLS for secure.example:6390", got, err)
	}

	for _, bad := range []string{
		"http://h:6379/0",
		"redis:h",
		"redis://h/db1",
		"redis://h/-1",
		"redis://h:99999/0",
		"redis://h:port/0",
		"redis://h/0?timeout=1s",
		"redis://h/0?name=a{b}",
		"redis://h/0?require_aof=maybe",
		"redis://h:6379/0\x7f",
	} {
		if o, err := redis.ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q) = %+v, want an error", bad, o)
		}
	}
}

func FuzzParseURL(f *testing.F) {
	f.Add("redis://u:p@h:1/2?name=x")
	f.Add("rediss://h")
	f.Fuzz(func(t *testing.T, s string) {
		o, err := redis.ParseURL(s)
		if err != nil {
			return
		}
		if o.Port < 0 || o.Port > 65535 || o.DB < 0 {
			t.Fatalf("ParseURL(%q) accepted %+v", s, o)
		}
	})
}

func TestOpenRejectsBadName(t *testing.T) {
	for _, name := range []string{"a{b", "x}", "with space", "tab\t"} {
		if l, err := redis.Open(context.Background(), redis.Options{Name: name}); err == nil {
			l.Close()
			t.Errorf("Open(name %q) succeeded", name)
		}
	}
}

func TestOpenUnreachable(t *testing.T) {
	// Port 1 on loopback: nothing listens there, the dial is refused at once.
	_, err := redis.Open(context.Background(), redis.Options{Port: 1})
	if !errors.Is(err, stores.ErrUnavailable) {
		t.Fatalf("open on a closed port: %v, want ErrUnavailable", err)
	}
}

func TestDurability(t *testing.T) {
	l := open(t, storetest.UniqueName("dur"))
	ctx := context.Background()
	d, err := l.Durability(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.AppendFsync == "" || d.String() == "" {
		t.Fatalf("durability = %+v", d)
	}
	t.Logf("server durability: %s", d)
	o := serverOptions(t)
	o.Name = "dur_probe"
	o.RequireAOF = true
	strict, err := redis.Open(ctx, o)
	switch {
	case d.AppendOnly && err != nil:
		t.Fatalf("RequireAOF on an appendonly server: %v", err)
	case !d.AppendOnly && !errors.Is(err, redis.ErrNotDurable):
		t.Fatalf("RequireAOF without appendonly: %v, want ErrNotDurable", err)
	}
	if strict != nil {
		strict.Close()
	}
}

func TestCorruptEntry(t *testing.T) {
	l := open(t, storetest.UniqueName("bad"))
	ctx := context.Background()
	if _, err := l.Append(ctx, []events.Event{storetest.Event("ok", 1)}); err != nil {
		t.Fatal(err)
	}
	// Behind the log's back: an entry at position 2 whose batch is garbage.
	c := rawClient(t, serverOptions(t))
	keys := l.Keys()
	if err := c.XAdd(ctx, &goredis.XAddArgs{Stream: keys[0], ID: "2-1", Values: []string{"n", "1", "b", "garbage"}}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, keys[1], "2", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := l.Read(ctx, 1, 1); err != nil || len(got) != 1 {
		t.Fatalf("read before the bad entry = %d events, %v", len(got), err)
	}
	if _, err := l.Read(ctx, 1, 10); !errors.Is(err, stores.ErrCorrupt) {
		t.Fatalf("read across the bad entry: %v, want ErrCorrupt", err)
	}
	if _, err := l.Read(ctx, 2, 1); !errors.Is(err, stores.ErrCorrupt) {
		t.Fatalf("read of the bad entry: %v, want ErrCorrupt", err)
	}
}

func TestWaitCancel(t *testing.T) {
	storetest.WaitCancel(t, open(t, storetest.UniqueName("cancel")))
}
