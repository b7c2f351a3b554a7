package checks

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/otaudit/otaudit"
)

// driftFixture is a small cell: two PLCs, the SCADA master writing to one,
// a DMZ historian reading across the boundary, and an RDP session from the
// enterprise network.
func driftObservations() []otaudit.Observation {
	return []otaudit.Observation{
		host("10.1.0.5", "00:80:f4:00:00:05", "Schneider"),
		host("10.1.0.6", "00:80:f4:00:00:06", "Schneider"),
		host("10.1.0.10", "00:11:22:00:00:10", "Dell"),
		host("10.2.0.7", "00:90:e8:00:00:01", "Moxa"), // routed peer
		identity("10.1.0.5", "Schneider Electric", "BMX P34 2020", "v3.1"),
		flow("10.1.0.10", "10.1.0.5", "modbus", 502, true),
		flow("10.1.0.10", "10.1.0.6", "modbus", 502, true),
		op("modbus", "10.1.0.10", "10.1.0.5", otaudit.OpWrite, 16, "Write Multiple Registers", 4),
		op("modbus", "10.1.0.10", "10.1.0.6", otaudit.OpRead, 3, "Read Holding Registers", 40),
		flow("10.2.0.7", "10.1.0.5", "modbus", 502, true),
		flow("10.2.0.7", "10.1.0.6", "", 8080, false), // an unanswered probe: not a conduit in use
		session("rdp", "172.16.9.4", "10.1.0.10", 3389, 0, true),
	}
}

// fixtureAssets builds the inventory the way the agent would for obs.
func fixtureAssets(zone otaudit.Zone, obs []otaudit.Observation) []otaudit.Asset {
	return fixture{zone: zone, obs: obs}.input().Assets
}

func buildFixtureBaseline(zone otaudit.Zone, obs []otaudit.Observation) otaudit.Baseline {
	return BuildBaseline(&zone, fixtureAssets(zone, obs), obs)
}

func TestBuildBaselineRecordsTheApprovedState(t *testing.T) {
	zone := cellZone()
	b := buildFixtureBaseline(zone, driftObservations())
	var keys []string
	for _, a := range b.Assets {
		keys = append(keys, a.Key)
	}
	// The DMZ historian and the enterprise RDP client are outside the zone.
	if got := strings.Join(keys, " "); got != "ip:10.1.0.5 ip:10.1.0.6 ip:10.1.0.10" {
		t.Fatalf("baseline assets %q: want the three inside assets in address order", got)
	}
	plc := b.Assets[0]
	if plc.Firmware != "v3.1" || plc.Model != "BMX P34 2020" || len(plc.Services) != 1 || plc.Services[0].Protocol != "modbus" {
		t.Errorf("plc-1 in the baseline: %+v", plc)
	}
	if len(b.BoundaryFlows) != 1 || b.BoundaryFlows[0] != (otaudit.BaselinePath{Client: addr("10.2.0.7"), Server: addr("10.1.0.5"), Protocol: "modbus", Port: 502}) {
		t.Errorf("boundary flows %+v: want only the answered historian → plc-1 modbus flow", b.BoundaryFlows)
	}
	if len(b.RemotePaths) != 1 || b.RemotePaths[0].Protocol != "rdp" || b.RemotePaths[0].Client != addr("172.16.9.4") {
		t.Errorf("remote paths %+v", b.RemotePaths)
	}
	if len(b.Writers) != 1 || b.Writers[0] != (otaudit.BaselinePath{Client: addr("10.1.0.10"), Server: addr("10.1.0.5"), Protocol: "modbus"}) {
		t.Errorf("writers %+v: want the SCADA master's write to plc-1 only (reads are not writes)", b.Writers)
	}
	// The document survives JSON, the form the store keeps it in.
	raw, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var back otaudit.Baseline
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if rep := Drift(&back, b); len(rep.Items) != 0 {
		t.Errorf("a baseline drifts from itself after a JSON round trip: %+v", rep.Items)
	}
}

func TestBuildBaselineOfAnUnboundedZoneHasNoBoundary(t *testing.T) {
	b := buildFixtureBaseline(openZone(), driftObservations())
	if len(b.BoundaryFlows) != 0 {
		t.Errorf("an unbounded zone has no boundary, got flows %+v", b.BoundaryFlows)
	}
	if len(b.Assets) != 5 {
		t.Errorf("everything seen is in an unbounded zone: %d assets", len(b.Assets))
	}
}

func TestDriftFindsEveryKind(t *testing.T) {
	zone := cellZone()
	approved := buildFixtureBaseline(zone, driftObservations())
	approved.ScanID = 4

	later := []otaudit.Observation{
		host("10.1.0.5", "00:80:f4:00:00:05", "Schneider"),
		host("10.1.0.10", "00:11:22:00:00:10", "Dell"),
		host("10.1.0.66", "00:0c:29:00:00:66", "VMware"), // new laptop
		host("10.2.0.7", "00:90:e8:00:00:01", "Moxa"),
		identity("10.1.0.5", "Schneider Electric", "BMX P34 2040", "v3.4"),
		flow("10.1.0.10", "10.1.0.5", "modbus", 502, true),
		flow("10.1.0.10", "10.1.0.5", "telnet", 23, true), // new protocol on plc-1
		op("modbus", "10.1.0.10", "10.1.0.5", otaudit.OpWrite, 16, "Write Multiple Registers", 4),
		op("modbus", "10.1.0.66", "10.1.0.5", otaudit.OpWrite, 6, "Write Single Register", 1), // new writer
		flow("10.2.0.7", "10.1.0.5", "modbus", 502, true),
		flow("10.1.0.66", "8.8.8.8", "dns", 53, true),             // new boundary flow
		session("vnc", "172.16.9.4", "10.1.0.66", 5900, 0, false), // new remote path
		session("rdp", "172.16.9.4", "10.1.0.10", 3389, 0, true),  // approved
	}
	current := buildFixtureBaseline(zone, later)
	current.ScanID = 9
	rep := Drift(&approved, current)
	if rep.BaselineScan != 4 || rep.CurrentScan != 9 || rep.Zone != "cell-1" {
		t.Errorf("report header %+v", rep)
	}
	var got []string
	for _, it := range rep.Items {
		s := string(it.Kind) + " " + it.Asset
		if it.Path != nil {
			s += " " + describePath(*it.Path)
		}
		if it.Was != "" || it.Now != "" && it.Kind != DriftNewAsset {
			s += " " + it.Was + "→" + it.Now
		}
		got = append(got, s)
	}
	want := []string{
		"new_asset ip:10.1.0.66",
		"missing_asset ip:10.1.0.6 10.1.0.6 (MAC 00:80:f4:00:00:06)→",
		"firmware_changed ip:10.1.0.5 v3.1→v3.4",
		"model_changed ip:10.1.0.5 BMX P34 2020→BMX P34 2040",
		"new_protocol ip:10.1.0.5 →telnet (tcp/23)",
		"new_boundary_flow ip:8.8.8.8 10.1.0.66 → 8.8.8.8 dns/53",
		"new_remote_path ip:10.1.0.66 172.16.9.4 → 10.1.0.66 vnc/5900",
		"new_writer ip:10.1.0.5 10.1.0.66 → 10.1.0.5 modbus",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("drift items:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, it := range rep.Items {
		if it.Summary == "" {
			t.Errorf("%s %s has no summary", it.Kind, it.Asset)
		}
	}
}

func TestDriftIgnoresUnknownIdentityAndNilBaseline(t *testing.T) {
	zone := cellZone()
	approved := buildFixtureBaseline(zone, driftObservations())
	// The same plant seen without the identification reply: firmware and
	// model are unknown now, which is not a change.
	var quiet []otaudit.Observation
	for _, o := range driftObservations() {
		if o.Kind != otaudit.KindIdentity {
			quiet = append(quiet, o)
		}
	}
	if rep := Drift(&approved, buildFixtureBaseline(zone, quiet)); len(rep.Items) != 0 {
		t.Errorf("unknown firmware counted as drift: %+v", rep.Items)
	}
	// And the reverse: the baseline did not know the firmware.
	if rep := Drift(&otaudit.Baseline{Zone: "cell-1", Assets: []otaudit.BaselineAsset{{Key: "ip:10.1.0.5", IP: netip.MustParseAddr("10.1.0.5")}}},
		otaudit.Baseline{Zone: "cell-1", Assets: []otaudit.BaselineAsset{{Key: "ip:10.1.0.5", IP: netip.MustParseAddr("10.1.0.5"), Firmware: "v9"}}}); len(rep.Items) != 0 {
		t.Errorf("firmware unknown in the baseline counted as drift: %+v", rep.Items)
	}
	rep := Drift(nil, approved)
	if rep.Items == nil || len(rep.Items) != 0 {
		t.Errorf("nil baseline: want an empty, non-nil item list, got %#v", rep.Items)
	}
}
