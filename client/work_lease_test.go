package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/omniq/omniq/engine"
)

// Work against a scripted omniqd, in synctest bubbles: long polls that
// lease late, and outcomes too large together for one request.

// roundTrip is an in-process omniqd: a function from request to answer.
type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func jsonReply(status int, v any) (*http.Response, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(b))}, nil
}

// pollWait waits out the long poll req asks for, or until r is cancelled.
func pollWait(r *http.Request, req OutcomesRequest, wait time.Duration) error {
	if req.Lease == nil || req.Lease.Wait <= 0 {
		return nil
	}
	select {
	case <-r.Context().Done():
		return r.Context().Err()
	case <-time.After(wait):
		return nil
	}
}

// runningTask is a task leased now for lease.
func runningTask(id string, lease time.Duration) Task {
	now := time.Now()
	return Task{TaskSpec: TaskSpec{ID: id, Func: "f", QueueName: "default"},
		TaskInfo: TaskInfo{State: "running", Attempt: 1, UpdatedAt: now, LeaseDeadline: now.Add(lease)}}
}

// A task a long poll leased 25 s after it left, with a lease of 30 s, gets
// its whole lease: its handler's context is not cancelled 5 s in.
func TestClientWorkLongPolledTaskGetsItsLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const lease = 30 * time.Second
		var mu sync.Mutex
		leased := false
		hc := &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
			if r.URL.Path == "/v1/heartbeats" { // every lease is current: extended
				var req HeartbeatsRequest
				if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
					t.Errorf("heartbeats request: %v", err)
				}
				ans := HeartbeatsAnswer{Heartbeats: make([]HeartbeatAnswer, len(req.Heartbeats))}
				now := time.Now()
				for i := range ans.Heartbeats {
					ans.Heartbeats[i] = HeartbeatAnswer{UpdatedAt: now, LeaseDeadline: now.Add(lease)}
				}
				return jsonReply(http.StatusOK, ans)
			}
			var req OutcomesRequest
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
				t.Errorf("outcomes request: %v", err)
			}
			ans := OutcomesAnswer{Outcomes: make([]OutcomeAnswer, len(req.Outcomes)), Tasks: []Task{}}
			for i := range ans.Outcomes {
				ans.Outcomes[i].State = "completed"
			}
			mu.Lock()
			first := !leased && req.Lease != nil && req.Lease.Wait > 0
			leased = leased || first
			mu.Unlock()
			wait := time.Duration(0)
			if req.Lease != nil {
				wait = time.Duration(req.Lease.Wait)
			}
			if first {
				wait = 25 * time.Second // the task is ready 25 s into the poll
			}
			if err := pollWait(r, req, wait); err != nil {
				return nil, err
			}
			if first {
				ans.Tasks = append(ans.Tasks, runningTask("t1", lease))
			}
			return jsonReply(http.StatusOK, ans)
		})}
		c, err := New("http://omniqd.test", WithHTTPClient(hc))
		if err != nil {
			t.Fatal(err)
		}
		cut := time.Duration(-1)
		ran := make(chan struct{})
		if err := c.Register("f", func(ctx context.Context, _ *engine.Task) (any, error) {
			defer close(ran)
			began := time.Now()
			select {
			case <-ctx.Done():
				cut = time.Since(began)
			case <-time.After(20 * time.Second):
			}
			return "ok", nil
		}); err != nil {
			t.Fatal(err)
		}
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Work(ctx, engine.WorkOptions{Concurrency: 1}) }()
		<-ran
		stop()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if cut >= 0 {
			t.Fatalf("the handler of a task leased for %v had its context cancelled %v after it started", lease, cut)
		}
	})
}

// Outcomes that together are over omniqd's --max-body go again in smaller
// requests: Work goes on, and every outcome is recorded.
func TestClientWorkSplitsOutcomesTooLargeTogether(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n, maxBody = 10, 8 << 20
		var mu sync.Mutex
		leased, refused := false, 0
		recorded := map[string]int{}
		hc := &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
			b, err := io.ReadAll(r.Body)
			if err != nil {
				return nil, err
			}
			if len(b) > maxBody { // as omniqd past --max-body
				mu.Lock()
				refused++
				mu.Unlock()
				return jsonReply(http.StatusRequestEntityTooLarge, map[string]any{"error": map[string]any{
					"code": "payload_too_large", "message": fmt.Sprintf("request body is larger than %d bytes", maxBody)}})
			}
			var req OutcomesRequest
			if err := json.Unmarshal(b, &req); err != nil {
				t.Errorf("outcomes request: %v", err)
			}
			ans := OutcomesAnswer{Outcomes: make([]OutcomeAnswer, len(req.Outcomes)), Tasks: []Task{}}
			mu.Lock()
			for i, o := range req.Outcomes {
				ans.Outcomes[i].State = "completed"
				recorded[o.ID]++
			}
			first := !leased && req.Lease != nil
			leased = leased || first
			mu.Unlock()
			if first {
				for i := range n {
					ans.Tasks = append(ans.Tasks, runningTask(fmt.Sprintf("t%d", i), time.Minute))
				}
			} else if req.Lease != nil {
				if err := pollWait(r, req, time.Duration(req.Lease.Wait)); err != nil {
					return nil, err
				}
			}
			return jsonReply(http.StatusOK, ans)
		})}
		c, err := New("http://omniqd.test", WithHTTPClient(hc))
		if err != nil {
			t.Fatal(err)
		}
		big := strings.Repeat("x", 900_000) // within the engine's 1 MiB bound on a result
		var started sync.WaitGroup
		started.Add(n)
		if err := c.Register("f", func(context.Context, *engine.Task) (any, error) {
			started.Done()
			started.Wait() // all finish together
			return big, nil
		}); err != nil {
			t.Fatal(err)
		}
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Work(ctx, engine.WorkOptions{Concurrency: n}) }()
		synctest.Wait()
		select {
		case err := <-done:
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("Work returned %v while running (%d requests refused 413, %d of %d outcomes recorded)", err, refused, len(recorded), n)
		default:
		}
		stop()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(recorded) != n || refused == 0 {
			t.Fatalf("%d of %d outcomes recorded, %d requests refused 413", len(recorded), n, refused)
		}
	})
}
