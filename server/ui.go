package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/queue"
	"github.com/omniq/omniq/wire"
)

// The dashboard lives in package server, in the ui*.go files, rather than
// in a package of its own: it reads the engine the server holds (which may
// attach late), stops its event streams on Drain, and authenticates with
// the server's token, none of which the server exports. Its pages and
// assets are embedded from the ui directory, so it works offline.
//
//go:embed ui
var uiFiles embed.FS

// Cookie names of the dashboard.
const (
	sessionCookie = "omniq_ui"      // the session: an HMAC of the token, never the token
	csrfCookie    = "omniq_ui_csrf" // the login and logout forms' CSRF token
)

// Dependency graph bounds of the task page.
const (
	graphDepth = 4
	graphNodes = 60
)

// uiStates are the states the dashboard counts, in lifecycle order.
var uiStates = []engine.State{
	engine.StateWaiting, engine.StatePending, engine.StateRunning,
	engine.StateCompleted, engine.StateFailed, engine.StateExpired, engine.StateCancelled,
}

// ui serves the dashboard under /ui/. With a token it asks for it once,
// then recognises the browser by a session cookie derived from it; the
// same cookie opens GET /v1/events, which the pages follow with
// EventSource (which cannot send an Authorization header).
type ui struct {
	a       *api
	session string       // the session cookie's value; "" when the server has no token
	events  http.Handler // the API's routes, for /v1/events with a session cookie
	mux     *http.ServeMux
	pages   *template.Template
	static  http.Handler
	// travel keeps the past points last rebuilt (ui_travel.go); activity
	// counts the last hour for the overview's charts (ui_charts.go).
	travel   *travelCache
	activity *activityRing
	// readOnly hides the action forms and refuses their routes
	// (Config.UIReadOnly; ui_actions.go).
	readOnly bool
}

// newUI returns the dashboard of a, whose API routes are routes.
func newUI(a *api, token string, routes http.Handler) *ui {
	u := &ui{a: a, events: routes, travel: &travelCache{}, activity: newActivityRing()}
	if token != "" {
		u.session = sessionFor(token)
	}
	u.pages = template.Must(template.New("ui").Funcs(template.FuncMap{
		"taskURL": taskURL,
		"listURL": listURL,
		"filter": func(queue, state string) engine.TaskFilter {
			return engine.TaskFilter{Queue: queue, State: engine.State(state)}
		},
		"pretty":   pretty,
		"when":     when,
		"stateOf":  func(s engine.State) string { return string(s) },
		"statesOf": func() []engine.State { return uiStates },
		"pastURL":  pastURL,
		"rows":     rowsOf,
		"every":    every,
		"until":    until,
	}).Funcs(actionFuncs).ParseFS(uiFiles, "ui/*.html"))
	assets, _ := fs.Sub(uiFiles, "ui/static")
	u.static = http.StripPrefix("/ui/static/", http.FileServerFS(assets))
	u.mux = http.NewServeMux()
	u.mux.HandleFunc("GET /ui/{$}", u.page(u.overview))
	u.mux.HandleFunc("GET /ui/tasks", u.page(u.taskListAt(u.taskList)))
	u.mux.HandleFunc("GET /ui/tasks/{id}", u.page(u.taskAt(u.task)))
	u.mux.HandleFunc("GET /ui/at", u.page(u.overviewAt))
	u.mux.HandleFunc("GET /ui/schedules", u.page(u.schedules))
	u.mux.HandleFunc("GET /ui/cluster", u.page(u.cluster))
	u.mux.HandleFunc("GET /ui/static/", u.asset)
	u.mux.HandleFunc("GET /ui/login", u.loginForm)
	u.mux.HandleFunc("POST /ui/login", u.login)
	u.mux.HandleFunc("POST /ui/logout", u.logout)
	u.actionRoutes()
	u.mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		u.fail(w, r, http.StatusNotFound, "No such page.")
	})
	return u
}

// wrap returns next with the dashboard in front: /ui/ and GET /v1/events
// with a session cookie are served here, everything else by next.
func (u *ui) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/ui":
			http.Redirect(w, r, "/ui/", http.StatusMovedPermanently)
		case strings.HasPrefix(r.URL.Path, "/ui/"):
			u.mux.ServeHTTP(w, r)
		case r.Method == http.MethodGet && r.URL.Path == "/v1/events" && u.session != "" &&
			r.Header.Get("Authorization") == "" && u.signedIn(r):
			u.events.ServeHTTP(w, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// sessionFor is the session cookie's value under token: an HMAC-SHA256 of
// a fixed label keyed by the token, so the cookie never holds the token
// and a new token ends every session.
func sessionFor(token string) string {
	mac := hmac.New(sha256.New, []byte(token))
	mac.Write([]byte("omniq ui session v1"))
	return hex.EncodeToString(mac.Sum(nil))
}

// signedIn reports whether r may see the dashboard: the server has no
// token, or r carries the session cookie.
func (u *ui) signedIn(r *http.Request) bool {
	if u.session == "" {
		return true
	}
	c, err := r.Cookie(sessionCookie)
	return err == nil && subtle.ConstantTimeCompare([]byte(c.Value), []byte(u.session)) == 1
}

// view is what every page template gets.
type view struct {
	Title    string
	SignedIn bool   // a session to log out of (the server has a token)
	CSRF     string // the forms' CSRF token
	Position uint64 // the log position the page shows; its stream follows from there
	Live     string // the URL of the page's live part, refreshed on events
	Page     any    // the page's own data
	Actions  bool   // show the action forms (not read-only)
	Flash    *flash // the outcome of the action that led here, shown once

	// At is the past point the page shows (nil: live); such a page
	// follows no events (Live is "").
	At *pointView
	// TravelAction is where the header's time travel form goes ("": the
	// overview at the point, /ui/at).
	TravelAction string
}

// openedEngine returns the engine, or nil after answering 503 (with a
// Retry-After and then, what the browser is to do) while it still replays
// the log.
func (u *ui) openedEngine(w http.ResponseWriter, r *http.Request, then string) *engine.Engine {
	q := u.a.engine()
	if q == nil {
		w.Header().Set("Retry-After", "1")
		u.fail(w, r, http.StatusServiceUnavailable, "The engine is still replaying the log; "+then)
	}
	return q
}

// pageFunc renders one page's data; the error, when not nil, is shown
// with the status wire.ErrorFor gives it.
type pageFunc func(r *http.Request, q *engine.Engine) (tmpl string, v view, err error)

// page serves a page: the login form to a browser that is not signed in,
// 503 while the engine opens, the page (or with ?fragment=1 its live part
// alone) otherwise.
func (u *ui) page(fn pageFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !u.signedIn(r) {
			u.renderLogin(w, r, http.StatusUnauthorized, "")
			return
		}
		q := u.openedEngine(w, r, "this page will answer shortly.")
		if q == nil {
			return
		}
		name, v, err := fn(r, q)
		var pe *pageError
		if errors.As(err, &pe) {
			u.fail(w, r, pe.status, pe.msg)
			return
		}
		if err != nil {
			status, body := wire.ErrorFor(err)
			if status >= 500 {
				u.a.logger.Error("dashboard page failed", "path", r.URL.Path, "err", err)
				body.Error.Message = "the server failed to answer; see its log"
			}
			u.fail(w, r, status, body.Error.Message)
			return
		}
		v.SignedIn = u.session != ""
		v.Actions = u.actionsOn() && v.At == nil // a past point is not acted on
		fragment := r.URL.Query().Get("fragment") == "1"
		if fragment {
			name += "-live"
		} else {
			v.Flash = u.takeFlash(w, r)
		}
		if v.Actions || v.SignedIn && !fragment { // the live part holds action forms too
			v.CSRF = u.csrf(w, r)
		}
		u.render(w, http.StatusOK, name, v)
	}
}

// render writes template name with v, with the headers every page gets.
func (u *ui) render(w http.ResponseWriter, status int, name string, v view) {
	var b strings.Builder
	if err := u.pages.ExecuteTemplate(&b, name, v); err != nil {
		u.a.logger.Error("dashboard template", "template", name, "err", err)
		status, b = http.StatusInternalServerError, strings.Builder{}
		b.WriteString("dashboard template failed; see the server's log\n")
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

// fail answers with the error page.
func (u *ui) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	u.render(w, status, "error", view{Title: http.StatusText(status), SignedIn: u.session != "" && u.signedIn(r), Page: msg})
}

// asset serves the script and the style sheet.
func (u *ui) asset(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-cache")
	u.static.ServeHTTP(w, r)
}

// --- sign in and out ---

// csrf returns the browser's CSRF token, setting the cookie when it has
// none: the forms send it back in a field, which a page of another site
// cannot read to forge.
func (u *ui) csrf(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 32 {
		return c.Value
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	tok := hex.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: tok, Path: "/ui", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	return tok
}

// checkCSRF reports whether the form's CSRF field matches the cookie.
func checkCSRF(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	return err == nil && c.Value != "" && subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) == 1
}

// loginPage is the login form's data.
type loginPage struct {
	Next  string // where to go once signed in
	Error string
}

func (u *ui) loginForm(w http.ResponseWriter, r *http.Request) {
	if u.signedIn(r) {
		http.Redirect(w, r, "/ui/", http.StatusSeeOther)
		return
	}
	u.renderLogin(w, r, http.StatusOK, "")
}

// renderLogin shows the login form; once signed in the browser comes back
// to the page it asked for.
func (u *ui) renderLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	next := r.URL.RequestURI()
	if r.Method != http.MethodGet || r.URL.Path == "/ui/login" {
		next = r.PostFormValue("next")
	}
	u.render(w, status, "login", view{Title: "Sign in", CSRF: u.csrf(w, r), Page: loginPage{Next: safeNext(next), Error: msg}})
}

// safeNext is next when it is a dashboard page, else the overview: a login
// link cannot send the browser elsewhere.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/ui/") || strings.HasPrefix(next, "/ui/login") || strings.ContainsAny(next, "\\\r\n") {
		return "/ui/"
	}
	return next
}

// login checks the token a form sent and sets the session cookies: one
// for the dashboard's pages (Path=/ui) and one for its event stream
// (Path=/v1/events), so that neither reaches any other route.
func (u *ui) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if u.session == "" {
		http.Redirect(w, r, "/ui/", http.StatusSeeOther)
		return
	}
	if !checkCSRF(r) {
		u.renderLogin(w, r, http.StatusForbidden, "The form expired; sign in again.")
		return
	}
	if subtle.ConstantTimeCompare([]byte(sessionFor(r.PostFormValue("token"))), []byte(u.session)) != 1 {
		u.renderLogin(w, r, http.StatusUnauthorized, "That is not the server's token.")
		return
	}
	u.setSession(w, r, u.session, 0)
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

func (u *ui) logout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if !checkCSRF(r) {
		u.fail(w, r, http.StatusForbidden, "The form expired; reload the page and try again.")
		return
	}
	u.setSession(w, r, "", -1)
	http.Redirect(w, r, "/ui/", http.StatusSeeOther)
}

// setSession sets (maxAge 0: for the browser's session) or clears
// (maxAge -1) both session cookies.
func (u *ui) setSession(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	for _, path := range []string{"/ui", "/v1/events"} {
		http.SetCookie(w, &http.Cookie{
			Name: sessionCookie, Value: value, Path: path, MaxAge: maxAge,
			HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
		})
	}
}

// --- pages ---

// queueRow is one queue of the overview.
type queueRow struct {
	Name   string
	Counts []stateCount
	Total  int
	Paused bool // PauseQueue paused it
}

// newQueueRow is the row of the queue name with its tasks by state
// (counts nil: none).
func newQueueRow(name string, counts map[engine.State]int) queueRow {
	row := queueRow{Name: name}
	for _, s := range uiStates {
		row.Counts = append(row.Counts, stateCount{s, counts[s]})
		row.Total += counts[s]
	}
	return row
}

// stateCount is how many tasks of a queue are in a state.
type stateCount struct {
	State engine.State
	N     int
}

// overviewPage is the overview's data.
type overviewPage struct {
	Queues []queueRow
	Stats  engine.Stats
	Extra  overviewExtra // charts, leases, schedules due (ui_charts.go)
}

func (u *ui) overview(r *http.Request, q *engine.Engine) (string, view, error) {
	st, err := q.Stats(r.Context())
	if err != nil {
		return "", view{}, err
	}
	p := overviewPage{Stats: st, Extra: u.overviewExtraOf(r.Context(), q)}
	for name, counts := range st.Queues {
		p.Queues = append(p.Queues, newQueueRow(name, counts))
	}
	for _, name := range st.PausedQueues { // a paused queue shows even without tasks
		if _, ok := st.Queues[name]; !ok {
			p.Queues = append(p.Queues, newQueueRow(name, nil))
		}
	}
	for i := range p.Queues {
		p.Queues[i].Paused = slices.Contains(st.PausedQueues, p.Queues[i].Name)
	}
	sort.Slice(p.Queues, func(i, j int) bool { return p.Queues[i].Name < p.Queues[j].Name })
	return "overview", view{Title: "Overview", Position: st.Position, Live: "/ui/?fragment=1", Page: p}, nil
}

// listPage is the task list's data.
type listPage struct {
	Filter engine.TaskFilter
	Tasks  []*engine.Task
	Next   string // the next page's URL ("": this is the last)
	Queues []string
	At     *pointView // the past point listed (nil: live), which the links keep
}

// listFilter reads the task list's filter from a request's query.
func listFilter(query url.Values) (engine.TaskFilter, error) {
	f := engine.TaskFilter{
		Queue: query.Get("queue"), State: engine.State(query.Get("state")), Func: query.Get("func"),
		After: query.Get("after"),
	}
	if f.State != "" && !knownState(f.State) {
		return f, fmt.Errorf("%w: state %q is not one of %v", engine.ErrInvalidArgument, f.State, uiStates)
	}
	if err := readSearch(&f, query); err != nil {
		return f, err
	}
	if v := query.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return f, fmt.Errorf("%w: limit %q must be a positive whole number", engine.ErrInvalidArgument, v)
		}
		f.Limit = n
	}
	return f, nil
}

func (u *ui) taskList(r *http.Request, q *engine.Engine) (string, view, error) {
	f, err := listFilter(r.URL.Query())
	if err != nil {
		return "", view{}, err
	}
	pos := q.Position()
	tasks, next, err := q.ListTasks(r.Context(), f)
	if err != nil {
		return "", view{}, err
	}
	p := listPage{Filter: f, Tasks: tasks}
	if next != "" {
		nf := f
		nf.After = next
		p.Next = listURL(nf)
	}
	if st, err := q.Stats(r.Context()); err == nil {
		for name := range st.Queues {
			p.Queues = append(p.Queues, name)
		}
		sort.Strings(p.Queues)
	}
	live := listURL(f)
	if strings.Contains(live, "?") {
		live += "&fragment=1"
	} else {
		live += "?fragment=1"
	}
	return "tasks", view{Title: "Tasks", Position: pos, Live: live, Page: p}, nil
}

// knownState reports whether s is a state the list filters by.
func knownState(s engine.State) bool {
	for _, k := range uiStates {
		if k == s {
			return true
		}
	}
	return false
}

// taskPage is the task page's data.
type taskPage struct {
	Task    *engine.Task
	History []historyRow
	Graph   graphView
	Watch   string // JSON list of the task ids the page shows, for its script
	// Attempts are the task's attempts, read from its history.
	Attempts []attemptRow
	// HistoryErr says why the history could not be read ("" when it was).
	HistoryErr string
}

// historyRow is one event of the timeline.
type historyRow struct {
	Position uint64
	Time     time.Time
	Type     string
	Payload  string // pretty-printed JSON ("": none)
}

// historyRows turns a task's events up to position upTo into the rows of
// its page's history, and counts those after it in later.
func historyRows(evs []queue.Event, upTo uint64) (rows []historyRow, later int) {
	for _, ev := range evs {
		if ev.Position > upTo {
			later++
			continue
		}
		row := historyRow{Position: ev.Position, Time: ev.Time, Type: ev.Type}
		if ev.Payload != nil {
			row.Payload = pretty(ev.Payload)
		}
		rows = append(rows, row)
	}
	return rows, later
}

func (u *ui) task(r *http.Request, q *engine.Engine) (string, view, error) {
	id := r.PathValue("id")
	pos := q.Position()
	t, err := q.GetTask(r.Context(), id)
	if err != nil {
		return "", view{}, err
	}
	p := taskPage{Task: t}
	if evs, err := q.History(r.Context(), id); err == nil {
		p.History, _ = historyRows(evs, math.MaxUint64)
		p.Attempts = attemptsOf(evs)
	} else {
		p.HistoryErr = err.Error()
	}
	watch := []string{id}
	if g, err := q.Graph(r.Context(), id, graphDepth, graphNodes); err == nil {
		p.Graph = layoutGraph(g)
		for _, n := range g.Nodes[1:] {
			watch = append(watch, n.ID)
		}
	} else if !errors.Is(err, engine.ErrNotFound) { // a schedule has no graph
		return "", view{}, err
	}
	b, _ := json.Marshal(watch)
	p.Watch = string(b)
	return "task", view{Title: "Task " + id, Position: pos, Live: taskURL(id) + "?fragment=1", Page: p}, nil
}

// --- helpers of the templates ---

// taskURL is the path of task id's page.
func taskURL(id string) string { return "/ui/tasks/" + url.PathEscape(id) }

// listURL is the path of the task list under f.
func listURL(f engine.TaskFilter) string {
	v := url.Values{}
	for k, s := range map[string]string{"queue": f.Queue, "state": string(f.State), "func": f.Func, "after": f.After,
		"q": f.Q, "enqueued_after": urlTime(f.EnqueuedAfter), "enqueued_before": urlTime(f.EnqueuedBefore)} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if f.Limit > 0 {
		v.Set("limit", strconv.Itoa(f.Limit))
	}
	if len(v) == 0 {
		return "/ui/tasks"
	}
	return "/ui/tasks?" + v.Encode()
}

// pretty renders v as indented JSON, for a <pre> (the template escapes it).
// JSON's own HTML escaping is off: the text reads as sent.
func pretty(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Sprintf("%v", v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// when renders a time for a page ("" for the zero time).
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05.000Z")
}
