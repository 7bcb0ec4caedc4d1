package server

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/omniq/omniq/client"
)

// GET /v1/tasks pages through the tasks under the query's filter; every
// exchange is checked against openapi.json.
func TestAPIListTasks(t *testing.T) {
	td := newTestServer(t, Config{})
	td.enqueue(`{"tasks":[{"id":"a1","func":"send","queue_name":"mail","args":["Hello"]},{"id":"b2","func":"send","queue_name":"mail","kwargs":{"to":"Bob"}},{"id":"c3","func":"resize","queue_name":"img","meta":{"tenant":"ACME"}}]}`)
	td.want(td.call("POST", "/v1/queues/mail/dequeue", ""), http.StatusOK, nil)
	td.want(td.call("POST", "/v1/tasks/a1/complete", `{"attempt":1,"result":"ok"}`), http.StatusOK, nil)

	list := func(query string) (ids []string, next string) {
		t.Helper()
		var page client.TaskPage
		td.want(td.call("GET", "/v1/tasks?"+query, ""), http.StatusOK, &page)
		for _, tk := range page.Tasks {
			ids = append(ids, tk.ID+"/"+tk.State)
		}
		return ids, page.NextCursor
	}
	future := url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339))
	for _, c := range []struct{ query, want string }{
		{"", "[a1/completed b2/pending c3/pending] "},
		{"limit=2", "[a1/completed b2/pending] b2"},
		{"limit=2&cursor=b2", "[c3/pending] "},
		{"queue=mail&state=pending", "[b2/pending] "},
		{"func=resize", "[c3/pending] "},
		{"q=acme", "[c3/pending] "},
		{"q=BOB", "[b2/pending] "},
		{"state=completed&q=hello", "[a1/completed] "},
		{"enqueued_after=" + future, "[] "},
		{"enqueued_before=" + future + "&queue=img", "[c3/pending] "},
	} {
		ids, next := list(c.query)
		if got := fmt.Sprintf("%v %s", ids, next); got != c.want {
			t.Errorf("GET /v1/tasks?%s: %s, want %s", c.query, got, c.want)
		}
	}
	var page client.TaskPage
	td.want(td.call("GET", "/v1/tasks?q=hello", ""), http.StatusOK, &page)
	if len(page.Tasks) != 1 || page.Tasks[0].Args[0] != "Hello" || page.Tasks[0].Result != "ok" || page.Tasks[0].CreatedAt.IsZero() {
		t.Errorf("the task listed: %+v", page.Tasks)
	}
}

func TestAPIListTasksBadParameters(t *testing.T) {
	td := newTestServer(t, Config{})
	head := td.head()
	for _, query := range []string{
		"limit=0", "limit=-1", "limit=x", "limit=1001",
		"state=nope",
		"enqueued_after=yesterday", "enqueued_before=2026-13-01T00:00:00Z",
		"enqueued_after=2026-01-02T00:00:00Z&enqueued_before=2026-01-01T00:00:00Z",
		"q=" + strings.Repeat("x", 257),
		"queue=a&queue=b",
		"sort=id",
	} {
		td.wantError(td.call("GET", "/v1/tasks?"+query, ""), http.StatusBadRequest, "invalid_argument")
	}
	if td.head() != head {
		t.Error("a refused listing appended to the log")
	}
}
