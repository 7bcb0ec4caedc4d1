package pebble_test

import (
	"context"
	"errors"
	"testing"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores/pebble"
	"github.com/omniq/omniq/stores/storetest"
)

func TestDoneContextWritesNothing(t *testing.T) {
	l, err := pebble.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Append(ctx, []events.Event{storetest.Event("x", 1)}); !errors.Is(err, context.Canceled) {
		t.Fatalf("append with a done ctx = %v, want Canceled", err)
	}
	if head, err := l.Head(context.Background()); err != nil || head != 0 {
		t.Fatalf("head = %d, %v; want 0", head, err)
	}
}

func TestReadBounds(t *testing.T) {
	ctx := context.Background()
	l, err := pebble.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Append(ctx, batchOf("r", 5)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		from      uint64
		max       int
		wantFirst uint64
		wantLen   int
	}{
		{0, 10, 1, 5}, // 0 reads from the start
		{1, 2, 1, 2},
		{4, 10, 4, 2}, // stops at the head
		{5, 1, 5, 1},
		{6, 10, 0, 0}, // past the head
		{1, 0, 0, 0},
		{1, -1, 0, 0},
	} {
		got, err := l.Read(ctx, tc.from, tc.max)
		if err != nil {
			t.Fatalf("read(%d, %d): %v", tc.from, tc.max, err)
		}
		if len(got) != tc.wantLen || (len(got) > 0 && got[0].Position != tc.wantFirst) {
			t.Fatalf("read(%d, %d) = %v; want %d events from %d", tc.from, tc.max, got, tc.wantLen, tc.wantFirst)
		}
	}
}
