package otelomniq_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/omniq/omniq/client"
	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/otelomniq"
	"github.com/omniq/omniq/queue"
	"github.com/omniq/omniq/server"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/memory"
)

// setup opens an engine on log, wrapped to trace into a span recorder.
func setup(t *testing.T, log stores.Log, opts ...otelomniq.Option) (queue.Queue, *engine.Engine, *tracetest.SpanRecorder, trace.Tracer) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	e, err := engine.Open(context.Background(), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	q := otelomniq.Wrap(e, append([]otelomniq.Option{otelomniq.WithTracerProvider(tp)}, opts...)...)
	return q, e, rec, tp.Tracer("test")
}

// spanNamed returns the ended span called name; the test fails unless
// there is exactly one.
func spanNamed(t *testing.T, rec *tracetest.SpanRecorder, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	var found []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == name {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		var names []string
		for _, s := range rec.Ended() {
			names = append(names, s.Name())
		}
		t.Fatalf("%d spans named %q; ended: %v", len(found), name, names)
	}
	return found[0]
}

// attrs returns a span's attributes by key.
func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	out := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		out[kv.Key] = kv.Value
	}
	return out
}

// wantAttrs fails t unless s has every attribute of want (values as
// their Emit form) and none of absent.
func wantAttrs(t *testing.T, s sdktrace.ReadOnlySpan, want map[string]string, absent ...string) {
	t.Helper()
	got := attrs(s)
	for k, v := range want {
		if g, ok := got[attribute.Key(k)]; !ok || g.Emit() != v {
			t.Errorf("%s: %s = %q, want %q", s.Name(), k, g.Emit(), v)
		}
	}
	for _, k := range absent {
		if _, ok := got[attribute.Key(k)]; ok {
			t.Errorf("%s: has %s", s.Name(), k)
		}
	}
}

// work runs q's workers until the tasks of ids have ended.
func work(t *testing.T, q queue.Queue, queues []string, ids ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Work(ctx, queue.WorkOptions{Queues: queues}) }()
	deadline := time.Now().Add(10 * time.Second)
	for _, id := range ids {
		for {
			task, err := q.GetTask(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if task.State.Terminal() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("task %s still %s", id, task.State)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

// TestSendAndProcessSpans: an enqueue in a span starts a send span, its
// child, whose context the task carries; the worker's run is a process
// span of a trace of its own, linked to the send span.
func TestSendAndProcessSpans(t *testing.T) {
	q, _, rec, tracer := setup(t, memory.New())
	ran := make(chan trace.SpanContext, 1)
	err := q.Register("add", func(ctx context.Context, task *queue.Task) (any, error) {
		ran <- trace.SpanContextFromContext(ctx)
		return task.Args[0].(int64) + 1, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, parent := tracer.Start(context.Background(), "request")
	task := &queue.Task{Func: "add", Args: []any{41}, QueueName: "emails", Meta: map[string]string{"tenant": "acme"}}
	callerMeta := task.Meta
	if err := q.Enqueue(ctx, task); err != nil {
		t.Fatal(err)
	}
	parent.End()
	if len(callerMeta) != 1 {
		t.Fatalf("the caller's map was changed: %v", callerMeta)
	}
	work(t, q, []string{"emails"}, task.ID)

	send := spanNamed(t, rec, "send emails")
	if send.SpanKind() != trace.SpanKindProducer || send.Parent().SpanID() != parent.SpanContext().SpanID() ||
		send.SpanContext().TraceID() != parent.SpanContext().TraceID() {
		t.Fatalf("send span: kind %s, parent %s: want a producer span, child of the request", send.SpanKind(), send.Parent().SpanID())
	}
	wantAttrs(t, send, map[string]string{
		"messaging.system": "omniq", "messaging.destination.name": "emails", "messaging.operation.name": "send",
		"messaging.operation.type": "send", "messaging.message.id": task.ID,
	}, "messaging.batch.message_count")

	stored, err := q.GetTask(context.Background(), task.ID)
	if err != nil {
		t.Fatal(err)
	}
	tp := stored.Meta["traceparent"]
	if !strings.Contains(tp, send.SpanContext().TraceID().String()+"-"+send.SpanContext().SpanID().String()) || stored.Meta["tenant"] != "acme" {
		t.Fatalf("stored meta %v: want the send span's traceparent and the caller's entries", stored.Meta)
	}

	process := spanNamed(t, rec, "process emails")
	if process.SpanKind() != trace.SpanKindConsumer {
		t.Fatalf("process span kind %s", process.SpanKind())
	}
	if process.Parent().IsValid() || process.SpanContext().TraceID() == send.SpanContext().TraceID() {
		t.Fatalf("process span: parent %v, trace %s: want a root of its own trace", process.Parent(), process.SpanContext().TraceID())
	}
	if links := process.Links(); len(links) != 1 || !links[0].SpanContext.Equal(trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: send.SpanContext().TraceID(), SpanID: send.SpanContext().SpanID(),
		TraceFlags: send.SpanContext().TraceFlags(), Remote: true,
	})) {
		t.Fatalf("process span links %+v: want one, to the send span %s", links, send.SpanContext().SpanID())
	}
	wantAttrs(t, process, map[string]string{
		"messaging.system": "omniq", "messaging.destination.name": "emails", "messaging.operation.name": "process",
		"messaging.operation.type": "process", "messaging.message.id": task.ID,
	})
	if process.Status().Code != codes.Unset {
		t.Fatalf("process span status %v", process.Status())
	}
	if got := <-ran; got.SpanID() != process.SpanContext().SpanID() {
		t.Fatalf("the handler ran in span %s, not the process span", got.SpanID())
	}
}

// TestProcessAsChild: with WithProcessAsChild, the process span is a child
// of the send span, in the enqueuer's trace.
func TestProcessAsChild(t *testing.T) {
	q, _, rec, tracer := setup(t, memory.New(), otelomniq.WithProcessAsChild(true))
	if err := q.Register("f", func(context.Context, *queue.Task) (any, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	ctx, parent := tracer.Start(context.Background(), "request")
	task := &queue.Task{Func: "f"}
	if err := q.Enqueue(ctx, task); err != nil {
		t.Fatal(err)
	}
	parent.End()
	work(t, q, nil, task.ID)
	send, process := spanNamed(t, rec, "send default"), spanNamed(t, rec, "process default")
	if process.Parent().SpanID() != send.SpanContext().SpanID() || process.SpanContext().TraceID() != send.SpanContext().TraceID() ||
		len(process.Links()) != 0 {
		t.Fatalf("process span: parent %s, %d links: want a child of send span %s", process.Parent().SpanID(), len(process.Links()), send.SpanContext().SpanID())
	}
}

// TestFailingHandler: an error, or a panic, sets the process span's status
// to error and records it; the attempt fails as it would untraced.
func TestFailingHandler(t *testing.T) {
	q, _, rec, _ := setup(t, memory.New())
	if err := q.Register("fails", func(context.Context, *queue.Task) (any, error) { return nil, errors.New("smtp down") }); err != nil {
		t.Fatal(err)
	}
	if err := q.Register("panics", func(context.Context, *queue.Task) (any, error) { panic("kaput") }); err != nil {
		t.Fatal(err)
	}
	fails, panics := &queue.Task{Func: "fails", QueueName: "a"}, &queue.Task{Func: "panics", QueueName: "b"}
	for _, task := range []*queue.Task{fails, panics} {
		if err := q.Enqueue(context.Background(), task); err != nil {
			t.Fatal(err)
		}
	}
	work(t, q, []string{"a", "b"}, fails.ID, panics.ID)
	for name, want := range map[string]string{"process a": "smtp down", "process b": "handler panic: kaput"} {
		s := spanNamed(t, rec, name)
		if s.Status().Code != codes.Error || !strings.Contains(s.Status().Description, want) {
			t.Errorf("%s: status %+v, want an error saying %q", name, s.Status(), want)
		}
		if ev := s.Events(); len(ev) != 1 || ev[0].Name != "exception" {
			t.Errorf("%s: events %+v, want the recorded error", name, ev)
		}
	}
	for _, task := range []*queue.Task{fails, panics} {
		got, err := q.GetTask(context.Background(), task.ID)
		if err != nil || got.State != queue.StateFailed {
			t.Fatalf("task %s: %v (%v), want failed", task.Func, got, err)
		}
	}
	if got, _ := q.GetTask(context.Background(), panics.ID); !strings.Contains(got.Error, "handler panic: kaput") {
		t.Fatalf("the panic's attempt failed with %q", got.Error)
	}
}

// TestBatch: a batch is one send span counting its tasks, whose context
// every task carries; a batch over several queues names none.
func TestBatch(t *testing.T) {
	q, _, rec, _ := setup(t, memory.New())
	same := []*queue.Task{{Func: "f", QueueName: "q"}, {Func: "f", QueueName: "q"}, {Func: "f", QueueName: "q"}}
	if err := q.EnqueueBatch(context.Background(), same); err != nil {
		t.Fatal(err)
	}
	send := spanNamed(t, rec, "send q")
	wantAttrs(t, send, map[string]string{"messaging.batch.message_count": "3", "messaging.destination.name": "q"}, "messaging.message.id")
	for _, task := range same {
		got, err := q.GetTask(context.Background(), task.ID)
		if err != nil || !strings.Contains(got.Meta["traceparent"], send.SpanContext().SpanID().String()) {
			t.Fatalf("task %s meta %v (%v): want the batch's send span", task.ID, got.Meta, err)
		}
	}
	mixed := []*queue.Task{{Func: "f", QueueName: "q"}, {Func: "f"}}
	if err := q.EnqueueBatch(context.Background(), mixed); err != nil {
		t.Fatal(err)
	}
	wantAttrs(t, spanNamed(t, rec, "send"), map[string]string{"messaging.batch.message_count": "2"}, "messaging.destination.name")

	// A refused enqueue ends its span with the error.
	err := q.Enqueue(context.Background(), &queue.Task{Func: "f", QueueName: "bad", Meta: map[string]string{"": "x"}})
	if !errors.Is(err, queue.ErrInvalidMeta) {
		t.Fatalf("bad meta: %v", err)
	}
	if s := spanNamed(t, rec, "send bad"); s.Status().Code != codes.Error {
		t.Fatalf("refused enqueue: span status %+v", s.Status())
	}
}

// TestTraceContextSurvivesRestart: the traceparent is in the task's
// task.enqueued event, so an engine opened again on the log (a restart)
// hands the task out with it, History shows it, and the process span links
// to the send span of the engine before.
func TestTraceContextSurvivesRestart(t *testing.T) {
	log := memory.New()
	defer log.Close()
	q, e, rec, tracer := setup(t, log)
	ctx, parent := tracer.Start(context.Background(), "request")
	task := &queue.Task{Func: "f"}
	if err := q.Enqueue(ctx, task); err != nil {
		t.Fatal(err)
	}
	parent.End()
	send := spanNamed(t, rec, "send default").SpanContext()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	q, _, rec, _ = setup(t, log, otelomniq.WithPropagator(propagation.TraceContext{}))
	hist, err := q.History(context.Background(), task.ID)
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := hist[0].Payload["spec"].(map[string]any)
	meta, _ := spec["meta"].(map[string]any)
	tp, _ := meta["traceparent"].(string)
	if hist[0].Type != "task.enqueued" || !strings.Contains(tp, send.TraceID().String()+"-"+send.SpanID().String()) {
		t.Fatalf("History's first event %+v: want the send span's traceparent", hist[0])
	}
	leased, err := q.Dequeue(context.Background(), "")
	if err != nil || leased == nil || leased.Meta["traceparent"] != tp {
		t.Fatalf("Dequeue after restart = %+v (%v): want meta with %s", leased, err, tp)
	}
	// A program that runs handlers itself wraps them with WrapHandler.
	tpOpt := otelomniq.WithTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	h := otelomniq.WrapHandler(func(context.Context, *queue.Task) (any, error) { return "ok", nil }, tpOpt)
	if _, err := h(context.Background(), leased); err != nil {
		t.Fatal(err)
	}
	process := spanNamed(t, rec, "process default")
	if links := process.Links(); len(links) != 1 || links[0].SpanContext.SpanID() != send.SpanID() || links[0].SpanContext.TraceID() != send.TraceID() {
		t.Fatalf("process span links %+v: want the send span of before the restart", links)
	}
}

// TestUntracedTask: a task without a trace context (enqueued unwrapped)
// runs in a process span without a link.
func TestUntracedTask(t *testing.T) {
	q, e, rec, _ := setup(t, memory.New())
	task := &queue.Task{Func: "f"}
	if err := e.Enqueue(context.Background(), task); err != nil {
		t.Fatal(err)
	}
	if err := q.Register("f", func(context.Context, *queue.Task) (any, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	if err := q.Register("g", nil); !errors.Is(err, queue.ErrInvalidHandler) {
		t.Fatalf("nil handler: %v", err)
	}
	work(t, q, nil, task.ID)
	if s := spanNamed(t, rec, "process default"); len(s.Links()) != 0 || s.Parent().IsValid() {
		t.Fatalf("untraced task: links %v, parent %v", s.Links(), s.Parent())
	}
}

// TestGlobalPropagatorAndBaggage: without WithPropagator, the global
// propagator is used once a program sets one; baggage it carries reaches
// the handler's context.
func TestGlobalPropagatorAndBaggage(t *testing.T) {
	prev := otel.GetTextMapPropagator()
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	defer otel.SetTextMapPropagator(prev)
	q, _, rec, tracer := setup(t, memory.New())
	got := make(chan string, 1)
	err := q.Register("f", func(ctx context.Context, _ *queue.Task) (any, error) {
		got <- baggage.FromContext(ctx).Member("tenant").Value()
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	member, err := baggage.NewMember("tenant", "acme")
	if err != nil {
		t.Fatal(err)
	}
	bag, err := baggage.New(member)
	if err != nil {
		t.Fatal(err)
	}
	ctx, parent := tracer.Start(baggage.ContextWithBaggage(context.Background(), bag), "request")
	task := &queue.Task{Func: "f"}
	if err := q.Enqueue(ctx, task); err != nil {
		t.Fatal(err)
	}
	parent.End()
	if task.Meta["baggage"] != "tenant=acme" || task.Meta["traceparent"] == "" {
		t.Fatalf("meta %v: want the traceparent and the baggage", task.Meta)
	}
	work(t, q, nil, task.ID)
	if v := <-got; v != "acme" {
		t.Fatalf("the handler's baggage has tenant %q", v)
	}
	if s := spanNamed(t, rec, "process default"); len(s.Links()) != 1 {
		t.Fatalf("process span links %v", s.Links())
	}
}

// TestThroughTheHTTPAPI: a producer and a worker that reach the queue
// through omniqd's API (package server, with package client) trace as the
// embedded ones do: the task's meta carries the send span's context across.
func TestThroughTheHTTPAPI(t *testing.T) {
	log := memory.New()
	e, err := engine.Open(context.Background(), log)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ts := httptest.NewServer(server.New(e, server.Config{}))
	defer ts.Close()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	remote := func() queue.Queue {
		c, err := client.New(ts.URL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return otelomniq.Wrap(c, otelomniq.WithTracerProvider(tp))
	}
	producer, worker := remote(), remote()
	if err := worker.Register("mail", func(context.Context, *queue.Task) (any, error) { return "sent", nil }); err != nil {
		t.Fatal(err)
	}
	task := &queue.Task{Func: "mail", QueueName: "emails"}
	if err := producer.Enqueue(context.Background(), task); err != nil {
		t.Fatal(err)
	}
	work(t, worker, []string{"emails"}, task.ID)
	send, process := spanNamed(t, rec, "send emails"), spanNamed(t, rec, "process emails")
	if links := process.Links(); len(links) != 1 || links[0].SpanContext.SpanID() != send.SpanContext().SpanID() ||
		links[0].SpanContext.TraceID() != send.SpanContext().TraceID() {
		t.Fatalf("process span links %+v: want one, to the send span %s", links, send.SpanContext().SpanID())
	}
}
