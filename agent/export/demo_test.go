package export

// Real exports: the demo plant scanned by the agent, exported through the
// same path as `otaudit export`, validated against docs/schema and the
// format checks of this package.

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// demoDocument scans the demo plant into a fresh store and reads the
// export document back. The agent package imports this one, so the scan
// runs in demo_agent_test.go (package export_test), which sets the hook
// through SetDemoDocument.
var demoDocument func(t *testing.T) Document

// communityInClear matches the demo's community as a value ("public",
// community public, community=public), not the word in "public internet".
var communityInClear = regexp.MustCompile(`(?i)"public"|community[ =:'"]{1,3}public|'public'`)

// SetDemoDocument is for demo_agent_test.go only.
func SetDemoDocument(f func(t *testing.T) Document) { demoDocument = f }

func TestDemoExportsValidate(t *testing.T) {
	if demoDocument == nil {
		t.Fatal("demoDocument hook not set")
	}
	doc := demoDocument(t)
	if len(doc.Assets) == 0 || len(doc.Findings) == 0 || len(doc.Scores) == 0 {
		t.Fatalf("demo export is empty: %d assets, %d findings, %d scores", len(doc.Assets), len(doc.Findings), len(doc.Scores))
	}
	if err := validateAgainst(t, exportSchema(t), renderOne(t, "json", doc)); err != nil {
		t.Errorf("demo JSON export does not match docs/schema/otaudit-export.schema.json: %v", err)
	}
	events := ocsfEvents(t, renderOne(t, "ocsf", doc))
	perClass := checkOCSFEvents(t, events)
	// Zone-level results take title and references from the catalog.
	fromCatalog := 0
	for _, e := range events {
		uid, _ := lookup(e, "finding_info.uid")
		title, _ := lookup(e, "finding_info.title")
		control, _ := lookup(e, "compliance.control")
		reqs, _ := lookup(e, "compliance.requirements")
		if s, _ := uid.(string); strings.HasPrefix(s, "check:") && title != control && reqs != nil && len(reqs.([]any)) > 0 {
			fromCatalog++
		}
	}
	if fromCatalog == 0 {
		t.Error("no zone-level check result carries the catalog's title and requirements")
	}
	if perClass[OCSFClassDeviceInventoryInfo] != len(doc.Assets) || perClass[OCSFClassComplianceFinding] < len(doc.Findings) {
		t.Errorf("ocsf events per class %v for %d assets and %d findings", perClass, len(doc.Assets), len(doc.Findings))
	}
	var dd struct{ Findings []map[string]any }
	if err := json.Unmarshal(renderOne(t, "defectdojo", doc), &dd); err != nil || len(dd.Findings) != len(doc.Findings) {
		t.Fatalf("defectdojo: %v, %d findings", err, len(dd.Findings))
	}
	allowed := map[string]bool{}
	for _, k := range DefectDojoAllowedKeys {
		allowed[k] = true
	}
	for _, f := range dd.Findings {
		for k := range f {
			if !allowed[k] {
				t.Errorf("defectdojo key %q not allowed", k)
			}
		}
	}
	bom := renderOne(t, "cyclonedx", doc)
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(bom))
	if err != nil {
		t.Fatal(err)
	}
	if err := cycloneDXSchema(t).Validate(v); err != nil {
		t.Errorf("demo CycloneDX BOM does not validate against bom-1.6: %v", err)
	}
	files, err := Render("csv", doc)
	if err != nil {
		t.Fatal(err)
	}
	if rows := readCSV(t, files[1].Data); len(rows) != 1+len(doc.Findings) {
		t.Errorf("findings.csv has %d rows for %d findings", len(rows)-1, len(doc.Findings))
	}
	// Secrets never leave in clear: the demo's SNMP community is "public"
	// (the Telnet password equals the user name and cannot be told apart).
	if !communityInClear.MatchString(`{"community":"public"}`) || communityInClear.MatchString("the public internet") {
		t.Fatal("communityInClear does not tell a community value from the word")
	}
	for _, format := range Formats {
		fs, err := Render(format, doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			if communityInClear.Match(f.Data) {
				t.Errorf("%s holds the captured SNMP community in clear", f.Name)
			}
		}
	}
}
