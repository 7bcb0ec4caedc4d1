package main

// End-to-end tests: the real omniqd binary, built once, runs as a child
// process on a free loopback port over a Pebble store in a temporary
// directory, and is driven over HTTP and through package client.

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/omniq/omniq/client"
	"github.com/omniq/omniq/engine"
)

var (
	// e2eBuildFlags are the go build flags of the binary (see race_test.go).
	e2eBuildFlags = []string{"-ldflags=-s -w"}

	binBuilt chan struct{} // closed when the build has ended
	binPath  string
	binError error
)

// TestMain builds the omniqd binary once, into a temporary directory, while
// the in-process tests run; the e2e tests wait for it.
func TestMain(m *testing.M) {
	if fuzzing() {
		// A fuzz run (and each of its worker processes) runs no e2e test.
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "omniqd-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	binBuilt = make(chan struct{})
	go func() {
		defer close(binBuilt)
		path := filepath.Join(dir, "omniqd")
		args := append(append([]string{"build"}, e2eBuildFlags...), "-o", path, ".")
		out, err := exec.CommandContext(ctx, "go", args...).CombinedOutput()
		if err != nil {
			binError = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		binPath = path
	}()
	code := m.Run()
	cancel() // when no e2e test ran, the build need not finish
	<-binBuilt
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// fuzzing reports whether the test binary runs a fuzz target (go test
// -fuzz, or one of its workers).
func fuzzing() bool {
	for _, a := range os.Args[1:] {
		if strings.HasPrefix(a, "-test.fuzz=") || strings.HasPrefix(a, "-test.fuzzworker") {
			return true
		}
	}
	return false
}

// omniqdBinary returns the built omniqd binary.
func omniqdBinary(t *testing.T) string {
	t.Helper()
	<-binBuilt
	if binError != nil {
		t.Fatal(binError)
	}
	return binPath
}

// child is a running "omniqd serve".
type child struct {
	t      *testing.T
	cmd    *exec.Cmd
	url    string
	mu     sync.Mutex
	logs   strings.Builder // stderr: JSON log lines
	lines  chan string     // stderr lines, for watchLog (dropped when full)
	exited chan struct{}   // closed when the process has exited
	err    error           // Wait's result, once exited
}

// omniqdEnv is the environment without the caller's OMNIQ_* settings, plus env.
func omniqdEnv(env ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OMNIQ_") {
			out = append(out, kv)
		}
	}
	return append(out, env...)
}

// startOmniqd starts "omniqd serve" with args on 127.0.0.1:0 over HTTP, as
// startOmniqdOver does.
func startOmniqd(t *testing.T, env []string, args ...string) *child {
	t.Helper()
	return startOmniqdOver(t, nil, env, args...)
}

// startOmniqdOver starts "omniqd serve" with args on 127.0.0.1:0, learns
// its port from the "listening" log line, and waits until /readyz says
// ready. With a pool it speaks HTTPS, trusting the pool's certificates (the
// daemon's come from the environment: OMNIQ_TLS_CERT, OMNIQ_TLS_KEY).
func startOmniqdOver(t *testing.T, pool *x509.CertPool, env []string, args ...string) *child {
	t.Helper()
	c := startOmniqdProcess(t, env, append([]string{"serve", "--listen", "127.0.0.1:0", "--log-format", "json"}, args...)...)
	scheme, hc := "http://", http.DefaultClient
	if pool != nil {
		scheme, hc = "https://", &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	}
	addr := make(chan string, 1)
	go c.watchLog(addr)
	select {
	case a := <-addr:
		c.url = scheme + a
	case <-c.exited:
		t.Fatalf("omniqd exited before listening: %v\n%s", c.err, c.log())
	case <-time.After(20 * time.Second):
		t.Fatalf("omniqd did not listen within 20s\n%s", c.log())
	}
	waitFor(t, 20*time.Second, "omniqd to be ready", func() bool {
		req, _ := http.NewRequest("GET", c.url+"/readyz", nil)
		for _, kv := range env {
			if tok, ok := strings.CutPrefix(kv, "OMNIQ_TOKEN="); ok {
				req.Header.Set("Authorization", "Bearer "+tok)
			}
		}
		resp, err := hc.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return c
}

// startOmniqdProcess starts the binary with args; stderr is collected.
func startOmniqdProcess(t *testing.T, env []string, args ...string) *child {
	t.Helper()
	cmd := exec.Command(omniqdBinary(t), args...)
	cmd.Env = omniqdEnv(env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{t: t, cmd: cmd, exited: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			c.mu.Lock()
			c.logs.WriteString(sc.Text() + "\n")
			c.mu.Unlock()
			select {
			case lines <- sc.Text():
			default:
			}
		}
		close(lines)
		c.err = cmd.Wait()
		close(c.exited)
	}()
	c.lines = lines
	t.Cleanup(func() {
		select {
		case <-c.exited:
		default:
			_ = cmd.Process.Kill()
			<-c.exited
		}
	})
	return c
}

func (c *child) log() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.logs.String()
}

// watchLog sends the address of the "listening" log line.
func (c *child) watchLog(addr chan<- string) {
	for line := range c.lines {
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
			addr <- rec.Addr
			break
		}
	}
	for range c.lines { // keep draining
	}
}

// kill9 ends the process with SIGKILL: no shutdown, no snapshot, no flush.
func (c *child) kill9() {
	c.t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		c.t.Fatal(err)
	}
	<-c.exited
}

// waitExit waits for the process to exit and returns its exit code.
func (c *child) waitExit(timeout time.Duration) int {
	c.t.Helper()
	select {
	case <-c.exited:
	case <-time.After(timeout):
		c.t.Fatalf("omniqd did not exit within %v\n%s", timeout, c.log())
	}
	var ee *exec.ExitError
	if errors.As(c.err, &ee) {
		return ee.ExitCode()
	}
	if c.err != nil {
		c.t.Fatalf("wait: %v", c.err)
	}
	return 0
}

func (c *child) client(t *testing.T, opts ...client.Option) *client.Client {
	return newTestClient(t, c.url, opts...)
}

func pebbleStore(t *testing.T) string { return "pebble://" + t.TempDir() }

// The core queue API's usage example, through the client against the real daemon.
func TestE2ESeedExample(t *testing.T) {
	srv := startOmniqd(t, nil, "--store", pebbleStore(t))
	q := srv.client(t)
	ctx := context.Background()

	simple := &engine.Task{Func: "my_simple_func", Args: []any{10, 20}}
	if err := q.Enqueue(ctx, simple); err != nil || simple.ID == "" || simple.State != engine.StatePending {
		t.Fatalf("enqueue simple: %v %+v", err, simple)
	}
	future := time.Now().UTC().Add(5 * time.Second)
	scheduled := &engine.Task{Func: "my_scheduled_func", Schedule: &engine.Schedule{RunAt: future}}
	if err := q.Enqueue(ctx, scheduled); err != nil || scheduled.State != engine.StateWaiting {
		t.Fatalf("enqueue scheduled: %v %+v", err, scheduled)
	}
	task, err := q.Dequeue(ctx, "")
	if err != nil || task == nil || task.ID != simple.ID {
		t.Fatalf("dequeue: %v %+v", err, task)
	}
	result := task.Args[0].(int64) + task.Args[1].(int64)
	if result != 30 {
		t.Fatalf("result %d", result)
	}
	if err := q.Complete(ctx, task, result); err != nil {
		t.Fatal(err)
	}
	high := &engine.Task{Func: "high_prio", QueueName: "high_priority", Priority: 10}
	low := &engine.Task{Func: "low_prio", QueueName: "low_priority", Priority: 1}
	if err := q.Enqueue(ctx, high); err != nil {
		t.Fatal(err)
	}
	if err := q.Enqueue(ctx, low); err != nil {
		t.Fatal(err)
	}
	if got, err := q.Dequeue(ctx, "high_priority"); err != nil || got == nil || got.Func != "high_prio" {
		t.Fatalf("dequeue high_priority: %v %+v", err, got)
	}
	if got, err := q.Dequeue(ctx, ""); err != nil || got != nil {
		t.Fatalf("the scheduled task was handed out early: %v %+v", err, got)
	}
	if err := q.DeleteTask(ctx, simple.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := q.GetTask(ctx, simple.ID); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("get deleted: %v", err)
	}
	evs, err := q.History(ctx, simple.ID)
	if err != nil || len(evs) != 4 || evs[3].Type != "task.deleted" || evs[2].Payload["result"] != int64(30) {
		t.Fatalf("history: %v %+v", err, evs)
	}
}

// A remote worker (client.Work) runs registered handlers on the daemon's tasks.
func TestE2ERemoteWorker(t *testing.T) {
	srv := startOmniqd(t, nil, "--store", pebbleStore(t))
	producer := srv.client(t)
	worker := srv.client(t, client.WithPollWait(2*time.Second))
	ctx := context.Background()
	_ = worker.Register("add", func(ctx context.Context, t *engine.Task) (any, error) {
		return t.Args[0].(int64) + t.Args[1].(int64), nil
	})
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- worker.Work(wctx, engine.WorkOptions{Concurrency: 4}) }()

	const n = 40
	tasks := make([]*engine.Task, n)
	for i := range tasks {
		tasks[i] = &engine.Task{Func: "add", Args: []any{i, i}}
	}
	if err := producer.EnqueueBatch(ctx, tasks); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the worker to complete every task", func() bool {
		st, err := producer.Stats(ctx)
		return err == nil && st.Queues["default"][engine.StateCompleted] == n
	})
	for i, tk := range tasks {
		got, err := producer.GetTask(ctx, tk.ID)
		if err != nil || got.Result != int64(2*i) {
			t.Errorf("task %d: %v %v", i, got.Result, err)
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Errorf("Work: %v", err)
	}
}

// A dequeue waiting on an empty queue returns as soon as another client
// enqueues, long before its wait is over.
func TestE2ELongPollWakeUp(t *testing.T) {
	srv := startOmniqd(t, nil, "--store", pebbleStore(t))
	ctx := context.Background()
	waiter, producer := srv.client(t), srv.client(t)

	type answer struct {
		tasks []*engine.Task
		err   error
		at    time.Time
	}
	got := make(chan answer, 1)
	go func() {
		tasks, err := waiter.DequeueWait(ctx, "wake", 1, 10*time.Second)
		got <- answer{tasks, err, time.Now()}
	}()
	waitFor(t, 5*time.Second, "the dequeue to be waiting on the server", func() bool {
		return metricValue(t, srv.url, "omniq_dequeue_waiting") == "1"
	})
	task := &engine.Task{Func: "f", QueueName: "wake"}
	enqueued := time.Now()
	if err := producer.Enqueue(ctx, task); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-got:
		if a.err != nil || len(a.tasks) != 1 || a.tasks[0].ID != task.ID || a.tasks[0].State != engine.StateRunning {
			t.Fatalf("dequeue answered %v %+v", a.err, a.tasks)
		}
		t.Logf("woke %v after the enqueue", a.at.Sub(enqueued))
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting dequeue did not wake within 5s of the enqueue (its wait is 10s)")
	}
}

// metricValue scrapes /metrics and returns the value of an unlabelled metric.
func metricValue(t *testing.T, url, name string) string {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

func TestE2EAuth(t *testing.T) {
	ctx := context.Background()
	secured := startOmniqd(t, []string{"OMNIQ_TOKEN=s3cret"}, "--store", pebbleStore(t))
	status := func(url, path, token string) int {
		req, _ := http.NewRequest("GET", url+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := status(secured.url, "/v1/stats", ""); s != http.StatusUnauthorized {
		t.Errorf("no token: %d", s)
	}
	if s := status(secured.url, "/v1/stats", "wrong"); s != http.StatusUnauthorized {
		t.Errorf("wrong token: %d", s)
	}
	if s := status(secured.url, "/healthz", ""); s != http.StatusOK {
		t.Errorf("healthz without token: %d", s)
	}
	if err := secured.client(t).Enqueue(ctx, &engine.Task{Func: "f"}); !errors.Is(err, client.ErrUnauthorized) {
		t.Errorf("client without token: %v", err)
	}
	if err := secured.client(t, client.WithToken("s3cret")).Enqueue(ctx, &engine.Task{Func: "f"}); err != nil {
		t.Errorf("client with token: %v", err)
	}
	if strings.Contains(secured.log(), "s3cret") {
		t.Error("the token shows in the daemon's log")
	}

	open := startOmniqd(t, nil, "--store", pebbleStore(t))
	if s := status(open.url, "/v1/stats", ""); s != http.StatusOK {
		t.Errorf("auth off: %d", s)
	}
}

// Without a token the daemon will not listen beyond loopback, unless told
// --insecure; the flag and its environment variable are both heard.
func TestE2ERefusesPublicListenWithoutToken(t *testing.T) {
	for name, tc := range map[string]struct {
		env  []string
		args []string
	}{
		"flag": {nil, []string{"serve", "--store", "memory://", "--listen", "0.0.0.0:0"}},
		"env":  {[]string{"OMNIQ_LISTEN=0.0.0.0:0", "OMNIQ_STORE=memory://"}, []string{"serve"}},
	} {
		t.Run(name, func(t *testing.T) {
			c := startOmniqdProcess(t, tc.env, tc.args...)
			if code := c.waitExit(20 * time.Second); code == 0 {
				t.Fatalf("exited 0\n%s", c.log())
			}
			if !strings.Contains(c.log(), "refusing to listen") {
				t.Errorf("stderr does not say why:\n%s", c.log())
			}
		})
	}
}

// Nothing acknowledged is lost when the daemon is killed with SIGKILL.
func TestE2EKill9KeepsAcknowledgedWrites(t *testing.T) {
	store := pebbleStore(t)
	srv := startOmniqd(t, nil, "--store", store)
	q := srv.client(t)
	ctx := context.Background()

	const producers, each = 8, 25
	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Go(func() {
			for i := 0; i < each; i++ {
				tk := &engine.Task{Func: "f", Args: []any{p, i}}
				if err := q.Enqueue(ctx, tk); err != nil {
					t.Errorf("enqueue: %v", err)
					return
				}
				mu.Lock()
				acked = append(acked, tk.ID)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	// Some acknowledged completions too.
	var completed []string
	for i := 0; i < 10; i++ {
		tk, err := q.Dequeue(ctx, "")
		if err != nil || tk == nil {
			t.Fatalf("dequeue: %v", err)
		}
		if err := q.Complete(ctx, tk, i); err != nil {
			t.Fatal(err)
		}
		completed = append(completed, tk.ID)
	}
	srv.kill9()

	again := startOmniqd(t, nil, "--store", store)
	q2 := again.client(t)
	for _, id := range acked {
		if _, err := q2.GetTask(ctx, id); err != nil {
			t.Errorf("acknowledged task %s lost: %v", id, err)
		}
	}
	for i, id := range completed {
		got, err := q2.GetTask(ctx, id)
		if err != nil || got.State != engine.StateCompleted || got.Result != int64(i) {
			t.Errorf("acknowledged completion of %s lost: %v %+v", id, err, got)
		}
	}
	st, err := q2.Stats(ctx)
	if err != nil || st.Queues["default"][engine.StatePending] != producers*each-len(completed) {
		t.Errorf("stats after restart: %+v %v", st, err)
	}
}

// SIGTERM ends waiting dequeues, lets requests finish, closes the store and
// exits 0; the data is there on the next start.
func TestE2EGracefulShutdown(t *testing.T) {
	store := pebbleStore(t)
	srv := startOmniqd(t, nil, "--store", store)
	q := srv.client(t)
	ctx := context.Background()
	kept := &engine.Task{Func: "f"}
	if err := q.Enqueue(ctx, kept); err != nil {
		t.Fatal(err)
	}
	polled := make(chan error, 1)
	go func() {
		tasks, err := q.DequeueWait(ctx, "idle", 1, 60*time.Second)
		if err == nil && len(tasks) > 0 {
			err = fmt.Errorf("got a task from an empty queue")
		}
		polled <- err
	}()
	waitFor(t, 5*time.Second, "the dequeue to be waiting", func() bool {
		return metricValue(t, srv.url, "omniq_dequeue_waiting") == "1"
	})
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-polled:
		if err != nil {
			t.Errorf("waiting dequeue at shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting dequeue was not answered at shutdown")
	}
	if code := srv.waitExit(10 * time.Second); code != 0 {
		t.Fatalf("exit code %d\n%s", code, srv.log())
	}
	if !strings.Contains(srv.log(), `"msg":"stopped"`) {
		t.Errorf("no clean stop in the log:\n%s", srv.log())
	}
	again := startOmniqd(t, nil, "--store", store)
	if got, err := again.client(t).GetTask(ctx, kept.ID); err != nil || got.State != engine.StatePending {
		t.Errorf("after restart: %v %+v", err, got)
	}
}
