package export

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

func TestCycloneDXDevicesAndFirmware(t *testing.T) {
	data := renderOne(t, "cyclonedx", fixedDocument())
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(data), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		t.Fatal(err)
	}
	if bom.SpecVersion != cdx.SpecVersion1_6 || bom.BOMFormat != "CycloneDX" || !strings.HasPrefix(bom.SerialNumber, "urn:uuid:") {
		t.Fatalf("spec %v format %q serial %q", bom.SpecVersion, bom.BOMFormat, bom.SerialNumber)
	}
	if bom.Metadata == nil || bom.Metadata.Component == nil || bom.Metadata.Component.Name != "packaging" {
		t.Fatalf("metadata.component is not the zone: %+v", bom.Metadata)
	}
	if bom.Components == nil || len(*bom.Components) != 2 {
		t.Fatalf("components: %v", bom.Components)
	}
	plc := (*bom.Components)[0]
	if plc.Type != cdx.ComponentTypeDevice || plc.Name != "TM221CE16R" || plc.BOMRef != "ip:10.10.1.10" ||
		plc.Manufacturer == nil || plc.Manufacturer.Name != "Schneider Electric" {
		t.Errorf("PLC component: %+v", plc)
	}
	props := map[string][]string{}
	for _, p := range *plc.Properties {
		props[p.Name] = append(props[p.Name], p.Value)
	}
	for name, want := range map[string]string{"otaudit:ip": "10.10.1.10", "otaudit:mac": "00:80:f4:01:02:03",
		"otaudit:zone": "packaging", "otaudit:role": "PLC", "otaudit:serial": "SN-0042"} {
		if len(props[name]) != 1 || props[name][0] != want {
			t.Errorf("property %s = %v, want %s", name, props[name], want)
		}
	}
	if plc.Components == nil || len(*plc.Components) != 1 {
		t.Fatalf("PLC has no nested firmware: %+v", plc.Components)
	}
	fw := (*plc.Components)[0]
	if fw.Type != cdx.ComponentTypeFirmware || fw.Version != "v3.1" {
		t.Errorf("firmware component: %+v", fw)
	}
	laptop := (*bom.Components)[1]
	if laptop.Components != nil {
		t.Errorf("a device without known firmware got a firmware component")
	}
	if other := renderOne(t, "cyclonedx", Document{Generated: fixedDocument().Generated.Add(1)}); bytes.Contains(other, []byte(bom.SerialNumber)) {
		t.Error("a different export reuses the serial number")
	}
}

// cycloneDXSchemaDir finds the official CycloneDX JSON schemas: the npm
// package @cyclonedx/cyclonedx-library that .ci/run installs (MIT/Apache),
// else the copy the cyclonedx-go module ships (Apache-2.0) in the module
// cache. Neither is copied into the repository.
//
// It returns the directory, the bom schema's file name and, for each schema
// the bom schema refers to, the name it uses → the file holding it.
func cycloneDXSchemaDir(t *testing.T) (dir, bom string, refs map[string]string) {
	t.Helper()
	npm := filepath.Join(cdxNodeModules(t), "@cyclonedx", "cyclonedx-library", "res", "schema")
	if _, err := os.Stat(filepath.Join(npm, "bom-1.6.SNAPSHOT.schema.json")); err == nil {
		return npm, "bom-1.6.SNAPSHOT.schema.json", map[string]string{
			"spdx.SNAPSHOT.schema.json": "spdx.SNAPSHOT.schema.json", "jsf-0.82.SNAPSHOT.schema.json": "jsf-0.82.SNAPSHOT.schema.json"}
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/CycloneDX/cyclonedx-go").Output()
	if err == nil {
		mod := filepath.Join(strings.TrimSpace(string(out)), "schema")
		if _, err := os.Stat(filepath.Join(mod, "bom-1.6.schema.json")); err == nil {
			return mod, "bom-1.6.schema.json", map[string]string{
				"spdx.schema.json": "spdx.schema.json", "jsf-0.82.schema.json": "jsf-0.82.schemax.json"}
		}
	}
	t.Skip("official CycloneDX 1.6 schema not found: neither the npm @cyclonedx/cyclonedx-library (.ci/run installs it into .ci/cache/cyclonedx) nor the cyclonedx-go module source is present")
	return
}

// cdxNodeModules is where .ci/run installs the npm validator; the
// environment variable OTAUDIT_CDX_NODE_MODULES overrides it.
func cdxNodeModules(t *testing.T) string {
	if d := os.Getenv("OTAUDIT_CDX_NODE_MODULES"); d != "" {
		return d
	}
	return filepath.Join(repoRoot(t), ".ci", "cache", "cyclonedx", "node_modules")
}

func cycloneDXSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	dir, bom, refs := cycloneDXSchemaDir(t)
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	load := func(name string) any {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		v, err := jsonschema.UnmarshalJSON(f)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return v
	}
	// The bom schema refers to its neighbours by relative name.
	base := "http://cyclonedx.org/schema/"
	refs[bom] = bom
	for ref, file := range refs {
		if err := c.AddResource(base+ref, load(file)); err != nil {
			t.Fatal(err)
		}
	}
	s, err := c.Compile(base + bom)
	if err != nil {
		t.Fatalf("compile %s: %v", bom, err)
	}
	return s
}

func TestCycloneDXValidatesAgainstTheOfficialSchema(t *testing.T) {
	s := cycloneDXSchema(t)
	for name, doc := range map[string]Document{"fixed": fixedDocument(), "empty": {}} {
		data := renderOne(t, "cyclonedx", doc)
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(v); err != nil {
			t.Errorf("%s BOM does not validate against bom-1.6: %v", name, err)
		}
	}
	// The validator must be able to say no.
	broken := bytes.Replace(renderOne(t, "cyclonedx", fixedDocument()), []byte(`"type": "firmware"`), []byte(`"type": "gadget"`), 1)
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(broken))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(v); err == nil {
		t.Error("bom-1.6 accepted a component of type gadget")
	}
}

// TestCycloneDXValidatesWithTheNPMValidator runs the CycloneDX JavaScript
// library's JSON validator (ajv, strict, spec 1.6) through node.
func TestCycloneDXValidatesWithTheNPMValidator(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed: the npm CycloneDX validator cannot run (.ci/run installs it)")
	}
	modules := cdxNodeModules(t)
	if _, err := os.Stat(filepath.Join(modules, "@cyclonedx", "cyclonedx-library")); err != nil {
		t.Skipf("@cyclonedx/cyclonedx-library not installed in %s: run `npm install --prefix .ci/cache/cyclonedx --no-save @cyclonedx/cyclonedx-library ajv ajv-formats ajv-formats-draft2019` (as .ci/run does)", modules)
	}
	script, err := filepath.Abs(filepath.Join("testdata", "cdx-validate.cjs"))
	if err != nil {
		t.Fatal(err)
	}
	validate := func(data []byte) (string, error) {
		path := filepath.Join(t.TempDir(), "bom.json")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(node, script, path)
		cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := validate(renderOne(t, "cyclonedx", fixedDocument()))
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 3 {
		t.Skipf("npm validator lacks its optional JSON dependencies: %s", out)
	}
	if err != nil || !strings.Contains(out, "valid") {
		t.Fatalf("npm CycloneDX validator rejected the BOM: %v\n%s", err, out)
	}
	broken := bytes.Replace(renderOne(t, "cyclonedx", fixedDocument()), []byte(`"type": "device"`), []byte(`"type": "gadget"`), 1)
	if out, err := validate(broken); err == nil {
		t.Errorf("npm validator accepted a component of type gadget: %s", out)
	}
}
