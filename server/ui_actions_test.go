package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/omniq/omniq/engine"
)

// formClient is a browser without a script: a cookie jar, forms sent as
// application/x-www-form-urlencoded, redirects not followed (the tests
// look at them).
type formClient struct {
	t    *testing.T
	u    *uiServer
	c    *http.Client
	csrf string // the CSRF token the last page's forms carried
}

// newFormClient opens the task list (signing in first when the server has
// a token) and keeps the CSRF token of its forms.
func newFormClient(t *testing.T, u *uiServer, token string) *formClient {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	f := &formClient{t: t, u: u, c: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	if token != "" {
		f.get("/ui/login")
		resp := f.post("/ui/login", url.Values{"token": {token}, "next": {"/ui/"}})
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign in: %d", resp.StatusCode)
		}
	}
	if status, body := f.get("/ui/tasks"); status != http.StatusOK {
		t.Fatalf("task list: %d %s", status, body)
	}
	return f
}

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// get GETs path and keeps the CSRF token its page holds.
func (f *formClient) get(path string) (int, string) {
	f.t.Helper()
	resp, err := f.c.Get(f.u.url + path)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if m := csrfField.FindSubmatch(b); m != nil {
		f.csrf = string(m[1])
	}
	return resp.StatusCode, string(b)
}

// post sends form to path with the CSRF token, unless form has a csrf
// field of its own (set it to "" to send none).
func (f *formClient) post(path string, form url.Values) *http.Response {
	f.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", f.csrf)
	} else if form.Get("csrf") == "" {
		form.Del("csrf")
	}
	resp, err := f.c.PostForm(f.u.url+path, form)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp
}

// act posts form to path, wants a redirect, follows it and returns the
// flash message the page it leads to shows ("" when none).
func (f *formClient) act(path string, form url.Values) (location, flashText string) {
	f.t.Helper()
	resp := f.post(path, form)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		f.t.Fatalf("POST %s: %d, want 303: %s", path, resp.StatusCode, b)
	}
	location = resp.Header.Get("Location")
	_, body := f.get(location)
	return location, flashOf(body)
}

var flashBlock = regexp.MustCompile(`(?s)<div id="flash" class="flash (ok|bad)" role="status">(.*?)</div>`)

// flashOf is the flash message of a page, its markup as served, prefixed
// with "ok: " or "bad: ".
func flashOf(body string) string {
	m := flashBlock.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1] + ": " + strings.Join(strings.Fields(m[2]), " ")
}

// actRefused posts the action at path (coming back to backTo) and wants it
// refused: a flash holding want, and the log as it was.
func (f *formClient) actRefused(path, backTo, want string) {
	f.t.Helper()
	pos := f.u.q.Position()
	_, fl := f.act(path, back(backTo))
	wantFlash(f.t, fl, want)
	if p := f.u.q.Position(); p != pos {
		f.t.Fatalf("the refused POST %s changed the log: position %d, was %d", path, p, pos)
	}
}

// back is a form field: the page to come back to.
func back(path string) url.Values { return url.Values{"back": {path}} }

// --- making tasks in a state ---

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// put enqueues task id to queueName and brings it to state: pending,
// running, failed or completed (each leased with the highest priority, so
// that the dequeue takes it and no other).
func (u *uiServer) put(id, queueName string, state engine.State) {
	u.t.Helper()
	ctx := ctxT(u.t)
	task := &engine.Task{ID: id, Func: "f", QueueName: queueName}
	if state != engine.StatePending {
		task.Priority = engine.MaxPriority
	}
	if err := u.q.Enqueue(ctx, task); err != nil {
		u.t.Fatal(err)
	}
	if state == engine.StatePending {
		return
	}
	got, err := u.q.Dequeue(ctx, queueName)
	if err != nil || got == nil || got.ID != id {
		u.t.Fatalf("dequeue %s: %v %v", id, got, err)
	}
	switch state {
	case engine.StateFailed:
		err = u.q.Fail(ctx, got, errors.New("boom"))
	case engine.StateCompleted:
		err = u.q.Complete(ctx, got, "ok")
	}
	if err != nil {
		u.t.Fatal(err)
	}
}

// wantState fails the test unless task id is in state want ("gone": deleted)
// after what was done to it.
func (u *uiServer) wantState(id string, want engine.State, after string) {
	u.t.Helper()
	if s := u.stateOf(id); s != want {
		u.t.Fatalf("%s is %s after %s, want %s", id, s, after, want)
	}
}

// stateOf is task id's state, "gone" once deleted.
func (u *uiServer) stateOf(id string) engine.State {
	u.t.Helper()
	t, err := u.q.GetTask(ctxT(u.t), id)
	if errors.Is(err, engine.ErrNotFound) {
		return "gone"
	}
	if err != nil {
		u.t.Fatal(err)
	}
	return t.State
}

func wantFlash(t *testing.T, got, want string) {
	t.Helper()
	if !strings.Contains(got, want) {
		t.Fatalf("flash %q, want it to hold %q", got, want)
	}
}

// --- one task ---

func TestUIActionRetry(t *testing.T) {
	u := newUIServer(t, Config{UI: true})
	u.put("bad", "mail", engine.StateFailed)
	u.put("busy", "mail", engine.StateRunning)
	f := newFormClient(t, u, "")

	_, body := f.get("/ui/tasks/bad")
	if !strings.Contains(body, `id="action-retry"`) || strings.Contains(body, `id="action-cancel"`) {
		t.Fatalf("a failed task's page offers retry and not cancel:\n%s", body)
	}
	loc, fl := f.act("/ui/tasks/bad/retry", back("/ui/tasks/bad"))
	if loc != "/ui/tasks/bad" {
		t.Fatalf("retry redirects to %q", loc)
	}
	wantFlash(t, fl, "ok: <p>The task bad was retried")
	u.wantState("bad", engine.StatePending, "the retry")
	// The flash shows once.
	if _, body := f.get("/ui/tasks/bad"); flashOf(body) != "" {
		t.Fatalf("the flash shows again: %s", flashOf(body))
	}

	_, body = f.get("/ui/tasks/busy")
	if strings.Contains(body, `id="action-retry"`) || strings.Contains(body, `id="action-cancel"`) {
		t.Fatal("a running task's page offers retry or cancel")
	}
	f.actRefused("/ui/tasks/busy/retry", "/ui/tasks/busy", "bad: <p>Cannot retry task busy: task is running.")
	u.wantState("busy", engine.StateRunning, "a refused retry")
}

func TestUIActionCancel(t *testing.T) {
	u := newUIServer(t, Config{UI: true})
	u.put("busy", "mail", engine.StateRunning)
	u.put("idle", "mail", engine.StatePending)
	f := newFormClient(t, u, "")

	if _, body := f.get("/ui/tasks/idle"); !strings.Contains(body, `id="action-cancel"`) {
		t.Fatal("a pending task's page offers no cancel")
	}
	_, fl := f.act("/ui/tasks/idle/cancel", back("/ui/tasks/idle"))
	wantFlash(t, fl, "ok: <p>The task idle was cancelled")
	u.wantState("idle", engine.StateCancelled, "the cancel")
	f.actRefused("/ui/tasks/busy/cancel", "/ui/tasks/busy", "bad: <p>Cannot cancel task busy: task is running.")
}

func TestUIActionDeleteAsksFirst(t *testing.T) {
	u := newUIServer(t, Config{UI: true})
	u.put("doomed", "mail", engine.StatePending)
	f := newFormClient(t, u, "")
	f.get("/ui/tasks/doomed")

	pos := u.q.Position()
	resp := f.post("/ui/tasks/doomed/delete", back("/ui/tasks/doomed"))
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `id="confirm-yes"`) {
		t.Fatalf("delete without confirm: %d, a confirmation: %v", resp.StatusCode, strings.Contains(string(b), `id="confirm-yes"`))
	}
	if u.q.Position() != pos || u.stateOf("doomed") != engine.StatePending {
		t.Fatal("the confirmation deleted")
	}

	form := back("/ui/tasks/doomed")
	form.Set("confirm", "yes")
	loc, fl := f.act("/ui/tasks/doomed/delete", form)
	if loc != "/ui/tasks" {
		t.Fatalf("delete came back to %q, not the list (its page is gone)", loc)
	}
	wantFlash(t, fl, "ok: <p>Deleted doomed.")
	u.wantState("doomed", "gone", "the delete")

	// Again: it is gone, and the flash says so.
	_, fl = f.act("/ui/tasks/doomed/delete", form)
	wantFlash(t, fl, "bad: <p>Cannot delete task doomed:")
}

func TestUIActionPauseResumeSchedule(t *testing.T) {
	u := newUIServer(t, Config{UI: true})
	ctx := ctxT(t)
	if err := u.q.Enqueue(ctx, &engine.Task{ID: "hourly", Func: "f", Schedule: &engine.Schedule{Interval: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	if err := u.q.Enqueue(ctx, &engine.Task{ID: "later", Func: "f", Schedule: &engine.Schedule{RunAt: time.Now().Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	f := newFormClient(t, u, "")
	paused := func(id string) bool {
		t.Helper()
		task, err := u.q.GetTask(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return task.Schedule != nil && task.Schedule.Paused
	}
	for _, tc := range []struct{ id, noun string }{{"hourly", "schedule"}, {"later", "task"}} {
		if _, body := f.get("/ui/tasks/" + tc.id); !strings.Contains(body, `id="action-pause"`) || strings.Contains(body, `id="action-resume"`) {
			t.Fatalf("%s: the page offers no pause", tc.id)
		}
		_, fl := f.act("/ui/tasks/"+tc.id+"/pause", back("/ui/tasks/"+tc.id))
		wantFlash(t, fl, "ok: <p>The "+tc.noun+" "+tc.id+" was paused.")
		if !paused(tc.id) {
			t.Fatalf("%s is not paused", tc.id)
		}
		if _, body := f.get("/ui/tasks/" + tc.id); !strings.Contains(body, `id="action-resume"`) {
			t.Fatalf("%s: a paused page offers no resume", tc.id)
		}
		f.actRefused("/ui/tasks/"+tc.id+"/pause", "/ui/tasks/"+tc.id, "bad: <p>Cannot pause "+tc.noun+" "+tc.id+":")
		_, fl = f.act("/ui/tasks/"+tc.id+"/resume", back("/ui/tasks/"+tc.id))
		wantFlash(t, fl, "ok: <p>The "+tc.noun+" "+tc.id+" was resumed.")
		if paused(tc.id) {
			t.Fatalf("%s is still paused", tc.id)
		}
	}
}

func TestUIActionPauseResumeQueue(t *testing.T) {
	u := newUIServer(t, Config{UI: true})
	u.put("a", "mail", engine.StatePending)
	f := newFormClient(t, u, "")
	pausedQueues := func() []string {
		st, err := u.q.Stats(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		return st.PausedQueues
	}

	loc, fl := f.act("/ui/queues/mail/pause", back("/ui/"))
	if loc != "/ui/" {
		t.Fatalf("pause came back to %q", loc)
	}
	wantFlash(t, fl, "ok: <p>Queue mail paused")
	if got := pausedQueues(); !slices.Equal(got, []string{"mail"}) {
		t.Fatalf("paused queues %v", got)
	}
	_, body := f.get("/ui/")
	if !strings.Contains(body, `<tr data-queue="mail" class="paused">`) || !strings.Contains(body, `class="queue-resume"`) {
		t.Fatalf("the overview does not mark mail paused:\n%s", body)
	}
	f.actRefused("/ui/queues/mail/pause", "/ui/", "bad: <p>Cannot pause queue mail: it is paused already.")
	_, fl = f.act("/ui/queues/mail/resume", back("/ui/"))
	wantFlash(t, fl, "ok: <p>Queue mail resumed.")
	if got := pausedQueues(); len(got) != 0 {
		t.Fatalf("paused queues %v after resume", got)
	}
	_, fl = f.act("/ui/queues/mail/resume", back("/ui/"))
	wantFlash(t, fl, "bad: <p>Cannot resume queue mail: it is not paused.")
}

// actionRoutes lists a form of every action route, on task "t1" of queue
// "mail" (a failed task: every form would change it).
var everyAction = []struct {
	path string
	form url.Values
}{
	{"/ui/tasks/t1/retry", nil},
	{"/ui/tasks/t1/cancel", nil},
	{"/ui/tasks/t1/pause", nil},
	{"/ui/tasks/t1/resume", nil},
	{"/ui/tasks/t1/delete", url.Values{"confirm": {"yes"}}},
	{"/ui/queues/mail/pause", nil},
	{"/ui/queues/mail/resume", nil},
	{"/ui/bulk", url.Values{"action": {"delete"}, "confirm": {"yes"}}},
	{"/ui/bulk", url.Values{"action": {"retry"}, "confirm": {"yes"}}},
}

func copyForm(v url.Values, kv ...string) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out.Set(kv[i], kv[i+1])
	}
	return out
}

func TestUIActionsNeedTheCSRFToken(t *testing.T) {
	u := newUIServer(t, Config{UI: true})
	u.put("t1", "mail", engine.StateFailed)
	f := newFormClient(t, u, "")
	if len(f.csrf) != 32 {
		t.Fatalf("the list's forms carry no CSRF token (%q)", f.csrf)
	}
	pos := u.q.Position()
	for _, a := range everyAction {
		for _, csrf := range []string{"", "0123456789abcdef0123456789abcdef"} {
			resp := f.post(a.path, copyForm(a.form, "csrf", csrf))
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s with csrf %q: %d, want 403", a.path, csrf, resp.StatusCode)
			}
		}
		// The right value in the form, but no cookie: another site's form.
		resp, err := http.PostForm(u.url+a.path, copyForm(a.form, "csrf", f.csrf))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s without the cookie: %d, want 403", a.path, resp.StatusCode)
		}
	}
	if u.q.Position() != pos || u.stateOf("t1") != engine.StateFailed {
		t.Fatalf("refused actions changed the log: position %d, was %d", u.q.Position(), pos)
	}
}

func TestUIReadOnly(t *testing.T) {
	u := newUIServer(t, Config{UI: true, UIReadOnly: true})
	u.put("t1", "mail", engine.StateFailed)
	u.put("t2", "mail", engine.StatePending)
	f := newFormClient(t, u, "")
	for _, path := range []string{"/ui/", "/ui/tasks", "/ui/tasks/t1", "/ui/tasks/t2", "/ui/tasks/t1?fragment=1", "/ui/?fragment=1"} {
		status, body := f.get(path)
		if status != http.StatusOK {
			t.Fatalf("%s: %d", path, status)
		}
		if strings.Contains(body, `method="post"`) || strings.Contains(body, "Actions") {
			t.Errorf("%s: a read-only page shows a form:\n%s", path, body)
		}
	}
	// A token from a dashboard that is not read-only, to be sure the
	// refusal is not the CSRF check's.
	f.csrf = "0123456789abcdef0123456789abcdef"
	f.c.Jar.SetCookies(mustURL(t, u.url+"/ui/"), []*http.Cookie{{Name: csrfCookie, Value: f.csrf, Path: "/ui"}})
	pos := u.q.Position()
	for _, a := range everyAction {
		resp := f.post(a.path, copyForm(a.form))
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "read-only") {
			t.Errorf("POST %s read-only: %d %s", a.path, resp.StatusCode, b)
		}
	}
	if u.q.Position() != pos {
		t.Fatal("a read-only dashboard changed the log")
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	v, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// With a token, an action needs the session as well as the CSRF token.
func TestUIActionsNeedTheSession(t *testing.T) {
	u := newUIServer(t, Config{UI: true, Token: uiToken})
	u.put("t1", "mail", engine.StateFailed)

	// Not signed in: the login form, nothing done, whatever the CSRF token.
	anon := newAnonClient(t, u)
	pos := u.q.Position()
	resp := anon.post("/ui/tasks/t1/retry", back("/ui/tasks/t1"))
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || u.q.Position() != pos {
		t.Fatalf("retry signed out: %d, position %d (was %d)", resp.StatusCode, u.q.Position(), pos)
	}
	// The bearer token is the API's, not the dashboard's.
	req, _ := http.NewRequest("POST", u.url+"/ui/tasks/t1/retry", strings.NewReader(url.Values{"csrf": {anon.csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+uiToken)
	resp, err := anon.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || u.q.Position() != pos {
		t.Fatalf("retry with the bearer token and no session: %d", resp.StatusCode)
	}

	f := newFormClient(t, u, uiToken)
	resp = f.post("/ui/tasks/t1/retry", copyForm(back("/ui/tasks/t1"), "csrf", ""))
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || u.q.Position() != pos {
		t.Fatalf("retry signed in without the CSRF token: %d", resp.StatusCode)
	}
	_, fl := f.act("/ui/tasks/t1/retry", back("/ui/tasks/t1"))
	wantFlash(t, fl, "ok: <p>The task t1 was retried")
	u.wantState("t1", engine.StatePending, "the retry")
}

// newAnonClient is a browser that has the login form's CSRF token but has
// not signed in.
func newAnonClient(t *testing.T, u *uiServer) *formClient {
	jar, _ := cookiejar.New(nil)
	f := &formClient{t: t, u: u, c: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	f.get("/ui/login")
	if f.csrf == "" {
		t.Fatal("the login form has no CSRF token")
	}
	return f
}

// --- over a filter ---

// smallBulk makes bulk actions walk pages of 50 tasks and stop at limit.
func smallBulk(t *testing.T, limit int) {
	chunk, lim := bulkChunk, bulkLimit
	bulkChunk, bulkLimit = 50, limit
	t.Cleanup(func() { bulkChunk, bulkLimit = chunk, lim })
}

// failMany enqueues n tasks to queueName, ids prefix000…, and fails them.
func (u *uiServer) failMany(prefix, queueName string, n int) {
	u.t.Helper()
	ctx := ctxT(u.t)
	var tasks []*engine.Task
	for i := range n {
		tasks = append(tasks, &engine.Task{ID: fmt.Sprintf("%s%03d", prefix, i), Func: "f", QueueName: queueName})
	}
	if err := u.q.EnqueueBatch(ctx, tasks); err != nil {
		u.t.Fatal(err)
	}
	leased, err := u.q.DequeueN(ctx, queueName, n)
	if err != nil || len(leased) != n {
		u.t.Fatalf("dequeue %d: %d %v", n, len(leased), err)
	}
	for _, task := range leased {
		if err := u.q.Fail(ctx, task, errors.New("boom")); err != nil {
			u.t.Fatal(err)
		}
	}
}

// countIn counts the tasks of queueName in state.
func (u *uiServer) countIn(queueName string, state engine.State) int {
	u.t.Helper()
	st, err := u.q.Stats(ctxT(u.t))
	if err != nil {
		u.t.Fatal(err)
	}
	return st.Queues[queueName][state]
}

var bulkCount = regexp.MustCompile(`(?s)<p id="bulk-count">(.*?)</p>`)

func TestUIBulkRetryOverEveryPage(t *testing.T) {
	smallBulk(t, bulkLimit)
	u := newUIServer(t, Config{UI: true})
	u.failMany("job", "mail", 120)
	u.put("other", "side", engine.StateFailed) // outside the filter
	f := newFormClient(t, u, "")

	_, list := f.get("/ui/tasks?queue=mail&state=failed")
	if !strings.Contains(list, `id="bulk-retry"`) || !strings.Contains(list, `name="queue" value="mail"`) {
		t.Fatalf("the list has no bulk form over its filter:\n%s", list)
	}
	filter := url.Values{"action": {"retry"}, "queue": {"mail"}, "state": {"failed"}}
	pos := u.q.Position()
	resp := f.post("/ui/bulk", copyForm(filter))
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := bulkCount.FindStringSubmatch(string(b))
	if resp.StatusCode != http.StatusOK || m == nil || !strings.Contains(m[1], "120 tasks match now") {
		t.Fatalf("confirmation: %d %s", resp.StatusCode, b)
	}
	if n := strings.Count(string(b), `<tr><td><a href="/ui/tasks/job`); n != bulkSample {
		t.Fatalf("the confirmation samples %d tasks, want %d", n, bulkSample)
	}
	if u.q.Position() != pos {
		t.Fatal("the confirmation changed the log")
	}

	loc, fl := f.act("/ui/bulk", copyForm(filter, "confirm", "yes"))
	if loc != "/ui/tasks?queue=mail&state=failed" {
		t.Fatalf("bulk came back to %q", loc)
	}
	wantFlash(t, fl, "ok: <p>Retry over queue=mail state=failed: 120 retried, 0 refused.")
	if n := u.countIn("mail", engine.StatePending); n != 120 {
		t.Fatalf("%d of 120 pending after the bulk retry", n)
	}
	if u.stateOf("other") != engine.StateFailed {
		t.Fatal("the bulk retry reached a task outside its filter")
	}

	// Again: nothing matches any more, nothing changes.
	pos = u.q.Position()
	_, fl = f.act("/ui/bulk", copyForm(filter, "confirm", "yes"))
	wantFlash(t, fl, "no task matches; nothing was done.")
	if u.q.Position() != pos {
		t.Fatal("repeating the bulk retry changed the log")
	}
}

func TestUIBulkCountsRefusals(t *testing.T) {
	smallBulk(t, bulkLimit)
	u := newUIServer(t, Config{UI: true})
	u.failMany("bad", "mail", 60)
	u.put("run1", "mail", engine.StateRunning)
	u.put("run2", "mail", engine.StateRunning)
	u.put("done1", "mail", engine.StateCompleted)
	f := newFormClient(t, u, "")

	_, fl := f.act("/ui/bulk", url.Values{"action": {"retry"}, "queue": {"mail"}, "confirm": {"yes"}})
	wantFlash(t, fl, "bad: <p>Retry over queue=mail: 60 retried, 3 refused.")
	wantFlash(t, fl, "<li>2 refused: task is running</li>")
	wantFlash(t, fl, "<li>1 refused: task is completed</li>")
	if n := u.countIn("mail", engine.StatePending); n != 60 {
		t.Fatalf("%d pending, want 60", n)
	}
	if u.stateOf("run1") != engine.StateRunning || u.stateOf("done1") != engine.StateCompleted {
		t.Fatal("a refused task changed")
	}
}

func TestUIBulkDeleteStopsAtItsBound(t *testing.T) {
	smallBulk(t, 100)
	u := newUIServer(t, Config{UI: true})
	u.failMany("job", "mail", 120)
	f := newFormClient(t, u, "")

	filter := url.Values{"action": {"delete"}, "queue": {"mail"}}
	resp := f.post("/ui/bulk", copyForm(filter))
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if m := bulkCount.FindStringSubmatch(string(b)); m == nil || !strings.Contains(m[1], "More than 100 tasks match now") {
		t.Fatalf("confirmation of 120 over a bound of 100: %s", b)
	}
	_, fl := f.act("/ui/bulk", copyForm(filter, "confirm", "yes"))
	wantFlash(t, fl, "100 deleted, 0 refused. It stopped at 100 tasks")
	if n := u.countIn("mail", engine.StateFailed); n != 20 {
		t.Fatalf("%d left, want 20", n)
	}
	_, fl = f.act("/ui/bulk", copyForm(filter, "confirm", "yes"))
	wantFlash(t, fl, "ok: <p>Delete over queue=mail: 20 deleted, 0 refused.")
	if n := u.countIn("mail", engine.StateFailed); n != 0 {
		t.Fatalf("%d left, want 0", n)
	}
}

func TestUIBulkRefusesABadForm(t *testing.T) {
	u := newUIServer(t, Config{UI: true})
	u.put("t1", "mail", engine.StateFailed)
	f := newFormClient(t, u, "")
	pos := u.q.Position()
	for _, form := range []url.Values{
		{"action": {"explode"}, "confirm": {"yes"}},
		{"action": {"delete"}, "state": {"sleeping"}, "confirm": {"yes"}},
	} {
		resp := f.post("/ui/bulk", form)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("bulk %v: %d, want 400", form, resp.StatusCode)
		}
	}
	if u.q.Position() != pos {
		t.Fatal("a refused bulk form changed the log")
	}
}

// An id or a filter holding markup shows as text in the flash message.
func TestUIActionFlashEscapes(t *testing.T) {
	u := newUIServer(t, Config{UI: true})
	f := newFormClient(t, u, "")
	const evil = `<script>alert(1)</script>`
	_, fl := f.act("/ui/tasks/"+url.PathEscape(evil)+"/retry", back("/ui/"))
	wantFlash(t, fl, "bad: <p>Cannot retry task &lt;script&gt;alert(1)&lt;/script&gt;:")
	if strings.Contains(fl, evil) {
		t.Fatalf("the flash holds markup: %s", fl)
	}
	_, fl = f.act("/ui/bulk", url.Values{"action": {"cancel"}, "func": {evil}, "confirm": {"yes"}})
	wantFlash(t, fl, "Cancel over func=&lt;script&gt;alert(1)&lt;/script&gt;: no task matches")
	if strings.Contains(fl, evil) {
		t.Fatalf("the flash holds markup: %s", fl)
	}
}

func TestUISchedulesPagePauseResume(t *testing.T) {
	u := newUIServer(t, Config{UI: true})
	if err := u.q.Enqueue(ctxT(t), &engine.Task{ID: "nightly", Func: "f", Schedule: &engine.Schedule{Cron: "0 3 * * *"}}); err != nil {
		t.Fatal(err)
	}
	f := newFormClient(t, u, "")
	_, body := f.get("/ui/schedules")
	if !strings.Contains(body, `action="/ui/tasks/nightly/pause"`) {
		t.Fatalf("the schedules page has no pause form:\n%s", body)
	}
	loc, fl := f.act("/ui/tasks/nightly/pause", back("/ui/schedules"))
	if loc != "/ui/schedules" {
		t.Fatalf("pause came back to %q", loc)
	}
	wantFlash(t, fl, "ok: <p>The schedule nightly was paused.")
	task, err := u.q.GetTask(ctxT(t), "nightly")
	if err != nil || !task.Schedule.Paused {
		t.Fatalf("nightly not paused: %v %v", task, err)
	}
	if _, body := f.get("/ui/schedules"); !strings.Contains(body, `action="/ui/tasks/nightly/resume"`) {
		t.Fatal("a paused schedule has no resume form")
	}
	// Read-only: the same table, no form.
	ro := newUIServer(t, Config{UI: true, UIReadOnly: true})
	if err := ro.q.Enqueue(ctxT(t), &engine.Task{ID: "nightly", Func: "f", Schedule: &engine.Schedule{Cron: "0 3 * * *"}}); err != nil {
		t.Fatal(err)
	}
	if _, body := newFormClient(t, ro, "").get("/ui/schedules"); !strings.Contains(body, `data-schedule="nightly"`) || strings.Contains(body, `method="post"`) {
		t.Fatalf("read-only schedules page:\n%s", body)
	}
}

// The bulk form carries the list's search fields, and acts on what they
// match only.
func TestUIBulkKeepsTheSearch(t *testing.T) {
	u := newUIServer(t, Config{UI: true})
	ctx := ctxT(t)
	for _, id := range []string{"invoice-1", "invoice-2", "receipt-1"} {
		if err := u.q.Enqueue(ctx, &engine.Task{ID: id, Func: "f", QueueName: "mail"}); err != nil {
			t.Fatal(err)
		}
	}
	f := newFormClient(t, u, "")
	after := time.Now().Add(-time.Hour).UTC().Format("2006-01-02T15:04:05")
	status, list := f.get("/ui/tasks?q=invoice&enqueued_after=" + after)
	if status != http.StatusOK || !strings.Contains(list, `name="q" value="invoice"`) || strings.Contains(list, `data-task="receipt-1"`) {
		t.Fatalf("search list: %d\n%s", status, list)
	}
	if !strings.Contains(list, `<input type="hidden" name="enqueued_after" value="`+after+`Z">`) {
		t.Fatalf("the bulk form does not carry the enqueue bound:\n%s", list)
	}
	_, fl := f.act("/ui/bulk", url.Values{"action": {"cancel"}, "q": {"invoice"}, "enqueued_after": {after + "Z"}, "confirm": {"yes"}})
	wantFlash(t, fl, "ok: <p>Cancel over q=invoice enqueued_after="+after+"Z: 2 cancelled, 0 refused.")
	if u.stateOf("invoice-1") != engine.StateCancelled || u.stateOf("invoice-2") != engine.StateCancelled || u.stateOf("receipt-1") != engine.StatePending {
		t.Fatal("the bulk cancel did not follow the search")
	}
	// A time in the future matches nothing.
	later := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	_, fl = f.act("/ui/bulk", url.Values{"action": {"delete"}, "enqueued_after": {later}, "confirm": {"yes"}})
	wantFlash(t, fl, "no task matches")
	if status, _ := f.get("/ui/tasks?enqueued_before=yesterday"); status != http.StatusBadRequest {
		t.Fatalf("a bad time: %d, want 400", status)
	}
}

// A bulk walk that stops at its limit says more tasks match even when the
// next match lies past a page's bounded scan: a search page examines at
// most 20,000 records and may come back empty with a cursor. The first
// page stops after a-needle and about 20,000 others; the check for more
// then meets 20,000 more before c-needle.
func TestUIBulkMoreAfterAnEmptyPage(t *testing.T) {
	u := newUIServer(t, Config{UI: true})
	ctx := ctxT(t)
	batch := []*engine.Task{{ID: "a-needle", Func: "f"}}
	for i := 0; i <= 40_000; i++ {
		batch = append(batch, &engine.Task{ID: fmt.Sprintf("b-%05d", i), Func: "f"})
		if len(batch) == 1000 {
			if err := u.q.EnqueueBatch(ctx, batch); err != nil {
				t.Fatal(err)
			}
			batch = nil
		}
	}
	batch = append(batch, &engine.Task{ID: "c-needle", Func: "f"})
	if err := u.q.EnqueueBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	var seen []string
	n, more, err := walkFilter(ctx, u.q, engine.TaskFilter{Q: "needle"}, 1, func(tasks []*engine.Task) error {
		for _, tk := range tasks {
			seen = append(seen, tk.ID)
		}
		return nil
	})
	if err != nil || n != 1 || !more || len(seen) != 1 || seen[0] != "a-needle" {
		t.Fatalf("walk to 1: %d tasks %v, more %v, %v", n, seen, more, err)
	}
	n, more, err = walkFilter(ctx, u.q, engine.TaskFilter{Q: "needle"}, 10, func([]*engine.Task) error { return nil })
	if err != nil || n != 2 || more {
		t.Fatalf("walk to 10: %d tasks, more %v, %v", n, more, err)
	}
}
