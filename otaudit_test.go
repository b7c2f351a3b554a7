package otaudit

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestSecretNeverPrints(t *testing.T) {
	s := NewSecret("hunter2")
	type cfg struct{ Password Secret }
	b, err := json.Marshal(cfg{s})
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{string(b), fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s)} {
		if strings.Contains(out, "hunter2") {
			t.Fatalf("secret leaked: %s", out)
		}
	}
	if s.Reveal() != "hunter2" {
		t.Fatal("Reveal lost the value")
	}
}

func TestCredentialJudge(t *testing.T) {
	j := CredentialJudge{Key: []byte("k1"), Defaults: map[string][]string{"snmp": {"public"}, "": {"admin"}}}
	fp1, def := j.Judge("snmp", []byte("public"))
	if !def || !strings.HasPrefix(fp1, "hmac-sha256:") || strings.Contains(fp1, "public") {
		t.Fatalf("snmp public: fp=%s default=%v", fp1, def)
	}
	if _, def := j.Judge("telnet", []byte("public")); def {
		t.Fatal("public is an SNMP default, not a login default")
	}
	if _, def := j.Judge("telnet", []byte("admin")); !def {
		t.Fatal("admin is a login default for every protocol")
	}
	fp2, _ := j.Judge("ftp", []byte("public"))
	if fp1 != fp2 {
		t.Fatal("the same secret must give the same fingerprint across protocols")
	}
	other := CredentialJudge{Key: []byte("k2")}
	if fp3, _ := other.Judge("snmp", []byte("public")); fp3 == fp1 {
		t.Fatal("fingerprints must depend on the key")
	}
}

func TestSeverity(t *testing.T) {
	for _, s := range []Severity{SeverityInfo, SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical} {
		got, err := ParseSeverity(strings.ToUpper(s.String()))
		if err != nil || got != s {
			t.Fatalf("round trip %v: %v %v", s, got, err)
		}
	}
	if _, err := ParseSeverity("severe"); err == nil {
		t.Fatal("want error for unknown severity")
	}
	if SeverityHigh.Raise(3) != SeverityCritical || SeverityLow.Raise(1) != SeverityMedium {
		t.Fatal("Raise")
	}
}

func TestFindingIDStable(t *testing.T) {
	a := FindingID("AC-X", "ip:10.0.0.1", "k")
	if a != FindingID("AC-X", "ip:10.0.0.1", "k") || len(a) != 20 {
		t.Fatalf("unstable or wrong length: %s", a)
	}
	if a == FindingID("AC-X", "ip:10.0.0.1k", "") {
		t.Fatal("fields must be separated")
	}
}

func TestZone(t *testing.T) {
	z := Zone{
		CIDRs:            []netip.Prefix{netip.MustParsePrefix("10.10.0.0/16")},
		EngineeringHosts: []netip.Prefix{netip.MustParsePrefix("10.10.1.5/32")},
		Conduits:         []Conduit{{PeerCIDRs: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16")}, Protocols: []string{"opcua"}}},
		Register: []RegisteredAsset{
			{IP: netip.MustParseAddr("10.10.0.9"), MAC: "00:11:22:33:44:55"},
			{MAC: "00:11:22:33:44:66"},
		},
	}
	if !z.Contains(netip.MustParseAddr("10.10.3.4")) || z.Contains(netip.MustParseAddr("10.11.0.1")) {
		t.Fatal("Contains")
	}
	if !z.IsEngineeringHost(netip.MustParseAddr("10.10.1.5")) || z.IsEngineeringHost(netip.MustParseAddr("10.10.1.6")) {
		t.Fatal("IsEngineeringHost")
	}
	if _, ok := z.ConduitFor(netip.MustParseAddr("10.20.1.1"), "OPCUA"); !ok {
		t.Fatal("conduit should allow opcua")
	}
	if _, ok := z.ConduitFor(netip.MustParseAddr("10.20.1.1"), "modbus"); ok {
		t.Fatal("conduit must not allow modbus")
	}
	if _, ok := z.Lookup(netip.MustParseAddr("10.10.0.9"), nil); !ok {
		t.Fatal("lookup by IP")
	}
	if _, ok := z.Lookup(netip.MustParseAddr("10.10.0.77"), []string{"00:11:22:33:44:66"}); !ok {
		t.Fatal("lookup of a MAC-only entry")
	}
	// Routed traffic: a remote address carrying a registered device's MAC
	// is not that device.
	if _, ok := z.Lookup(netip.MustParseAddr("192.168.1.7"), []string{"00:11:22:33:44:55"}); ok {
		t.Fatal("a MAC must not match an entry that names another IP")
	}
	var open Zone
	if !open.Contains(netip.MustParseAddr("8.8.8.8")) || open.Bounded() {
		t.Fatal("an undeclared zone has everything in scope")
	}
}

func TestMaintenanceWindow(t *testing.T) {
	sat := time.Date(2026, 3, 7, 0, 0, 0, 0, time.UTC) // a Saturday
	w := MaintenanceWindow{Days: []time.Weekday{time.Saturday}, Start: 2 * time.Hour, End: 6 * time.Hour}
	if !w.Contains(sat.Add(3*time.Hour)) || w.Contains(sat.Add(7*time.Hour)) || w.Contains(sat.Add(27*time.Hour)) {
		t.Fatal("Saturday 02:00-06:00")
	}
	night := MaintenanceWindow{Days: []time.Weekday{time.Saturday}, Start: 22 * time.Hour, End: 4 * time.Hour}
	if !night.Contains(sat.Add(23*time.Hour)) || !night.Contains(sat.Add(27*time.Hour)) || night.Contains(sat.Add(3*time.Hour)) {
		t.Fatal("Saturday 22:00 to Sunday 04:00")
	}
	var z Zone
	if z.InMaintenanceWindow(sat) {
		t.Fatal("a zone without windows has no approved window")
	}
	a := Attestation{Expires: sat}
	if !a.Valid(sat.Add(-time.Hour)) || a.Valid(sat) {
		t.Fatal("attestations stop counting when they expire")
	}
}
