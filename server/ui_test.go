package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/internal/apicheck"
	"github.com/omniq/omniq/stores/memory"
)

const uiToken = "s3cret-token"

// The document checker reads an event stream's body as text (its schema is
// a string); kin-openapi has no decoder of its own for the type.
func init() {
	openapi3filter.RegisterBodyDecoder("text/event-stream", openapi3filter.FileBodyDecoder)
}

// uiServer is a server over an engine on a memory store, listening on
// loopback, closed at the test's end. newUIServer opens the engine with
// opts.
type uiServer struct {
	t   *testing.T
	s   *Server
	q   *engine.Engine
	url string
}

func newUIServer(t *testing.T, cfg Config, opts ...engine.Option) *uiServer {
	t.Helper()
	log := memory.New()
	q, err := engine.Open(context.Background(), log, opts...)
	if err != nil {
		t.Fatal(err)
	}
	s := New(q, cfg)
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		s.Drain()
		hs.Close()
		_ = q.Close()
		_ = log.Close()
	})
	return &uiServer{t: t, s: s, q: q, url: hs.URL}
}

// do sends a request with the token (when auth is "bearer") or the given
// cookies, without following redirects.
func (u *uiServer) do(method, path, body string, hdr http.Header) *http.Response {
	u.t.Helper()
	req, err := http.NewRequest(method, u.url+path, strings.NewReader(body))
	if err != nil {
		u.t.Fatal(err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		u.t.Fatal(err)
	}
	return resp
}

// page GETs path and returns its status and body.
func (u *uiServer) page(path string, hdr http.Header) (int, string) {
	u.t.Helper()
	resp := u.do("GET", path, "", hdr)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func bearerHeader() http.Header {
	return http.Header{"Authorization": {"Bearer " + uiToken}}
}

// enqueue enqueues a task through the API.
func (u *uiServer) enqueue(body string) {
	u.t.Helper()
	resp := u.do("POST", "/v1/tasks", body, bearerHeader())
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		u.t.Fatalf("enqueue %s: %d", body, resp.StatusCode)
	}
}

// sseEvent is one event read from a stream.
type sseEvent struct {
	id   string
	data map[string]any
}

// sseReader reads a text/event-stream.
type sseReader struct {
	t    *testing.T
	resp *http.Response
	sc   *bufio.Scanner
	// comments holds the comment lines read so far.
	comments []string
}

// stream opens GET path as an event stream.
func (u *uiServer) stream(ctx context.Context, path string, hdr http.Header) *sseReader {
	u.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", u.url+path, nil)
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		u.t.Fatal(err)
	}
	u.t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		u.t.Fatalf("GET %s: %d %s %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	return &sseReader{t: u.t, resp: resp, sc: bufio.NewScanner(resp.Body)}
}

// next reads the next event (comments are kept aside); ok is false at the
// stream's end.
func (r *sseReader) next() (ev sseEvent, ok bool) {
	r.t.Helper()
	for r.sc.Scan() {
		line := r.sc.Text()
		switch {
		case line == "":
			if ev.id != "" || ev.data != nil {
				return ev, true
			}
		case strings.HasPrefix(line, ":"):
			r.comments = append(r.comments, line)
		case strings.HasPrefix(line, "id: "):
			ev.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.data); err != nil {
				r.t.Fatalf("data %q: %v", line, err)
			}
		}
	}
	return ev, false
}

// nextN reads n events and renders each as "id:type:task".
func (r *sseReader) nextN(n int) []string {
	r.t.Helper()
	var out []string
	for range n {
		ev, ok := r.next()
		if !ok {
			r.t.Fatalf("the stream ended after %v", out)
		}
		if fmt.Sprint(ev.data["position"]) != ev.id {
			r.t.Fatalf("event id %s, position %v", ev.id, ev.data["position"])
		}
		out = append(out, fmt.Sprintf("%s:%s:%s", ev.id, ev.data["type"], ev.data["task_id"]))
	}
	return out
}

func TestEventsStreamFromResumeAndLive(t *testing.T) {
	u := newUIServer(t, Config{Token: uiToken})
	u.enqueue(`{"id":"a","func":"f"}`)
	u.enqueue(`{"id":"b","func":"f"}`)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	r := u.stream(ctx, "/v1/events?from=0", bearerHeader())
	if got := fmt.Sprint(r.nextN(2)); got != "[1:task.enqueued:a 2:task.enqueued:b]" {
		t.Fatalf("from 0: %s", got)
	}
	u.enqueue(`{"id":"c","func":"f"}`)
	if got := fmt.Sprint(r.nextN(1)); got != "[3:task.enqueued:c]" {
		t.Fatalf("live: %s", got)
	}
	if r.resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", r.resp.Header.Get("Cache-Control"))
	}

	// Last-Event-ID wins over from: the reconnect of an EventSource.
	h := bearerHeader()
	h.Set("Last-Event-ID", "2")
	r2 := u.stream(ctx, "/v1/events?from=0", h)
	if got := fmt.Sprint(r2.nextN(1)); got != "[3:task.enqueued:c]" {
		t.Fatalf("resumed after 2: %s", got)
	}

	// Without from: only new events.
	r3 := u.stream(ctx, "/v1/events", bearerHeader())
	u.enqueue(`{"id":"d","func":"f"}`)
	if got := fmt.Sprint(r3.nextN(1)); got != "[4:task.enqueued:d]" {
		t.Fatalf("from the head: %s", got)
	}
}

func TestEventsStreamFilters(t *testing.T) {
	u := newUIServer(t, Config{})
	u.enqueue(`{"id":"a","func":"f","queue_name":"q1"}`)
	u.enqueue(`{"id":"b","func":"f","queue_name":"q2"}`)
	u.enqueue(`{"id":"c","func":"f","queue_name":"q2"}`)
	resp := u.do("POST", "/v1/queues/q2/dequeue", "", nil) // leases b: an event that names no queue
	resp.Body.Close()
	u.enqueue(`{"id":"d","func":"f","queue_name":"q1"}`)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	byTask := u.stream(ctx, "/v1/events?from=0&task=b", nil)
	if got := fmt.Sprint(byTask.nextN(2)); got != "[2:task.enqueued:b 4:task.leased:b]" {
		t.Errorf("task=b: %s", got)
	}
	byQueue := u.stream(ctx, "/v1/events?from=0&queue=q2", nil)
	if got := fmt.Sprint(byQueue.nextN(3)); got != "[2:task.enqueued:b 3:task.enqueued:c 4:task.leased:b]" {
		t.Errorf("queue=q2: %s", got)
	}
	u.enqueue(`{"id":"e","func":"f","queue_name":"q2"}`)
	if got := fmt.Sprint(byQueue.nextN(1)); got != "[6:task.enqueued:e]" {
		t.Errorf("queue=q2, live: %s", got)
	}
}

func TestEventsStreamHeartbeatAndDrain(t *testing.T) {
	u := newUIServer(t, Config{})
	u.s.api.beat = 20 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := u.stream(ctx, "/v1/events", nil)
	ended := make(chan bool, 1)
	go func() {
		_, ok := r.next()
		ended <- !ok
	}()
	time.Sleep(100 * time.Millisecond)
	u.s.Drain()
	select {
	case end := <-ended:
		if !end {
			t.Fatal("an event came on an idle stream")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Drain did not end the stream")
	}
	beats := 0
	for _, c := range r.comments {
		if c == ": heartbeat" {
			beats++
		}
	}
	if beats < 2 {
		t.Errorf("comments %q: want heartbeats", r.comments)
	}
}

func TestEventsStreamErrors(t *testing.T) {
	u := newUIServer(t, Config{Token: uiToken, UI: true})
	for _, c := range []struct {
		path   string
		hdr    http.Header
		status int
	}{
		{"/v1/events", nil, 401},
		{"/v1/events", http.Header{"Cookie": {sessionCookie + "=" + uiToken}}, 401}, // the token is not the session
		{"/v1/events?from=x", bearerHeader(), 400},
		{"/v1/events?from=1&from=2", bearerHeader(), 400},
		{"/v1/events?since=1", bearerHeader(), 400},
		{"/v1/events", http.Header{"Authorization": {"Bearer " + uiToken}, "Last-Event-ID": {"nope"}}, 400},
	} {
		resp := u.do("GET", c.path, "", c.hdr)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("GET %s %v: %d, want %d", c.path, c.hdr, resp.StatusCode, c.status)
		}
	}
}

// login signs in through the form and returns the session cookies.
func (u *uiServer) login(t *testing.T) []*http.Cookie {
	t.Helper()
	resp := u.do("GET", "/ui/login", "", nil)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	csrf := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(string(b))
	if csrf == nil || len(resp.Cookies()) == 0 {
		t.Fatalf("login form without a CSRF token: %d %s", resp.StatusCode, b)
	}
	form := url.Values{"csrf": {csrf[1]}, "token": {uiToken}, "next": {"/ui/tasks"}}
	resp = u.do("POST", "/ui/login", form.Encode(), http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"},
		"Cookie":       {csrfCookie + "=" + csrf[1]},
	})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/tasks" {
		t.Fatalf("login: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return resp.Cookies()
}

func cookieHeader(cs []*http.Cookie, path string) http.Header {
	var parts []string
	for _, c := range cs {
		if strings.HasPrefix(path, c.Path) && c.MaxAge >= 0 {
			parts = append(parts, c.Name+"="+c.Value)
		}
	}
	return http.Header{"Cookie": {strings.Join(parts, "; ")}}
}

func TestUILoginSessionAndLogout(t *testing.T) {
	u := newUIServer(t, Config{Token: uiToken, UI: true})
	status, body := u.page("/ui/", nil)
	if status != http.StatusUnauthorized || !strings.Contains(body, `id="login"`) {
		t.Fatalf("/ui/ signed out: %d, login form: %v", status, strings.Contains(body, `id="login"`))
	}
	// A form without its CSRF cookie, then a wrong token.
	form := url.Values{"csrf": {"00112233445566778899aabbccddeeff"}, "token": {uiToken}}
	formHdr := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	if resp := u.do("POST", "/ui/login", form.Encode(), formHdr); resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) > 1 {
		t.Errorf("login without the CSRF cookie: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	formHdr.Set("Cookie", csrfCookie+"=00112233445566778899aabbccddeeff")
	form.Set("token", "wrong")
	if resp := u.do("POST", "/ui/login", form.Encode(), formHdr); resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Errorf("login with a wrong token: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}

	cookies := u.login(t)
	paths := map[string]bool{}
	for _, c := range cookies {
		if c.Name != sessionCookie || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Value == uiToken || strings.Contains(c.Value, uiToken) {
			t.Errorf("session cookie %+v", c)
		}
		paths[c.Path] = true
	}
	if !paths["/ui"] || !paths["/v1/events"] || len(paths) != 2 {
		t.Errorf("session cookie paths %v, want /ui and /v1/events", paths)
	}
	u.enqueue(`{"id":"a","func":"f","queue_name":"work"}`)
	status, body = u.page("/ui/", cookieHeader(cookies, "/ui/"))
	if status != http.StatusOK || !strings.Contains(body, `data-queue="work"`) || !strings.Contains(body, `action="/ui/logout"`) {
		t.Fatalf("/ui/ signed in: %d\n%s", status, body)
	}
	// The cookie opens the event stream, and no other API route.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := u.stream(ctx, "/v1/events?from=0", cookieHeader(cookies, "/v1/events"))
	if got := fmt.Sprint(r.nextN(1)); got != "[1:task.enqueued:a]" {
		t.Errorf("stream with the cookie: %s", got)
	}
	hdr := cookieHeader(cookies, "/v1/events")
	if resp := u.do("GET", "/v1/stats", "", hdr); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /v1/stats with the session cookie: %d, want 401", resp.StatusCode)
	}
	if resp := u.do("POST", "/v1/events", "", hdr); resp.StatusCode == http.StatusOK {
		t.Errorf("POST /v1/events with the session cookie: %d", resp.StatusCode)
	}

	// Logout needs the CSRF field too, and clears both cookies.
	resp := u.do("GET", "/ui/login", "", cookieHeader(cookies, "/ui/"))
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("login form while signed in: %d, want a redirect", resp.StatusCode)
	}
	csrf := ""
	status, body = u.page("/ui/tasks", cookieHeader(cookies, "/ui/"))
	if m := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(body); m != nil {
		csrf = m[1]
	}
	if status != 200 || csrf == "" {
		t.Fatalf("tasks page: %d, csrf %q", status, csrf)
	}
	logoutHdr := cookieHeader(cookies, "/ui/")
	logoutHdr.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp := u.do("POST", "/ui/logout", "csrf=bad", logoutHdr); resp.StatusCode != http.StatusForbidden {
		t.Errorf("logout with a bad CSRF token: %d", resp.StatusCode)
	}
	logoutHdr.Set("Cookie", logoutHdr.Get("Cookie")+"; "+csrfCookie+"="+csrf)
	resp = u.do("POST", "/ui/logout", "csrf="+csrf, logoutHdr)
	resp.Body.Close()
	cleared := 0
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie && c.MaxAge < 0 {
			cleared++
		}
	}
	if resp.StatusCode != http.StatusSeeOther || cleared != 2 {
		t.Errorf("logout: %d, %d cookies cleared", resp.StatusCode, cleared)
	}
}

func TestUIPagesAndEscaping(t *testing.T) {
	u := newUIServer(t, Config{UI: true}) // no token: no login
	hostile := `<script>alert(1)</script>`
	u.enqueue(`{"id":"up","func":"f","queue_name":"q"}`)
	u.enqueue(`{"id":"x<b>","func":"f` + `","queue_name":"q","args":["` + hostile + `",{"k\"><img src=x onerror=alert(2)>":1}],` +
		`"kwargs":{"` + hostile + `":"</pre><svg onload=alert(3)>"},"depends_on":["up"],"meta":{"m":"<i>"}}`)
	u.enqueue(`{"id":"down","func":"g","queue_name":"q","depends_on":["x<b>"]}`)

	status, body := u.page("/ui/tasks/"+url.PathEscape("x<b>"), nil)
	if status != http.StatusOK {
		t.Fatalf("task page: %d\n%s", status, body)
	}
	for _, bad := range []string{"<script>alert", "<img src=x", "<svg onload", "<b>", "<i>"} {
		if strings.Contains(body, bad) {
			t.Errorf("task page holds %q unescaped", bad)
		}
	}
	for _, want := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", `id="graph"`, `href="/ui/tasks/up"`,
		`href="/ui/tasks/down"`, `data-task="down"`, "task.enqueued", `id="timeline"`, `class="node s-pending"`} {
		if !strings.Contains(body, want) {
			t.Errorf("task page lacks %q", want)
		}
	}
	if status, body := u.page("/ui/tasks/"+url.PathEscape("x<b>")+"?fragment=1", nil); status != 200 || strings.Contains(body, "<html") || !strings.Contains(body, `id="timeline"`) {
		t.Errorf("task fragment: %d, %q", status, body[:min(len(body), 200)])
	}
	u.enqueue(`{"id":"nightly","func":"report","schedule":{"cron":"0 2 * * *"}}`)
	if status, body := u.page("/ui/tasks/nightly", nil); status != http.StatusOK || !strings.Contains(body, "0 2 * * *") || !strings.Contains(body, `id="no-graph"`) {
		t.Errorf("schedule page: %d\n%s", status, body)
	}
	if status, _ := u.page("/ui/tasks/nope", nil); status != http.StatusNotFound {
		t.Errorf("unknown task: %d", status)
	}

	// Overview and its live fragment.
	status, body = u.page("/ui/", nil)
	if status != 200 || !regexp.MustCompile(`data-queue="q">[\s\S]*?data-state="waiting"><a [^>]*>2</a>`).MatchString(body) ||
		!strings.Contains(body, `data-position="4"`) {
		t.Errorf("overview: %d\n%s", status, body)
	}
	if status, body := u.page("/ui/?fragment=1", nil); status != 200 || strings.Contains(body, "<html") || !strings.Contains(body, `id="queues"`) {
		t.Errorf("overview fragment: %d", status)
	}

	// The list: filters, bad input, paging.
	if _, body := u.page("/ui/tasks?state=waiting", nil); !strings.Contains(body, `data-task="down"`) || strings.Contains(body, `data-task="up"`) {
		t.Errorf("waiting tasks:\n%s", body)
	}
	if _, body := u.page("/ui/tasks?func=g", nil); !strings.Contains(body, `data-task="down"`) || strings.Contains(body, `data-task="up"`) {
		t.Errorf("func g")
	}
	if status, _ := u.page("/ui/tasks?state=bogus", nil); status != http.StatusBadRequest {
		t.Errorf("bad state: %d", status)
	}
	if status, _ := u.page("/ui/tasks?limit=0", nil); status != http.StatusBadRequest {
		t.Errorf("bad limit: %d", status)
	}
	status, body = u.page("/ui/tasks?limit=2", nil)
	next := regexp.MustCompile(`id="next-page" href="([^"]+)"`).FindStringSubmatch(body)
	if status != 200 || next == nil || !strings.Contains(body, `data-task="down"`) || !strings.Contains(body, `data-task="up"`) {
		t.Fatalf("first page: %d\n%s", status, body)
	}
	status, body = u.page(strings.ReplaceAll(next[1], "&amp;", "&"), nil)
	if status != 200 || !strings.Contains(body, `data-task="x&lt;b&gt;"`) || strings.Contains(body, `id="next-page"`) {
		t.Errorf("second page (%s): %d\n%s", next[1], status, body)
	}

	// Headers, assets, unknown pages.
	resp := u.do("GET", "/ui/", "", nil)
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	for path, want := range map[string]int{"/ui/static/app.js": 200, "/ui/static/style.css": 200, "/ui/nope": 404, "/ui": 301} {
		if resp := u.do("GET", path, "", nil); resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	if status, _ := u.page("/ui/login", nil); status != http.StatusSeeOther {
		t.Errorf("login without a token: %d, want a redirect", status)
	}
}

func TestUIOffByDefault(t *testing.T) {
	u := newUIServer(t, Config{})
	resp := u.do("GET", "/ui/", "", nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("/ui/ with the zero Config: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestUIWhileEngineOpens(t *testing.T) {
	s := New(nil, Config{UI: true})
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/ui/", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "replaying") {
		t.Errorf("/ui/ before Attach: %d", rec.Code)
	}
}

// The stream's answers, 200 and 400, are ones openapi.json gives.
func TestEventsStreamMatchesOpenAPI(t *testing.T) {
	u := newUIServer(t, Config{})
	checked := apicheck.Must(t, openapiDoc).Handler(t, u.s)
	hs := httptest.NewServer(checked)
	defer hs.Close()
	u.url = hs.URL
	u.enqueue(`{"id":"a","func":"f"}`)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := u.stream(ctx, "/v1/events?from=0&task=a", nil)
	if got := fmt.Sprint(r.nextN(1)); got != "[1:task.enqueued:a]" {
		t.Fatalf("stream: %s", got)
	}
	u.s.Drain()
	if _, ok := r.next(); ok {
		t.Fatal("an event after Drain")
	}
	resp := u.do("GET", "/v1/events?from=-1", "", nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("from=-1: %d", resp.StatusCode)
	}
}

// Paging the list by its next links while tasks are leased, completed and
// enqueued between pages lists every task once, in id order.
func TestUITaskListPagesWhileTasksMove(t *testing.T) {
	u := newUIServer(t, Config{UI: true})
	var want []string
	for i := range 7 {
		id := fmt.Sprintf("t%d", i)
		want = append(want, id)
		u.enqueue(`{"id":"` + id + `","func":"f","queue_name":"q"}`)
	}
	rowRE := regexp.MustCompile(`<tr data-task="([^"]+)">`)
	nextRE := regexp.MustCompile(`id="next-page" href="([^"]+)"`)
	var got []string
	path := "/ui/tasks?queue=q&limit=2"
	for page := 0; path != ""; page++ {
		status, body := u.page(path, nil)
		if status != http.StatusOK {
			t.Fatalf("%s: %d", path, status)
		}
		for _, m := range rowRE.FindAllStringSubmatch(body, -1) {
			got = append(got, m[1])
		}
		path = ""
		if m := nextRE.FindStringSubmatch(body); m != nil {
			path = strings.ReplaceAll(m[1], "&amp;", "&")
		}
		// Move tasks on both sides of the cursor.
		resp := u.do("POST", "/v1/queues/q/dequeue", "", nil)
		resp.Body.Close()
		if page%2 == 0 {
			resp = u.do("POST", fmt.Sprintf("/v1/tasks/t%d/complete", page/2), `{"attempt":1}`, nil)
			resp.Body.Close()
		}
		u.enqueue(fmt.Sprintf(`{"id":"a%d","func":"f","queue_name":"q"}`, page))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
}
