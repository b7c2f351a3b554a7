package export

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestDefectDojoUsesOnlyAllowedKeys(t *testing.T) {
	doc := fixedDocument()
	var rep map[string]any
	if err := json.Unmarshal(renderOne(t, "defectdojo", doc), &rep); err != nil {
		t.Fatal(err)
	}
	for k := range rep {
		if !slices.Contains([]string{"name", "type", "version", "findings"}, k) {
			t.Errorf("top-level key %q is not read by the generic parser", k)
		}
	}
	findings := rep["findings"].([]any)
	if len(findings) != len(doc.Findings) {
		t.Fatalf("%d findings, want %d", len(findings), len(doc.Findings))
	}
	ids := map[string]map[string]any{}
	for _, x := range findings {
		f := x.(map[string]any)
		for k := range f {
			if !slices.Contains(DefectDojoAllowedKeys, k) {
				t.Errorf("key %q would be rejected (Not allowed fields are present)", k)
			}
		}
		for _, k := range []string{"title", "severity", "description", "unique_id_from_tool", "vuln_id_from_tool"} {
			if s, _ := f[k].(string); s == "" {
				t.Errorf("required or identifying key %q empty in %v", k, f["unique_id_from_tool"])
			}
		}
		if !slices.Contains([]string{"Critical", "High", "Medium", "Low", "Info"}, f["severity"].(string)) {
			t.Errorf("severity %q", f["severity"])
		}
		ids[f["unique_id_from_tool"].(string)] = f
	}
	for _, f := range doc.Findings {
		d := ids[f.ID]
		if d == nil {
			t.Fatalf("finding %s missing or unique_id_from_tool is not the finding ID", f.ID)
		}
		if d["vuln_id_from_tool"] != f.CheckID {
			t.Errorf("vuln_id_from_tool %v, want %s", d["vuln_id_from_tool"], f.CheckID)
		}
	}
	open := ids[doc.Findings[0].ID]
	if open["active"] != true || open["severity"] != "High" || open["date"] != "2026-03-02" ||
		open["component_name"] != "Schneider Electric TM221CE16R" || open["component_version"] != "v3.1" {
		t.Errorf("open finding mapped as %v", open)
	}
	if eps, _ := open["endpoints"].([]any); len(eps) != 1 || eps[0] != "10.10.1.10" {
		t.Errorf("endpoints %v", open["endpoints"])
	}
	if !strings.Contains(open["references"].(string), "IEC 62443-3-3 SR 1.5 (SL 1)") || !strings.Contains(open["description"].(string), "snmp_community") {
		t.Errorf("references/description lack the SR or the evidence: %v", open)
	}
	accepted := ids[doc.Findings[1].ID]
	if accepted["active"] != false || accepted["risk_accepted"] != true {
		t.Errorf("accepted risk mapped as active=%v risk_accepted=%v", accepted["active"], accepted["risk_accepted"])
	}
	if fp := ids[doc.Findings[3].ID]; fp["false_p"] != true || fp["active"] != false {
		t.Errorf("false positive mapped as %v", fp)
	}
	if res := ids[doc.Findings[2].ID]; res["is_mitigated"] != true || res["active"] != false {
		t.Errorf("resolved mapped as %v", res)
	}
}

func TestDefectDojoAllowedKeysCoverTheStruct(t *testing.T) {
	// Every key the struct can emit (all fields set) must be allowed.
	b, err := json.Marshal(defectDojoFinding{Title: "t", Severity: "Info", Description: "d", Date: "2026-01-01",
		Mitigation: "m", References: "r", ComponentName: "c", ComponentVersion: "v", UniqueIDFromTool: "u",
		VulnIDFromTool: "v", NbOccurences: 1, Endpoints: []string{"h"}, Tags: []string{"x"}, SeverityJustified: "s"})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for k := range m {
		if !slices.Contains(DefectDojoAllowedKeys, k) {
			t.Errorf("struct key %q is not allowed by DefectDojo", k)
		}
	}
}
