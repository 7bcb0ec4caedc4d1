package queue_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/omniq/omniq/queue"
)

// TestHandlers: registration refuses what cannot run, a func without a
// handler fails with ErrNoHandler, and a panic becomes the attempt's error.
func TestHandlers(t *testing.T) {
	var hs queue.Handlers
	ok := func(ctx context.Context, task *queue.Task) (any, error) { return task.Args[0], nil }
	if err := hs.Register("", ok); !errors.Is(err, queue.ErrInvalidHandler) {
		t.Fatalf("empty name: %v", err)
	}
	if err := hs.Register("f", nil); !errors.Is(err, queue.ErrInvalidHandler) {
		t.Fatalf("nil handler: %v", err)
	}
	if err := hs.Register("f", ok); err != nil {
		t.Fatal(err)
	}
	if err := hs.Register("f", ok); !errors.Is(err, queue.ErrInvalidHandler) {
		t.Fatalf("second registration: %v", err)
	}
	if err := hs.Register("boom", func(context.Context, *queue.Task) (any, error) { panic("kaput") }); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if got, err := hs.Call(ctx, &queue.Task{Func: "f", Args: []any{int64(7)}}); err != nil || got != int64(7) {
		t.Fatalf("call = %v, %v", got, err)
	}
	if _, err := hs.Call(ctx, &queue.Task{Func: "g"}); !errors.Is(err, queue.ErrNoHandler) {
		t.Fatalf("unregistered func: %v", err)
	}
	if _, err := hs.Call(ctx, &queue.Task{Func: "boom"}); err == nil || !strings.Contains(err.Error(), "handler panic: kaput") {
		t.Fatalf("panic: %v", err)
	}
}
