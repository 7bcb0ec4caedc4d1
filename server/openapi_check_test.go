package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/omniq/omniq/internal/apicheck"
)

// The in-process test servers (newTestServer, startTestServer) check every
// exchange on a documented route against openapi.json: the answer must be
// one the document gives for the route (status, headers, body), and a request
// the document refuses must not be answered with a success (package
// internal/apicheck, whose own tests show it catching bad exchanges).

// apiCheck is the checker of openapi.json; a document that does not load
// fails the test.
func apiCheck(tb testing.TB) *apicheck.Checker {
	tb.Helper()
	return apicheck.Must(tb, openapiDoc)
}

// checkingHandler wraps h so that every exchange is checked against
// openapi.json; a mismatch fails t.
func checkingHandler(t testing.TB, h http.Handler) http.Handler {
	return apiCheck(t).Handler(t, h)
}

// checkedServer serves h on a loopback listener through checkingHandler.
func checkedServer(t testing.TB, h http.Handler) string {
	return apiCheck(t).Serve(t, h)
}

// newCheckingTransport checks, on the client's side, every exchange it
// carries against openapi.json, as a server the test does not serve itself
// would be checked.
func newCheckingTransport(t testing.TB) http.RoundTripper {
	return apiCheck(t).Transport(t)
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	if _, err := apicheck.New(openapiDoc); err != nil {
		t.Fatal(err)
	}
}

// Every route, one and many, and the error answers, each exchange checked
// against the document.
func TestOpenAPIEveryExchange(t *testing.T) {
	td := newTestServer(t, Config{MaxBody: 64 << 10})
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
		{"POST", "/v1/heartbeats", `{"heartbeats":[{"id":"a","attempt":1},{"id":"a","attempt":2},{"id":"nope","attempt":1}]}`, 200},
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
		{"POST", "/v1/heartbeats", `{"heartbeats":[]}`, 400},
		{"POST", "/v1/heartbeats", `{"heartbeats":[{"id":"c"}]}`, 400},
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
	// newTestServer.
	for _, s := range steps[:5] {
		req := httptest.NewRequest(s.method, s.path, strings.NewReader(s.body))
		rec := httptest.NewRecorder()
		td.Server.ServeHTTP(rec, req)
		if err := apiCheck(t).Check(req, []byte(s.body), rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
			t.Error(err)
		}
	}

	// A token and a rate limit: 401 and 429 answers.
	secured := newTestServer(t, Config{Token: "s3cret", RateLimit: 1})
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

// Both checks, as this package's tests wire them, report an answer the
// document does not allow.
func TestOpenAPICheckersReport(t *testing.T) {
	apicheck.ExpectReports(t, checkedServer, newCheckingTransport)
}
