package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/omniq/omniq/engine"
)

// An outcome whose request failed as a whole (503) is sent again, and Work
// stops once it is recorded.
func TestWorkResendsOutcomes(t *testing.T) {
	var mu sync.Mutex
	leased := false
	failures := 0
	var recorded []OutcomeSpec
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/outcomes" {
			http.NotFound(w, r)
			return
		}
		var req OutcomesRequest
		if err := DecodeStrict(r.Body, &req); err != nil {
			t.Errorf("request: %v", err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if len(req.Outcomes) > 0 && failures == 0 {
			failures++
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":{"code":"unavailable","message":"try again"}}`))
			return
		}
		ans := OutcomesAnswer{Outcomes: make([]OutcomeAnswer, len(req.Outcomes)), Tasks: []Task{}}
		for i := range req.Outcomes {
			ans.Outcomes[i].State = "completed"
			recorded = append(recorded, req.Outcomes[i])
		}
		if req.Lease != nil && req.Lease.N > 0 && !leased {
			leased = true
			ans.Tasks = append(ans.Tasks, Task{TaskSpec: TaskSpec{ID: "t1", Func: "f", QueueName: "default"}, TaskInfo: TaskInfo{State: "running", Attempt: 1}})
		} else if req.Lease != nil && req.Lease.Wait > 0 {
			mu.Unlock()
			select { // a long-poll with nothing to lease
			case <-r.Context().Done():
			case <-time.After(time.Duration(req.Lease.Wait)):
			}
			mu.Lock()
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(ans)
	}))
	defer srv.Close()
	c, err := New(srv.URL, WithPollWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan struct{}, 1)
	_ = c.Register("f", func(context.Context, *engine.Task) (any, error) {
		ran <- struct{}{}
		return "ok", nil
	})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Work(ctx, engine.WorkOptions{Concurrency: 3}) }()
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("the task did not run")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(recorded)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the outcome was not sent again after a 503")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Work: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Work did not return")
	}
	mu.Lock()
	defer mu.Unlock()
	if failures != 1 || len(recorded) != 1 || recorded[0].ID != "t1" || recorded[0].Attempt != 1 || recorded[0].Result != "ok" || recorded[0].Error != nil {
		t.Errorf("failures %d, recorded %+v", failures, recorded)
	}
}
