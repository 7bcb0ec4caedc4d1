// Package otelomniq traces OmniQ with OpenTelemetry, following the
// messaging semantic conventions: a "send <queue>" span (kind producer)
// around each enqueue, and a "process <queue>" span (kind consumer) around
// each run of a handler, linked to the span that enqueued the task.
//
// The enqueuer's span context travels with the task, in its Meta
// (queue.Task.Meta), as a W3C traceparent (and tracestate): it is stored in
// the task's task.enqueued event, so it survives restarts, shows in History
// and in exports, and reaches whichever worker runs the task. Tasks a
// recurring schedule fires carry the Meta of the enqueue that created the
// schedule, so their process spans link to that send span.
//
// The OmniQ module itself does not import OpenTelemetry; this package is a
// module of its own, so programs that do not trace link none of it.
//
// Wrap takes the embedded engine or a client of omniqd alike: the HTTP API
// carries Meta.
//
//	q := otelomniq.Wrap(e) // e is an *engine.Engine, or a *client.Client
//	q.Register("send_email", sendEmail)
//	q.Enqueue(ctx, task) // a send span, a child of ctx's span
//	q.Work(ctx, opts)    // a process span per run, linked to the send span
package otelomniq

import (
	"context"
	"fmt"
	"maps"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/omniq/omniq/queue"
)

// ScopeName is the instrumentation scope of the spans this package starts.
const ScopeName = "github.com/omniq/omniq/otelomniq"

// Attribute keys of the messaging semantic conventions that the spans
// carry.
const (
	keySystem        = attribute.Key("messaging.system")
	keyDestination   = attribute.Key("messaging.destination.name")
	keyOperationName = attribute.Key("messaging.operation.name")
	keyOperationType = attribute.Key("messaging.operation.type")
	keyMessageID     = attribute.Key("messaging.message.id")
	keyBatchCount    = attribute.Key("messaging.batch.message_count")
)

// System is the value of messaging.system on every span.
const System = "omniq"

// Option configures Wrap and WrapHandler.
type Option func(*config)

type config struct {
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator // nil: the global one, or TraceContext
	child      bool
}

// WithTracerProvider sets where spans go (default, and for nil: the
// global provider, otel.GetTracerProvider).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) {
		if tp != nil {
			c.tracer = tp.Tracer(ScopeName)
		}
	}
}

// WithPropagator sets how the span context is written into a task's Meta
// and read back (default: the global propagator, otel.GetTextMapPropagator,
// or W3C TraceContext when none is set).
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(c *config) { c.propagator = p }
}

// WithProcessAsChild makes each process span a child of the send span that
// enqueued its task, in the enqueuer's trace, instead of a span of the
// worker's trace linked to it. A child suits short-lived tasks whose
// enqueuer waits for them; the link (the default) suits the rest, above all
// retried and recurring tasks, whose runs would otherwise pile into one
// trace.
func WithProcessAsChild(on bool) Option {
	return func(c *config) { c.child = on }
}

func newConfig(opts []Option) *config {
	c := &config{}
	for _, o := range opts {
		o(c)
	}
	if c.tracer == nil {
		c.tracer = otel.GetTracerProvider().Tracer(ScopeName)
	}
	return c
}

// prop returns the propagator to use now: the configured one, else the
// global one if a program set one, else W3C TraceContext.
func (c *config) prop() propagation.TextMapPropagator {
	if c.propagator != nil {
		return c.propagator
	}
	if p := otel.GetTextMapPropagator(); len(p.Fields()) > 0 {
		return p
	}
	return propagation.TraceContext{}
}

// Wrap returns q with tracing: Enqueue and EnqueueBatch start a send span
// and write its context into each task's Meta (a new map: the caller's is
// not changed, though the task's Meta field is replaced), and the handlers
// given to Register run in a process span (see WrapHandler). Every other
// method is q's. The propagator's fields count against Meta's limits
// (queue.ValidateMeta).
func Wrap(q queue.Queue, opts ...Option) queue.Queue {
	return &tracedQueue{Queue: q, c: newConfig(opts)}
}

type tracedQueue struct {
	queue.Queue
	c *config
}

func (q *tracedQueue) Enqueue(ctx context.Context, task *queue.Task) error {
	if task == nil {
		return q.Queue.Enqueue(ctx, task)
	}
	return q.c.send(ctx, []*queue.Task{task}, func(ctx context.Context) error { return q.Queue.Enqueue(ctx, task) })
}

func (q *tracedQueue) EnqueueBatch(ctx context.Context, tasks []*queue.Task) error {
	if len(tasks) == 0 || containsNil(tasks) {
		return q.Queue.EnqueueBatch(ctx, tasks)
	}
	return q.c.send(ctx, tasks, func(ctx context.Context) error { return q.Queue.EnqueueBatch(ctx, tasks) })
}

func (q *tracedQueue) Register(funcName string, h queue.Handler) error {
	if h == nil {
		return q.Queue.Register(funcName, h) // refused as it would be unwrapped
	}
	return q.Queue.Register(funcName, q.c.handler(h))
}

func containsNil(tasks []*queue.Task) bool {
	for _, t := range tasks {
		if t == nil {
			return true
		}
	}
	return false
}

// queueName is the task's queue as the queue names it.
func queueName(t *queue.Task) string {
	if t.QueueName == "" {
		return queue.DefaultQueue
	}
	return t.QueueName
}

// send runs enqueue in a send span for tasks, having written the span's
// context into each task's Meta. A batch whose tasks go to different
// queues is one span named "send", without a destination.
func (c *config) send(ctx context.Context, tasks []*queue.Task, enqueue func(context.Context) error) error {
	dest := queueName(tasks[0])
	for _, t := range tasks[1:] {
		if queueName(t) != dest {
			dest = ""
			break
		}
	}
	name := "send"
	attrs := []attribute.KeyValue{keySystem.String(System), keyOperationName.String("send"), keyOperationType.String("send")}
	if dest != "" {
		name += " " + dest
		attrs = append(attrs, keyDestination.String(dest))
	}
	if len(tasks) > 1 {
		attrs = append(attrs, keyBatchCount.Int(len(tasks)))
	}
	ctx, span := c.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(attrs...))
	defer span.End()
	p := c.prop()
	for _, t := range tasks {
		meta := maps.Clone(t.Meta)
		if meta == nil {
			meta = map[string]string{}
		}
		p.Inject(ctx, propagation.MapCarrier(meta))
		if len(meta) == 0 {
			meta = nil // nothing to carry: a span that is not recorded, say
		}
		t.Meta = meta
	}
	if err := enqueue(ctx); err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return err
	}
	if len(tasks) == 1 {
		span.SetAttributes(keyMessageID.String(tasks[0].ID))
	}
	return nil
}

// WrapHandler returns h running each task in a process span: a span of the
// trace of the handler's context (the worker's), linked to the send span
// whose context the task's Meta carries (or its child, with
// WithProcessAsChild). The span records h's error, or its panic (which
// goes on up, for the queue to turn into a failed attempt). Baggage the
// task carries is added to the handler's context.
//
// Wrap's Register uses it; call it directly to trace handlers that a
// program runs itself on tasks from Dequeue.
func WrapHandler(h queue.Handler, opts ...Option) queue.Handler {
	return newConfig(opts).handler(h)
}

func (c *config) handler(h queue.Handler) queue.Handler {
	return func(ctx context.Context, t *queue.Task) (result any, err error) {
		dest := queueName(t)
		start := []trace.SpanStartOption{
			trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(keySystem.String(System), keyOperationName.String("process"),
				keyOperationType.String("process"), keyDestination.String(dest), keyMessageID.String(t.ID)),
		}
		sent := c.prop().Extract(context.Background(), propagation.MapCarrier(t.Meta))
		parent := ctx
		if sc := trace.SpanContextFromContext(sent); sc.IsValid() {
			if c.child {
				parent = trace.ContextWithRemoteSpanContext(ctx, sc)
			} else {
				start = append(start, trace.WithLinks(trace.Link{SpanContext: sc}))
			}
		}
		if b := baggage.FromContext(sent); b.Len() > 0 {
			parent = baggage.ContextWithBaggage(parent, b)
		}
		ctx, span := c.tracer.Start(parent, "process "+dest, start...)
		defer span.End() // which, in the SDK, records a panic going through it
		defer func() {
			if p := recover(); p != nil {
				span.SetStatus(codes.Error, fmt.Sprintf("handler panic: %v", p))
				panic(p)
			}
		}()
		result, err = h(ctx, t)
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		return result, err
	}
}
