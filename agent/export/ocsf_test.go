package export

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// ocsfRequired lists, per class, the attributes OCSF 1.8 marks required
// (base event, the finding/discovery parents, the class itself and the
// required attributes of the objects the class requires).
var ocsfRequired = map[int][]string{
	OCSFClassComplianceFinding: {
		"activity_id", "category_uid", "class_uid", "type_uid", "severity_id", "time",
		"metadata", "metadata.product", "metadata.product.name", "metadata.version",
		"finding_info", "finding_info.uid", "compliance", "compliance.standards",
	},
	OCSFClassDeviceInventoryInfo: {
		"activity_id", "category_uid", "class_uid", "type_uid", "severity_id", "time",
		"metadata", "metadata.product", "metadata.product.name", "metadata.version",
		"device", "device.type_id",
	},
}

// ocsfNestedRequired are required attributes of optional objects: when
// the object is present, these must be too.
var ocsfNestedRequired = map[string][]string{
	"finding_info.analytic": {"type_id"},
	"remediation":           {"desc"},
	"device":                {"type_id"},
	"device.os":             {"name", "type_id"},
}

func lookup(m map[string]any, path string) (any, bool) {
	var cur any = m
	for _, p := range strings.Split(path, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[p]; !ok || cur == nil {
			return nil, false
		}
	}
	return cur, true
}

func ocsfEvents(t *testing.T, data []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<24)
	for n := 1; sc.Scan(); n++ {
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("line %d is not a JSON object: %v", n, err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// intAt reads an integer attribute; ok is false when absent or no integer.
func intAt(m map[string]any, path string) (int64, bool) {
	v, ok := lookup(m, path)
	if !ok {
		return 0, false
	}
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	return i, err == nil
}

// ocsfProblems checks every required attribute and the identifier
// arithmetic on each event; it returns what is wrong and the number of
// events per class.
func ocsfProblems(events []map[string]any) (problems []string, perClass map[int]int) {
	perClass = map[int]int{}
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for i, e := range events {
		n := i + 1
		class64, ok := intAt(e, "class_uid")
		if !ok {
			bad("event %d: no class_uid", n)
			continue
		}
		class := int(class64)
		perClass[class]++
		required, known := ocsfRequired[class]
		if !known {
			bad("event %d: class %d is not one otaudit emits", n, class)
			continue
		}
		for _, attr := range required {
			if _, ok := lookup(e, attr); !ok {
				bad("event %d (class %d): required attribute %s missing", n, class, attr)
			}
		}
		for obj, attrs := range ocsfNestedRequired {
			if _, present := lookup(e, obj); !present {
				continue
			}
			for _, a := range attrs {
				if _, ok := lookup(e, obj+"."+a); !ok {
					bad("event %d: %s present without its required %s", n, obj, a)
				}
			}
		}
		if ifaces, ok := lookup(e, "device.network_interfaces"); ok {
			for _, ni := range ifaces.([]any) {
				ni := ni.(map[string]any)
				if _, ok := ni["type_id"]; !ok {
					bad("event %d: network interface without type_id", n)
				}
				if ni["ip"] == nil && ni["mac"] == nil {
					bad("event %d: network interface with neither ip nor mac", n)
				}
			}
		}
		if d, ok := lookup(e, "device"); ok {
			d := d.(map[string]any)
			if d["ip"] == nil && d["uid"] == nil && d["name"] == nil && d["hostname"] == nil {
				bad("event %d: device has none of ip, uid, name, hostname", n)
			}
		}
		activity, _ := intAt(e, "activity_id")
		if got, _ := intAt(e, "type_uid"); got != int64(class)*100+activity {
			bad("event %d: type_uid %d, want class_uid*100+activity_id = %d", n, got, int64(class)*100+activity)
		}
		if got, _ := intAt(e, "category_uid"); got != int64(class/1000) {
			bad("event %d: category_uid %d for class %d", n, got, class)
		}
		if sev, ok := intAt(e, "severity_id"); !ok || sev < 0 || sev > 6 && sev != 99 {
			bad("event %d: severity_id %d", n, sev)
		}
		if tm, _ := intAt(e, "time"); tm <= 0 {
			bad("event %d: time not set", n)
		}
		if v, _ := lookup(e, "metadata.version"); v != OCSFVersion {
			bad("event %d: metadata.version %v", n, v)
		}
		switch class {
		case OCSFClassComplianceFinding:
			if activity < 1 || activity > 3 {
				bad("event %d: finding activity_id %d", n, activity)
			}
			if st, _ := intAt(e, "compliance.status_id"); st < 1 || st > 3 {
				bad("event %d: compliance.status_id %d", n, st)
			}
			if std, ok := lookup(e, "compliance.standards"); !ok || len(std.([]any)) == 0 || std.([]any)[0] != "IEC 62443-3-3" {
				bad("event %d: compliance.standards %v", n, std)
			}
		case OCSFClassDeviceInventoryInfo:
			if activity != 1 && activity != 2 {
				bad("event %d: discovery activity_id %d", n, activity)
			}
		}
	}
	return problems, perClass
}

func checkOCSFEvents(t *testing.T, events []map[string]any) map[int]int {
	t.Helper()
	problems, perClass := ocsfProblems(events)
	for _, p := range problems {
		t.Error(p)
	}
	return perClass
}

func TestOCSFRequiredAttributesAndEvents(t *testing.T) {
	doc := fixedDocument()
	events := ocsfEvents(t, renderOne(t, "ocsf", doc))
	perClass := checkOCSFEvents(t, events)
	// 2 assets; 4 findings + PASS, NOT_ASSESSED and the FAIL of RA-FLOOD
	// that no finding stands for (NOT_APPLICABLE and the reported FAIL are
	// not repeated); no advisories, so no Vulnerability Finding.
	if perClass[OCSFClassDeviceInventoryInfo] != 2 || perClass[OCSFClassComplianceFinding] != 7 || perClass[OCSFClassVulnerabilityFinding] != 0 {
		t.Errorf("events per class: %v", perClass)
	}
	byUID := map[string]map[string]any{}
	for _, e := range events {
		if uid, ok := lookup(e, "finding_info.uid"); ok {
			byUID[uid.(string)] = e
		}
	}
	for _, f := range doc.Findings {
		if byUID[f.ID] == nil {
			t.Errorf("finding %s (%s) has no event", f.ID, f.CheckID)
		}
	}
	open := byUID[doc.Findings[0].ID]
	if v, _ := lookup(open, "compliance.status_id"); v.(json.Number) != "3" {
		t.Errorf("open finding: compliance.status_id %v, want 3 Fail", v)
	}
	if v, _ := lookup(open, "severity_id"); v.(json.Number) != "4" {
		t.Errorf("high finding: severity_id %v, want 4", v)
	}
	if v, _ := lookup(open, "device.ip"); v != "10.10.1.10" {
		t.Errorf("finding device.ip %v", v)
	}
	reqs, _ := lookup(open, "compliance.requirements")
	if !strings.Contains(toJSON(t, reqs), "IEC 62443-3-3 SR 1.5") || !strings.Contains(toJSON(t, reqs), "ISO/IEC 27001:2013 A.9.4.3") {
		t.Errorf("requirements %v", reqs)
	}
	resolved := byUID[doc.Findings[2].ID]
	if v, _ := lookup(resolved, "status_id"); v.(json.Number) != "4" {
		t.Errorf("resolved finding status_id %v, want 4 Resolved", v)
	}
	if v, _ := lookup(resolved, "activity_id"); v.(json.Number) != "3" {
		t.Errorf("resolved finding activity_id %v, want 3 Close", v)
	}
	pass := byUID["check:packaging:AC-REMOTE-OUTSIDE-WINDOW"]
	if v, _ := lookup(pass, "compliance.status"); v != "Pass" {
		t.Errorf("passed check: compliance.status %v", v)
	}
	if v, _ := lookup(byUID["check:packaging:IM-SYSLOG-ABSENT"], "compliance.status_id"); v.(json.Number) != "2" {
		t.Errorf("not-assessed check: compliance.status_id %v, want 2 Warning", v)
	}
	if byUID["check:packaging:DC-OPCUA-SECURITY-NONE"] != nil || byUID["check:packaging:AC-DEFAULT-SNMP-COMMUNITY"] != nil {
		t.Error("a NOT_APPLICABLE result or a FAIL already reported by its findings got a zone-level event")
	}
	plc := events[0]
	if v, _ := lookup(plc, "device.uid"); v != "ip:10.10.1.10" {
		t.Fatalf("first event is not the PLC's inventory: %v", v)
	}
	for path, want := range map[string]any{
		"device.vendor_name": "Schneider Electric", "device.model": "TM221CE16R", "device.hw_info.serial_number": "SN-0042",
		"device.os.version": "v3.1", "device.mac": "00:80:f4:01:02:03", "device.type": "PLC", "unmapped.mac_vendor": "Telemecanique",
	} {
		if got, _ := lookup(plc, path); got != want {
			t.Errorf("PLC inventory %s = %v, want %v", path, got, want)
		}
	}
}

func toJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestOCSFRequiredCheckCatchesAMissingAttribute(t *testing.T) {
	// The checker must be able to fail: drop required attributes.
	events := ocsfEvents(t, renderOne(t, "ocsf", fixedDocument()))
	delete(events[0]["device"].(map[string]any), "type_id")
	delete(events[3], "finding_info")
	events[4]["type_uid"] = json.Number("200300")
	problems, _ := ocsfProblems(events)
	all := strings.Join(problems, "\n")
	for _, want := range []string{"device.type_id missing", "finding_info missing", "type_uid 200300"} {
		if !strings.Contains(all, want) {
			t.Errorf("problem %q not reported; got:\n%s", want, all)
		}
	}
}
