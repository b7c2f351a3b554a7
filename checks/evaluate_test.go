package checks

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otaudit/otaudit"
)

// plant is a small bounded zone with something wrong in most places.
func plant() fixture {
	z := cellZone()
	z.Register = register("10.1.0.5", "10.1.0.6", "10.1.0.9", "10.1.0.20")
	z.EngineeringHosts = nil
	return fixture{zone: z, roles: map[string]string{"10.1.0.5": "PLC", "10.1.0.6": "PLC"}, obs: []otaudit.Observation{
		host("10.1.0.5", "02:00:00:00:00:05", "Schneider Electric"),
		host("10.1.0.77", "02:00:00:00:00:77", ""),
		flow("10.1.0.9", "10.1.0.5", "modbus", 502, true),
		flow("10.1.0.9", "10.1.0.6", "modbus", 502, true),
		flow("172.16.9.4", "10.1.0.5", "telnet", 23, true),
		op("modbus", "10.1.0.9", "10.1.0.5", otaudit.OpWrite, 6, "Write Single Register", 4),
		op("modbus", "10.1.0.77", "10.1.0.6", otaudit.OpRead, 3, "Read Holding Registers", 40),
		cred("telnet", "172.16.9.4", "10.1.0.5", "admin", "hmac-sha256:0a", true, "success"),
		session("telnet", "172.16.9.4", "10.1.0.5", 23, 10*time.Minute, false),
		session("rdp", "172.16.9.4", "10.1.0.20", 3389, 10*time.Hour, true),
		channel("opcua", "10.1.0.9", "10.1.0.30", "http://opcfoundation.org/UA/SecurityPolicy#None", false),
	}}
}

func TestEvaluateResultsCoverTheCatalogInOrder(t *testing.T) {
	rep := Evaluate(plant().input())
	cat := Catalog()
	if len(rep.Results) != len(cat) {
		t.Fatalf("%d results for %d catalog checks", len(rep.Results), len(cat))
	}
	for i, r := range rep.Results {
		if r.CheckID != cat[i].ID || r.Objective != cat[i].Objective {
			t.Errorf("result %d is %s/%s, catalog has %s/%s", i, r.CheckID, r.Objective, cat[i].ID, cat[i].Objective)
		}
		_, registered := rules[r.CheckID]
		if !registered && r.State != otaudit.CheckNotAssessed {
			t.Errorf("%s has no evaluator but state %s", r.CheckID, r.State)
		}
		if r.State == otaudit.CheckNotAssessed || r.State == otaudit.CheckNotApplicable {
			if rep.Reasons[r.CheckID] == "" {
				t.Errorf("%s is %s without a reason", r.CheckID, r.State)
			}
		}
		if r.State == otaudit.CheckFailed && (r.Failing == 0 || r.Failing > r.InScope) {
			t.Errorf("%s: FAIL with failing %d of %d", r.CheckID, r.Failing, r.InScope)
		}
	}
}

func TestEvaluateFindingsAreSorted(t *testing.T) {
	rep := Evaluate(plant().input())
	if len(rep.Findings) < 8 {
		t.Fatalf("plant fixture gave only %d findings", len(rep.Findings))
	}
	sorted := slices.IsSortedFunc(rep.Findings, func(a, b otaudit.Finding) int {
		if a.Severity != b.Severity {
			return int(b.Severity - a.Severity)
		}
		return strings.Compare(a.CheckID+"\x00"+a.AssetKey+"\x00"+a.Key, b.CheckID+"\x00"+b.AssetKey+"\x00"+b.Key)
	})
	if !sorted {
		for _, f := range rep.Findings {
			t.Logf("%s %s %s %s", f.Severity, f.CheckID, f.AssetKey, f.Key)
		}
		t.Fatal("findings are not sorted by severity, check, asset, key")
	}
	if rep.Findings[0].Severity != otaudit.SeverityCritical {
		t.Errorf("worst finding is %s, want critical first", rep.Findings[0].Severity)
	}
}

func TestEvaluateIsDeterministic(t *testing.T) {
	fx := plant()
	a := Evaluate(fx.input())
	slices.Reverse(fx.obs)
	in := fx.input()
	slices.Reverse(in.Assets)
	b := Evaluate(in)
	if !reflect.DeepEqual(a, b) {
		ja, _ := json.MarshalIndent(a, "", " ")
		jb, _ := json.MarshalIndent(b, "", " ")
		t.Fatalf("reordering the input changed the report:\n%s\n---\n%s", ja, jb)
	}
}

func TestMissingCollectorIsNotAssessed(t *testing.T) {
	fx := plant()
	fx.collected = []string{"snmp"}
	rep := Evaluate(fx.input())
	state := map[string]otaudit.CheckState{}
	for _, r := range rep.Results {
		state[r.CheckID] = r.State
	}
	for _, id := range []string{"AC-CLEARTEXT-LOGIN-TELNET", "AC-MODBUS-WRITE-UNAUTHORIZED-SOURCE", "AM-UNKNOWN-DEVICE"} {
		if state[id] != otaudit.CheckNotAssessed {
			t.Errorf("%s without pcap: %s, want NOT_ASSESSED", id, state[id])
		}
		if !strings.Contains(rep.Reasons[id], "pcap") {
			t.Errorf("%s reason %q does not name the missing collector", id, rep.Reasons[id])
		}
	}
	for _, f := range rep.Findings {
		if state[f.CheckID] == otaudit.CheckNotAssessed {
			t.Errorf("NOT_ASSESSED check %s produced a finding", f.CheckID)
		}
	}
	// AC-SNMP-V1V2C-ENABLED needs snmp or pcap; snmp ran.
	if state["AC-SNMP-V1V2C-ENABLED"] == otaudit.CheckNotAssessed {
		t.Errorf("AC-SNMP-V1V2C-ENABLED is NOT_ASSESSED although snmp ran: %s", rep.Reasons["AC-SNMP-V1V2C-ENABLED"])
	}
	// Data needs: a baseline was never supplied.
	if state["AM-NEW-DEVICE-SINCE-BASELINE"] != otaudit.CheckNotAssessed {
		t.Errorf("AM-NEW-DEVICE-SINCE-BASELINE without baseline: %s", state["AM-NEW-DEVICE-SINCE-BASELINE"])
	}
}

func TestUnboundedZoneHasNoBoundaryChecks(t *testing.T) {
	fx := plant()
	fx.zone = openZone()
	rep := Evaluate(fx.input())
	for _, r := range rep.Results {
		switch r.CheckID {
		case "AC-RA-EXTERNAL-DIRECT", "AC-RA-NOT-VIA-JUMPHOST", "AC-FLOW-UNDECLARED-CONDUIT", "SI-CLEARTEXT-CONTROL-ACROSS-BOUNDARY":
			if r.State != otaudit.CheckNotApplicable {
				t.Errorf("%s in an unbounded zone: %s, want NOT_APPLICABLE", r.CheckID, r.State)
			}
		case "AC-CLEARTEXT-LOGIN-TELNET":
			if r.State != otaudit.CheckFailed {
				t.Errorf("telnet login in the default zone: %s, want FAIL", r.State)
			}
		}
	}
	for _, f := range rep.Findings {
		for _, x := range f.Refs.Disproves {
			if x.ID == "SR 4.1 RE1" && f.CheckID == "AC-CLEARTEXT-LOGIN-TELNET" {
				t.Errorf("no boundary, yet the telnet finding disproves SR 4.1 RE1")
			}
		}
	}
}

func TestScopeCounts(t *testing.T) {
	// Telnet to one of four zone assets: in scope 4, failing 1.
	fx := fixture{zone: cellZone(), obs: []otaudit.Observation{
		flow("10.1.0.9", "10.1.0.5", "modbus", 502, true),
		flow("10.1.0.9", "10.1.0.6", "modbus", 502, true),
		flow("10.1.0.9", "10.1.0.7", "modbus", 502, true),
		cred("telnet", "10.1.0.9", "10.1.0.5", "admin", "hmac-sha256:0a", false, "success"),
		cred("telnet", "10.1.0.9", "10.1.0.5", "root", "hmac-sha256:0b", false, "success"),
	}}
	fs, res, _ := run(t, fx, "AC-CLEARTEXT-LOGIN-TELNET")
	if len(fs) != 2 || res.InScope != 4 || res.Failing != 1 || res.Severity != otaudit.SeverityHigh {
		t.Fatalf("%d findings, result %+v; want 2 findings on 1 of 4 assets, high", len(fs), res)
	}
}

func TestBoundaryCrossingAddsDisproofs(t *testing.T) {
	fs, _, _ := run(t, plant(), "AC-CLEARTEXT-LOGIN-TELNET")
	if len(fs) != 1 {
		t.Fatalf("%d telnet findings, want 1", len(fs))
	}
	var ids []string
	for _, x := range fs[0].Refs.Disproves {
		ids = append(ids, x.ID)
	}
	if want := []string{"SR 1.5", "SR 4.1", "SR 4.1 RE1"}; !slices.Equal(ids, want) {
		t.Errorf("disproves %v, want %v", ids, want)
	}
	spec, _ := Lookup("AC-CLEARTEXT-LOGIN-TELNET")
	if len(spec.Refs.Disproves) != 2 {
		t.Errorf("building the finding changed the catalog: %v", spec.Refs.Disproves)
	}
}

func TestFindingsCarryNoSecret(t *testing.T) {
	// A collector that mistakenly put the password in User would leak it
	// through no other field; the fingerprint is the only trace of the
	// secret the checks ever see, and Detail lists only these fields.
	rep := Evaluate(plant().input())
	js, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	for _, forbidden := range []string{"password\":", "secret\":", "community\":"} {
		if strings.Contains(string(js), forbidden) {
			t.Errorf("report JSON has a %s field", forbidden)
		}
	}
	if !strings.Contains(string(js), "hmac-sha256:0a") {
		t.Error("credential evidence lost its fingerprint")
	}
}
