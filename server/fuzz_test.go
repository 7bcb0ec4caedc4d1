package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/omniq/omniq/engine"
)

// fuzzRoutes are the routes that decode a request body.
var fuzzRoutes = []string{"/v1/tasks", "/v1/tasks/a/complete", "/v1/tasks/a/fail", "/v1/tasks/a/heartbeat"}

// FuzzAPIRequestBodies posts arbitrary bodies to the server's real handler,
// on every route that decodes one: the answer is 2xx or 4xx, never 5xx (a
// panic would be a 500), and a 4xx appends nothing. The engine runs on a
// frozen clock, so no timer appends on its own between two requests.
func FuzzAPIRequestBodies(f *testing.F) {
	for _, seed := range []struct {
		route uint8
		body  string
	}{
		{0, `{"func":"add","args":[10,20]}`},
		{0, `{"id":"b","func":"f","queue_name":"q","priority":5,"ttl":"1h","retries":3,"max_retries":5,"kwargs":{"k":[1.5,"x",null,true]}}`},
		{0, `{"tasks":[{"id":"c","func":"f"},{"func":"g","depends_on":["c"]}]}`},
		{0, `{"func":"report","schedule":{"cron":"CRON_TZ=Europe/Paris 0 2 * * *"}}`},
		{0, `{"func":"f","schedule":{"interval":60,"paused":true}}`},
		{0, `{"func":"f","schedule":{"run_at":"2030-01-01T00:00:00Z"}}`},
		{0, `{"func":"f","args":[{"$float":"NaN"},"\ud83d\ude00",1e308,-0]}`},
		{0, `{"tasks":[]}`},
		{0, `{"func":"f","schedule":{"cron":"CRON_TZ="}}`},
		{0, `{"func":"f","schedule":{"run_at":"2300-01-01T00:00:00Z","interval":"1h"}}`},
		{0, `{"func":"f"} trailing`},
		{0, "{\"func\":\"\xff\"}"},
		{1, `{"attempt":1,"result":{"sum":30}}`},
		{1, `{"attempt":1,"result":[[[[[[[[]]]]]]]]}`},
		{2, `{"attempt":1,"error":"boom"}`},
		{3, `{"attempt":1}`},
		{3, ``},
	} {
		f.Add(seed.route, []byte(seed.body))
	}
	d := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		path := fuzzRoutes[int(route)%len(fuzzRoutes)]
		before := d.q.Position()
		req := httptest.NewRequest("POST", path, strings.NewReader(string(body)))
		rec := httptest.NewRecorder()
		d.ServeHTTP(rec, req)
		switch {
		case rec.Code >= 200 && rec.Code < 300:
		case rec.Code >= 400 && rec.Code < 500:
			if after := d.q.Position(); after != before {
				t.Fatalf("POST %s %q: %d but the log moved %d -> %d", path, body, rec.Code, before, after)
			}
		default:
			t.Fatalf("POST %s %q: status %d, want 2xx or 4xx: %.300s", path, body, rec.Code, rec.Body)
		}
	})
}

// fuzzServer is a server over a memory log and an engine on a frozen
// clock, holding task "a" leased (attempt 1).
type fuzzServer struct {
	*Server
	q *engine.Engine
}

func newFuzzServer(tb testing.TB) *fuzzServer {
	tb.Helper()
	ctx := context.Background()
	s := New(nil, Config{})
	_, q := attachTestEngine(tb, s, engine.WithClock(engine.NewManualClock(time.Now())), engine.WithSnapshotEvery(0))
	if err := q.Enqueue(ctx, &engine.Task{ID: "a", Func: "f"}); err != nil {
		tb.Fatal(err)
	}
	if task, err := q.Dequeue(ctx, ""); err != nil || task == nil {
		tb.Fatal(task, err)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/tasks/a", nil))
	if rec.Code != http.StatusOK {
		tb.Fatalf("fuzz server: GET /v1/tasks/a: %d", rec.Code)
	}
	return &fuzzServer{Server: s, q: q}
}
