// Package apicheck checks HTTP exchanges against an OpenAPI 3 document: an
// answer must be one the document gives for its route (status, headers,
// body), and a request the document refuses must not be answered with a
// success. Tests of the server and of omniqd route their traffic through
// it (Handler and Serve on the server's side, Transport on the client's);
// no program links it (TestLayering).
package apicheck

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

// Checker checks exchanges against one document.
type Checker struct {
	router routers.Router
}

// checkers keeps a Checker per document, so that every test of a binary
// shares one load and validation.
var checkers sync.Map // string(doc) → func() (*Checker, error)

// New loads doc with kin-openapi, checks that it is a valid OpenAPI 3.0
// document, and returns a Checker over its paths that matches any host
// (the servers a document lists are examples). Calls with the same
// document share one Checker.
func New(doc []byte) (*Checker, error) {
	load, _ := checkers.LoadOrStore(string(doc), sync.OnceValues(func() (*Checker, error) {
		loader := openapi3.NewLoader()
		d, err := loader.LoadFromData(doc)
		if err != nil {
			return nil, fmt.Errorf("load the OpenAPI document: %w", err)
		}
		if err := d.Validate(loader.Context); err != nil {
			return nil, fmt.Errorf("the document is not valid OpenAPI: %w", err)
		}
		d.Servers = nil
		router, err := gorillamux.NewRouter(d)
		if err != nil {
			return nil, err
		}
		return &Checker{router: router}, nil
	}))
	return load.(func() (*Checker, error))()
}

// Must is New for a test: an error fails tb at once.
func Must(tb testing.TB, doc []byte) *Checker {
	tb.Helper()
	c, err := New(doc)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// maxCheckedBody bounds the bodies whose content is checked: a hostile
// test's megabytes are checked for their status alone.
const maxCheckedBody = 1 << 20

// Check checks one exchange against the document. It returns nil for a
// route the document does not list (a 404 or 405 of the mux).
func (c *Checker) Check(req *http.Request, reqBody []byte, status int, header http.Header, body []byte) error {
	probe := req.Clone(context.Background())
	probe.Body = io.NopCloser(bytes.NewReader(reqBody))
	if len(reqBody) > 0 && probe.Header.Get("Content-Type") == "" {
		// The server reads every body as JSON, whatever its Content-Type.
		probe.Header.Set("Content-Type", "application/json")
	}
	route, params, err := c.router.FindRoute(probe)
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

// Handler wraps h so that every exchange it serves is checked; a mismatch
// fails tb.
func (c *Checker) Handler(tb testing.TB, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var reqBody []byte
		if r.Body != nil {
			var err error
			if reqBody, err = io.ReadAll(r.Body); err != nil {
				tb.Errorf("%s %s: read request body: %v", r.Method, r.URL, err)
			}
			_ = r.Body.Close()
			r.Body = io.NopCloser(bytes.NewReader(reqBody))
		}
		rw := &recordingWriter{ResponseWriter: w}
		h.ServeHTTP(rw, r)
		if rw.status == 0 {
			rw.status = http.StatusOK
		}
		if err := c.Check(r, reqBody, rw.status, w.Header(), rw.body.Bytes()); err != nil {
			tb.Error(err)
		}
	})
}

// recordingWriter passes an answer through and keeps a copy of it: its
// status (the first written) and its body.
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

// Serve serves h on a loopback listener through Handler, until tb's end,
// and returns the listener's URL.
func (c *Checker) Serve(tb testing.TB, h http.Handler) string {
	srv := httptest.NewServer(c.Handler(tb, h))
	tb.Cleanup(srv.Close)
	return srv.URL
}

// Transport returns a RoundTripper that checks, on the client's side, every
// exchange it carries, as a server the test does not serve itself (a child
// process) would be checked. A mismatch fails tb; exchanges after tb's
// cleanup began (a worker loop still polling) are not checked.
func (c *Checker) Transport(tb testing.TB) http.RoundTripper {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	ct := &transport{checker: c, base: tr, tb: tb}
	tb.Cleanup(func() {
		ct.mu.Lock()
		ct.done = true
		ct.mu.Unlock()
	})
	return ct
}

type transport struct {
	checker *Checker
	base    http.RoundTripper

	mu   sync.Mutex
	tb   testing.TB
	done bool
}

func (ct *transport) RoundTrip(req *http.Request) (*http.Response, error) {
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
	if err := ct.checker.Check(req, reqBody, resp.StatusCode, resp.Header, body); err != nil {
		ct.mu.Lock()
		if !ct.done {
			ct.tb.Error(err)
		}
		ct.mu.Unlock()
	}
	return resp, nil
}

// Recorder is a testing.TB that keeps the errors reported to it rather
// than failing: a test hands it to Handler or Transport to see that a bad
// exchange is reported.
type Recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

// Error keeps the error.
func (r *Recorder) Error(args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprint(args...))
}

// Errorf keeps the error.
func (r *Recorder) Errorf(format string, args ...any) { r.Error(fmt.Sprintf(format, args...)) }

// Errors returns the errors kept so far.
func (r *Recorder) Errors() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errs...)
}

// ExpectReports fails t unless both sides of a test package's wiring
// report an answer the document does not allow: serve serves a handler
// through the checks (Serve, or the package's wrapper of it) and transport
// carries requests through them (Transport, or its wrapper). The bad
// answer is a task without its func, state and the rest.
func ExpectReports(t *testing.T, serve func(testing.TB, http.Handler) string, transport func(testing.TB) http.RoundTripper) {
	t.Helper()
	bad := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"a"}`+"\n")
	})
	server := &Recorder{TB: t}
	url := serve(server, bad)
	client := &Recorder{TB: t}
	hc := &http.Client{Transport: transport(client)}
	resp, err := hc.Get(url + "/v1/tasks/a")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	for name, tb := range map[string]*Recorder{"the server's side": server, "the client's side": client} {
		if errs := tb.Errors(); len(errs) != 1 || !strings.Contains(errs[0], "/v1/tasks/a") ||
			!strings.Contains(errs[0], "does not match the document") {
			t.Errorf("%s reported %d errors, want 1 about GET /v1/tasks/a", name, len(errs))
			for _, e := range errs {
				t.Log(e[:min(len(e), 300)])
			}
		}
	}
}
