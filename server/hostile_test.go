package server

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/omniq/omniq/client"
)

// A 100k-long dependency chain is within the limits: one batch of 100,000
// tasks, each depending on the one before, fits the default body limit and
// is enqueued atomically; deleting its root cancels all of it. Past the
// body limit the same batch is refused whole (TestAPIMalformedRequestsAppendNothing),
// and one task cannot name more than engine.MaxDependencies ids.
func TestAPIHundredThousandLongChain(t *testing.T) {
	if testing.Short() {
		t.Skip("enqueues 100,000 tasks")
	}
	t.Parallel() // long under -race; it shares nothing
	const n = 100_000
	td := newTestServer(t, Config{})
	var b strings.Builder
	b.WriteString(`{"tasks":[{"id":"c0","func":"f"}`)
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, `,{"id":"c%d","func":"f","depends_on":["c%d"]}`, i, i-1)
	}
	b.WriteString("]}")
	before := td.head()
	rec := td.call("POST", "/v1/tasks", b.String())
	if rec.Code != http.StatusCreated {
		t.Fatalf("chain: status %d: %.300s", rec.Code, rec.Body)
	}
	if got := td.head() - before; got != n {
		t.Fatalf("chain appended %d events, want %d", got, n)
	}
	var last client.Task
	td.want(td.call("GET", fmt.Sprintf("/v1/tasks/c%d", n-1), ""), http.StatusOK, &last)
	if last.State != "waiting" {
		t.Fatalf("the chain's end is %s, want waiting", last.State)
	}
	// Only the root is ready.
	var leased client.TaskList
	td.want(td.call("POST", "/v1/queues/default/dequeue?n=10", ""), http.StatusOK, &leased)
	if len(leased.Tasks) != 1 || leased.Tasks[0].ID != "c0" {
		t.Fatalf("dequeued %+v, want only the root", leased.Tasks)
	}
	// Deleting the root cancels the whole chain, in one append.
	before = td.head()
	td.want(td.call("DELETE", "/v1/tasks/c0", ""), http.StatusNoContent, nil)
	if got := td.head() - before; got != n {
		t.Fatalf("deleting the root appended %d events, want %d (the deletion and %d cancellations)", got, n, n-1)
	}
	td.want(td.call("GET", fmt.Sprintf("/v1/tasks/c%d", n-1), ""), http.StatusOK, &last)
	if last.State != "cancelled" {
		t.Fatalf("the chain's end is %s after its root was deleted, want cancelled", last.State)
	}
}
