// Package export renders what the store holds into documents for other
// tools. Each format is one file; every exporter reads plain otaudit types
// and writes to an io.Writer, so it neither opens the store nor the network.
package export

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/otaudit/otaudit"
)

// SchemaJSON identifies otaudit's own JSON document and its version. A
// consumer must refuse a major version it does not know.
const SchemaJSON = "https://otaudit.dev/schema/export/v1"

// Document is otaudit's own export: everything a central assessment tool
// needs to take over the results of a zone.
type Document struct {
	Schema    string              `json:"$schema"`
	Generator string              `json:"generator"`
	Generated time.Time           `json:"generated"`
	Scans     []otaudit.Scan      `json:"scans"`
	Assets    []otaudit.Asset     `json:"assets"`
	Findings  []otaudit.Finding   `json:"findings"`
	Scores    []otaudit.ZoneScore `json:"scores"`
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
