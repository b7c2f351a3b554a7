package report_test

// The demo's report rendered by a real browser: headless Chromium parses
// the file, and the DOM it builds must hold the numbers the store holds.
// This lives in an external test package because it drives the agent,
// which imports this package.

import (
	"bytes"
	"context"
	"flag"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/agent"
	"github.com/otaudit/otaudit/agent/report"
)

var screenshotCopy = flag.String("screenshot", "", "also write the demo report's screenshot to this file (the README's: -screenshot ../../docs/report.png)")

// chromium finds Debian's chromium (OTAUDIT_CHROMIUM overrides) or skips.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("OTAUDIT_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("chromium is not installed: the headless report test needs Debian's chromium (apt-get install chromium; .ci/run installs it) or OTAUDIT_CHROMIUM=/path/to/chromium")
	return ""
}

// runChromium runs a headless, offline, throw-away Chromium on page.
func runChromium(t *testing.T, bin, page string, extra ...string) []byte {
	t.Helper()
	// A hang guard, not an assertion: a wedged browser must not hold the
	// test run until the global timeout.
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--hide-scrollbars", "--user-data-dir=" + t.TempDir()}, extra...)
	args = append(args, "file://"+page)
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, lastLines(stderr.String(), 15))
	}
	return stdout.Bytes()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}

// demoReport runs the demo into a temporary store and renders its report
// the way `otaudit report --db DIR/otaudit.db` does: a fresh agent with no
// configuration, which follows the store's latest (demo) scan.
func demoReport(t *testing.T) (report.Data, string, []byte) {
	t.Helper()
	dir := t.TempDir()
	clock := func() time.Time { return time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC) }
	db := filepath.Join(dir, "otaudit.db")
	if _, err := (&agent.Agent{DBPath: db, Now: clock}).RunDemo(t.Context(), dir); err != nil {
		t.Fatalf("demo: %v", err)
	}
	data, err := (&agent.Agent{DBPath: db, Now: clock}).ReportData(t.Context())
	if err != nil {
		t.Fatalf("ReportData: %v", err)
	}
	var page bytes.Buffer
	if err := report.Render(&page, data); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "report.html")
	if err := os.WriteFile(path, page.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return data, path, page.Bytes()
}

func TestDemoReportDataIsTheDemoZone(t *testing.T) {
	data, _, page := demoReport(t)
	if data.Zone.Name != "cell-1" || len(data.Zone.Conduits) != 1 || !data.Zone.Bounded() {
		t.Fatalf("report zone %q with %d conduits (bounded %v): want the demo zone cell-1 with its conduit",
			data.Zone.Name, len(data.Zone.Conduits), data.Zone.Bounded())
	}
	if len(data.Notes) != 0 {
		t.Errorf("notes on the demo report: %q", data.Notes)
	}
	if len(data.Scores) != 1 || len(data.Findings) == 0 || len(data.Assets) == 0 || len(data.Scans) != 1 {
		t.Fatalf("demo report data: %d scores, %d findings, %d assets, %d scans", len(data.Scores), len(data.Findings), len(data.Assets), len(data.Scans))
	}
	var sessions, flows int
	for _, o := range data.Observations {
		switch o.Kind {
		case otaudit.KindRemoteSession:
			sessions++
		case otaudit.KindFlow:
			flows++
		default:
			t.Errorf("observation of kind %s in the report data", o.Kind)
		}
	}
	// The demo has an RDP session from the enterprise network and a Telnet
	// session inside the cell; its boundary flows are the RDP, the DMZ
	// historian's OPC UA and the DMZ server's Modbus.
	if sessions < 2 || flows < 3 {
		t.Errorf("demo report data: %d remote sessions, %d boundary flows; want at least 2 and 3", sessions, flows)
	}
	// Device-reported text may carry a URL (the demo switch's sysDescr names
	// its vendor's support site); text never makes a browser fetch, so on the
	// real demo only tags and CSS are held to the no-network rule.
	anyText := func(string) bool { return true }
	for _, p := range report.ExternalReferences(string(page), anyText) {
		t.Error(p)
	}
}

func TestDemoReportInHeadlessChromium(t *testing.T) {
	bin := chromium(t)
	data, path, _ := demoReport(t)
	dom := string(runChromium(t, bin, path, "--dump-dom"))
	if !strings.Contains(dom, `id="zone-name"`) {
		t.Fatalf("chromium's DOM is not the report:\n%s", dom[:min(len(dom), 500)])
	}

	open := 0
	for _, f := range data.Findings {
		if f.Status == otaudit.StatusOpen {
			open++
		}
	}
	want := map[string]string{
		"zone-name":     "Zone " + data.Zone.Name,
		"finding-count": strconv.Itoa(open),
		"asset-count":   strconv.Itoa(len(data.Assets)),
	}
	score := data.Scores[0]
	for _, o := range score.Objectives {
		w := "—"
		if o.Score >= 0 {
			w = strconv.Itoa(o.Score)
		}
		want["score-"+string(o.Objective)] = w
	}
	for _, o := range score.SubObjectives {
		if o.Applicable > 0 && o.Score >= 0 {
			want["subscore-"+strings.ReplaceAll(o.SubObjective, " ", "")] = strconv.Itoa(o.Score)
		}
	}
	if len(score.FRs) != 7 {
		t.Fatalf("demo score has %d FR levels, want 7", len(score.FRs))
	}
	for _, f := range score.FRs {
		want[f.FR.String()+"-target"] = strconv.Itoa(f.Target)
		want[f.FR.String()+"-sla"] = "[" + strconv.Itoa(f.Lower) + ", " + strconv.Itoa(f.Upper) + "]"
	}
	for id, w := range want {
		if got := report.ElementText(t, dom, id); got != w {
			t.Errorf("DOM #%s = %q, want %q", id, got, w)
		}
	}
	if got := strings.Count(dom, `<article class="finding `); got != open {
		t.Errorf("DOM has %d finding articles, want %d", got, open)
	}
	// The demo's RDP from the enterprise network and Modbus from the DMZ
	// cross the boundary with no conduit: the map must draw them red.
	if got := strings.Count(dom, `<path class="edge-undeclared"`); got < 2 {
		t.Errorf("conduit map draws %d undeclared edges, want at least 2 (rdp from 192.168.50.23, modbus from 10.20.0.7)", got)
	}
	for _, s := range []string{`<svg class="chart"`, `<svg class="mapsvg"`, "192.168.50.23", "site-dmz"} {
		if !strings.Contains(dom, s) {
			t.Errorf("DOM lacks %q", s)
		}
	}

	shot := filepath.Join(t.TempDir(), "report.png")
	runChromium(t, bin, path, "--screenshot="+shot, "--window-size=1280,2000")
	img, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("chromium wrote no screenshot: %v", err)
	}
	if !bytes.HasPrefix(img, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot is not a PNG (starts %q)", img[:min(len(img), 8)])
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(img))
	if err != nil || cfg.Width != 1280 || cfg.Height != 2000 {
		t.Fatalf("screenshot %dx%d (%v), want 1280x2000", cfg.Width, cfg.Height, err)
	}
	// A blank page compresses to a few KiB; the report's text and charts
	// do not.
	if len(img) < 100<<10 {
		t.Errorf("screenshot is only %d bytes: the page looks blank", len(img))
	}
	if *screenshotCopy != "" {
		if err := os.WriteFile(*screenshotCopy, img, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", *screenshotCopy)
	}
}
