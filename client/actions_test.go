package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/omniq/omniq/client"
	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/internal/apicheck"
	"github.com/omniq/omniq/queue"
	"github.com/omniq/omniq/server"
	"github.com/omniq/omniq/stores/memory"
)

// actionQueue is a queue with the batch forms of the operator actions,
// which the engine and the client both have.
type actionQueue interface {
	queue.Queue
	RetryTasks(ctx context.Context, ids []string) ([]error, error)
	CancelTasks(ctx context.Context, ids []string) ([]error, error)
	DeleteTasks(ctx context.Context, ids []string) ([]error, error)
}

var (
	_ actionQueue = (*engine.Engine)(nil)
	_ actionQueue = (*client.Client)(nil)
)

// openEngine opens an engine on a new memory store, closed at the test's end.
func openEngine(t *testing.T) *engine.Engine {
	t.Helper()
	log := memory.New()
	q, err := engine.Open(context.Background(), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close(); _ = log.Close() })
	return q
}

// serve serves an engine of its own through omniqd's HTTP API, every
// exchange checked against its OpenAPI document, and returns a client of
// it (with token, when not "") and the server's URL.
func serve(t *testing.T, token string) (*client.Client, string) {
	t.Helper()
	q := openEngine(t)
	s := server.New(q, server.Config{Token: token})
	t.Cleanup(s.Drain)
	check := apicheck.Must(t, server.OpenAPIDocument())
	url := check.Serve(t, s)
	c, err := client.New(url, client.WithToken(token), client.WithHTTPClient(&http.Client{Transport: check.Transport(t)}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, url
}

// errName names the sentinels err matches.
func errName(err error) string {
	if err == nil {
		return "ok"
	}
	var names []string
	for _, s := range []struct {
		name string
		err  error
	}{{"ErrTaskState", queue.ErrTaskState}, {"ErrNotFound", queue.ErrNotFound}, {"ErrInvalidQueueName", queue.ErrInvalidQueueName}, {"ErrInvalidArgument", queue.ErrInvalidArgument}} {
		if errors.Is(err, s.err) {
			names = append(names, s.name)
		}
	}
	if len(names) == 0 {
		return "unexpected: " + err.Error()
	}
	return strings.Join(names, "+")
}

func errNames(errs []error, err error) string {
	if err != nil {
		return "request: " + errName(err)
	}
	names := make([]string, len(errs))
	for i, e := range errs {
		names[i] = errName(e)
	}
	return strings.Join(names, " ")
}

// actionsTranscript drives q through the operator actions and writes down
// what it answers.
func actionsTranscript(t *testing.T, q actionQueue) []string {
	ctx := context.Background()
	var out []string
	say := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	state := func(id string) string {
		got, err := q.GetTask(ctx, id)
		if err != nil {
			return errName(err)
		}
		return string(got.State)
	}
	for _, id := range []string{"f1", "f2", "p1", "p2", "p3", "dep"} {
		tk := &queue.Task{ID: id, Func: "f"}
		if id == "dep" {
			tk.DependsOn = []string{"p2"}
		}
		if err := q.Enqueue(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 { // f1 and f2, the first enqueued, fail
		tk, err := q.Dequeue(ctx, "")
		if err != nil || tk == nil {
			t.Fatalf("dequeue: %v %v", tk, err)
		}
		if err := q.Fail(ctx, tk, errors.New("boom")); err != nil {
			t.Fatal(err)
		}
	}
	say("retry failed: %s %s", errName(q.Retry(ctx, "f1")), state("f1"))
	say("retry pending: %s %s", errName(q.Retry(ctx, "p1")), state("p1"))
	say("retry unknown: %s", errName(q.Retry(ctx, "ghost")))
	say("cancel pending: %s %s dependent %s", errName(q.Cancel(ctx, "p2")), state("p2"), state("dep"))
	say("cancel cancelled: %s", errName(q.Cancel(ctx, "p2")))
	say("cancel unknown: %s", errName(q.Cancel(ctx, "ghost")))
	say("retry cancelled: %s %s", errName(q.Retry(ctx, "p2")), state("p2"))
	say("retry batch: %s", errNames(q.RetryTasks(ctx, []string{"f2", "p1", "ghost"})))
	say("cancel batch: %s %s", errNames(q.CancelTasks(ctx, []string{"p3", "dep", "ghost"})), state("p3"))
	say("delete batch: %s %s", errNames(q.DeleteTasks(ctx, []string{"p3", "ghost"})), state("p3"))
	errs, err := q.RetryTasks(ctx, nil)
	say("empty batch: %d %s", len(errs), errName(err))

	say("pause: %s", errName(q.PauseQueue(ctx, "q1")))
	say("pause again: %s", errName(q.PauseQueue(ctx, "q1")))
	if err := q.Enqueue(ctx, &queue.Task{ID: "in-q1", Func: "f", QueueName: "q1"}); err != nil {
		t.Fatal(err)
	}
	tk, err := q.Dequeue(ctx, "q1")
	say("dequeue paused: %v %s", tk == nil, errName(err))
	st, err := q.Stats(ctx)
	say("stats: %v %s", st.PausedQueues, errName(err))
	say("resume: %s", errName(q.ResumeQueue(ctx, "q1")))
	say("resume again: %s", errName(q.ResumeQueue(ctx, "q1")))
	tk, err = q.Dequeue(ctx, "q1")
	say("dequeue resumed: %v %s", tk != nil && tk.ID == "in-q1", errName(err))
	st, _ = q.Stats(ctx)
	say("stats after resume: %d", len(st.PausedQueues))
	say("pause bad name: %s", errName(q.PauseQueue(ctx, "a b")))
	return out
}

// The client's operator actions answer exactly as the embedded engine's.
func TestClientActionsMatchEngine(t *testing.T) {
	embedded := actionsTranscript(t, openEngine(t))
	c, _ := serve(t, "")
	remote := actionsTranscript(t, c)
	if !slices.Equal(embedded, remote) {
		t.Errorf("embedded and remote differ:\nembedded:\n  %s\nremote:\n  %s", strings.Join(embedded, "\n  "), strings.Join(remote, "\n  "))
	}
	// And they answer what the engine's contract says.
	want := []string{
		"retry failed: ok pending",
		"retry pending: ErrTaskState pending",
		"retry unknown: ErrNotFound",
		"cancel pending: ok cancelled dependent cancelled",
		"cancel cancelled: ErrTaskState",
		"cancel unknown: ErrNotFound",
		"retry cancelled: ok pending",
		"retry batch: ok ErrTaskState ErrNotFound",
		"cancel batch: ok ErrTaskState ErrNotFound cancelled",
		"delete batch: ok ErrNotFound ErrNotFound",
		"empty batch: 0 ok",
		"pause: ok",
		"pause again: ErrTaskState",
		"dequeue paused: true ok",
		"stats: [q1] ok",
		"resume: ok",
		"resume again: ErrTaskState",
		"dequeue resumed: true ok",
		"stats after resume: 0",
		"pause bad name: ErrInvalidQueueName+ErrInvalidArgument",
	}
	if !slices.Equal(remote, want) {
		t.Errorf("remote transcript:\n  %s\nwant:\n  %s", strings.Join(remote, "\n  "), strings.Join(want, "\n  "))
	}
}

// A per-id error of a batch carries its code, and the whole request fails
// without the token.
func TestClientActionErrors(t *testing.T) {
	c, url := serve(t, "s3cret")
	ctx := context.Background()
	errs, err := c.RetryTasks(ctx, []string{"ghost"})
	var apiErr *client.Error
	if err != nil || len(errs) != 1 || !errors.As(errs[0], &apiErr) || apiErr.Code != client.CodeNotFound || apiErr.Status != http.StatusNotFound {
		t.Fatalf("RetryTasks(ghost) = %v, %v", errs, err)
	}
	if err := c.Enqueue(ctx, &queue.Task{ID: "p", Func: "f"}); err != nil {
		t.Fatal(err)
	}
	err = c.Retry(ctx, "p")
	if !errors.As(err, &apiErr) || apiErr.Code != client.CodeTaskState || apiErr.Status != http.StatusConflict || !errors.Is(err, queue.ErrTaskState) {
		t.Errorf("Retry(pending) = %#v", err)
	}

	anon, err := client.New(url)
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	for name, err := range map[string]error{
		"Retry": anon.Retry(ctx, "p"), "Cancel": anon.Cancel(ctx, "p"),
		"PauseQueue": anon.PauseQueue(ctx, "q"), "ResumeQueue": anon.ResumeQueue(ctx, "q"),
	} {
		if !errors.Is(err, client.ErrUnauthorized) {
			t.Errorf("%s without the token = %v", name, err)
		}
	}
	if errs, err := anon.CancelTasks(ctx, []string{"p"}); errs != nil || !errors.Is(err, client.ErrUnauthorized) {
		t.Errorf("CancelTasks without the token = %v, %v", errs, err)
	}
	if got, err := c.GetTask(ctx, "p"); err != nil || got.State != queue.StatePending {
		t.Errorf("p after refused actions: %v %v", got, err)
	}
}
