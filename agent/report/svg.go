package report

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/otaudit/otaudit"
)

// The SVG drawings are laid out here, in Go, as plain numbers and short
// strings; the template only places them. Text that came from the network
// is cut to fit (it would otherwise overflow the boxes) and is escaped by
// html/template like any other text.

// ---- SL-T against the achieved SL interval per foundational requirement

type slChart struct {
	Width, Height       int
	PlotLeft, PlotRight float64
	Top, Bottom         float64
	Ticks               []tick
	Rows                []slRow
	LegendY             float64
}

type tick struct {
	X     float64
	Label string
}

type slRow struct {
	Label, Name          string
	Y, YMid              float64
	BarX, BarW           float64
	Class                string
	TargetX              float64
	HasGap               bool
	GapX, GapW           float64
	Text                 string
	TargetTop, TargetBot float64
}

const (
	maxSL       = 4
	slRowHeight = 38
)

func newSLChart(rows []frRow) slChart {
	c := slChart{Width: 1000, PlotLeft: 270, PlotRight: 740, Top: 34}
	c.Bottom = c.Top + float64(len(rows)*slRowHeight)
	c.LegendY = c.Bottom + 30
	c.Height = int(c.LegendY) + 16
	step := (c.PlotRight - c.PlotLeft) / maxSL
	x := func(level int) float64 { return c.PlotLeft + float64(min(max(level, 0), maxSL))*step }
	for l := 0; l <= maxSL; l++ {
		c.Ticks = append(c.Ticks, tick{X: x(l), Label: fmt.Sprintf("SL %d", l)})
	}
	for i, r := range rows {
		y := c.Top + float64(i*slRowHeight)
		row := slRow{
			Label: r.ID + " " + r.Code, Name: r.Name, Y: y, YMid: y + slRowHeight/2,
			Class: r.StatusID, TargetX: x(r.Target), TargetTop: y + 5, TargetBot: y + slRowHeight - 5,
			Text: fmt.Sprintf("SL-T %d · SL-A %s", r.Target, r.Interval),
		}
		// The interval bar spans [Lower, Upper]; a point interval still
		// gets a visible width.
		const pad = 7
		row.BarX = x(r.Lower) - pad
		row.BarW = x(r.Upper) - x(r.Lower) + 2*pad
		if r.Upper < r.Target {
			row.HasGap = true
			row.GapX = x(r.Upper) + pad
			row.GapW = max(x(r.Target)-x(r.Upper)-pad, 0)
		}
		c.Rows = append(c.Rows, row)
	}
	return c
}

// ---- conduit map: the zone, its declared peer zones and who it talked to

type conduitMap struct {
	Width, Height int
	Zone          mapBox
	Nodes         []mapBox
	Edges         []mapEdge
	LegendY       float64
	Empty         bool
}

type mapBox struct {
	X, Y, W, H float64
	Title      string
	Lines      []mapLine
	Class      string
}

type mapLine struct {
	Y    float64
	Text string
}

type mapEdge struct {
	X1, Y1, X2, Y2 float64
	// C1X, C2X are the Bézier control points' x; the curve keeps the
	// end points' y.
	C1X, C2X           float64
	LabelX, LabelY     float64
	LabelW, LabelRectX float64
	Label              string
	Class              string
}

const (
	mapWidth     = 960
	zoneBoxX     = 24.0
	zoneBoxW     = 270.0
	nodeBoxX     = 636.0
	nodeBoxW     = 300.0
	nodeBoxH     = 66.0
	nodeGap      = 22.0
	mapTop       = 20.0
	maxMapPeers  = 8
	textCut      = 40
	labelCharPx  = 6.2
	labelPadding = 12.0
)

// cut shortens s to n runes with an ellipsis, so that a long (or hostile)
// name cannot push text out of its box.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

type mapPeer struct {
	key      string // peer zone name or the peer address
	title    string
	lines    []string
	class    string
	declared bool
	// protocols per declaredness of the edge: true = allowed by a conduit.
	protocols map[bool]map[string]bool
	flows     map[bool]int64
	allowed   string // protocols the conduits to this peer zone allow
}

func newConduitMap(z otaudit.Zone, assets []otaudit.Asset, flows []boundaryFlowRow) conduitMap {
	m := conduitMap{Width: mapWidth}
	names := map[string]otaudit.Asset{}
	inZone, unregistered := 0, 0
	for _, a := range assets {
		if a.IP.IsValid() {
			names[a.IP.String()] = a
		}
		if a.Zone != "" {
			inZone++
			if !a.Registered {
				unregistered++
			}
		}
	}

	var peers []*mapPeer
	byKey := map[string]*mapPeer{}
	add := func(p *mapPeer) *mapPeer {
		if q := byKey[p.key]; q != nil {
			return q
		}
		p.protocols = map[bool]map[string]bool{true: {}, false: {}}
		p.flows = map[bool]int64{}
		byKey[p.key] = p
		peers = append(peers, p)
		return p
	}
	// Declared peer zones first, in the configuration's order, whether or
	// not traffic was seen: an idle conduit is information too.
	for _, c := range z.Conduits {
		key := "zone:" + c.PeerZone
		p := add(&mapPeer{key: key, title: cmp.Or(c.PeerZone, c.Name), class: "peer-declared", declared: true})
		p.lines = appendUnique(p.lines, cut(prefixes(c.PeerCIDRs), textCut))
		p.allowed = joinUnique(p.allowed, strings.Join(c.Protocols, ", "))
	}
	var unknown []string
	for _, f := range flows {
		if f.PeerZone == "" && !slices.Contains(unknown, f.Peer) {
			unknown = append(unknown, f.Peer)
		}
	}
	slices.SortFunc(unknown, compareAddr)
	for i, ip := range unknown {
		if i == maxMapPeers {
			add(&mapPeer{key: "more", title: fmt.Sprintf("%d more outside addresses", len(unknown)-maxMapPeers),
				lines: []string{"in no declared peer zone"}, class: "peer-unknown"})
			break
		}
		title := ip
		var lines []string
		if a, ok := names[ip]; ok && (a.Name != "" || a.Role != "") {
			lines = append(lines, cut(strings.Join(nonEmpty(a.Name, a.Role), " · "), textCut))
		}
		lines = append(lines, "in no declared peer zone")
		add(&mapPeer{key: "ip:" + ip, title: title, lines: lines, class: "peer-unknown"})
	}
	for _, f := range flows {
		key := "zone:" + f.PeerZone
		if f.PeerZone == "" {
			key = "ip:" + f.Peer
			if byKey[key] == nil {
				key = "more"
			}
		}
		p := byKey[key]
		if p == nil {
			continue
		}
		p.protocols[f.Declared][f.Protocol] = true
		p.flows[f.Declared] += f.Flows
	}
	for _, p := range peers {
		if p.allowed != "" {
			p.lines = append(p.lines, cut("conduit allows: "+p.allowed, textCut))
		}
	}

	// Layout: the zone on the left, the peers stacked on the right.
	n := max(len(peers), 1)
	span := float64(n)*nodeBoxH + float64(n-1)*nodeGap
	zoneH := max(150, span)
	m.Height = int(mapTop + max(span, zoneH) + 56)
	m.LegendY = float64(m.Height) - 18
	m.Zone = mapBox{X: zoneBoxX, Y: mapTop + (max(span, zoneH)-zoneH)/2, W: zoneBoxW, H: zoneH,
		Title: cut("Zone "+cmp.Or(z.Name, "(unnamed)"), 34), Class: "zone"}
	zoneLines := []string{
		cut(cmp.Or(prefixes(z.CIDRs), "no address ranges declared"), textCut),
		fmt.Sprintf("%d assets inside, %d unregistered", inZone, unregistered),
	}
	if len(z.JumpHosts) > 0 {
		zoneLines = append(zoneLines, cut("jump hosts: "+prefixes(z.JumpHosts), textCut))
	}
	if len(z.AllowedProtocols) > 0 {
		zoneLines = append(zoneLines, cut("allowed: "+strings.Join(z.AllowedProtocols, ", "), textCut))
	}
	for i, l := range zoneLines {
		m.Zone.Lines = append(m.Zone.Lines, mapLine{Y: m.Zone.Y + 52 + float64(i)*18, Text: l})
	}
	if len(peers) == 0 {
		m.Empty = true
		return m
	}
	top := mapTop + (max(span, zoneH)-span)/2

	type pending struct {
		node          int
		class, label  string
		declaredOrder int
	}
	var edges []pending
	for i, p := range peers {
		y := top + float64(i)*(nodeBoxH+nodeGap)
		box := mapBox{X: nodeBoxX, Y: y, W: nodeBoxW, H: nodeBoxH, Title: cut(p.title, 34), Class: p.class}
		for j, l := range p.lines {
			if j == 2 {
				break
			}
			box.Lines = append(box.Lines, mapLine{Y: y + 42 + float64(j)*16, Text: l})
		}
		m.Nodes = append(m.Nodes, box)
		seen := false
		for _, declared := range []bool{true, false} {
			protos := sortedKeys(p.protocols[declared])
			if len(protos) == 0 {
				continue
			}
			seen = true
			class, what := "edge-declared", "via conduit"
			if !declared {
				class, what = "edge-undeclared", "undeclared"
			}
			label := fmt.Sprintf("%s: %s · %d %s", what, strings.Join(protos, ", "), p.flows[declared], plural(p.flows[declared], "flow", "flows"))
			edges = append(edges, pending{node: i, class: class, label: cut(label, 48)})
		}
		if !seen && p.declared {
			edges = append(edges, pending{node: i, class: "edge-idle", label: "declared conduit · no traffic seen"})
		}
	}
	// Spread the edges' zone ends along the zone box's right side, and
	// offset two edges that reach the same peer.
	perNode := map[int]int{}
	for _, e := range edges {
		perNode[e.node]++
	}
	done := map[int]int{}
	for i, e := range edges {
		zy := m.Zone.Y + m.Zone.H*float64(i+1)/float64(len(edges)+1)
		node := m.Nodes[e.node]
		ny := node.Y + node.H/2
		if perNode[e.node] > 1 {
			ny += float64(done[e.node]*2-1) * 12
		}
		done[e.node]++
		x1, x2 := m.Zone.X+m.Zone.W, node.X
		lw := float64(utf8.RuneCountInString(e.label))*labelCharPx + labelPadding
		m.Edges = append(m.Edges, mapEdge{
			X1: x1, Y1: zy, X2: x2, Y2: ny, C1X: x1 + (x2-x1)*0.45, C2X: x1 + (x2-x1)*0.55,
			LabelX: (x1 + x2) / 2, LabelY: (zy+ny)/2 + 4, LabelW: lw, LabelRectX: (x1+x2)/2 - lw/2,
			Label: e.label, Class: e.class,
		})
	}
	return m
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func appendUnique(list []string, s string) []string {
	if s == "" || slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

func joinUnique(list, add string) string {
	if list == "" {
		return add
	}
	have := strings.Split(list, ", ")
	for _, p := range strings.Split(add, ", ") {
		if p != "" && !slices.Contains(have, p) {
			have = append(have, p)
		}
	}
	return strings.Join(have, ", ")
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
