package main

import (
	"cmp"
	"fmt"
	"html"
	"slices"
	"strings"
)

// The site's flow diagram: a layered layout computed from the graph, not
// placed by hand. Each group (role) is a column; columns are ordered from
// the groups that only connect out (consoles, backup servers) to the ones
// that only receive; within a column, nodes are ordered by the barycenter
// of their neighbours to cut crossings. (Graphviz through
// goccy/go-graphviz was tried: it compiles its WebAssembly at every
// program start into a cache in the shared /tmp, and panics when that
// cache is not writable, so it does not fit a root tool.)

const (
	nodeH     = 38
	rowGap    = 26
	colGap    = 170
	charW     = 7
	padX      = 16
	clusterTP = 34 // room for the group's title
	margin    = 20
)

type placedNode struct {
	reportNode
	x, y, w float64
	lines   []string
}

type placedColumn struct {
	group   string
	x, w, h float64
}

type flowLayout struct {
	nodes   map[string]*placedNode
	columns []placedColumn
	flows   []reportFlow
	w, h    float64
}

// layoutFlows places nodes and returns the layout; pure and deterministic.
func layoutFlows(nodes []reportNode, flows []reportFlow) *flowLayout {
	lay := &flowLayout{nodes: map[string]*placedNode{}, flows: flows}
	groups := map[string][]*placedNode{}
	for _, n := range nodes {
		p := &placedNode{reportNode: n, lines: strings.Split(n.Label, "\n")}
		for _, l := range p.lines {
			p.w = max(p.w, float64(len([]rune(l)))*charW+2*padX)
		}
		lay.nodes[n.ID] = p
		groups[n.Group] = append(groups[n.Group], p)
	}
	// Column order: more edges out than in goes left.
	score := map[string]int{}
	for _, f := range flows {
		a, b := lay.nodes[f.From], lay.nodes[f.To]
		if a == nil || b == nil || a.Group == b.Group {
			continue
		}
		score[a.Group]++
		score[b.Group]--
	}
	names := make([]string, 0, len(groups))
	for g := range groups {
		names = append(names, g)
	}
	slices.SortFunc(names, func(a, b string) int { return cmp.Or(cmp.Compare(score[b], score[a]), cmp.Compare(a, b)) })

	col := map[string]int{}
	for i, g := range names {
		col[g] = i
		slices.SortFunc(groups[g], func(a, b *placedNode) int { return cmp.Compare(a.ID, b.ID) })
	}
	place := func() {
		for _, g := range names {
			for i, n := range groups[g] {
				n.y = float64(i)
			}
		}
	}
	place()
	// Two barycenter sweeps: order each column by its neighbours' rows.
	for range 2 {
		for _, g := range names {
			bary := map[string]float64{}
			for _, n := range groups[g] {
				sum, k := 0.0, 0
				for _, f := range flows {
					var other *placedNode
					switch n.ID {
					case f.From:
						other = lay.nodes[f.To]
					case f.To:
						other = lay.nodes[f.From]
					}
					if other != nil && other.Group != g {
						sum, k = sum+other.y, k+1
					}
				}
				bary[n.ID] = n.y
				if k > 0 {
					bary[n.ID] = sum / float64(k)
				}
			}
			slices.SortStableFunc(groups[g], func(a, b *placedNode) int {
				return cmp.Or(cmp.Compare(bary[a.ID], bary[b.ID]), cmp.Compare(a.ID, b.ID))
			})
			for i, n := range groups[g] {
				n.y = float64(i)
			}
		}
	}
	// Coordinates.
	x := float64(margin)
	for _, g := range names {
		c := placedColumn{group: g, x: x}
		c.w = float64(len([]rune(g)))*charW + 2*padX
		for _, n := range groups[g] {
			c.w = max(c.w, n.w+2*padX)
		}
		for i, n := range groups[g] {
			n.x = x + (c.w-n.w)/2
			n.y = margin + clusterTP + float64(i)*(nodeH+rowGap)
		}
		c.h = clusterTP + float64(len(groups[g]))*(nodeH+rowGap)
		lay.columns = append(lay.columns, c)
		lay.h = max(lay.h, c.h+2*margin)
		x += c.w + colGap
	}
	lay.w = x - colGap + margin
	return lay
}

// flowSVG draws a layout as a standalone <svg> element. Every text is
// escaped.
func flowSVG(lay *flowLayout) string {
	var b strings.Builder
	esc := html.EscapeString
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="Helvetica,Arial,sans-serif" role="img" aria-label="flows between the hosts">`+"\n",
		lay.w, lay.h, lay.w, lay.h)
	b.WriteString(`<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>` + "\n")
	for _, c := range lay.columns {
		fmt.Fprintf(&b, `<g class="cluster"><rect x="%.1f" y="%d" width="%.1f" height="%.1f" rx="8" fill="none" stroke="#999" stroke-dasharray="4 3"/><text x="%.1f" y="%d" text-anchor="middle" font-size="13">%s</text></g>`+"\n",
			c.x, margin, c.w, c.h, c.x+c.w/2, margin+20, esc(c.group))
	}
	pairs := map[[2]string]bool{}
	for _, f := range lay.flows {
		pairs[[2]string{f.From, f.To}] = true
	}
	for _, f := range lay.flows {
		a, z := lay.nodes[f.From], lay.nodes[f.To]
		if a == nil || z == nil {
			continue
		}
		// A pair with edges both ways: one above the other, labels apart.
		off, labelOff := 0.0, 0.0
		if pairs[[2]string{f.To, f.From}] {
			off, labelOff = -8, -float64(len(f.Ports))*11/2-4
			if f.From > f.To {
				off, labelOff = 8, float64(len(f.Ports))*11/2+8
			}
		}
		x1, y1 := a.x+a.w, a.y+nodeH/2+off
		x2, y2 := z.x, z.y+nodeH/2+off
		var d string
		switch {
		case a.Group == z.Group: // within a column: an arc out to the right
			x1, x2 = a.x+a.w, z.x+z.w
			bulge := 40 + abs(y2-y1)/4
			d = fmt.Sprintf("M%.1f,%.1f C%.1f,%.1f %.1f,%.1f %.1f,%.1f", x1, y1, x1+bulge, y1, x2+bulge, y2, x2, y2)
		case x2 < x1: // right to left
			x1, x2 = a.x, z.x+z.w
			fallthrough
		default:
			mid := (x1 + x2) / 2
			d = fmt.Sprintf("M%.1f,%.1f C%.1f,%.1f %.1f,%.1f %.1f,%.1f", x1, y1, mid, y1, mid, y2, x2, y2)
		}
		lx, ly := (x1+x2)/2, (y1+y2)/2+labelOff
		if a.Group == z.Group {
			lx = max(x1, x2) + 30 + abs(y2-y1)/8
		}
		fmt.Fprintf(&b, `<g class="edge"><title>%s</title><path d="%s" fill="none" stroke="#555" marker-end="url(#arrow)"/>`, esc(f.From+" -> "+f.To), d)
		for i, p := range f.Ports {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="10" paint-order="stroke" stroke="#fff" stroke-width="3">%s</text>`,
				lx, ly-4+float64(i-len(f.Ports)/2)*11, esc(p))
		}
		b.WriteString("</g>\n")
	}
	for _, id := range sortedNodeIDs(lay) {
		n := lay.nodes[id]
		fmt.Fprintf(&b, `<g class="node pw-%s"><title>%s</title><rect x="%.1f" y="%.1f" width="%.1f" height="%d" rx="6" fill="%s" stroke="#333"/>`,
			esc(n.Kind), esc(n.ID), n.x, n.y, n.w, nodeH, stateColor(n.reportNode))
		for i, l := range n.lines {
			size := 12
			if i > 0 {
				size = 10
			}
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="%d">%s</text>`,
				n.x+n.w/2, n.y+15+float64(i)*14, size, esc(l))
		}
		b.WriteString("</g>\n")
	}
	b.WriteString("</svg>")
	return b.String()
}

func sortedNodeIDs(lay *flowLayout) []string {
	ids := make([]string, 0, len(lay.nodes))
	for id := range lay.nodes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

func stateColor(n reportNode) string {
	switch {
	case n.Kind != "host":
		return "#e8eef7"
	case n.State == reportInSync:
		return "#d5f0d5"
	case n.State == reportDrift:
		return "#ffe2b3"
	case n.State == reportUnreachable:
		return "#f7c6c6"
	}
	return "#eeeeee"
}
