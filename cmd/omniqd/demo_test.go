package main

import (
	"bytes"
	"context"
	"regexp"
	"testing"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/stores/memory"
)

func TestDemoPrintsTheSeedsOutput(t *testing.T) {
	ctx := context.Background()
	log := memory.New()
	defer log.Close()
	q, err := engine.Open(ctx, log)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var out bytes.Buffer
	if err := demo(ctx, q, &out); err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`^Enqueued simple task: (\w+)
Enqueued scheduled task: \w+ to run at \S+
Dequeued task: (\w+)
Task result: 30
Enqueued tasks to named queues.
Dequeued from high_priority: High Prio
Deleted task (\w+)
$`)
	m := want.FindStringSubmatch(out.String())
	if m == nil || m[1] != m[2] || m[1] != m[3] {
		t.Fatalf("demo printed:\n%s", out.String())
	}
}
