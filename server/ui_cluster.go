package server

import (
	"net/http"

	"github.com/omniq/omniq/engine"
)

// The cluster page (/ui/cluster): what GET /v1/cluster answers
// (engine.Cluster), as tables: this node, how it shares its log, and the
// nodes whose presence records are live.

func (u *ui) cluster(r *http.Request, q *engine.Engine) (string, view, error) {
	st, err := q.Cluster(r.Context())
	if err != nil {
		return "", view{}, err
	}
	return "cluster", view{Title: "Cluster", Position: st.Position, Live: "/ui/cluster?fragment=1", Page: st}, nil
}
