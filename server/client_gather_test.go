package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/omniq/omniq/client"
	"github.com/omniq/omniq/queue"
)

// countingTransport counts the gathered batches among POST /v1/tasks bodies.
type countingTransport struct {
	next    http.RoundTripper
	batches atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && r.URL.Path == "/v1/tasks" && r.Body != nil {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		if bytes.HasPrefix(b, []byte(`{"tasks":`)) {
			c.batches.Add(1)
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	return c.next.RoundTrip(r)
}

// Concurrent Enqueue calls through one client share requests, and each
// call's answer is the one it would have had alone: good tasks land with
// their own ids and fields, a bad task fails only its own call with its
// own sentinel, of two calls with the same id exactly one wins, and a task
// depending on one its goroutine enqueued before is accepted.
func TestClientGatheredEnqueueAnswersEachCall(t *testing.T) {
	ts, url := startTestServer(t, Config{})
	tr := &countingTransport{next: newCheckingTransport(t)}
	c := newTestClient(t, url, client.WithHTTPClient(&http.Client{Transport: tr}))
	ctx := context.Background()

	const callers, each = 64, 24
	type outcome struct {
		task *queue.Task
		err  error
	}
	results := make([][]outcome, callers)
	var wg sync.WaitGroup
	for g := range callers {
		wg.Go(func() {
			prev := ""
			for i := range each {
				task := &queue.Task{Func: "f", Args: []any{int64(g), int64(i)}, Priority: i % 5}
				switch {
				case i%7 == 3:
					task.QueueName = "no spaces allowed" // refused: invalid queue name
				case i%11 == 5:
					task.ID = fmt.Sprintf("dup-%d-%d", g/2, i) // the same id as the other goroutine of the pair
				case prev != "":
					task.DependsOn = []string{prev}
				}
				err := c.Enqueue(ctx, task)
				if err == nil && task.QueueName != "no spaces allowed" {
					prev = task.ID
				}
				results[g] = append(results[g], outcome{task, err})
			}
		})
	}
	wg.Wait()

	landed := map[string]bool{}
	dupWins := map[string]int{}
	for g := range callers {
		for i, o := range results[g] {
			switch {
			case i%7 == 3:
				if !errors.Is(o.err, queue.ErrInvalidQueueName) {
					t.Errorf("caller %d task %d: %v, want ErrInvalidQueueName", g, i, o.err)
				}
				continue
			case i%11 == 5:
				dupWins[o.task.ID] += 0 // an id both calls lost is counted too
				if o.err == nil {
					dupWins[o.task.ID]++
				} else if !errors.Is(o.err, queue.ErrDuplicateID) {
					t.Errorf("caller %d task %d: %v, want nil or ErrDuplicateID", g, i, o.err)
				}
			case o.err != nil:
				t.Errorf("caller %d task %d: %v", g, i, o.err)
				continue
			}
			if o.err != nil {
				continue
			}
			if landed[o.task.ID] {
				t.Errorf("id %s answered to two calls", o.task.ID)
			}
			landed[o.task.ID] = true
			got, err := ts.q.GetTask(ctx, o.task.ID)
			if err != nil {
				t.Fatalf("caller %d task %d (%s): %v", g, i, o.task.ID, err)
			}
			if fmt.Sprint(got.Args) != fmt.Sprint([]any{int64(g), int64(i)}) && !(i%11 == 5) {
				t.Errorf("task %s holds args %v, want [%d %d]", o.task.ID, got.Args, g, i)
			}
			if o.task.State != queue.StatePending && o.task.State != queue.StateWaiting {
				t.Errorf("task %s answered in state %q", o.task.ID, o.task.State)
			}
		}
	}
	if len(dupWins) != callers { // two ids (i = 5, 16) for each pair of callers
		t.Errorf("%d duplicate ids tried, want %d", len(dupWins), callers)
	}
	for id, wins := range dupWins {
		if wins != 1 {
			t.Errorf("id %s won %d times, want once", id, wins)
		}
	}
	st, err := ts.q.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, counts := range st.Queues {
		for _, n := range counts {
			total += n
		}
	}
	if total != len(landed) {
		t.Errorf("%d tasks on the server, %d calls succeeded", total, len(landed))
	}
	if tr.batches.Load() == 0 {
		t.Errorf("no request carried gathered calls")
	}
}
