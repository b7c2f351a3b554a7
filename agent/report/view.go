package report

import (
	"cmp"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/otaudit/otaudit"
)

// view is the page as the template sees it: every value is already
// formatted, every list sorted, so the template holds layout only.
type view struct {
	Title     string
	Generated string
	Zone      zoneView
	Latest    *scanView
	// Seen is when the traffic behind the inventory was seen.
	Seen  string
	Scans []scanView
	Notes []string

	Summary summary

	HasScore      bool
	ScanID        uint64
	SLChart       slChart
	FRs           []frRow
	Objectives    []objectiveView
	SubObjectives []objectiveView
	Backlog       []backlogRow
	Attestations  []attestationRow

	FindingGroups  []findingGroup
	ClosedFindings []findingView

	Sessions []sessionView

	Bounded       bool
	Map           conduitMap
	BoundaryFlows []boundaryFlowRow

	Assets []assetView
}

type zoneView struct {
	Name, Description  string
	CIDRs              string
	Purdue             string
	Safety             bool
	EngineeringHosts   string
	JumpHosts          string
	AllowedProtocols   string
	MaxRemoteSession   string
	MaintenanceWindows string
	Registered         int
	Conduits           []conduitRow
}

type conduitRow struct{ Name, PeerZone, PeerCIDRs, Protocols, SLTarget string }

type scanView struct {
	ID                       uint64
	Mode, Status, StatusKind string
	Started, Finished        string
	Sources                  string
	SourceNames              string // base names, for the page header
	Packets                  int64
	Warnings                 []string
	Error                    string
}

// baseNames shortens source paths to their file names.
func baseNames(sources []string) string {
	out := make([]string, len(sources))
	for i, src := range sources {
		out[i] = filepath.Base(src)
	}
	return strings.Join(out, ", ")
}

type summary struct {
	OpenFindings    int
	BySeverity      []severityCount
	Assets          int
	InZone          int
	Unregistered    int
	RemoteSessions  int
	UndeclaredFlows int
	FRsMet          int
	FRsScored       int
}

type severityCount struct {
	Name, Class string
	Count       int
}

type frRow struct {
	ID, Code, Name   string
	Target           int
	Lower, Upper     int
	Interval         string
	Status, StatusID string
	Failed           string
	Attested         string
	Compensated      string
	Expired          string
}

type objectiveView struct {
	ID, Code, Title string
	Score           string
	Band            string
	Class           string
	Bar             int // 0–100, the score bar's width in percent
	Coverage        string
	Failing         []string
	MoreFailing     int
	Cap             string
	Assessed        bool
}

type backlogRow struct {
	Rank        int
	Requirement string
	FR          string
	Level       int
	Severity    string
	SevClass    string
	Checks      string
}

type attestationRow struct {
	Requirement, Kind, Description, Evidence, Approver, Expires string
	Valid                                                       bool
}

type findingGroup struct {
	Severity, Class string
	Findings        []findingView
}

type findingView struct {
	ID, CheckID, Title       string
	Severity, Class          string
	Objective                string
	Asset                    string
	Summary, Remediation     string
	SR                       []refChip
	IEC62443_2_1, IEC62443_4 string
	ISO27001, ATTACK         string
	Evidence                 []evidenceRow
	MoreEvidence             int
	FirstSeen, LastSeen      string
	Status, StatusNote       string
}

type refChip struct {
	Text      string
	Disproved bool
}

type evidenceRow struct {
	Source, Kind, Detail, Path string
	Count, FirstFrame          string
	Seen                       string
}

type sessionView struct {
	Protocol, Client, Server string
	Start, Duration          string
	ToServer, ToClient       string
	Encrypted, OpenAtEnd     bool
	Detail                   string
	Crosses, ViaJumpHost     bool
	Window                   string
}

type boundaryFlowRow struct {
	Inside, Peer, PeerZone string
	Protocol, Port         string
	Direction              string
	Flows, Connections     int64
	Answered               bool
	Conduit                string
	Declared               bool
}

type assetView struct {
	IP, Name, Vendor, VendorFrom string
	Model, Firmware, Role        string
	Zone                         string
	Inside, Registered           bool
	Serves, Uses                 string
	FirstSeen, LastSeen          string
	OpenFindings                 int
	WorstClass                   string
}

const (
	stampLayout = "2006-01-02 15:04:05Z"
	maxEvidence = 12
	// maxCardFailing bounds the failing checks an objective card lists.
	maxCardFailing = 5
	notSeenMarker  = "—"
)

func stamp(t time.Time) string {
	if t.IsZero() {
		return notSeenMarker
	}
	return t.UTC().Format(stampLayout)
}

func dash(s string) string {
	if strings.TrimSpace(s) == "" {
		return notSeenMarker
	}
	return s
}

func prefixes(ps []netip.Prefix) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return strings.Join(out, ", ")
}

// severityClass is the CSS class of a severity; classes are fixed words so
// that nothing from the data ever lands in a class attribute.
func severityClass(s otaudit.Severity) string {
	switch s {
	case otaudit.SeverityCritical:
		return "critical"
	case otaudit.SeverityHigh:
		return "high"
	case otaudit.SeverityMedium:
		return "medium"
	case otaudit.SeverityLow:
		return "low"
	}
	return "info"
}

func buildView(d Data) view {
	v := view{
		Title:     "IEC 62443 zone report — " + cmp.Or(d.Zone.Name, "(unnamed zone)"),
		Generated: stamp(d.Generated),
		Zone:      zoneOf(d.Zone),
		Notes:     d.Notes,
	}
	scans := slices.Clone(d.Scans)
	slices.SortFunc(scans, func(a, b otaudit.Scan) int { return cmp.Compare(b.ID, a.ID) })
	for _, s := range scans {
		v.Scans = append(v.Scans, scanOf(s))
	}

	score, ok := scoreOf(d)
	if ok {
		v.HasScore = true
		v.ScanID = score.ScanID
		for i := range v.Scans {
			if v.Scans[i].ID == score.ScanID {
				v.Latest = &v.Scans[i]
			}
		}
		v.FRs = frRows(score.FRs)
		v.SLChart = newSLChart(v.FRs)
		v.Objectives = objectives(score.Objectives, false)
		v.SubObjectives = objectives(score.SubObjectives, true)
		v.Backlog = backlog(score.Backlog)
		v.Attestations = attestations(score.Attestations, d.Generated)
	}
	if v.Latest == nil && len(v.Scans) > 0 {
		v.Latest = &v.Scans[0]
	}

	v.Seen = seenWindow(d.Assets)
	inside := insideTest(d.Zone, d.Assets)
	v.FindingGroups, v.ClosedFindings = findings(d.Findings, d.Assets)
	v.Sessions = sessions(d.Zone, d.Observations, inside)
	v.Bounded = d.Zone.Bounded()
	v.BoundaryFlows = boundaryFlows(d.Zone, d.Observations, inside)
	v.Map = newConduitMap(d.Zone, d.Assets, v.BoundaryFlows)
	v.Assets = assets(d.Assets, d.Findings)

	v.Summary = summarise(v, d)
	return v
}

// seenWindow is the span of time the inventory's assets were seen in.
func seenWindow(assets []otaudit.Asset) string {
	var first, last time.Time
	for _, a := range assets {
		if !a.FirstSeen.IsZero() && (first.IsZero() || a.FirstSeen.Before(first)) {
			first = a.FirstSeen
		}
		if a.LastSeen.After(last) {
			last = a.LastSeen
		}
	}
	if first.IsZero() {
		return notSeenMarker
	}
	if first.UTC().Format(time.DateOnly) == last.UTC().Format(time.DateOnly) {
		return stamp(first) + " → " + last.UTC().Format("15:04:05Z")
	}
	return stamp(first) + " → " + stamp(last)
}

func zoneOf(z otaudit.Zone) zoneView {
	zv := zoneView{
		Name:             cmp.Or(z.Name, "(unnamed zone)"),
		Description:      z.Description,
		CIDRs:            cmp.Or(prefixes(z.CIDRs), "not declared: everything seen is in scope"),
		Purdue:           "not declared",
		Safety:           z.Safety,
		EngineeringHosts: cmp.Or(prefixes(z.EngineeringHosts), "none declared"),
		JumpHosts:        cmp.Or(prefixes(z.JumpHosts), "none declared"),
		AllowedProtocols: cmp.Or(strings.Join(z.AllowedProtocols, ", "), "not restricted"),
		MaxRemoteSession: "not set",
		Registered:       len(z.Register),
	}
	if z.PurdueLevel >= 0 && z.PurdueLevel <= 5 {
		zv.Purdue = strconv.Itoa(z.PurdueLevel)
	}
	if z.MaxRemoteSessionMinutes > 0 {
		zv.MaxRemoteSession = fmt.Sprintf("%d min", z.MaxRemoteSessionMinutes)
	}
	var windows []string
	for _, w := range z.MaintenanceWindows {
		windows = append(windows, windowText(w))
	}
	zv.MaintenanceWindows = cmp.Or(strings.Join(windows, "; "), "none declared")
	for _, c := range z.Conduits {
		zv.Conduits = append(zv.Conduits, conduitRow{
			Name: c.Name, PeerZone: c.PeerZone, PeerCIDRs: prefixes(c.PeerCIDRs),
			Protocols: strings.Join(c.Protocols, ", "), SLTarget: slVector(c.SLTarget),
		})
	}
	return zv
}

func windowText(w otaudit.MaintenanceWindow) string {
	days := "every day"
	if len(w.Days) > 0 {
		names := make([]string, len(w.Days))
		for i, d := range w.Days {
			names[i] = d.String()[:3]
		}
		days = strings.Join(names, ", ")
	}
	hm := func(d time.Duration) string { return fmt.Sprintf("%02d:%02d", int(d.Hours()), int(d.Minutes())%60) }
	return fmt.Sprintf("%s %s–%s UTC", days, hm(w.Start), hm(w.End))
}

func slVector(v otaudit.SLVector) string {
	if v == (otaudit.SLVector{}) {
		return notSeenMarker
	}
	parts := make([]string, len(otaudit.FRs))
	for i, f := range otaudit.FRs {
		parts[i] = fmt.Sprintf("%s %d", f.Code(), v.Get(f))
	}
	return strings.Join(parts, " · ")
}

func scanOf(s otaudit.Scan) scanView {
	kind := "ok"
	switch s.Status {
	case otaudit.ScanIncomplete, otaudit.ScanRunning:
		kind = "warn"
	case otaudit.ScanFailed:
		kind = "bad"
	}
	return scanView{
		ID: s.ID, Mode: s.Mode, Status: string(s.Status), StatusKind: kind,
		Started: stamp(s.Started), Finished: stamp(s.Finished),
		Sources: strings.Join(s.Sources, ", "), SourceNames: baseNames(s.Sources), Packets: s.Stats.Packets,
		Warnings: s.Warnings, Error: s.Error,
	}
}

// scoreOf picks the zone's score; a single score of another name is still
// shown (the zone model may have come without its configuration).
func scoreOf(d Data) (otaudit.ZoneScore, bool) {
	for _, s := range d.Scores {
		if s.Zone == d.Zone.Name {
			return s, true
		}
	}
	if len(d.Scores) == 1 {
		return d.Scores[0], true
	}
	return otaudit.ZoneScore{}, false
}

var frNames = map[otaudit.FR]string{
	otaudit.FR1: "Identification and authentication control",
	otaudit.FR2: "Use control",
	otaudit.FR3: "System integrity",
	otaudit.FR4: "Data confidentiality",
	otaudit.FR5: "Restricted data flow",
	otaudit.FR6: "Timely response to events",
	otaudit.FR7: "Resource availability",
}

func frRows(levels []otaudit.FRLevel) []frRow {
	rows := make([]frRow, 0, len(levels))
	for _, l := range levels {
		r := frRow{
			ID: l.FR.String(), Code: l.FR.Code(), Name: frNames[l.FR],
			Target: l.Target, Lower: l.Lower, Upper: l.Upper,
			Interval:    fmt.Sprintf("[%d, %d]", l.Lower, l.Upper),
			Failed:      strings.Join(l.Failed, ", "),
			Attested:    strings.Join(l.Attested, ", "),
			Compensated: strings.Join(l.Compensated, ", "),
			Expired:     strings.Join(l.Expired, ", "),
		}
		// The interval says what is proven (Lower) and what is still
		// possible (Upper): a target above Upper is a definite gap, one
		// between the bounds is only a potential gap.
		switch {
		case l.Upper < l.Target:
			r.Status, r.StatusID = "below target", "gap"
		case l.Lower >= l.Target:
			r.Status, r.StatusID = "target met", "met"
		default:
			r.Status, r.StatusID = "not proven", "open"
		}
		rows = append(rows, r)
	}
	return rows
}

func scoreClass(o otaudit.ObjectiveScore) string {
	switch {
	case o.Score < 0:
		return "none"
	case o.Score >= 90:
		return "good"
	case o.Score >= 70:
		return "acceptable"
	case o.Score >= 40:
		return "weak"
	}
	return "poor"
}

func objectives(scores []otaudit.ObjectiveScore, sub bool) []objectiveView {
	var out []objectiveView
	for _, o := range scores {
		if sub && o.Applicable == 0 {
			continue
		}
		ov := objectiveView{
			Code: string(o.Objective), Title: o.Objective.Title(), Band: o.Band, Class: scoreClass(o),
			Score: notSeenMarker, Coverage: fmt.Sprintf("%d/%d", o.Assessed, o.Applicable),
			Cap: o.Cap, Assessed: o.Score >= 0,
		}
		ov.ID = "score-" + string(o.Objective)
		if sub {
			ov.Code = o.SubObjective
			ov.ID = "subscore-" + strings.ReplaceAll(o.SubObjective, " ", "")
		}
		if o.Score >= 0 {
			ov.Score = strconv.Itoa(o.Score)
			ov.Bar = min(max(o.Score, 0), 100)
		}
		for i, f := range o.Failing {
			// An objective card names the worst few; the sub-objective
			// table below lists every failing check.
			if !sub && i == maxCardFailing {
				ov.MoreFailing = len(o.Failing) - i
				break
			}
			ov.Failing = append(ov.Failing, fmt.Sprintf("%s (%s, %d of %d failing)", f.CheckID, f.Severity, f.Failing, f.InScope))
		}
		out = append(out, ov)
	}
	return out
}

func backlog(items []otaudit.BacklogItem) []backlogRow {
	out := make([]backlogRow, len(items))
	for i, b := range items {
		out[i] = backlogRow{
			Rank: i + 1, Requirement: b.Requirement, FR: b.FR.String() + " " + b.FR.Code(), Level: b.Level,
			Severity: b.Severity.String(), SevClass: severityClass(b.Severity), Checks: strings.Join(b.Checks, ", "),
		}
	}
	return out
}

func attestations(as []otaudit.Attestation, now time.Time) []attestationRow {
	out := make([]attestationRow, len(as))
	for i, a := range as {
		kind := "attested"
		if a.Compensating {
			kind = "compensating countermeasure"
		}
		expires := "never"
		if !a.Expires.IsZero() {
			expires = a.Expires.UTC().Format("2006-01-02")
		}
		out[i] = attestationRow{Requirement: a.Requirement, Kind: kind, Description: a.Description,
			Evidence: a.Evidence, Approver: a.Approver, Expires: expires, Valid: now.IsZero() || a.Valid(now)}
	}
	return out
}

func findings(fs []otaudit.Finding, assets []otaudit.Asset) (open []findingGroup, closed []findingView) {
	names := map[string]string{}
	for _, a := range assets {
		if a.Name != "" {
			names[a.Key] = a.Name
		}
	}
	sorted := slices.Clone(fs)
	slices.SortStableFunc(sorted, func(a, b otaudit.Finding) int {
		return cmp.Or(cmp.Compare(b.Severity, a.Severity), cmp.Compare(a.CheckID, b.CheckID),
			cmp.Compare(a.AssetKey, b.AssetKey), cmp.Compare(a.Key, b.Key), cmp.Compare(a.ID, b.ID))
	})
	groups := map[otaudit.Severity]*findingGroup{}
	for _, f := range sorted {
		fv := findingOf(f, names[f.AssetKey])
		if f.Status != otaudit.StatusOpen && f.Status != "" {
			closed = append(closed, fv)
			continue
		}
		g := groups[f.Severity]
		if g == nil {
			g = &findingGroup{Severity: f.Severity.String(), Class: severityClass(f.Severity)}
			groups[f.Severity] = g
		}
		g.Findings = append(g.Findings, fv)
	}
	for s := otaudit.SeverityCritical; s >= otaudit.SeverityInfo; s-- {
		if g := groups[s]; g != nil {
			open = append(open, *g)
		}
	}
	return open, closed
}

func findingOf(f otaudit.Finding, assetName string) findingView {
	asset := strings.TrimPrefix(f.AssetKey, "ip:")
	if assetName != "" {
		asset += " (" + assetName + ")"
	}
	fv := findingView{
		ID: f.ID, CheckID: f.CheckID, Title: f.Title, Severity: f.Severity.String(), Class: severityClass(f.Severity),
		Objective: string(f.Objective), Asset: dash(asset), Summary: f.Summary, Remediation: f.Remediation,
		IEC62443_2_1: strings.Join(f.Refs.IEC62443_2_1, ", "), IEC62443_4: strings.Join(f.Refs.IEC62443_4_2, ", "),
		ISO27001: strings.Join(f.Refs.ISO27001, ", "), ATTACK: strings.Join(f.Refs.ATTACK, ", "),
		FirstSeen: stamp(f.FirstSeen), LastSeen: stamp(f.LastSeen), Status: string(cmp.Or(f.Status, otaudit.StatusOpen)),
	}
	if f.SubObjective != "" {
		fv.Objective = f.SubObjective
	}
	disproved := map[string]bool{}
	for _, r := range f.Refs.Disproves {
		disproved[r.ID] = true
	}
	for _, r := range f.Refs.SR {
		fv.SR = append(fv.SR, refChip{Text: fmt.Sprintf("%s (SL%d)", r.ID, r.SL), Disproved: disproved[r.ID]})
	}
	var note []string
	if f.StatusReason != "" {
		note = append(note, f.StatusReason)
	}
	if f.StatusBy != "" {
		note = append(note, "by "+f.StatusBy)
	}
	if !f.StatusUntil.IsZero() {
		note = append(note, "until "+f.StatusUntil.UTC().Format("2006-01-02"))
	}
	fv.StatusNote = strings.Join(note, ", ")
	for i, e := range f.Evidence {
		if i == maxEvidence {
			fv.MoreEvidence = len(f.Evidence) - maxEvidence
			break
		}
		row := evidenceRow{Source: e.Source, Kind: e.Kind, Detail: e.Detail, Count: notSeenMarker, FirstFrame: notSeenMarker}
		switch {
		case e.Client != "" && e.Server != "":
			row.Path = e.Client + " → " + e.Server
		case e.Server != "":
			row.Path = e.Server
		default:
			row.Path = e.Client
		}
		row.Path = dash(row.Path)
		if e.Count > 0 {
			row.Count = strconv.FormatInt(e.Count, 10)
		}
		if e.FirstFrame > 0 {
			row.FirstFrame = strconv.FormatInt(e.FirstFrame, 10)
		}
		row.Seen = stamp(e.FirstSeen)
		if !e.LastSeen.IsZero() && !e.LastSeen.Equal(e.FirstSeen) {
			row.Seen += " – " + stamp(e.LastSeen)
		}
		fv.Evidence = append(fv.Evidence, row)
	}
	return fv
}

// insideTest says whether an address is in the zone the way the checks
// decide it: the inventory's verdict for known assets, else the zone's
// address ranges.
func insideTest(z otaudit.Zone, assets []otaudit.Asset) func(netip.Addr) bool {
	zoneOf := map[netip.Addr]string{}
	for _, a := range assets {
		if a.IP.IsValid() {
			zoneOf[a.IP.Unmap()] = a.Zone
		}
	}
	return func(ip netip.Addr) bool {
		ip = ip.Unmap()
		if zone, ok := zoneOf[ip]; ok {
			return zone != ""
		}
		return z.Contains(ip)
	}
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func durationText(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	switch {
	case h > 0:
		return fmt.Sprintf("%dh %02dm %02ds", h, m, s)
	case m > 0:
		return fmt.Sprintf("%dm %02ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}

func sessions(z otaudit.Zone, obs []otaudit.Observation, inside func(netip.Addr) bool) []sessionView {
	var rs []otaudit.RemoteSession
	for _, o := range obs {
		if o.Kind == otaudit.KindRemoteSession && o.RemoteSession != nil {
			rs = append(rs, *o.RemoteSession)
		}
	}
	slices.SortStableFunc(rs, func(a, b otaudit.RemoteSession) int {
		return cmp.Or(a.Start.Compare(b.Start), a.Client.Compare(b.Client), a.Server.Compare(b.Server))
	})
	out := make([]sessionView, 0, len(rs))
	for _, r := range rs {
		sv := sessionView{
			Protocol: r.Protocol, Client: r.Client.String(), Server: fmt.Sprintf("%s:%d", r.Server, r.ServerPort),
			Start: stamp(r.Start), Duration: durationText(r.Duration()),
			ToServer: bytesText(r.BytesToServer), ToClient: bytesText(r.BytesToClient),
			Encrypted: r.Encrypted, OpenAtEnd: r.OpenAtEnd, Detail: r.Detail,
			Crosses:     z.Bounded() && inside(r.Client) != inside(r.Server),
			ViaJumpHost: z.IsJumpHost(r.Client) || z.IsJumpHost(r.Server),
			Window:      "none declared",
		}
		if len(z.MaintenanceWindows) > 0 {
			sv.Window = "outside"
			if z.InMaintenanceWindow(r.Start) {
				sv.Window = "inside"
			}
		}
		out = append(out, sv)
	}
	return out
}

// isGroupAddress: multicast and broadcast destinations are not peers (the
// same rule the checks apply before calling a flow boundary-crossing).
func isGroupAddress(z otaudit.Zone, a netip.Addr) bool {
	a = a.Unmap()
	if a.IsMulticast() || a.IsUnspecified() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return true
	}
	for _, p := range z.CIDRs {
		if a.Is4() && p.Addr().Is4() && p.Bits() < 31 {
			b := p.Masked().Addr().As4()
			host := uint32(1)<<(32-p.Bits()) - 1
			last := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
			if a == netip.AddrFrom4([4]byte{byte(last >> 24), byte(last >> 16), byte(last >> 8), byte(last)}) {
				return true
			}
		}
	}
	return false
}

func flowProtocol(f *otaudit.Flow) string {
	if f.Protocol != "" {
		return f.Protocol
	}
	return fmt.Sprintf("%s/%d", f.Transport, f.ServerPort)
}

// boundaryFlows are the flows of a bounded zone with one end inside and
// one outside, aggregated per inside host, peer, protocol and direction.
func boundaryFlows(z otaudit.Zone, obs []otaudit.Observation, inside func(netip.Addr) bool) []boundaryFlowRow {
	if !z.Bounded() {
		return nil
	}
	type key struct {
		in, peer  netip.Addr
		proto     string
		port      string
		direction string
	}
	rows := map[key]*boundaryFlowRow{}
	for _, o := range obs {
		f := o.Flow
		if o.Kind != otaudit.KindFlow || f == nil || isGroupAddress(z, f.Server) {
			continue
		}
		cin, sin := inside(f.Client), inside(f.Server)
		if cin == sin {
			continue
		}
		in, peer, dir := f.Server, f.Client, "inbound"
		if cin {
			in, peer, dir = f.Client, f.Server, "outbound"
		}
		proto := flowProtocol(f)
		k := key{in, peer, proto, fmt.Sprintf("%s/%d", f.Transport, f.ServerPort), dir}
		r := rows[k]
		if r == nil {
			r = &boundaryFlowRow{Inside: in.String(), Peer: peer.String(), PeerZone: peerZone(z, peer),
				Protocol: proto, Port: k.port, Direction: dir, Conduit: "undeclared"}
			if c, ok := z.ConduitFor(peer, proto); ok {
				r.Conduit, r.Declared = c.Name, true
			}
			rows[k] = r
		}
		r.Flows++
		r.Connections += max(f.Connections, 1)
		r.Answered = r.Answered || f.ServerAnswered
	}
	out := make([]boundaryFlowRow, 0, len(rows))
	for _, r := range rows {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b boundaryFlowRow) int {
		// Undeclared first: they are what the reader must act on.
		if a.Declared != b.Declared {
			if !a.Declared {
				return -1
			}
			return 1
		}
		return cmp.Or(compareAddr(a.Inside, b.Inside), compareAddr(a.Peer, b.Peer),
			cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Port, b.Port), cmp.Compare(a.Direction, b.Direction))
	})
	return out
}

func compareAddr(a, b string) int {
	x, errX := netip.ParseAddr(a)
	y, errY := netip.ParseAddr(b)
	if errX != nil || errY != nil {
		return cmp.Compare(a, b)
	}
	return x.Compare(y)
}

// peerZone names the declared peer zone an address is in, or "" when it
// lies in no conduit's peer ranges.
func peerZone(z otaudit.Zone, peer netip.Addr) string {
	peer = peer.Unmap()
	for _, c := range z.Conduits {
		for _, p := range c.PeerCIDRs {
			if p.Contains(peer) {
				return c.PeerZone
			}
		}
	}
	return ""
}

func assets(as []otaudit.Asset, fs []otaudit.Finding) []assetView {
	open := map[string]int{}
	worst := map[string]otaudit.Severity{}
	for _, f := range fs {
		if f.Status != otaudit.StatusOpen && f.Status != "" {
			continue
		}
		if open[f.AssetKey] == 0 || f.Severity > worst[f.AssetKey] {
			worst[f.AssetKey] = f.Severity
		}
		open[f.AssetKey]++
	}
	sorted := slices.Clone(as)
	slices.SortStableFunc(sorted, func(a, b otaudit.Asset) int {
		// The zone's own devices first, then the outside peers.
		if (a.Zone != "") != (b.Zone != "") {
			if a.Zone != "" {
				return -1
			}
			return 1
		}
		return cmp.Or(a.IP.Compare(b.IP), cmp.Compare(a.Key, b.Key))
	})
	out := make([]assetView, 0, len(sorted))
	for _, a := range sorted {
		av := assetView{
			IP: ipText(a.IP), Name: a.Name, Vendor: a.Vendor, Model: a.Model, Firmware: a.Firmware, Role: a.Role,
			Zone: cmp.Or(a.Zone, "outside"), Inside: a.Zone != "", Registered: a.Registered,
			Serves: services(a.Services), Uses: services(a.Uses),
			FirstSeen: stamp(a.FirstSeen), LastSeen: stamp(a.LastSeen), OpenFindings: open[a.Key],
		}
		if !a.IP.IsValid() {
			av.IP = strings.TrimPrefix(a.Key, "ip:")
		}
		if av.Vendor == "" && a.MACVendor != "" {
			av.Vendor, av.VendorFrom = a.MACVendor, "MAC OUI"
		}
		if open[a.Key] > 0 {
			av.WorstClass = severityClass(worst[a.Key])
		}
		out = append(out, av)
	}
	return out
}

func services(ss []otaudit.Service) string {
	var names []string
	seen := map[string]bool{}
	for _, s := range ss {
		n := s.Protocol
		if n == "" {
			n = fmt.Sprintf("%s/%d", s.Transport, s.Port)
		}
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	return strings.Join(names, ", ")
}

func summarise(v view, d Data) summary {
	s := summary{Assets: len(d.Assets), RemoteSessions: len(v.Sessions), FRsScored: len(v.FRs)}
	for _, g := range v.FindingGroups {
		s.OpenFindings += len(g.Findings)
		s.BySeverity = append(s.BySeverity, severityCount{Name: g.Severity, Class: g.Class, Count: len(g.Findings)})
	}
	for _, a := range d.Assets {
		if a.Zone != "" {
			s.InZone++
			if !a.Registered {
				s.Unregistered++
			}
		}
	}
	for _, f := range v.BoundaryFlows {
		if !f.Declared {
			s.UndeclaredFlows++
		}
	}
	for _, f := range v.FRs {
		if f.StatusID == "met" {
			s.FRsMet++
		}
	}
	return s
}

// ipText is the address, or "-" for a device known only by its MAC.
func ipText(ip netip.Addr) string {
	if !ip.IsValid() {
		return "-"
	}
	return ip.String()
}
