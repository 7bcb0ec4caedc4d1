package otelomniq_test

import (
	"context"
	"fmt"
	"log"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/otelomniq"
	"github.com/omniq/omniq/queue"
	"github.com/omniq/omniq/stores/memory"
)

// ExampleWrap traces an embedded engine: the enqueue is a send span, the
// handler's run a process span linked to it through the traceparent the
// task carries. A program would give its own TracerProvider (an exporter's)
// or none, for the global one; here spans go to a recorder to be printed.
// A program that runs handlers itself, on tasks from Dequeue, wraps them
// with WrapHandler.
func ExampleWrap() {
	ctx := context.Background()
	recorder := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	defer tp.Shutdown(ctx)

	e, err := engine.Open(ctx, memory.New())
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()
	q := otelomniq.Wrap(e, otelomniq.WithTracerProvider(tp))

	err = q.Register("greet", func(ctx context.Context, t *queue.Task) (any, error) {
		return "hello " + t.Args[0].(string), nil
	})
	if err != nil {
		log.Fatal(err)
	}
	task := &queue.Task{Func: "greet", Args: []any{"world"}}
	if err := q.Enqueue(ctx, task); err != nil { // a send span; its context goes into task.Meta
		log.Fatal(err)
	}

	work, stop := context.WithCancel(ctx)
	defer stop()
	go q.Work(work, queue.WorkOptions{}) // each run in a process span
	// Wait for the run to be recorded.
	for {
		t, err := q.GetTask(ctx, task.ID)
		if err != nil {
			log.Fatal(err)
		}
		if t.State == queue.StateCompleted {
			break
		}
		time.Sleep(time.Millisecond)
	}

	spans := recorder.Ended()
	send, process := spans[0], spans[1]
	fmt.Println(send.Name(), send.SpanKind())
	fmt.Println(process.Name(), process.SpanKind())
	fmt.Println("the task carries its traceparent:", task.Meta["traceparent"] != "")
	fmt.Println("process links to send:", process.Links()[0].SpanContext.SpanID() == send.SpanContext().SpanID())
	// Output:
	// send default producer
	// process default consumer
	// the task carries its traceparent: true
	// process links to send: true
}
