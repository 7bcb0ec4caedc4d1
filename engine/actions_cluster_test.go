package engine_test

import (
	"errors"
	"testing"

	"github.com/omniq/omniq/engine"
)

// TestClusterActions: on a shared log each node validates an action at the
// head, whoever wrote the events before it: a pause through one node
// stops leases through the other, a retry or cancel through one node is
// refused through the other once done, and the log verifies strictly.
func TestClusterActions(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		c := openCluster(t, sc, 2)
		a, b := c.nodes[0], c.nodes[1]
		for _, id := range []string{"x", "y", "z"} {
			if err := a.Enqueue(c.ctx, &engine.Task{ID: id, Func: "f", QueueName: "q"}); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.PauseQueue(c.ctx, "q"); err != nil {
			t.Fatal(err)
		}
		if err := b.PauseQueue(c.ctx, "q"); !errors.Is(err, engine.ErrTaskState) {
			t.Fatalf("second pause through the other node: %v", err)
		}
		if task, err := b.Dequeue(c.ctx, "q"); err != nil || task != nil {
			t.Fatalf("the other node leased %+v (%v) from the paused queue", task, err)
		}
		if err := b.Cancel(c.ctx, "x"); err != nil {
			t.Fatal(err)
		}
		if err := a.Cancel(c.ctx, "x"); !errors.Is(err, engine.ErrTaskState) {
			t.Fatalf("second cancel through the other node: %v", err)
		}
		if err := a.Retry(c.ctx, "x"); err != nil {
			t.Fatal(err)
		}
		if err := b.Retry(c.ctx, "x"); !errors.Is(err, engine.ErrTaskState) {
			t.Fatalf("second retry through the other node: %v", err)
		}
		if err := b.ResumeQueue(c.ctx, "q"); err != nil {
			t.Fatal(err)
		}
		c.settle() // a lease's fast path answers from the node's state
		if task, err := a.Dequeue(c.ctx, "q"); err != nil || task == nil {
			t.Fatalf("after the resume through the other node: %+v %v", task, err)
		}
		c.sameState()
	})
}
