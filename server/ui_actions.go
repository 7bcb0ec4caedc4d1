package server

// The dashboard's actions: the forms that change the state (retry, cancel,
// delete a task; pause and resume a schedule, a delayed task or a queue;
// the same over every task a filter matches). Each is a plain HTML form
// POSTed to a route below /ui/ — the page's script is not needed — and
// answered with a redirect back to the page it came from (POST, redirect,
// GET), which shows the outcome once as a flash message. Delete and the
// bulk actions ask first: their first POST renders a confirmation page,
// and only the POST of that page (confirm=yes) acts.
//
// INVARIANT: every action route goes through ui.action, which refuses, before
// anything is read or changed, a read-only dashboard (403), a browser that
// is not signed in (401) and a form without the browser's CSRF token (403).

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/wire"
)

// flashCookie carries an action's outcome across its redirect to the page
// that shows it once.
const flashCookie = "omniq_ui_flash"

// Bounds of the bulk actions. Variables so that tests can walk several
// pages with few tasks.
var (
	// bulkChunk is how many tasks one ListTasks page, and so one batch
	// append, holds.
	bulkChunk = min(engine.MaxListLimit, engine.MaxActionBatch)
	// bulkLimit is the most tasks one bulk action acts on; past it the
	// confirmation and the outcome say that more match.
	bulkLimit = 100_000
)

// bulkSample is how many of the matching tasks the confirmation lists.
const bulkSample = 10

// flashMax bounds a flash message, so that it fits in its cookie.
const flashMax = 1500

// flash is an action's outcome, shown once by the next page.
type flash struct {
	OK    bool     `json:"ok"`
	Msg   string   `json:"msg"`
	Lines []string `json:"lines,omitempty"` // details, one a line (the bulk refusals)
}

// actionFunc does one action for a signed-in browser whose form carried its
// CSRF token.
type actionFunc func(w http.ResponseWriter, r *http.Request, q *engine.Engine)

// actionRoutes adds the action routes to the dashboard's mux.
func (u *ui) actionRoutes() {
	u.mux.HandleFunc("POST /ui/tasks/{id}/retry", u.action(u.taskAction(taskVerbs["retry"])))
	u.mux.HandleFunc("POST /ui/tasks/{id}/cancel", u.action(u.taskAction(taskVerbs["cancel"])))
	u.mux.HandleFunc("POST /ui/tasks/{id}/pause", u.action(u.taskAction(taskVerbs["pause"])))
	u.mux.HandleFunc("POST /ui/tasks/{id}/resume", u.action(u.taskAction(taskVerbs["resume"])))
	u.mux.HandleFunc("POST /ui/tasks/{id}/delete", u.action(u.deleteTask))
	u.mux.HandleFunc("POST /ui/queues/{name}/pause", u.action(u.queueAction(true)))
	u.mux.HandleFunc("POST /ui/queues/{name}/resume", u.action(u.queueAction(false)))
	u.mux.HandleFunc("POST /ui/bulk", u.action(u.bulk))
}

// actionsOn reports whether pages show the action forms.
func (u *ui) actionsOn() bool { return !u.readOnly }

// action guards fn: see the invariant at the top of this file.
func (u *ui) action(fn actionFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if u.readOnly {
			u.fail(w, r, http.StatusForbidden, "This dashboard is read-only: it shows the queues and changes nothing.")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if !u.signedIn(r) {
			u.renderLogin(w, r, http.StatusUnauthorized, "Sign in, then try again.")
			return
		}
		if !checkCSRF(r) {
			u.fail(w, r, http.StatusForbidden, "The form expired; reload the page and try again.")
			return
		}
		q := u.openedEngine(w, r, "try again shortly.")
		if q == nil {
			return
		}
		fn(w, r, q)
	}
}

// done redirects to the page the form came from (its back field, a
// dashboard page) with f as the flash message it shows.
func (u *ui) done(w http.ResponseWriter, r *http.Request, back string, f flash) {
	u.setFlash(w, r, f)
	http.Redirect(w, r, safeNext(back), http.StatusSeeOther)
}

// setFlash stores f in the flash cookie for the next page.
func (u *ui) setFlash(w http.ResponseWriter, r *http.Request, f flash) {
	if len(f.Msg) > flashMax {
		f.Msg = f.Msg[:flashMax] + "…"
	}
	if len(f.Lines) > bulkSample {
		f.Lines = append(f.Lines[:bulkSample], fmt.Sprintf("and %d more reasons", len(f.Lines)-bulkSample))
	}
	b, _ := json.Marshal(f)
	http.SetCookie(w, &http.Cookie{
		Name: flashCookie, Value: base64.RawURLEncoding.EncodeToString(b), Path: "/ui", MaxAge: 60,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
}

// takeFlash returns the flash message r carries (nil: none) and clears it,
// so that it shows once.
func (u *ui) takeFlash(w http.ResponseWriter, r *http.Request) *flash {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return nil
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Path: "/ui", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	var f flash
	if err != nil || json.Unmarshal(b, &f) != nil || f.Msg == "" {
		return nil
	}
	return &f
}

// why says, for people, why the engine refused an action on task id. A
// refusal of the task's state names the state the task is in now.
func (u *ui) why(ctx context.Context, q *engine.Engine, id string, err error) string {
	if errors.Is(err, engine.ErrTaskState) {
		if t, gerr := q.GetTask(ctx, id); gerr == nil {
			return "task is " + string(t.State)
		}
		return "not allowed in the task's state"
	}
	return u.message(err)
}

// message is err as the dashboard shows it: the engine's message, except
// for a server failure, which is logged and shown as such.
func (u *ui) message(err error) string {
	status, body := wire.ErrorFor(err)
	if status >= 500 && status != http.StatusServiceUnavailable {
		u.a.logger.Error("dashboard action failed", "err", err)
		return "the server failed; see its log"
	}
	return body.Error.Message
}

// --- one task ---

// taskVerb is an action on one task.
type taskVerb struct {
	name string // as in the route and the flash: "retry"
	past string // "retried"
	do   func(q *engine.Engine, ctx context.Context, id string) error
}

var taskVerbs = map[string]taskVerb{
	"retry":  {"retry", "retried: it is pending again", (*engine.Engine).Retry},
	"cancel": {"cancel", "cancelled, with the tasks that depend on it", (*engine.Engine).Cancel},
	"pause":  {"pause", "paused", (*engine.Engine).PauseSchedule},
	"resume": {"resume", "resumed", (*engine.Engine).ResumeSchedule},
}

// taskAction does v on the task the route names.
func (u *ui) taskAction(v taskVerb) actionFunc {
	return func(w http.ResponseWriter, r *http.Request, q *engine.Engine) {
		id := r.PathValue("id")
		noun := "task"
		if t, err := q.GetTask(r.Context(), id); err == nil && t.State == engine.StateScheduled {
			noun = "schedule"
		}
		back := r.PostFormValue("back")
		if err := v.do(q, r.Context(), id); err != nil {
			u.done(w, r, back, flash{Msg: fmt.Sprintf("Cannot %s %s %s: %s.", v.name, noun, id, u.why(r.Context(), q, id, err))})
			return
		}
		u.done(w, r, back, flash{OK: true, Msg: fmt.Sprintf("The %s %s was %s.", noun, id, v.past)})
	}
}

// confirmDelete is the delete confirmation's data.
type confirmDelete struct {
	Task *engine.Task
	Back string
}

// deleteTask asks, then deletes the task the route names. Deleting a task
// that has not ended cancels the tasks that depend on it.
func (u *ui) deleteTask(w http.ResponseWriter, r *http.Request, q *engine.Engine) {
	id := r.PathValue("id")
	back := safeNext(r.PostFormValue("back"))
	if back == taskURL(id) || strings.HasPrefix(back, taskURL(id)+"?") {
		back = "/ui/tasks" // the task's page is gone once it is
	}
	if r.PostFormValue("confirm") != "yes" {
		t, err := q.GetTask(r.Context(), id)
		if err != nil {
			u.done(w, r, back, flash{Msg: fmt.Sprintf("Cannot delete task %s: %s.", id, u.why(r.Context(), q, id, err))})
			return
		}
		u.render(w, http.StatusOK, "confirm-delete", u.actionView(w, r, "Delete "+id+"?", confirmDelete{Task: t, Back: back}))
		return
	}
	if err := q.DeleteTask(r.Context(), id); err != nil {
		u.done(w, r, back, flash{Msg: fmt.Sprintf("Cannot delete task %s: %s.", id, u.why(r.Context(), q, id, err))})
		return
	}
	u.done(w, r, back, flash{OK: true, Msg: fmt.Sprintf("Deleted %s.", id)})
}

// actionView is the view of a confirmation page.
func (u *ui) actionView(w http.ResponseWriter, r *http.Request, title string, page any) view {
	return view{Title: title, SignedIn: u.session != "", CSRF: u.csrf(w, r), Actions: true, Page: page}
}

// taskActions says which actions the task page offers for t.
type taskActions struct {
	Retry, Cancel, Pause, Resume bool
}

// actionsFor is what t's state allows: the engine decides in the end (the
// state may change before the form is sent), this only hides buttons that
// would be refused.
func actionsFor(t *engine.Task) taskActions {
	var a taskActions
	switch t.State {
	case engine.StateFailed, engine.StateExpired, engine.StateCancelled:
		a.Retry = true
	case engine.StatePending, engine.StateWaiting:
		a.Cancel = true
	}
	live := t.State == engine.StateScheduled || t.State == engine.StatePending || t.State == engine.StateWaiting
	if t.Schedule != nil && live {
		a.Pause, a.Resume = !t.Schedule.Paused, t.Schedule.Paused
	}
	return a
}

// --- queues ---

// queueAction pauses (or resumes) the queue the route names.
func (u *ui) queueAction(pause bool) actionFunc {
	return func(w http.ResponseWriter, r *http.Request, q *engine.Engine) {
		name := r.PathValue("name")
		back := r.PostFormValue("back")
		do, verb, ok := q.ResumeQueue, "resume", "Queue %s resumed."
		if pause {
			do, verb, ok = q.PauseQueue, "pause", "Queue %s paused: no worker takes its tasks until it is resumed."
		}
		if err := do(r.Context(), name); err != nil {
			msg := u.message(err)
			if errors.Is(err, engine.ErrTaskState) {
				msg = map[bool]string{true: "it is paused already", false: "it is not paused"}[pause]
			}
			u.done(w, r, back, flash{Msg: fmt.Sprintf("Cannot %s queue %s: %s.", verb, name, msg)})
			return
		}
		u.done(w, r, back, flash{OK: true, Msg: fmt.Sprintf(ok, name)})
	}
}

// --- over a filter ---

// bulkVerb is an action over every task a filter matches.
type bulkVerb struct {
	Name string // "retry"
	Verb string // "Retry"
	Past string // "retried"
	do   func(q *engine.Engine, ctx context.Context, ids []string) ([]error, error)
}

var bulkVerbs = map[string]bulkVerb{
	"retry":  {"retry", "Retry", "retried", (*engine.Engine).RetryTasks},
	"cancel": {"cancel", "Cancel", "cancelled", (*engine.Engine).CancelTasks},
	"delete": {"delete", "Delete", "deleted", (*engine.Engine).DeleteTasks},
}

// formField is a hidden field of a form.
type formField struct{ Name, Value string }

// bulkPage is the bulk confirmation's data.
type bulkPage struct {
	Action bulkVerb
	Filter string      // the filter, for people ("queue=mail state=failed", "every task")
	Fields []formField // the filter, as the confirmation sends it back
	Count  int         // how many match now, at most Limit
	More   bool        // more than Limit match
	Limit  int
	Sample []*engine.Task
	Back   string // the list under the filter
}

// filterFromForm reads the filter of the bulk form: the task list's fields.
func filterFromForm(r *http.Request) (engine.TaskFilter, error) {
	f := engine.TaskFilter{
		Queue: r.PostFormValue("queue"), State: engine.State(r.PostFormValue("state")), Func: r.PostFormValue("func"),
	}
	if f.State != "" && !knownState(f.State) {
		return f, fmt.Errorf("%w: state %q is not one of %v", engine.ErrInvalidArgument, f.State, uiStates)
	}
	return f, readSearch(&f, r.PostForm) // PostFormValue has parsed it
}

// readSearch reads the task list's search fields into f: q, and the
// enqueue-time bounds enqueued_after and enqueued_before, each an RFC 3339
// time or, as a datetime-local input sends it, a time without zone read
// as UTC.
func readSearch(f *engine.TaskFilter, vals url.Values) error {
	f.Q = vals.Get("q")
	for _, b := range []struct {
		name string
		to   *time.Time
	}{{"enqueued_after", &f.EnqueuedAfter}, {"enqueued_before", &f.EnqueuedBefore}} {
		v := strings.TrimSpace(vals.Get(b.name))
		if v == "" {
			continue
		}
		t, err := parseFormTime(v)
		if err != nil {
			return fmt.Errorf("%w: %s %q is not a time (2006-01-02T15:04:05, UTC, or RFC 3339)", engine.ErrInvalidArgument, b.name, v)
		}
		*b.to = t
	}
	return nil
}

// parseFormTime reads an RFC 3339 time, or one without zone as UTC.
func parseFormTime(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	var last error
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02"} {
		t, err := time.ParseInLocation(layout, v, time.UTC)
		if err == nil {
			return t, nil
		}
		last = err
	}
	return time.Time{}, last
}

// urlTime is t as the list's URL carries it ("": the zero time).
func urlTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// formTime is t as a datetime-local input shows it, in UTC ("": zero).
func formTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05")
}

// filterFields is f as hidden fields, read back by filterFromForm.
func filterFields(f engine.TaskFilter) []formField {
	var out []formField
	for _, kv := range []formField{{"queue", f.Queue}, {"state", string(f.State)}, {"func", f.Func},
		{"q", f.Q}, {"enqueued_after", urlTime(f.EnqueuedAfter)}, {"enqueued_before", urlTime(f.EnqueuedBefore)}} {
		if kv.Value != "" {
			out = append(out, kv)
		}
	}
	return out
}

// describe is f for people.
func describe(f engine.TaskFilter) string {
	var parts []string
	for _, kv := range filterFields(f) {
		parts = append(parts, kv.Name+"="+kv.Value)
	}
	if len(parts) == 0 {
		return "every task"
	}
	return strings.Join(parts, " ")
}

// bulk serves the bulk form: without confirm=yes it counts the tasks the
// filter matches now and asks; with it, it acts on every one of them.
func (u *ui) bulk(w http.ResponseWriter, r *http.Request, q *engine.Engine) {
	verb, ok := bulkVerbs[r.PostFormValue("action")]
	f, err := filterFromForm(r)
	back := listURL(f)
	switch {
	case !ok:
		u.fail(w, r, http.StatusBadRequest, fmt.Sprintf("No bulk action %q: retry, cancel or delete.", r.PostFormValue("action")))
		return
	case err != nil:
		u.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if r.PostFormValue("confirm") != "yes" {
		p := bulkPage{Action: verb, Filter: describe(f), Fields: filterFields(f), Limit: bulkLimit, Back: back}
		n, more, err := walkFilter(r.Context(), q, f, bulkLimit, func(tasks []*engine.Task) error {
			if room := bulkSample - len(p.Sample); room > 0 {
				p.Sample = append(p.Sample, tasks[:min(room, len(tasks))]...)
			}
			return nil
		})
		if err != nil {
			u.done(w, r, back, flash{Msg: fmt.Sprintf("Cannot list the tasks to %s: %s.", verb.Name, u.message(err))})
			return
		}
		p.Count, p.More = n, more
		title := fmt.Sprintf("%s %d tasks?", verb.Verb, n)
		u.render(w, http.StatusOK, "confirm-bulk", u.actionView(w, r, title, p))
		return
	}
	res := applyBulk(r.Context(), q, f, verb)
	u.done(w, r, back, u.bulkFlash(verb, f, res))
}

// bulkResult is what a bulk action did.
type bulkResult struct {
	Done    int
	Refused map[string]int // reason -> tasks
	More    bool           // it stopped at bulkLimit with more matching
	Err     error          // why it stopped early (an append or a read failed)
}

// applyBulk does verb to every task f matches, up to bulkLimit, a page of
// ListTasks (one batch append) at a time. Pages are cut by id, so a task
// the action moves out of the filter (a retried failed task) is neither
// acted on twice nor makes another skipped. A task whose state does not
// allow the action is refused, and counted by reason; the rest go on.
// Repeating it is safe: what it did no longer matches or is refused.
func applyBulk(ctx context.Context, q *engine.Engine, f engine.TaskFilter, verb bulkVerb) bulkResult {
	res := bulkResult{Refused: map[string]int{}}
	_, more, err := walkFilter(ctx, q, f, bulkLimit, func(tasks []*engine.Task) error {
		ids := make([]string, len(tasks))
		for i, t := range tasks {
			ids[i] = t.ID
		}
		errs, err := verb.do(q, ctx, ids)
		if err != nil {
			return err
		}
		for i, e := range errs { // one per id (engine.RetryTasks)
			if e == nil {
				res.Done++
			} else {
				res.Refused[refusal(e, tasks[i])]++
			}
		}
		return nil
	})
	res.More, res.Err = more, err
	return res
}

// refusal is the reason a bulk outcome is grouped by: the kind of error,
// without the id it names.
func refusal(err error, t *engine.Task) string {
	switch {
	case errors.Is(err, engine.ErrTaskState):
		return "task is " + string(t.State)
	case errors.Is(err, engine.ErrArchived):
		return "archived by retention"
	case errors.Is(err, engine.ErrNotFound):
		return "no such task (deleted meanwhile)"
	}
	_, body := wire.ErrorFor(err)
	if body.Error.Reason != "" {
		return body.Error.Code + " (" + body.Error.Reason + ")"
	}
	return body.Error.Code
}

// bulkFlash is the outcome of a bulk action for people.
func (u *ui) bulkFlash(verb bulkVerb, f engine.TaskFilter, res bulkResult) flash {
	refused := 0
	reasons := make([]string, 0, len(res.Refused))
	for reason, n := range res.Refused {
		refused += n
		reasons = append(reasons, reason)
	}
	sort.Slice(reasons, func(i, j int) bool {
		if a, b := res.Refused[reasons[i]], res.Refused[reasons[j]]; a != b {
			return a > b
		}
		return reasons[i] < reasons[j]
	})
	fl := flash{OK: res.Err == nil && refused == 0}
	if res.Done == 0 && refused == 0 && res.Err == nil {
		fl.Msg = fmt.Sprintf("%s over %s: no task matches; nothing was done.", verb.Verb, describe(f))
		fl.OK = true
		return fl
	}
	fl.Msg = fmt.Sprintf("%s over %s: %d %s, %d refused.", verb.Verb, describe(f), res.Done, verb.Past, refused)
	for _, reason := range reasons {
		fl.Lines = append(fl.Lines, fmt.Sprintf("%d refused: %s", res.Refused[reason], reason))
	}
	if res.More {
		fl.Msg += fmt.Sprintf(" It stopped at %d tasks, the most one action takes: more match; send it again to go on.", bulkLimit)
	}
	if res.Err != nil {
		fl.Msg += " It stopped early: " + u.message(res.Err) + "."
	}
	return fl
}

// walkFilter calls fn with each page of the tasks f matches, in id order,
// until the pages end, fn fails or limit tasks have been passed to it. n is
// how many were; more reports that others match past the limit.
func walkFilter(ctx context.Context, q *engine.Engine, f engine.TaskFilter, limit int, fn func([]*engine.Task) error) (n int, more bool, err error) {
	f.After, f.Limit = "", bulkChunk
	for {
		if n == limit {
			more, err := matchesAfter(ctx, q, f)
			return n, more, err
		}
		f.Limit = min(bulkChunk, limit-n)
		tasks, next, err := q.ListTasks(ctx, f)
		if err != nil {
			return n, false, err
		}
		if len(tasks) > 0 {
			if err := fn(tasks); err != nil {
				return n, false, err
			}
		}
		n += len(tasks)
		if next == "" {
			return n, false, nil
		}
		f.After = next
	}
}

// matchesAfter reports whether a task past f.After matches f. A page may
// end its bounded scan with none found and a cursor: it reads on from
// there until it finds one or the cursor ends.
func matchesAfter(ctx context.Context, q *engine.Engine, f engine.TaskFilter) (bool, error) {
	f.Limit = 1
	for {
		rest, next, err := q.ListTasks(ctx, f)
		if err != nil || len(rest) > 0 || next == "" {
			return len(rest) > 0, err
		}
		f.After = next
	}
}

// actionFuncs are the template functions of the action forms.
var actionFuncs = map[string]any{
	"actions":      actionsFor,
	"filterFields": filterFields,
	"formTime":     formTime,
	"withActions":  withActions,
	"scheduleForm": scheduleForm,
	// args makes a template's data of key, value pairs.
	"args": func(kv ...any) (map[string]any, error) {
		if len(kv)%2 != 0 {
			return nil, errors.New("args: want key, value pairs")
		}
		m := make(map[string]any, len(kv)/2)
		for i := 0; i < len(kv); i += 2 {
			k, ok := kv[i].(string)
			if !ok {
				return nil, fmt.Errorf("args: key %v is not a string", kv[i])
			}
			m[k] = kv[i+1]
		}
		return m, nil
	},
}

// actionRows is the schedules table's data on the live schedules page,
// where each schedule gets its pause or resume form. The table is shared
// with pages that only read (the overview, a past point): they pass
// tableRows, and scheduleForm gives them no form.
type actionRows struct {
	tableRows
	CSRF string
	Back string
}

// withActions adds the action forms' data to the schedules table of page
// v, unless the dashboard is read-only.
func withActions(t tableRows, v view, back string) any {
	if !v.Actions || t.At != nil {
		return t
	}
	return actionRows{tableRows: t, CSRF: v.CSRF, Back: back}
}

// scheduleForm is the data of a schedule's pause or resume form in the
// table d, nil when d shows none.
func scheduleForm(d any, row any) map[string]any {
	a, ok := d.(actionRows)
	sc, isSchedule := row.(engine.ScheduleInfo)
	if !ok || !isSchedule {
		return nil
	}
	return map[string]any{"CSRF": a.CSRF, "Back": a.Back, "ID": sc.ID, "Paused": sc.Paused}
}
