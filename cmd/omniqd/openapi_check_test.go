package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// The in-process test daemons (newTestDaemon, startTestServer) check every
// exchange on a documented route against openapi.json: the answer must be
// one the document gives for the route (status, headers, body), and a request
// the document refuses must not be answered with a success.

var (
	openapiOnce   sync.Once
	openapiRouter routers.Router
	openapiErr    error
)

// openapiSpec loads openapi.json with kin-openapi, checks it is a valid
// OpenAPI 3.0 document, and returns a router over its paths that matches
// any host (the servers listed are examples).
func openapiSpec() (routers.Router, error) {
	openapiOnce.Do(func() {
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromData(openapiDoc)
		if err != nil {
			openapiErr = fmt.Errorf("load openapi.json: %w", err)
			return
		}
		if err := doc.Validate(loader.Context); err != nil {
			openapiErr = fmt.Errorf("openapi.json is not valid OpenAPI: %w", err)
			return
		}
		doc.Servers = nil
		openapiRouter, openapiErr = gorillamux.NewRouter(doc)
	})
	return openapiRouter, openapiErr
}

// maxCheckedBody bounds the bodies whose content is checked: a hostile
// test's megabytes are checked for their status alone.
const maxCheckedBody = 1 << 20

// exchangeError checks one exchange against the document. It returns nil
// for a route the document does not list (a 404 or 405 of the mux).
func exchangeError(req *http.Request, reqBody []byte, status int, header http.Header, body []byte) error {
	router, err := openapiSpec()
	if err != nil {
		return err
	}
	probe := req.Clone(context.Background())
	probe.Body = io.NopCloser(bytes.NewReader(reqBody))
	if len(reqBody) > 0 && probe.Header.Get("Content-Type") == "" {
		// The server reads every body as JSON, whatever its Content-Type.
		probe.Header.Set("Content-Type", "application/json")
	}
	route, params, err := router.FindRoute(probe)
	if err != nil {
		return nil
	}
	opts := &openapi3filter.Options{
		AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
		IncludeResponseStatus: true,
		MultiError:            true,
		ExcludeRequestBody:    len(reqBody) > maxCheckedBody,
		ExcludeResponseBody:   len(body) > maxCheckedBody,
	}
	in := &openapi3filter.RequestValidationInput{Request: probe, PathParams: params, Route: route, Options: opts}
	reqErr := openapi3filter.ValidateRequest(context.Background(), in)
	if reqErr != nil && status < 300 {
		return fmt.Errorf("%s %s: the server answered %d to a request the document refuses: %v\nrequest body: %s",
			req.Method, req.URL, status, reqErr, snippet(reqBody))
	}
	in.Request.Body = io.NopCloser(bytes.NewReader(reqBody))
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                opts,
	}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		return fmt.Errorf("%s %s: answer %d does not match the document: %v\nrequest body: %s\nanswer: %s",
			req.Method, req.URL, status, err, snippet(reqBody), snippet(body))
	}
	return nil
}

func snippet(b []byte) string {
	if len(b) > 2048 {
		return string(b[:2048]) + "…"
	}
	return string(b)
}

// checkingHandler wraps h so that every exchange is checked with
// exchangeError; a mismatch fails t.
func checkingHandler(t testing.TB, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var reqBody []byte
		if r.Body != nil {
			var err error
			if reqBody, err = io.ReadAll(r.Body); err != nil {
				t.Errorf("%s %s: read request body: %v", r.Method, r.URL, err)
			}
			_ = r.Body.Close()
			r.Body = io.NopCloser(bytes.NewReader(reqBody))
		}
		rw := &recordingWriter{ResponseWriter: w}
		h.ServeHTTP(rw, r)
		if rw.status == 0 {
			rw.status = http.StatusOK
		}
		if err := exchangeError(r, reqBody, rw.status, w.Header(), rw.body.Bytes()); err != nil {
			t.Error(err)
		}
	})
}

// recordingWriter passes an answer through and keeps a copy of it.
type recordingWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (w *recordingWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recordingWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}

func (w *recordingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *recordingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// checkedServer serves h on a loopback listener through checkingHandler.
func checkedServer(t testing.TB, h http.Handler) string {
	srv := httptest.NewServer(checkingHandler(t, h))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	if _, err := openapiSpec(); err != nil {
		t.Fatal(err)
	}
}

// Every route, one and many, and the error answers, each exchange checked
// against the document.
func TestOpenAPIEveryExchange(t *testing.T) {
	td := newTestDaemon(t, serveConfig{MaxBody: 64 << 10, LeaseTimeout: 0})
	type step struct {
		method, path, body string
		status             int
	}
	steps := []step{
		{"GET", "/healthz", "", 200},
		{"GET", "/readyz", "", 200},
		{"GET", "/openapi.json", "", 200},
		{"GET", "/metrics", "", 200},
		{"POST", "/v1/tasks", `{"id":"a","func":"add","args":[10,20],"kwargs":{"k":1.5},"queue_name":"q-1","priority":5,"ttl":"1h","retries":2,"max_retries":3}`, 201},
		{"POST", "/v1/tasks", `{"func":"add","ttl":1.5}`, 201},
		{"POST", "/v1/tasks", `{"tasks":[{"id":"b","func":"f","queue_name":"q-1"},{"id":"c","func":"g","depends_on":["b"],"queue_name":"q-1"}]}`, 201},
		{"POST", "/v1/tasks", `{"id":"every","func":"tick","schedule":{"interval":"90s","run_at":"2030-01-01T00:00:00Z"}}`, 201},
		{"POST", "/v1/tasks", `{"id":"nightly","func":"report","schedule":{"cron":"0 2 * * *"}}`, 201},
		{"POST", "/v1/tasks", `{"id":"later","func":"remind","schedule":{"run_at":"2149-12-31T23:59:59Z","paused":true}}`, 201},
		{"GET", "/v1/tasks/a", "", 200},
		{"GET", "/v1/tasks/every", "", 200},
		{"POST", "/v1/queues/q-1/dequeue", "", 200},
		{"POST", "/v1/tasks/a/heartbeat", `{"attempt":1}`, 200},
		{"POST", "/v1/tasks/a/complete", `{"attempt":1,"result":{"sum":30}}`, 200},
		{"POST", "/v1/tasks/a/complete", `{"attempt":1}`, 409},
		{"POST", "/v1/queues/q-1/dequeue?n=5&wait=0.01", "", 200},
		{"POST", "/v1/tasks/b/fail", `{"attempt":1,"error":"boom"}`, 200},
		{"POST", "/v1/queues/empty/dequeue?wait=10ms", "", 204},
		{"GET", "/v1/tasks/a/history", "", 200},
		{"POST", "/v1/schedules/nightly/pause", "", 200},
		{"POST", "/v1/schedules/nightly/resume", "", 200},
		{"GET", "/v1/stats", "", 200},
		{"GET", "/v1/cluster", "", 200},
		{"DELETE", "/v1/tasks/nightly", "", 204},
		// Errors.
		{"GET", "/v1/tasks/nope", "", 404},
		{"DELETE", "/v1/tasks/nope", "", 404},
		{"POST", "/v1/tasks/nope/complete", `{"attempt":1}`, 404},
		{"POST", "/v1/tasks", `{"func":"f","state":"running"}`, 400},
		{"POST", "/v1/tasks", `{"func":""}`, 400},
		{"POST", "/v1/tasks", `{"func":"f","id":"has space"}`, 400},
		{"POST", "/v1/tasks", `{"func":"f","queue_name":"no/slash"}`, 400},
		{"POST", "/v1/tasks", `{"func":"f","priority":1001}`, 400},
		{"POST", "/v1/tasks", `{"func":"f","ttl":-1}`, 400},
		{"POST", "/v1/tasks", `{"func":"f","schedule":{"interval":0.5}}`, 400},
		{"POST", "/v1/tasks", `{"func":"f","schedule":{"run_at":"1970-01-01T00:00:00Z"}}`, 400},
		{"POST", "/v1/tasks", `{"func":"f","schedule":{"run_at":"2150-01-02T00:00:00Z"}}`, 400},
		{"POST", "/v1/tasks", `{"func":"f","schedule":{"cron":"nope"}}`, 400},
		{"POST", "/v1/tasks", `{"id":"a","func":"f"}`, 400},
		{"POST", "/v1/tasks", `{"func":"f","depends_on":["missing"]}`, 400},
		{"POST", "/v1/tasks", `{"tasks":[]}`, 400},
		{"POST", "/v1/tasks", ``, 400},
		{"POST", "/v1/tasks", `{"func":"f","args":["` + strings.Repeat("x", 70<<10) + `"]}`, 413},
		{"POST", "/v1/tasks/c/heartbeat", `{}`, 400},
		{"POST", "/v1/schedules/c/pause", "", 400},
		{"POST", "/v1/queues/bad%20name/dequeue", "", 400},
		{"POST", "/v1/queues/q-1/dequeue?n=0", "", 400},
	}
	for _, s := range steps {
		rec := td.call(s.method, s.path, s.body)
		if rec.Code != s.status {
			t.Errorf("%s %s %.80s: status %d, want %d; body %.300s", s.method, s.path, s.body, rec.Code, s.status, rec.Body)
		}
	}
	// The same exchanges checked again directly, so that a mismatch is
	// reported against its step even if checking is ever taken out of
	// newTestDaemon.
	for _, s := range steps[:5] {
		req := httptest.NewRequest(s.method, s.path, strings.NewReader(s.body))
		rec := httptest.NewRecorder()
		td.daemon.handler.ServeHTTP(rec, req)
		if err := exchangeError(req, []byte(s.body), rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
			t.Error(err)
		}
	}

	// A token and a rate limit: 401 and 429 answers.
	secured := newTestDaemon(t, serveConfig{Token: "s3cret", RateLimit: 1})
	if rec := secured.call("GET", "/v1/stats", ""); rec.Code != http.StatusUnauthorized {
		t.Errorf("without the token: %d", rec.Code)
	}
	for i := 0; i < 3; i++ {
		secured.call("GET", "/v1/stats", "", "Authorization", "Bearer s3cret")
	}
	if rec := secured.call("GET", "/v1/stats", "", "Authorization", "Bearer s3cret"); rec.Code != http.StatusTooManyRequests {
		t.Errorf("past the rate limit: %d", rec.Code)
	}
}

// The checker itself: it refuses an answer the document does not allow, and
// a success answered to a request the document refuses.
func TestOpenAPICheckerCatchesMismatches(t *testing.T) {
	get := httptest.NewRequest("GET", "/v1/tasks/a", nil)
	json := http.Header{"Content-Type": {"application/json"}}
	for name, body := range map[string]string{
		"a task without its state": `{"id":"a","func":"f","queue_name":"default","priority":0,"retries":0,"attempt":0}`,
		"an unknown state":         `{"id":"a","func":"f","queue_name":"default","priority":0,"retries":0,"state":"lost","attempt":0}`,
	} {
		if exchangeError(get, nil, 200, json, []byte(body)) == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := exchangeError(get, nil, 418, json, []byte(`{}`)); err == nil {
		t.Error("an undocumented status: accepted")
	}
	post := httptest.NewRequest("POST", "/v1/tasks", nil)
	task := `{"id":"a","func":"f","queue_name":"default","priority":0,"retries":0,"state":"pending","attempt":0}`
	if err := exchangeError(post, []byte(`{"func":"f","bogus":1}`), 201, json, []byte(task)); err == nil {
		t.Error("201 to a request with an unknown field: accepted")
	}
	if err := exchangeError(post, []byte(`{"func":"f"}`), 201, json, []byte(task)); err != nil {
		t.Errorf("a good exchange: %v", err)
	}
}

// checkingTransport checks, on the client's side, every exchange it carries
// against the document: it covers the daemons the e2e tests run as child
// processes. A mismatch fails t; exchanges after t's cleanup began (a worker
// loop still polling) are not checked.
type checkingTransport struct {
	base http.RoundTripper

	mu   sync.Mutex
	t    testing.TB
	done bool
}

func newCheckingTransport(t testing.TB) *checkingTransport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	ct := &checkingTransport{base: tr, t: t}
	t.Cleanup(func() {
		ct.mu.Lock()
		ct.done = true
		ct.mu.Unlock()
	})
	return ct
}

func (ct *checkingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		var err error
		if reqBody, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		_ = req.Body.Close()
		clone := req.Clone(req.Context())
		clone.Body = io.NopCloser(bytes.NewReader(reqBody))
		req = clone
	}
	resp, err := ct.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return resp, nil // the caller meets the cut body as it would have
	}
	if err := exchangeError(req, reqBody, resp.StatusCode, resp.Header, body); err != nil {
		ct.mu.Lock()
		if !ct.done {
			ct.t.Error(err)
		}
		ct.mu.Unlock()
	}
	return resp, nil
}

// errorsTB is a testing.TB that keeps the errors reported to it.
type errorsTB struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (e *errorsTB) Error(args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.errs = append(e.errs, fmt.Sprint(args...))
}

func (e *errorsTB) Errorf(format string, args ...any) { e.Error(fmt.Sprintf(format, args...)) }

// Both checkers report an answer the document does not allow.
func TestOpenAPICheckersReport(t *testing.T) {
	bad := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"a"}`+"\n") // no func, state, …
	})
	server := &errorsTB{TB: t}
	url := checkedServer(server, bad)
	client := &errorsTB{TB: t}
	hc := &http.Client{Transport: newCheckingTransport(client)}
	resp, err := hc.Get(url + "/v1/tasks/a")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	for name, tb := range map[string]*errorsTB{"checkingHandler": server, "checkingTransport": client} {
		tb.mu.Lock()
		if len(tb.errs) != 1 || !strings.Contains(tb.errs[0], "does not match the document") {
			t.Errorf("%s reported %q", name, tb.errs)
		}
		tb.mu.Unlock()
	}
}
