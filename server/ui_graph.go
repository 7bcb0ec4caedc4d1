package server

import (
	"sort"

	"github.com/omniq/omniq/engine"
)

// Sizes of the dependency graph's drawing, in SVG user units.
const (
	nodeW, nodeH   = 190, 38
	colGap, rowGap = 60, 14
	graphPad       = 10
	maxLabel       = 22
)

// graphView is a dependency graph laid out for the task page's SVG: one
// column per level, upstream on the left.
type graphView struct {
	Width, Height int
	NodeW, NodeH  int // every node's box
	Nodes         []nodeView
	Edges         []edgeView
	Truncated     bool
}

// nodeView is one task of the drawing.
type nodeView struct {
	ID, Label, State string
	Self             bool // the task the page is about
	X, Y             int
}

// edgeView is a line from a task to one it depends on.
type edgeView struct {
	X1, Y1, X2, Y2 int
}

// layoutGraph places g's nodes in columns by level and draws each edge
// from the right side of the dependency to the left side of its dependant.
func layoutGraph(g engine.TaskGraph) graphView {
	v := graphView{NodeW: nodeW, NodeH: nodeH, Truncated: g.Truncated}
	if len(g.Nodes) == 0 {
		return v
	}
	minLevel, maxLevel := 0, 0
	for _, n := range g.Nodes {
		minLevel, maxLevel = min(minLevel, n.Level), max(maxLevel, n.Level)
	}
	rows := map[int]int{} // nodes placed per level so far
	at := map[string]nodeView{}
	nodes := append([]engine.GraphNode(nil), g.Nodes...)
	sort.SliceStable(nodes, func(i, j int) bool { return nodes[i].Level < nodes[j].Level })
	for _, n := range nodes {
		label := n.ID
		if r := []rune(label); len(r) > maxLabel {
			label = string(r[:maxLabel-1]) + "…"
		}
		state := string(n.State)
		if state == "" {
			state = "unknown"
		}
		nv := nodeView{
			ID: n.ID, Label: label, State: state, Self: n.Level == 0 && n.ID == g.Nodes[0].ID,
			X: graphPad + (n.Level-minLevel)*(nodeW+colGap),
			Y: graphPad + rows[n.Level]*(nodeH+rowGap),
		}
		rows[n.Level]++
		at[n.ID] = nv
		v.Nodes = append(v.Nodes, nv)
	}
	most := 0
	for _, n := range rows {
		most = max(most, n)
	}
	v.Width = 2*graphPad + (maxLevel-minLevel+1)*nodeW + (maxLevel-minLevel)*colGap
	v.Height = 2*graphPad + most*nodeH + (most-1)*rowGap
	for _, e := range g.Edges {
		from, to := at[e.From], at[e.To] // From depends on To
		v.Edges = append(v.Edges, edgeView{X1: to.X + nodeW, Y1: to.Y + nodeH/2, X2: from.X, Y2: from.Y + nodeH/2})
	}
	return v
}
