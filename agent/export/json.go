// Package export renders what the store holds into documents for other
// tools: otaudit's own JSON document, CSV for spreadsheets and CMDBs, OCSF
// events for SIEMs, DefectDojo's Generic Findings Import and a CycloneDX
// device inventory. Each format is one file of this package; every renderer
// reads a Document of plain otaudit types (plus the embedded check catalog
// for the titles and references of checks that passed) and returns bytes.
//
// What must not live here: opening the store, the network, the clock.
// Render is deterministic: the same Document gives the same bytes, so a
// re-export of unchanged results is byte-identical and golden tests hold.
package export

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/otaudit/otaudit"
)

// SchemaJSON identifies otaudit's own JSON document and its version. A
// consumer must refuse a major version it does not know. The JSON Schema of
// the document is docs/schema/otaudit-export.schema.json.
const SchemaJSON = "https://otaudit.dev/schema/export/v1"

// Document is otaudit's own export: everything a central assessment tool
// needs to take over the results of a zone.
type Document struct {
	Schema    string    `json:"$schema"`
	Generator string    `json:"generator"`
	Generated time.Time `json:"generated"`
	// Zone is the zone the export was restricted to; empty means every
	// zone the store holds.
	Zone string `json:"zone,omitempty"`
	// Since is the lower bound the export was restricted to (findings and
	// assets last seen, scans started at or after it); zero means none.
	Since    time.Time           `json:"since,omitzero"`
	Scans    []otaudit.Scan      `json:"scans"`
	Assets   []otaudit.Asset     `json:"assets"`
	Findings []otaudit.Finding   `json:"findings"`
	Scores   []otaudit.ZoneScore `json:"scores"`
}

// WriteJSON writes doc as indented JSON. Nil slices become empty arrays so
// consumers never have to tell null from [].
func WriteJSON(w io.Writer, doc Document) error {
	doc.Schema = SchemaJSON
	if doc.Scans == nil {
		doc.Scans = []otaudit.Scan{}
	}
	if doc.Assets == nil {
		doc.Assets = []otaudit.Asset{}
	}
	if doc.Findings == nil {
		doc.Findings = []otaudit.Finding{}
	}
	if doc.Scores == nil {
		doc.Scores = []otaudit.ZoneScore{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("export json: %w", err)
	}
	return nil
}
