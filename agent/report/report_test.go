package report

import (
	"bytes"
	"flag"
	"fmt"
	"html"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/otaudit/otaudit"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var t0 = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

const (
	hostileName   = `<script>alert("name")</script>`
	hostileVendor = `"><img src=x onerror=alert(1)>`
	hostileDetail = `GET http://evil.example/x.js <script src="https://evil.example/a.js"></script>`
	hostileCookie = `mstshash=</td><script>alert(2)</script>`
)

// fixture is a small bounded zone with everything the report draws: a
// declared conduit with allowed and disallowed traffic, a peer in no
// declared zone, a remote session, open and closed findings, and device
// strings that try to break out of the page.
func fixture() Data {
	ip := netip.MustParseAddr
	pfx := netip.MustParsePrefix
	zone := otaudit.Zone{
		Name: "cell-1", Description: "Packaging line 1", CIDRs: []netip.Prefix{pfx("10.10.0.0/16")},
		SLTarget: otaudit.SLVector{2, 2, 2, 2, 3, 2, 2}, PurdueLevel: 1,
		JumpHosts: []netip.Prefix{pfx("10.10.9.1/32")}, AllowedProtocols: []string{"modbus", "opcua"},
		Conduits: []otaudit.Conduit{
			{Name: "cell1-to-dmz", PeerZone: "site-dmz", PeerCIDRs: []netip.Prefix{pfx("10.20.0.0/24")}, Protocols: []string{"opcua"}},
			{Name: "cell1-to-vendor", PeerZone: "vendor-net", PeerCIDRs: []netip.Prefix{pfx("172.16.0.0/24")}, Protocols: []string{"ssh"}},
		},
		MaintenanceWindows: []otaudit.MaintenanceWindow{{Days: []time.Weekday{time.Saturday}, Start: 2 * time.Hour, End: 6 * time.Hour}},
	}
	assets := []otaudit.Asset{
		{Key: "ip:10.10.2.10", IP: ip("10.10.2.10"), Name: hostileName, Vendor: hostileVendor, Role: "PLC", Zone: "cell-1", Registered: true,
			Services: []otaudit.Service{{Protocol: "modbus", Transport: otaudit.TCP, Port: 502}}, FirstSeen: t0, LastSeen: t0.Add(time.Minute)},
		{Key: "ip:10.10.1.20", IP: ip("10.10.1.20"), Name: "hmi-01", MACVendor: "Siemens AG", Role: "HMI", Zone: "cell-1", Registered: true,
			Services: []otaudit.Service{{Protocol: "rdp", Transport: otaudit.TCP, Port: 3389}}},
		{Key: "ip:10.10.3.66", IP: ip("10.10.3.66"), Zone: "cell-1"},
		{Key: "ip:10.20.0.5", IP: ip("10.20.0.5"), Name: "historian-01"},
		{Key: "ip:192.168.50.23", IP: ip("192.168.50.23")},
	}
	flow := func(client, server string, port uint16, proto string) otaudit.Observation {
		return otaudit.Observation{Kind: otaudit.KindFlow, Source: "pcap:plant.pcap", Flow: &otaudit.Flow{
			Client: ip(client), Server: ip(server), Transport: otaudit.TCP, ServerPort: port, Protocol: proto,
			ServerAnswered: true, Connections: 2, Packets: 10}}
	}
	obs := []otaudit.Observation{
		flow("10.20.0.5", "10.10.1.40", 4840, "opcua"),     // allowed by cell1-to-dmz
		flow("10.20.0.7", "10.10.2.10", 502, "modbus"),     // declared peer zone, protocol not allowed
		flow("192.168.50.23", "10.10.1.20", 3389, "rdp"),   // peer in no declared zone
		flow("10.10.1.5", "10.10.2.10", 502, "modbus"),     // inside: not drawn
		flow("10.10.1.5", "10.10.255.255", 137, "netbios"), // broadcast: not a peer
		{Kind: otaudit.KindRemoteSession, Source: "pcap:plant.pcap", RemoteSession: &otaudit.RemoteSession{
			Protocol: "rdp", Client: ip("192.168.50.23"), Server: ip("10.10.1.20"), ServerPort: 3389,
			Start: t0.Add(30 * time.Second), End: t0.Add(61 * time.Second), BytesToServer: 5120, BytesToClient: 40960,
			Encrypted: true, Detail: hostileCookie}},
	}
	refs := otaudit.Refs{
		SR:           []otaudit.SRRef{{ID: "SR 1.13", SL: 1}, {ID: "SR 5.2", SL: 1}},
		Disproves:    []otaudit.SRRef{{ID: "SR 1.13", SL: 1}},
		IEC62443_2_1: []string{"NET 3.1"}, ISO27001: []string{"A.13.1.1"}, ATTACK: []string{"T0822"},
	}
	findings := []otaudit.Finding{
		{ID: "aaaa000000000000000001", CheckID: "AC-RA-EXTERNAL-DIRECT", Title: "Remote access from outside the zone",
			Objective: otaudit.ObjectiveAC, SubObjective: "AC 3", Severity: otaudit.SeverityCritical, Refs: refs, Zone: "cell-1",
			AssetKey: "ip:10.10.1.20", Summary: "192.168.50.23 opened 1 RDP session directly to 10.10.1.20.",
			Remediation: "Route remote access through the jump host.", Status: otaudit.StatusOpen, FirstSeen: t0, LastSeen: t0.Add(time.Minute),
			Evidence: []otaudit.Evidence{{Source: "pcap:plant.pcap", Kind: "remote_session", Detail: hostileDetail,
				Client: "192.168.50.23", Server: "10.10.1.20", Count: 1, FirstFrame: 812, FirstSeen: t0, LastSeen: t0.Add(31 * time.Second)}}},
		{ID: "aaaa000000000000000002", CheckID: "AM-UNKNOWN-DEVICE", Title: "Device not in the asset register",
			Objective: otaudit.ObjectiveAM, Severity: otaudit.SeverityHigh, Zone: "cell-1", AssetKey: "ip:10.10.3.66",
			Summary: "10.10.3.66 is not in the register.", Status: otaudit.StatusOpen,
			Refs: otaudit.Refs{SR: []otaudit.SRRef{{ID: "SR 7.8", SL: 2}}}},
		{ID: "aaaa000000000000000003", CheckID: "AC-PROTOCOL-NOT-ALLOWED-IN-ZONE", Title: "Protocol not allowed",
			Objective: otaudit.ObjectiveAC, Severity: otaudit.SeverityMedium, Zone: "cell-1", AssetKey: "ip:10.10.2.10",
			Summary: "10.10.2.10 serves telnet.", Status: otaudit.StatusAcceptedRisk, StatusReason: "replacement planned",
			StatusBy: "J. Doe", StatusUntil: t0.AddDate(0, 3, 0)},
	}
	score := otaudit.ZoneScore{Zone: "cell-1", ScanID: 7,
		Objectives: []otaudit.ObjectiveScore{
			{Objective: otaudit.ObjectiveAC, Score: 39, Band: "poor", Assessed: 23, Applicable: 35, Coverage: 23.0 / 35,
				Cap:     "score capped at 39: open critical findings (AC-RA-EXTERNAL-DIRECT)",
				Failing: []otaudit.CheckResult{{CheckID: "AC-RA-EXTERNAL-DIRECT", Severity: otaudit.SeverityCritical, Failing: 1, InScope: 10}}},
			{Objective: otaudit.ObjectiveAM, Score: 69, Band: "weak", Assessed: 5, Applicable: 8},
			{Objective: otaudit.ObjectiveIM, Score: 100, Band: "good", Assessed: 2, Applicable: 4},
			{Objective: otaudit.ObjectiveRA, Score: -1, Band: "not assessed", Applicable: 2},
		},
		SubObjectives: []otaudit.ObjectiveScore{
			{Objective: otaudit.ObjectiveAC, SubObjective: "AC 3", Score: 39, Band: "poor", Assessed: 6, Applicable: 7},
			{Objective: otaudit.ObjectiveAM, SubObjective: "AM 2", Score: -1, Band: "not assessed", Applicable: 0},
		},
		FRs: []otaudit.FRLevel{
			{FR: otaudit.FR1, Target: 2, Lower: 0, Upper: 0, DefiniteGap: 2, PotentialGap: 2, Failed: []string{"SR 1.13"}},
			{FR: otaudit.FR2, Target: 2, Lower: 2, Upper: 4},
			{FR: otaudit.FR3, Target: 2, Lower: 0, Upper: 2, PotentialGap: 2},
			{FR: otaudit.FR4, Target: 2, Lower: 1, Upper: 3, PotentialGap: 1},
			{FR: otaudit.FR5, Target: 3, Lower: 0, Upper: 1, DefiniteGap: 2, PotentialGap: 3, Failed: []string{"SR 5.2 RE1"}},
			{FR: otaudit.FR6, Target: 2, Lower: 0, Upper: 4, PotentialGap: 2},
			{FR: otaudit.FR7, Target: 2, Lower: 0, Upper: 0, DefiniteGap: 2, PotentialGap: 2, Attested: []string{"SR 7.3"}},
		},
		Backlog: []otaudit.BacklogItem{{FR: otaudit.FR1, Requirement: "SR 1.13", Level: 1, Severity: otaudit.SeverityCritical, Checks: []string{"AC-RA-EXTERNAL-DIRECT"}}},
		Attestations: []otaudit.Attestation{{Requirement: "SR 7.3", Evidence: "DOC-12", Approver: "J. Doe",
			Description: "Nightly backup of the PLC programs", Expires: t0.AddDate(1, 0, 0)}},
	}
	return Data{
		Generated: t0.Add(time.Hour), Zone: zone, Assets: assets, Findings: findings, Observations: obs,
		Scores: []otaudit.ZoneScore{score},
		Scans: []otaudit.Scan{
			{ID: 6, Zone: "cell-1", Mode: "passive", Status: otaudit.ScanIncomplete, Started: t0.Add(-time.Hour), Warnings: []string{"plant.pcap: truncated at byte 4096"}},
			{ID: 7, Zone: "cell-1", Mode: "passive", Status: otaudit.ScanComplete, Started: t0, Finished: t0.Add(time.Minute),
				Sources: []string{"plant.pcap"}, Stats: otaudit.ScanStats{Packets: 1546}},
		},
	}
}

func render(t *testing.T, d Data) string {
	t.Helper()
	var b bytes.Buffer
	if err := Render(&b, d); err != nil {
		t.Fatalf("Render: %v", err)
	}
	return b.String()
}

// ElementText returns the text content of the element with id, tags removed
// and entities decoded. Elements with an id never nest an element of their
// own name, so the first closing tag of that name ends them.
func ElementText(t *testing.T, page, id string) string {
	t.Helper()
	at := strings.Index(page, ` id="`+id+`"`)
	if at < 0 {
		t.Fatalf("no element with id %q", id)
	}
	open := strings.LastIndexByte(page[:at], '<')
	name := strings.FieldsFunc(page[open+1:at+1], func(r rune) bool { return r == ' ' || r == '>' })[0]
	body := page[at+strings.IndexByte(page[at:], '>')+1:]
	end := strings.Index(body, "</"+name+">")
	if end < 0 {
		t.Fatalf("element %q (%s) is not closed", id, name)
	}
	return strings.TrimSpace(html.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(body[:end], "")))
}

func TestRenderShowsTheKeyNumbers(t *testing.T) {
	d := fixture()
	page := render(t, d)
	want := map[string]string{
		"finding-count":    "2", // the accepted risk is not open
		"asset-count":      "5",
		"assets-in-zone":   "3",
		"session-count":    "1",
		"undeclared-count": "2", // modbus to a declared peer zone, rdp from nowhere declared
		"frs-met":          "1", // only FR2 proves its target
		"score-AC":         "39",
		"score-AM":         "69",
		"score-IM":         "100",
		"score-RA":         "—",
		"subscore-AC3":     "39",
		"latest-scan":      "#7 · passive · complete",
	}
	for _, f := range d.Scores[0].FRs {
		want[f.FR.String()+"-target"] = strconv.Itoa(f.Target)
		want[f.FR.String()+"-sla"] = "[" + strconv.Itoa(f.Lower) + ", " + strconv.Itoa(f.Upper) + "]"
	}
	for id, w := range want {
		if got := ElementText(t, page, id); got != w {
			t.Errorf("#%s = %q, want %q", id, got, w)
		}
	}
	if strings.Contains(page, `id="subscore-AM2"`) {
		t.Error("a sub-objective with no applicable check is listed")
	}
	for _, s := range []string{
		`class="finding critical" id="f-aaaa000000000000000001"`,
		`<span class="chip disproved">SR 1.13 (SL1)</span>`, `<span class="chip">SR 5.2 (SL1)</span>`,
		"NET 3.1", "A.13.1.1", "T0822", "Route remote access through the jump host.",
		"replacement planned, by J. Doe, until 2026-06-02", // the closed finding's status note
		"plant.pcap: truncated at byte 4096",
		"Nightly backup of the PLC programs",
		"Sat 02:00–06:00 UTC",
	} {
		if !strings.Contains(page, s) {
			t.Errorf("report lacks %q", s)
		}
	}
}

func TestConduitMapHighlightsUndeclaredFlows(t *testing.T) {
	m := buildView(fixture()).Map
	var titles []string
	for _, n := range m.Nodes {
		titles = append(titles, n.Title+"|"+n.Class)
	}
	wantNodes := []string{"site-dmz|peer-declared", "vendor-net|peer-declared", "192.168.50.23|peer-unknown"}
	if !slices.Equal(titles, wantNodes) {
		t.Fatalf("map nodes = %q, want %q", titles, wantNodes)
	}
	var edges []string
	for _, e := range m.Edges {
		edges = append(edges, e.Class+"|"+e.Label)
	}
	wantEdges := []string{
		"edge-declared|via conduit: opcua · 1 flow",
		"edge-undeclared|undeclared: modbus · 1 flow",
		"edge-idle|declared conduit · no traffic seen",
		"edge-undeclared|undeclared: rdp · 1 flow",
	}
	if !slices.Equal(edges, wantEdges) {
		t.Fatalf("map edges =\n%q\nwant\n%q", edges, wantEdges)
	}
	for _, e := range m.Edges {
		if e.Y1 < m.Zone.Y || e.Y1 > m.Zone.Y+m.Zone.H {
			t.Errorf("edge %q leaves the zone box outside its side (y %.1f not in [%.1f, %.1f])", e.Label, e.Y1, m.Zone.Y, m.Zone.Y+m.Zone.H)
		}
	}
	for _, n := range m.Nodes {
		if n.Y+n.H > float64(m.Height) {
			t.Errorf("node %q (bottom %.1f) is outside the drawing (height %d)", n.Title, n.Y+n.H, m.Height)
		}
	}
}

func TestRenderEscapesDeviceStrings(t *testing.T) {
	page := render(t, fixture())
	if i := strings.Index(strings.ToLower(page), "<script"); i >= 0 {
		t.Fatalf("a device string became a script element: %q", page[max(i-80, 0):min(i+80, len(page))])
	}
	if strings.Contains(strings.ToLower(page), "<img") {
		t.Fatal("a device string became an img element")
	}
	for _, tag := range tags(page) {
		if strings.Contains(strings.ToLower(tag), "onerror") {
			t.Fatalf("a device string became an attribute: %s", tag)
		}
	}
	// The strings are shown, as text.
	for _, s := range []string{hostileName, hostileVendor, hostileCookie} {
		if !strings.Contains(page, escapedText(s)) {
			t.Errorf("report does not show %q escaped (want %q)", s, escapedText(s))
		}
	}
}

// escapedText is the escaping html/template applies to text.
func escapedText(s string) string {
	r := strings.NewReplacer(`&`, "&amp;", `<`, "&lt;", `>`, "&gt;", `"`, "&#34;", `'`, "&#39;", "+", "&#43;")
	return r.Replace(s)
}

// tags lists every markup tag of page. html/template escapes "<" in text
// and ">" in attribute values, so every raw "<" starts a real tag.
func tags(page string) []string {
	var out []string
	for i := 0; i < len(page); {
		j := strings.IndexByte(page[i:], '<')
		if j < 0 {
			break
		}
		k := strings.IndexByte(page[i+j:], '>')
		if k < 0 {
			out = append(out, page[i+j:])
			break
		}
		out = append(out, page[i+j:i+j+k+1])
		i += j + k + 1
	}
	return out
}

// ExternalReferences lists what in page would make a browser fetch
// anything: a URL in a tag (src, href, a meta refresh), a script, a link,
// an embedded object, url() or @import in CSS. A URL may appear in text
// only where inText allows it for the tag that opens that text. The
// browser test (package report_test) uses it too.
func ExternalReferences(page string, inText func(openingTag string) bool) []string {
	var problems []string
	lower := strings.ToLower(page)
	for _, bad := range []string{"<script", "<link", "<img", "<image", "<iframe", "<object", "<embed", "<video", "<audio",
		"<source", "<base", "url(", "@import", "http-equiv"} {
		if strings.Contains(lower, bad) {
			problems = append(problems, "contains "+bad)
		}
	}
	for _, tag := range tags(page) {
		l := strings.ToLower(tag)
		if strings.Contains(l, "://") || strings.Contains(l, "src=") || strings.Contains(l, "srcset=") ||
			strings.Contains(l, "href=") && !strings.Contains(l, `href="#`) {
			problems = append(problems, "tag refers outside the file: "+tag)
		}
	}
	for _, scheme := range []string{"http://", "https://"} {
		for off := 0; ; {
			i := strings.Index(lower[off:], scheme)
			if i < 0 {
				break
			}
			at := off + i
			opening := ""
			if open := strings.LastIndexByte(page[:at], '<'); open >= 0 {
				opening = page[open : open+strings.IndexByte(page[open:], '>')+1]
			}
			if !inText(opening) {
				problems = append(problems, fmt.Sprintf("URL in text after %s: %q", opening, page[at:min(at+60, len(page))]))
			}
			off = at + len(scheme)
		}
	}
	return problems
}

// EvidenceTextOnly allows URLs only in the text of an evidence detail.
func EvidenceTextOnly(opening string) bool { return opening == `<td class="evidence-detail">` }

func TestRenderLoadsNothingFromTheNetwork(t *testing.T) {
	page := render(t, fixture())
	if !strings.Contains(page, "http://evil.example/x.js") {
		t.Fatal("fixture's evidence URL is not shown: the check below would prove nothing")
	}
	for _, p := range ExternalReferences(page, EvidenceTextOnly) {
		t.Error(p)
	}
}

func TestExternalReferencesCatchesWhatItShould(t *testing.T) {
	for _, page := range []string{
		`<p style="background:url(x.png)">a</p>`,
		`<a href="https://example.com/">a</a>`,
		`<svg><image href="data:x"/></svg>`,
		`<p>see http://example.com/</p>`,
		`<td class="evidence-detail">ok</td><td>http://example.com/</td>`,
	} {
		if len(ExternalReferences(page, EvidenceTextOnly)) == 0 {
			t.Errorf("ExternalReferences accepted %s", page)
		}
	}
	if p := ExternalReferences(`<td class="evidence-detail">GET http://example.com/</td><a href="#x">x</a>`, EvidenceTextOnly); len(p) != 0 {
		t.Errorf("ExternalReferences rejected evidence text and an in-page link: %q", p)
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	d := fixture()
	first := render(t, d)
	// The same data in another order gives the same bytes.
	slices.Reverse(d.Findings)
	slices.Reverse(d.Assets)
	slices.Reverse(d.Observations)
	slices.Reverse(d.Scans)
	if second := render(t, d); second != first {
		t.Fatal("the report depends on the order of its input")
	}
	golden := filepath.Join("testdata", "fixture.html")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(first), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != first {
		t.Errorf("report differs from %s; review and run go test ./agent/report -update", golden)
	}
}

func TestRenderWithoutScansOrBoundary(t *testing.T) {
	d := Data{Generated: t0, Zone: otaudit.Zone{Name: "default", PurdueLevel: -1, SLTarget: otaudit.SLVector{2, 2, 2, 2, 2, 2, 2}},
		Notes: []string{"No zone configuration was given."}}
	page := render(t, d)
	for _, s := range []string{`id="no-score"`, `id="no-findings"`, `id="unbounded"`, "No zone configuration was given.", `id="latest-scan">none yet`} {
		if !strings.Contains(page, s) {
			t.Errorf("empty report lacks %q", s)
		}
	}
	if got := ElementText(t, page, "finding-count"); got != "0" {
		t.Errorf("finding count %q, want 0", got)
	}
	for _, p := range ExternalReferences(page, func(string) bool { return false }) {
		t.Error(p)
	}
}

func TestMapWithManyUnknownPeersStaysBounded(t *testing.T) {
	d := fixture()
	d.Observations = nil
	for i := range 20 {
		peer := netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)}).String()
		d.Observations = append(d.Observations, otaudit.Observation{Kind: otaudit.KindFlow, Flow: &otaudit.Flow{
			Client: netip.MustParseAddr(peer), Server: netip.MustParseAddr("10.10.2.10"), Transport: otaudit.TCP,
			ServerPort: 502, Protocol: "modbus", ServerAnswered: true}})
	}
	v := buildView(d)
	if len(v.BoundaryFlows) != 20 || v.Summary.UndeclaredFlows != 20 {
		t.Fatalf("boundary flows %d, undeclared %d; want 20 and 20", len(v.BoundaryFlows), v.Summary.UndeclaredFlows)
	}
	// Two declared peer zones, maxMapPeers addresses, one "more" node.
	if got, want := len(v.Map.Nodes), 2+maxMapPeers+1; got != want {
		t.Fatalf("map has %d nodes, want %d", got, want)
	}
	last := v.Map.Nodes[len(v.Map.Nodes)-1]
	if last.Title != "12 more outside addresses" {
		t.Errorf("last node %q", last.Title)
	}
	var more int
	for _, e := range v.Map.Edges {
		if strings.Contains(e.Label, "12 flows") {
			more++
		}
	}
	if more != 1 {
		t.Errorf("the 12 remaining flows should share one edge to the last node, got %d such edges", more)
	}
}
