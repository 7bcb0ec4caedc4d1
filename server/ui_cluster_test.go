package server

import (
	"context"
	"strconv"
	"strings"
	"testing"
)

// The cluster page shows what GET /v1/cluster answers: the node, whether
// the log is shared, its position, head and lag, and the nodes.
func TestUIClusterPage(t *testing.T) {
	u := newPagesServer(t)
	u.enqueue(`{"id":"a","func":"f"}`)
	u.enqueue(`{"id":"b","func":"f"}`)
	st, err := u.q.Cluster(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	body := u.getPage("/ui/cluster", 200)
	for id, want := range map[string]string{
		"cluster-name":     st.Node,
		"cluster-position": strconv.FormatUint(st.Position, 10),
		"cluster-head":     strconv.FormatUint(st.Head, 10),
		"cluster-lag":      strconv.FormatUint(st.Lag, 10),
	} {
		if got := between(t, body, `id="`+id+`">`, "</td>"); strings.TrimPrefix(got, `id="`+id+`">`) != want {
			t.Errorf("%s: %q, want %q", id, got, want)
		}
	}
	if st.Position != 2 {
		t.Fatalf("position %d after two enqueues", st.Position)
	}
	shared := between(t, body, `id="cluster-shared">`, "</td>")
	if st.Shared != strings.Contains(shared, "yes") {
		t.Errorf("shared %v, page says %q", st.Shared, shared)
	}
	for _, n := range st.Nodes {
		if !strings.Contains(body, `data-node="`+n.Node+`"`) {
			t.Errorf("node %s missing", n.Node)
		}
	}
	if len(st.Nodes) == 0 {
		t.Fatal("Cluster lists no node, not even this one")
	}
	if !strings.Contains(body, `href="/ui/cluster"`) {
		t.Error("no nav entry for the cluster page")
	}
}
