package export

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// exportSchema compiles docs/schema/otaudit-export.schema.json with format
// assertions on (date-time, ipv4, ipv6 are checked, not just annotated).
func exportSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	path := filepath.Join(repoRoot(t), "docs", "schema", "otaudit-export.schema.json")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(path, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(path)
	if err != nil {
		t.Fatalf("compile %s: %v", path, err)
	}
	return s
}

// ValidateJSONDocument validates data against the export schema.
func validateAgainst(t *testing.T, s *jsonschema.Schema, data []byte) error {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	return s.Validate(v)
}

func TestJSONExportMatchesItsSchema(t *testing.T) {
	s := exportSchema(t)
	for name, doc := range map[string]Document{"fixed": fixedDocument(), "empty": {Generator: "otaudit dev"}} {
		data := renderOne(t, "json", doc)
		if err := validateAgainst(t, s, data); err != nil {
			t.Errorf("%s document does not validate: %v", name, err)
		}
	}
}

func TestJSONSchemaRejectsBrokenDocuments(t *testing.T) {
	s := exportSchema(t)
	good := renderOne(t, "json", fixedDocument())
	breakers := map[string]func(m map[string]any){
		"no findings":         func(m map[string]any) { delete(m, "findings") },
		"wrong schema id":     func(m map[string]any) { m["$schema"] = "https://otaudit.dev/schema/export/v2" },
		"unknown top field":   func(m map[string]any) { m["extra"] = 1 },
		"severity out of set": func(m map[string]any) { finding(m)["severity"] = "severe" },
		"status out of set":   func(m map[string]any) { finding(m)["status"] = "wontfix" },
		"time not a time":     func(m map[string]any) { finding(m)["first_seen"] = "yesterday" },
		"bad asset ip":        func(m map[string]any) { m["assets"].([]any)[0].(map[string]any)["ip"] = "10.0.0.300" },
		"sl vector too short": func(m map[string]any) {
			m["scores"].([]any)[0].(map[string]any)["frs"] = []any{map[string]any{"fr": 9}}
		},
		"finding id not hex": func(m map[string]any) { finding(m)["id"] = "AC-1" },
	}
	for name, breakDoc := range breakers {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		breakDoc(m)
		data, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := validateAgainst(t, s, data); err == nil {
			t.Errorf("%s: the schema accepted a broken document", name)
		} else if !strings.Contains(err.Error(), "jsonschema") && !strings.Contains(err.Error(), "validation") {
			t.Errorf("%s: unexpected error kind: %v", name, err)
		}
	}
}

func finding(m map[string]any) map[string]any { return m["findings"].([]any)[0].(map[string]any) }
