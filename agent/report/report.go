// Package report renders a zone's audit results as one self-contained HTML
// file that an integrator can hand to an asset owner: the zone, SL-T against
// the achieved SL interval per foundational requirement, objective scores,
// findings with their IEC 62443 references and evidence, the inventory,
// remote-access sessions and the conduit map.
//
// The page carries everything inline (CSS and SVG, no script, no font, no
// image, no link that a browser would fetch), so it opens the same on an
// engineering laptop with no network as on the plant's intranet. Everything
// a device reported is hostile text: it only reaches the page through
// html/template's contextual escaping, never as template.HTML.
//
// Render reads plain otaudit types and writes to an io.Writer; it opens
// neither the store nor the network. Building Data from the store is the
// agent's job (agent.ReportData).
package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"time"

	"github.com/otaudit/otaudit"
)

// Data is what one report shows. The report is about Zone; Scans, Findings
// and Scores are expected to be that zone's, Assets the whole inventory
// (assets outside the zone are shown as such and are the far ends of the
// conduit map).
type Data struct {
	Generated time.Time
	Zone      otaudit.Zone
	Scans     []otaudit.Scan
	Assets    []otaudit.Asset
	Findings  []otaudit.Finding
	Scores    []otaudit.ZoneScore
	// Observations are the remote sessions and flows of the latest scan;
	// other kinds are ignored, and flows that stay inside the zone are not
	// drawn.
	Observations []otaudit.Observation
	// Notes are caveats the reader must see, e.g. that the zone
	// configuration was not available when the report was built.
	Notes []string
}

//go:embed report.html.tmpl
var pageTemplate string

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"plus": func(a, b float64) float64 { return a + b },
	"sub":  func(a, b float64) float64 { return a - b },
}).Parse(pageTemplate))

// Render writes the report of d as one HTML document. The bytes depend on
// d only (never on the clock or the host), so the same data gives the same
// file.
func Render(w io.Writer, d Data) error {
	v := buildView(d)
	if err := page.Execute(w, v); err != nil {
		return fmt.Errorf("report zone %s: %w", d.Zone.Name, err)
	}
	return nil
}
