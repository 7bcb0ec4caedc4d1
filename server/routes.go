package server

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/wire"
)

// openapiDoc is the API's OpenAPI 3 document, served at GET /openapi.json.
// TestOpenAPIMatchesRoutes keeps it and apiRoutes in step.
//
//go:embed openapi.json
var openapiDoc []byte

// Request bounds.
const (
	DefaultMaxBody = 8 << 20          // bytes of one request body (Config.MaxBody)
	DefaultMaxWait = 60 * time.Second // longest long-poll a dequeue may ask for (Config.MaxWait)
	maxDequeueN    = 100              // most tasks one dequeue may lease
)

// api serves the HTTP/JSON API over an engine. Until the engine has opened
// (replay finished) every /v1 route answers 503 unavailable.
type api struct {
	q       atomic.Pointer[engine.Engine]
	logger  *slog.Logger
	version string // what /healthz reports
	maxBody int64
	maxWait time.Duration
	waiting atomic.Int64 // dequeues in their long-poll wait
	// beat is how often an idle GET /v1/events gets a comment line.
	beat time.Duration

	// stopping is cancelled when the server starts shutting down, so that
	// long-poll dequeues answer at once instead of holding the shutdown.
	stopping context.Context
	stop     context.CancelFunc
}

// newAPI returns the API of cfg, which New has filled in.
func newAPI(cfg Config) *api {
	a := &api{logger: cfg.Logger, version: cfg.Version, maxBody: cfg.MaxBody, maxWait: cfg.MaxWait, beat: defaultHeartbeat}
	if a.maxBody <= 0 {
		a.maxBody = DefaultMaxBody
	}
	if a.maxWait <= 0 {
		a.maxWait = DefaultMaxWait
	}
	a.stopping, a.stop = context.WithCancel(context.Background())
	return a
}

// engine returns the engine, or nil while it is still opening.
func (a *api) engine() *engine.Engine { return a.q.Load() }

// beginShutdown ends waiting dequeues and makes /readyz answer 503.
func (a *api) beginShutdown() { a.stop() }

// apiHandler handles one route; a returned error is answered as JSON with
// the status the error table gives it.
type apiHandler func(w http.ResponseWriter, r *http.Request, q *engine.Engine) error

// route is one entry of the API: a net/http ServeMux pattern and its
// handler. needsEngine routes answer 503 until the engine has opened.
type route struct {
	method, path string
	needsEngine  bool
	handle       apiHandler
}

// pattern is the ServeMux pattern of r.
func (r route) pattern() string { return r.method + " " + r.path }

// apiRoutes lists every route the server serves. The OpenAPI document must
// list exactly these paths and methods.
func apiRoutes(a *api, metrics http.Handler) []route {
	return []route{
		{"POST", "/v1/tasks", true, a.enqueue},
		{"GET", "/v1/tasks", true, a.listTasks},
		{"GET", "/v1/tasks/{id}", true, a.getTask},
		{"DELETE", "/v1/tasks/{id}", true, a.deleteTask},
		{"POST", "/v1/tasks/{id}/complete", true, a.complete},
		{"POST", "/v1/tasks/{id}/fail", true, a.fail},
		{"POST", "/v1/tasks/{id}/heartbeat", true, a.heartbeat},
		{"GET", "/v1/tasks/{id}/history", true, a.history},
		{"POST", "/v1/tasks/{id}/retry", true, a.retryTask},
		{"POST", "/v1/tasks/{id}/cancel", true, a.cancelTask},
		{"POST", "/v1/actions", true, a.actions},
		{"POST", "/v1/queues/{queue}/dequeue", true, a.dequeue},
		{"POST", "/v1/queues/{queue}/pause", true, a.pauseQueue},
		{"POST", "/v1/queues/{queue}/resume", true, a.resumeQueue},
		{"POST", "/v1/outcomes", true, a.outcomes},
		{"POST", "/v1/heartbeats", true, a.heartbeats},
		{"POST", "/v1/schedules/{id}/pause", true, a.pause},
		{"POST", "/v1/schedules/{id}/resume", true, a.resume},
		{"GET", "/v1/stats", true, a.stats},
		{"GET", "/v1/cluster", true, a.cluster},
		{"GET", "/v1/events", true, a.eventsStream},
		{"GET", "/healthz", false, a.healthz},
		{"GET", "/readyz", false, a.readyz},
		{"GET", "/metrics", false, serveHTTPHandler(metrics)},
		{"GET", "/openapi.json", false, serveOpenAPI},
	}
}

// mux builds the ServeMux of routes. A request that matches no route gets a
// JSON not_found, or method_not_allowed when its path has other methods.
func (a *api) mux(routes []route) *http.ServeMux {
	mux := http.NewServeMux()
	for _, rt := range routes {
		mux.HandleFunc(rt.pattern(), func(w http.ResponseWriter, r *http.Request) {
			var q *engine.Engine
			if rt.needsEngine {
				if q = a.engine(); q == nil {
					w.Header().Set("Retry-After", "1")
					a.writeError(w, r, fmt.Errorf("%w: the engine is still replaying the log; retry shortly", wire.ErrUnavailable))
					return
				}
			}
			if err := rt.handle(w, r, q); err != nil {
				a.writeError(w, r, err)
			}
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, p := mux.Handler(probe); p != "" && p != "/" {
				allow = append(allow, m)
			}
		}
		if len(allow) == 0 {
			a.writeErrorBody(w, r, http.StatusNotFound, wire.CodeNotFound, fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path))
			return
		}
		for _, m := range allow {
			w.Header().Add("Allow", m)
		}
		a.writeErrorBody(w, r, http.StatusMethodNotAllowed, wire.CodeMethodNotAllowed,
			fmt.Sprintf("%s does not take %s (allowed: %v)", r.URL.Path, r.Method, allow))
	})
	return mux
}

// --- tasks ---

func (a *api) enqueue(w http.ResponseWriter, r *http.Request, q *engine.Engine) error {
	body, err := a.readBody(w, r)
	if err != nil {
		return err
	}
	// A batch is an object with the key "tasks"; anything else is one task.
	// A body without the word (even \u-escaped) is one task: no peek.
	if bytes.Contains(body, []byte("tasks")) || bytes.Contains(body, []byte(`\u`)) {
		// Most such bodies are batches: decode once, as one. A body that
		// does not decode as a batch is one only if it has the key, and
		// then the batch's error is the answer.
		var b wire.Batch
		err := wire.DecodeStrict(bytes.NewReader(body), &b)
		if err == nil && b.Tasks != nil {
			return a.enqueueTasks(w, r, q, b)
		}
		var peek map[string]json.RawMessage
		if json.Unmarshal(body, &peek) == nil {
			if _, ok := peek["tasks"]; ok {
				if err != nil {
					return err
				}
				return a.enqueueTasks(w, r, q, b) // "tasks": null is refused as empty
			}
		}
	}
	var spec wire.TaskSpec
	if err := wire.DecodeStrict(bytes.NewReader(body), &spec); err != nil {
		return err
	}
	t := spec.Engine()
	if err := q.Enqueue(r.Context(), t); err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/tasks/"+url.PathEscape(t.ID))
	return a.writeTasks(w, http.StatusCreated, "", []*engine.Task{t})
}

// enqueueTasks enqueues a decoded batch, all or none.
func (a *api) enqueueTasks(w http.ResponseWriter, r *http.Request, q *engine.Engine, b wire.Batch) error {
	if len(b.Tasks) == 0 {
		return fmt.Errorf("%w: tasks is empty", engine.ErrInvalidArgument)
	}
	tasks := make([]*engine.Task, len(b.Tasks))
	for i := range b.Tasks {
		tasks[i] = b.Tasks[i].Engine()
	}
	if err := q.EnqueueBatch(r.Context(), tasks); err != nil {
		return err
	}
	return a.writeTasks(w, http.StatusCreated, "tasks", tasks)
}

// writeTasks answers with tasks as a wire.TaskList when key is "tasks",
// or with tasks[0] alone when key is "". Each task is written as
// wire.Task encodes itself, without the second pass encoding/json gives
// a Marshaler's output: enqueue and outcomes answers are hot paths.
func (a *api) writeTasks(w http.ResponseWriter, status int, key string, tasks []*engine.Task) error {
	var b []byte
	if key != "" {
		b = append(b, `{"`+key+`":[`...)
	}
	b, err := appendTasks(b, tasks)
	if err != nil {
		return err
	}
	if key != "" {
		b = append(b, "]}"...)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
	return nil
}

// appendTasks appends tasks to b, separated by commas, each as wire.Task
// encodes itself.
func appendTasks(b []byte, tasks []*engine.Task) ([]byte, error) {
	for i, t := range tasks {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = wire.AppendTask(b, t); err != nil {
			return nil, fmt.Errorf("encode answer: %w", err)
		}
	}
	return b, nil
}

func (a *api) getTask(w http.ResponseWriter, r *http.Request, q *engine.Engine) error {
	t, err := q.GetTask(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return a.writeJSON(w, http.StatusOK, wire.TaskOf(t))
}

func (a *api) deleteTask(w http.ResponseWriter, r *http.Request, q *engine.Engine) error {
	if err := q.DeleteTask(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *api) history(w http.ResponseWriter, r *http.Request, q *engine.Engine) error {
	evs, err := q.History(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return a.writeJSON(w, http.StatusOK, wire.HistoryOf(evs))
}

func (a *api) stats(w http.ResponseWriter, r *http.Request, q *engine.Engine) error {
	st, err := q.Stats(r.Context())
	if err != nil {
		return err
	}
	return a.writeJSON(w, http.StatusOK, wire.StatsOf(st))
}

// cluster answers how this node shares its log and which nodes share it.
func (a *api) cluster(w http.ResponseWriter, r *http.Request, q *engine.Engine) error {
	st, err := q.Cluster(r.Context())
	if err != nil {
		return err
	}
	return a.writeJSON(w, http.StatusOK, st)
}

// --- leases ---

// dequeue leases up to n tasks, waiting up to wait (bounded by maxWait) for
// the first one. 204 when none came in time.
func (a *api) dequeue(w http.ResponseWriter, r *http.Request, q *engine.Engine) error {
	wait, n, err := a.dequeueParams(r.URL.Query())
	if err != nil {
		return err
	}
	// The route takes no body, but one sent is read to its end (bounded as
	// any body): until it is, net/http does not watch the connection, and a
	// long poll would go on, and lease, after its client hung up.
	if _, err := a.readBody(w, r); err != nil {
		return err
	}
	queue := r.PathValue("queue")
	// Without waiting first: a task already ready is leased under the
	// request's own context.
	tasks, err := q.DequeueN(r.Context(), queue, n)
	if err == nil && len(tasks) == 0 && wait > 0 {
		tasks, err = a.waitForTasks(r, q, []string{queue}, n, wait)
	}
	if err != nil {
		return err
	}
	if len(tasks) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if !r.URL.Query().Has("n") {
		return a.writeTasks(w, http.StatusOK, "", tasks[:1])
	}
	return a.writeTasks(w, http.StatusOK, "tasks", tasks)
}

// waitForTasks long-polls queues for up to n tasks, for at most wait, and
// no longer than the server runs: Drain ends the wait (counted in
// a.waiting) with nothing leased.
func (a *api) waitForTasks(r *http.Request, q *engine.Engine, queues []string, n int, wait time.Duration) ([]*engine.Task, error) {
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	stop := context.AfterFunc(a.stopping, cancel)
	defer stop()
	a.waiting.Add(1)
	defer a.waiting.Add(-1)
	return q.DequeueWaitAny(ctx, queues, n)
}

func (a *api) dequeueParams(query url.Values) (wait time.Duration, n int, err error) {
	n = 1
	for k, vs := range query {
		if len(vs) != 1 {
			return 0, 0, fmt.Errorf("%w: query parameter %q given %d times", engine.ErrInvalidArgument, k, len(vs))
		}
		switch v := vs[0]; k {
		case "wait":
			if wait, err = wire.ParseDuration(v); err != nil {
				return 0, 0, fmt.Errorf("wait: %w", err)
			}
			if wait < 0 {
				return 0, 0, fmt.Errorf("%w: wait %s is negative", engine.ErrInvalidArgument, wait)
			}
			wait = min(wait, a.maxWait)
		case "n":
			if n, err = strconv.Atoi(v); err != nil || n < 1 || n > maxDequeueN {
				return 0, 0, fmt.Errorf("%w: n=%q must be a whole number from 1 to %d", engine.ErrInvalidArgument, v, maxDequeueN)
			}
		default:
			return 0, 0, fmt.Errorf("%w: unknown query parameter %q (want wait, n)", engine.ErrInvalidArgument, k)
		}
	}
	return wait, n, nil
}

func (a *api) complete(w http.ResponseWriter, r *http.Request, q *engine.Engine) error {
	var req wire.CompleteRequest
	if err := a.decodeLease(w, r, &req, &req.Attempt); err != nil {
		return err
	}
	t := &engine.Task{ID: r.PathValue("id"), Attempt: req.Attempt}
	if err := q.Complete(r.Context(), t, req.Result); err != nil {
		return err
	}
	return a.writeTaskAfter(w, r, q, t)
}

func (a *api) fail(w http.ResponseWriter, r *http.Request, q *engine.Engine) error {
	var req wire.FailRequest
	if err := a.decodeLease(w, r, &req, &req.Attempt); err != nil {
		return err
	}
	var cause error
	if req.Error != "" {
		cause = errors.New(req.Error)
	}
	t := &engine.Task{ID: r.PathValue("id"), Attempt: req.Attempt}
	if err := q.Fail(r.Context(), t, cause); err != nil {
		return err
	}
	return a.writeTaskAfter(w, r, q, t)
}

func (a *api) heartbeat(w http.ResponseWriter, r *http.Request, q *engine.Engine) error {
	var req wire.HeartbeatRequest
	if err := a.decodeLease(w, r, &req, &req.Attempt); err != nil {
		return err
	}
	t := &engine.Task{ID: r.PathValue("id"), Attempt: req.Attempt}
	if err := q.Heartbeat(r.Context(), t); err != nil {
		return err
	}
	return a.writeTaskAfter(w, r, q, t)
}

// decodeLease reads a complete/fail/heartbeat body, which must name the
// lease it answers.
func (a *api) decodeLease(w http.ResponseWriter, r *http.Request, req any, attempt *int) error {
	if err := a.decodeBody(w, r, req); err != nil {
		return err
	}
	if *attempt < 1 {
		return fmt.Errorf("%w: attempt is required: the lease's fencing token, as dequeue returned it", engine.ErrInvalidArgument)
	}
	return nil
}

// decodeBody reads the request body (at most maxBody bytes:
// ErrPayloadTooLarge past it) and decodes it strictly into v. A body that is
// not UTF-8, or that escapes a lone UTF-16 surrogate ("\ud800"), is refused:
// encoding/json would quietly turn those into U+FFFD, and a name or an
// argument would not be what the client sent.
func (a *api) decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	b, err := a.readBody(w, r)
	if err != nil {
		return err
	}
	return wire.DecodeStrict(bytes.NewReader(b), v)
}

// readBody reads the request body as decodeBody does, without decoding it.
func (a *api) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, fmt.Errorf("%w: request body is larger than %d bytes", engine.ErrPayloadTooLarge, tooBig.Limit)
		}
		return nil, fmt.Errorf("%w: read request body: %v", engine.ErrInvalidArgument, err)
	}
	if err := checkText(b); err != nil {
		return nil, err
	}
	return b, nil
}

// checkText refuses a JSON text that is not valid UTF-8 or whose strings
// escape an unpaired UTF-16 surrogate. Malformed JSON is left to the decoder.
func checkText(b []byte) error {
	if !utf8.Valid(b) {
		i := 0
		for i < len(b) {
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			i += n
		}
		return fmt.Errorf("%w: request body is not valid UTF-8 (byte %d)", engine.ErrInvalidArgument, i)
	}
	inString := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case !inString:
			inString = c == '"'
		case c == '"':
			inString = false
		case c == '\\' && i+1 < len(b) && b[i+1] == 'u':
			r, ok := hex4(b[i+2:])
			if !ok {
				i++
				continue
			}
			i += 5
			if !utf16.IsSurrogate(r) {
				continue
			}
			if r < 0xdc00 && i+6 < len(b) && b[i+1] == '\\' && b[i+2] == 'u' {
				if lo, ok := hex4(b[i+3:]); ok && lo >= 0xdc00 && lo <= 0xdfff {
					i += 6
					continue
				}
			}
			return fmt.Errorf("%w: request body escapes a lone UTF-16 surrogate (\\u%04x), which is not a character", engine.ErrInvalidArgument, r)
		case c == '\\':
			i++ // skip the escaped character
		}
	}
	return nil
}

// hex4 reads the four hex digits of a \u escape.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// writeTaskAfter answers with the task as it stands after a command. If it
// was deleted meanwhile, the engine-filled fields of the command's own copy
// still say what happened.
func (a *api) writeTaskAfter(w http.ResponseWriter, r *http.Request, q *engine.Engine, t *engine.Task) error {
	if got, err := q.GetTask(r.Context(), t.ID); err == nil {
		t = got
	}
	return a.writeJSON(w, http.StatusOK, wire.TaskOf(t))
}

// --- schedules ---

func (a *api) pause(w http.ResponseWriter, r *http.Request, q *engine.Engine) error {
	return a.actOnTask(w, r, q, (*engine.Engine).PauseSchedule)
}

func (a *api) resume(w http.ResponseWriter, r *http.Request, q *engine.Engine) error {
	return a.actOnTask(w, r, q, (*engine.Engine).ResumeSchedule)
}

// --- operations ---

func (a *api) healthz(w http.ResponseWriter, r *http.Request, _ *engine.Engine) error {
	return a.writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": a.version})
}

// readyz answers 200 once the engine has opened (its replay finished), and
// 503 before that and once shutdown has begun.
func (a *api) readyz(w http.ResponseWriter, r *http.Request, _ *engine.Engine) error {
	q := a.engine()
	switch {
	case a.stopping.Err() != nil:
		return fmt.Errorf("%w: shutting down", wire.ErrUnavailable)
	case q == nil:
		return fmt.Errorf("%w: replaying the log", wire.ErrUnavailable)
	}
	return a.writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "position": q.Position()})
}

func serveOpenAPI(w http.ResponseWriter, r *http.Request, _ *engine.Engine) error {
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write(openapiDoc)
	return err
}

func serveHTTPHandler(h http.Handler) apiHandler {
	return func(w http.ResponseWriter, r *http.Request, _ *engine.Engine) error {
		h.ServeHTTP(w, r)
		return nil
	}
}

// --- answers ---

// writeJSON answers with v. It encodes before writing, so an unencodable
// value is still answered with a proper 500.
func (a *api) writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode answer: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
	return nil
}

// writeError answers err with the status and code of the error table.
// Internal errors are logged with their detail and answered without it.
func (a *api) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, body := wire.ErrorFor(err)
	switch {
	case r.Context().Err() != nil:
		a.logger.Debug("request ended by the client", "method", r.Method, "path", r.URL.Path, "err", err)
	case status == http.StatusServiceUnavailable:
		a.logger.Warn("request answered unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
	case status >= 500:
		a.logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="omniqd"`)
	}
	if status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1")
	}
	a.writeErrorBody(w, r, status, body.Error.Code, body.Error.Message, body.Error.Reason)
}

func (a *api) writeErrorBody(w http.ResponseWriter, _ *http.Request, status int, code, message string, reason ...string) {
	body := wire.ErrorBody{Error: wire.ErrorDetail{Code: code, Message: capMessage(message)}}
	if len(reason) > 0 {
		body.Error.Reason = reason[0]
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// maxMessage bounds an error message: some errors quote the input they
// refuse, and a hostile megabyte should not come back in the answer.
const maxMessage = 1024

// itemError is the error of one item of a batch route's answer (an action
// on one id, an outcome, a heartbeat): its code as a whole request's error
// would have it, its message capped.
func itemError(err error) *wire.ErrorDetail {
	_, body := wire.ErrorFor(err)
	detail := body.Error
	detail.Message = capMessage(detail.Message)
	return &detail
}

// capMessage cuts msg to maxMessage bytes, on a character boundary.
func capMessage(msg string) string {
	if len(msg) <= maxMessage {
		return msg
	}
	cut := maxMessage - len("…")
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + "…"
}
