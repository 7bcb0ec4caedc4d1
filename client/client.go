package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/omniq/omniq/queue"
	"github.com/omniq/omniq/wire"
)

// Client talks to an omniqd server. It implements queue.Queue, as the
// embedded engine does, with the same semantics and the same errors, so a
// program moves from embedded to remote by changing the line that builds
// its queue. It is safe for concurrent use.
type Client struct {
	base      string // scheme://host[:port][/prefix], no trailing slash
	token     string
	hc        *http.Client
	tlsConfig *tls.Config
	logger    *slog.Logger
	pollWait  time.Duration

	handlers queue.Handlers
	leases   sync.Map // leaseKey -> *lease, for the tasks Work is running
	gather   gatherer // Enqueue calls waiting to share a request
}

var _ queue.Queue = (*Client)(nil)

// Option configures a Client.
type Option func(*Client)

// WithToken sends token as "Authorization: Bearer token" on every request.
func WithToken(token string) Option {
	return func(c *Client) { c.token = token }
}

// WithHTTPClient replaces the HTTP client (default: one without a global
// timeout, since long-poll dequeues wait; each call is bounded by its ctx).
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.hc = hc
		}
	}
}

// WithTLSConfig sets the TLS configuration for an https:// server: the root
// CAs that sign its certificate (RootCAs), a client certificate, … The
// default verifies the server against the system's roots. It applies to the
// default HTTP client, and to one given by WithHTTPClient (in any order)
// when that client's Transport is an *http.Transport, which is then cloned,
// not changed.
func WithTLSConfig(cfg *tls.Config) Option {
	return func(c *Client) { c.tlsConfig = cfg }
}

// WithLogger sets the logger Work reports trouble to (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(c *Client) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithPollWait sets how long an idle Work loop's dequeue waits on the server
// before asking again (default 30s; the server caps it at its own bound).
func WithPollWait(d time.Duration) Option {
	return func(c *Client) {
		if d > 0 {
			c.pollWait = d
		}
	}
}

// New returns a client of the omniqd server at baseURL
// ("http://127.0.0.1:7070"). It does not contact the server. It fails only
// for a URL that is not http(s)://host[:port][/path].
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%w: server URL %q must look like http://host:port", queue.ErrInvalidArgument, baseURL)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64 // workers hold one connection each while polling
	c := &Client{
		base:     strings.TrimSuffix(u.String(), "/"),
		hc:       &http.Client{Transport: tr},
		logger:   slog.New(slog.DiscardHandler),
		pollWait: 30 * time.Second,
	}
	for _, o := range opts {
		o(c)
	}
	if c.tlsConfig != nil {
		if tr, ok := c.hc.Transport.(*http.Transport); ok || c.hc.Transport == nil {
			if tr == nil {
				tr = http.DefaultTransport.(*http.Transport)
			}
			tr = tr.Clone()
			tr.TLSClientConfig = c.tlsConfig.Clone()
			hc := *c.hc
			hc.Transport = tr
			c.hc = &hc
		}
	}
	return c, nil
}

// Close releases idle connections. The client stays usable; Close exists so
// that code written for *engine.Engine (defer q.Close()) keeps compiling.
func (c *Client) Close() error {
	c.hc.CloseIdleConnections()
	return nil
}

// Enqueue implements queue.TaskQueue: POST /v1/tasks. On success task.ID
// and the engine-filled fields are set from the server's answer.
// Concurrent calls share requests while several are in flight, each still
// answered for its own task alone (WithEnqueueGathering says how).
func (c *Client) Enqueue(ctx context.Context, task *queue.Task) error {
	if task == nil {
		return fmt.Errorf("%w: nil task", queue.ErrInvalidArgument)
	}
	spec, err := specFor(task)
	if err != nil {
		return err
	}
	got, err := c.enqueueOne(ctx, spec)
	if err != nil {
		return err
	}
	got.CopyEngineFields(task)
	return nil
}

// EnqueueBatch adds tasks atomically, all or none, as engine.EnqueueBatch.
func (c *Client) EnqueueBatch(ctx context.Context, tasks []*queue.Task) error {
	if len(tasks) == 0 {
		return nil
	}
	b := Batch{Tasks: make([]TaskSpec, len(tasks))}
	for i, t := range tasks {
		if t == nil {
			return fmt.Errorf("task %d: %w: nil task", i, queue.ErrInvalidArgument)
		}
		spec, err := specFor(t)
		if err != nil {
			return fmt.Errorf("task %d: %w", i, err)
		}
		b.Tasks[i] = spec
	}
	var got TaskList
	if err := c.do(ctx, http.MethodPost, "/v1/tasks", nil, b, &got); err != nil {
		return err
	}
	if len(got.Tasks) != len(tasks) {
		return fmt.Errorf("%w: enqueued %d tasks, server answered with %d", ErrProtocol, len(tasks), len(got.Tasks))
	}
	for i, t := range tasks {
		got.Tasks[i].CopyEngineFields(t)
	}
	return nil
}

// Dequeue implements queue.TaskQueue: it leases the next ready task of
// queueName without waiting, or returns nil, nil.
func (c *Client) Dequeue(ctx context.Context, queueName string) (*queue.Task, error) {
	tasks, err := c.DequeueWait(ctx, queueName, 1, 0)
	if len(tasks) == 0 {
		return nil, err
	}
	return tasks[0], err
}

// DequeueN leases up to n ready tasks of queueName without waiting.
func (c *Client) DequeueN(ctx context.Context, queueName string, n int) ([]*queue.Task, error) {
	return c.DequeueWait(ctx, queueName, n, 0)
}

// DequeueWait leases up to n tasks of queueName, waiting up to wait for the
// first to become ready (long-poll; the server bounds wait). It returns an
// empty slice, and no error, when none came in time. Each task's Attempt is
// its lease's fencing token.
func (c *Client) DequeueWait(ctx context.Context, queueName string, n int, wait time.Duration) ([]*queue.Task, error) {
	if n <= 0 {
		return nil, fmt.Errorf("%w: dequeue count %d must be positive", queue.ErrInvalidArgument, n)
	}
	if queueName == "" {
		queueName = queue.DefaultQueue
	}
	q := url.Values{}
	if wait > 0 {
		q.Set("wait", wait.String())
	}
	if n > 1 {
		q.Set("n", fmt.Sprint(n))
	}
	path := "/v1/queues/" + url.PathEscape(queueName) + "/dequeue"
	if n == 1 {
		var got Task
		found := false
		if err := c.doFound(ctx, http.MethodPost, path, q, nil, &got, &found); err != nil || !found {
			return nil, err
		}
		return []*queue.Task{got.Engine()}, nil
	}
	var got TaskList
	found := false
	if err := c.doFound(ctx, http.MethodPost, path, q, nil, &got, &found); err != nil || !found {
		return nil, err
	}
	out := make([]*queue.Task, len(got.Tasks))
	for i := range got.Tasks {
		out[i] = got.Tasks[i].Engine()
	}
	return out, nil
}

// GetTask implements queue.TaskQueue; queue.ErrNotFound when unknown or
// deleted.
func (c *Client) GetTask(ctx context.Context, taskID string) (*queue.Task, error) {
	var got Task
	if err := c.do(ctx, http.MethodGet, taskPath(taskID, ""), nil, nil, &got); err != nil {
		return nil, err
	}
	return got.Engine(), nil
}

// DeleteTask implements queue.TaskQueue; queue.ErrNotFound when unknown or
// already deleted.
func (c *Client) DeleteTask(ctx context.Context, taskID string) error {
	return c.do(ctx, http.MethodDelete, taskPath(taskID, ""), nil, nil, nil)
}

// Complete records that lease task.Attempt of task finished with result (a
// JSON-encodable value). queue.ErrStaleLease when that lease is no longer
// current; nothing changes then. On success task's engine fields are updated.
func (c *Client) Complete(ctx context.Context, task *queue.Task, result any) error {
	if task == nil {
		return fmt.Errorf("%w: nil task", queue.ErrInvalidArgument)
	}
	res, err := normalizeValue("result", result)
	if err != nil {
		return err
	}
	return c.answer(ctx, task, "complete", CompleteRequest{Attempt: task.Attempt, Result: res})
}

// specFor is SpecOf with args, kwargs and meta checked, and args and
// kwargs normalized, as the embedded engine does.
func specFor(t *queue.Task) (TaskSpec, error) {
	s := SpecOf(t)
	if err := queue.ValidateMeta(s.Meta); err != nil {
		return s, err
	}
	args, err := normalizeValue("args", s.Args)
	if err != nil {
		return s, err
	}
	kwargs, err := normalizeValue("kwargs", s.Kwargs)
	if err != nil {
		return s, err
	}
	s.Args, _ = args.([]any)
	s.Kwargs, _ = kwargs.(map[string]any)
	return s, nil
}

// Fail records that lease task.Attempt of task failed with cause; the task
// is retried while it has retries left. queue.ErrStaleLease when that lease
// is no longer current.
func (c *Client) Fail(ctx context.Context, task *queue.Task, cause error) error {
	if task == nil {
		return fmt.Errorf("%w: nil task", queue.ErrInvalidArgument)
	}
	msg := "failed"
	if cause != nil {
		msg = cause.Error()
	}
	return c.answer(ctx, task, "fail", FailRequest{Attempt: task.Attempt, Error: msg})
}

// Heartbeat extends lease task.Attempt of task by the server's lease
// timeout; a handler run by Work gets its context's deadline moved too.
// queue.ErrStaleLease when that lease is no longer current.
func (c *Client) Heartbeat(ctx context.Context, task *queue.Task) error {
	if task == nil {
		return fmt.Errorf("%w: nil task", queue.ErrInvalidArgument)
	}
	sent := time.Now()
	if err := c.answer(ctx, task, "heartbeat", HeartbeatRequest{Attempt: task.Attempt}); err != nil {
		return err
	}
	if l, ok := c.leases.Load(leaseKey{task.ID, task.Attempt}); ok {
		l.(*lease).extend(localDeadline(sent, task))
	}
	return nil
}

func (c *Client) answer(ctx context.Context, task *queue.Task, verb string, body any) error {
	var got Task
	if err := c.do(ctx, http.MethodPost, taskPath(task.ID, verb), nil, body, &got); err != nil {
		return err
	}
	got.CopyEngineFields(task)
	return nil
}

// PauseSchedule stops a recurring schedule from firing, or holds back a
// delayed task that has not started, as engine.PauseSchedule.
func (c *Client) PauseSchedule(ctx context.Context, taskID string) error {
	return c.do(ctx, http.MethodPost, "/v1/schedules/"+url.PathEscape(taskID)+"/pause", nil, nil, nil)
}

// ResumeSchedule undoes PauseSchedule, as engine.ResumeSchedule.
func (c *Client) ResumeSchedule(ctx context.Context, taskID string) error {
	return c.do(ctx, http.MethodPost, "/v1/schedules/"+url.PathEscape(taskID)+"/resume", nil, nil, nil)
}

// History returns every event about taskID in log order, even after the
// task was deleted; queue.ErrNotFound when there is none.
func (c *Client) History(ctx context.Context, taskID string) ([]queue.Event, error) {
	var got History
	if err := c.do(ctx, http.MethodGet, taskPath(taskID, "history"), nil, nil, &got); err != nil {
		return nil, err
	}
	out := make([]queue.Event, len(got.Events))
	for i, ev := range got.Events {
		out[i] = queue.Event(ev)
	}
	return out, nil
}

// Stats returns task counts per queue and state.
func (c *Client) Stats(ctx context.Context) (queue.Stats, error) {
	var got Stats
	if err := c.do(ctx, http.MethodGet, "/v1/stats", nil, nil, &got); err != nil {
		return queue.Stats{}, err
	}
	return got.Engine(), nil
}

// Cluster returns how the daemon's node shares its log and the nodes that
// share it (GET /v1/cluster).
func (c *Client) Cluster(ctx context.Context) (queue.ClusterStatus, error) {
	var got queue.ClusterStatus
	err := c.do(ctx, http.MethodGet, "/v1/cluster", nil, nil, &got)
	return got, err
}

func taskPath(id, verb string) string {
	p := "/v1/tasks/" + url.PathEscape(id)
	if verb != "" {
		p += "/" + verb
	}
	return p
}

// do sends one request and decodes a 2xx answer into out (when not nil).
// Error answers become *Error, which unwraps to the matching sentinel.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	return c.doFound(ctx, method, path, query, body, out, nil)
}

// doFound is do that, when found is not nil, reports 204 No Content as
// found = false instead of decoding.
func (c *Client) doFound(ctx context.Context, method, path string, query url.Values, body, out any, found *bool) error {
	var rd io.Reader
	if body != nil {
		// Request bodies are encoded into pooled buffers: enqueue and the
		// worker pool's outcomes are hot paths.
		buf := bufPool.Get().(*bytes.Buffer)
		buf.Reset()
		defer func() {
			if buf.Cap() <= 1<<20 {
				bufPool.Put(buf)
			}
		}()
		if err := encodeRequest(buf, body); err != nil {
			return err
		}
		rd = bytes.NewReader(buf.Bytes())
	}
	return c.send(ctx, method, path, query, rd, out, found)
}

// send makes one request with the encoded body rd (nil: none) and decodes
// the answer into out, as doFound.
func (c *Client) send(ctx context.Context, method, path string, query url.Values, rd io.Reader, out any, found *bool) error {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("omniq client: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("omniq client: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return errorFrom(resp)
	}
	if resp.StatusCode == http.StatusNoContent {
		if found != nil {
			*found = false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if found != nil {
		*found = true
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := wire.DecodeAnswer(resp.Body, out); err != nil {
		return fmt.Errorf("%w: %s %s: %v", ErrProtocol, method, path, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body) // the connection is reused
	return nil
}

// encodeRequest writes body to buf as a request body (wire.EncodeBody);
// a value with no JSON form is queue.ErrInvalidArgs.
func encodeRequest(buf *bytes.Buffer, body any) error {
	if err := wire.EncodeBody(buf, body); err != nil {
		return fmt.Errorf("%w: %w", queue.ErrInvalidArgs, err)
	}
	return nil
}

// bufPool holds request body buffers.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// errorFrom turns an error answer into *Error.
func errorFrom(resp *http.Response) error {
	e := &Error{Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header)}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var body ErrorBody
	if json.Unmarshal(b, &body) == nil && body.Error.Code != "" {
		e.Code, e.Reason, e.Message = body.Error.Code, body.Error.Reason, body.Error.Message
		return e
	}
	e.Message = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, trunc(strings.TrimSpace(string(b))))
	return e
}
