package configs

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otaudit/otaudit"
)

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func loadFullZone(t *testing.T) (*Config, otaudit.Zone) {
	t.Helper()
	cfg, err := Load(filepath.Join("testdata", "full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	z, err := cfg.ZoneModel()
	if err != nil {
		t.Fatalf("ZoneModel: %v", err)
	}
	return cfg, z
}

func TestZoneModelConvertsTheZone(t *testing.T) {
	_, z := loadFullZone(t)
	if z.Name != "cell-1" || z.Description != "Packaging line 1 control zone" || !z.Safety || z.PurdueLevel != 1 || z.MaxRemoteSessionMinutes != 480 {
		t.Errorf("zone header = %q %q safety=%v purdue=%d max=%d", z.Name, z.Description, z.Safety, z.PurdueLevel, z.MaxRemoteSessionMinutes)
	}
	// {default: 2, IAC: 3, FR7: 4}
	if want := (otaudit.SLVector{3, 2, 2, 2, 2, 2, 4}); z.SLTarget != want {
		t.Errorf("SLTarget = %v, want %v", z.SLTarget, want)
	}
	for _, c := range []struct {
		ip       string
		in, ews  bool
		jumpHost bool
	}{
		{"10.10.2.10", true, false, false},
		{"10.10.1.5", true, true, false},
		{"10.10.1.20", true, true, false}, // inside 10.10.1.16/28
		{"10.10.1.32", true, false, false},
		{"10.10.9.1", true, false, true},
		{"2001:db8:10::7", true, false, false},
		{"::ffff:10.10.1.5", true, true, false}, // IPv4-mapped form of the EWS
		{"10.20.0.10", false, false, false},
	} {
		a := mustAddr(t, c.ip)
		if z.Contains(a) != c.in || z.IsEngineeringHost(a) != c.ews || z.IsJumpHost(a) != c.jumpHost {
			t.Errorf("%s: in zone %v, EWS %v, jump host %v; want %v %v %v",
				c.ip, z.Contains(a), z.IsEngineeringHost(a), z.IsJumpHost(a), c.in, c.ews, c.jumpHost)
		}
	}
	if !z.AllowsProtocol("modbus") || z.AllowsProtocol("telnet") {
		t.Errorf("AllowedProtocols = %v", z.AllowedProtocols)
	}

	if len(z.Conduits) != 2 {
		t.Fatalf("conduits = %+v", z.Conduits)
	}
	c, ok := z.ConduitFor(mustAddr(t, "10.20.0.10"), "opcua")
	if !ok || c.Name != "cell1-to-dmz" || c.PeerZone != "site-dmz" {
		t.Errorf("ConduitFor(historian, opcua) = %+v, %v", c, ok)
	}
	// {default: 1, RDF: 3}: the conduit's own default, not the zone's.
	if want := (otaudit.SLVector{1, 1, 1, 1, 3, 1, 1}); c.SLTarget != want {
		t.Errorf("conduit SLTarget = %v, want %v", c.SLTarget, want)
	}
	if _, ok := z.ConduitFor(mustAddr(t, "10.20.0.10"), "modbus"); ok {
		t.Error("conduit allows modbus, which it does not list")
	}
	svc, ok := z.ConduitFor(mustAddr(t, "10.30.0.1"), "syslog")
	if !ok || svc.Name != "cell1-to-services" {
		t.Errorf("ConduitFor(services, syslog) via * = %+v, %v", svc, ok)
	}
	// No sl_target: the conduit inherits the zone's.
	if svc.SLTarget != z.SLTarget {
		t.Errorf("conduit without sl_target = %v, want the zone's %v", svc.SLTarget, z.SLTarget)
	}
}

func TestZoneModelMergesInlineAndCSVRegister(t *testing.T) {
	_, z := loadFullZone(t)
	want := []otaudit.RegisteredAsset{
		{IP: mustAddr(t, "10.10.2.10"), MAC: "00:80:f4:01:02:03", Name: "plc-1", Vendor: "Schneider Electric", Model: "BMX P34 2020", Firmware: "3.10", Role: "PLC"},
		{MAC: "00:80:f4:01:02:04", Name: "io-1", Role: "io"},
		{IP: mustAddr(t, "10.10.2.11"), MAC: "00:1b:1b:2a:10:11", Name: "plc-2", Vendor: "Siemens", Model: "CPU 1516-3 PN/DP", Firmware: "2.9.4", Role: "PLC"},
		{IP: mustAddr(t, "10.10.1.20"), Name: "hmi-1", Vendor: "Siemens", Model: "TP1200 Comfort, panel", Firmware: "17.0", Role: "HMI"},
	}
	if len(z.Register) != len(want) {
		t.Fatalf("register = %+v", z.Register)
	}
	for i := range want {
		if z.Register[i] != want[i] {
			t.Errorf("register[%d] = %+v\nwant %+v", i, z.Register[i], want[i])
		}
	}
	// Observations carry lower-case colon MACs; a MAC-only register entry
	// must match them.
	if r, ok := z.Lookup(mustAddr(t, "10.99.0.1"), []string{"00:80:f4:01:02:04"}); !ok || r.Name != "io-1" {
		t.Errorf("Lookup by MAC = %+v, %v", r, ok)
	}
}

func TestZoneModelWithoutRegisterHasNilRegister(t *testing.T) {
	z, err := Default().ZoneModel()
	if err != nil {
		t.Fatal(err)
	}
	if z.Register != nil {
		t.Errorf("register = %#v, want nil (no register given)", z.Register)
	}
	if z.Bounded() || !z.Contains(mustAddr(t, "192.0.2.1")) {
		t.Error("default zone should be unbounded with everything in scope")
	}
}

func TestZoneModelEmptyInlineRegisterIsNotNil(t *testing.T) {
	cfg, err := Parse("z.yaml", []byte(zoneDocHead+"  assets: []\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	z, err := cfg.ZoneModel()
	if err != nil {
		t.Fatal(err)
	}
	if z.Register == nil || len(z.Register) != 0 {
		t.Errorf("register = %#v, want empty but declared", z.Register)
	}
}

func TestZoneModelCopiesSlices(t *testing.T) {
	cfg, z := loadFullZone(t)
	z.CIDRs[0] = netip.MustParsePrefix("192.0.2.0/24")
	z.Conduits[0].Protocols[0] = "telnet"
	z.AllowedProtocols[0] = "telnet"
	if cfg.Zone.CIDRs[0].String() != "10.10.0.0/16" || cfg.Zone.Conduits[0].Protocols[0] != "opcua" || cfg.Zone.AllowedProtocols[0] != "modbus" {
		t.Error("changing the Zone changed the Config it came from")
	}
}

// TestZoneModelRereadsTheRegister: a register edited after Load is what the
// next ZoneModel sees, and a register broken since is reported by CSV line.
func TestZoneModelRereadsTheRegister(t *testing.T) {
	dir := t.TempDir()
	zonePath := filepath.Join(dir, "zone.yaml")
	csvPath := filepath.Join(dir, "reg.csv")
	writeZoneFixture(t, zonePath, zoneDocHead+"  asset_register_csv: reg.csv\n")
	writeZoneFixture(t, csvPath, "ip,name\n10.0.0.1,a\n")
	cfg, err := Load(zonePath)
	if err != nil {
		t.Fatal(err)
	}

	writeZoneFixture(t, csvPath, "ip,name\n10.0.0.1,a\n10.0.0.2,b\n")
	z, err := cfg.ZoneModel()
	if err != nil || len(z.Register) != 2 || z.Register[1].Name != "b" {
		t.Fatalf("after adding a row: %+v, %v", z.Register, err)
	}

	writeZoneFixture(t, csvPath, "ip,name\n10.0.0.1,a\nnot-an-ip,b\n")
	_, err = cfg.ZoneModel()
	var ce *ConfigError
	if !errors.As(err, &ce) || len(ce.Problems) != 1 || !strings.HasPrefix(ce.Problems[0].String(), csvPath+":3:1: ip: invalid IP address") {
		t.Errorf("after breaking a row: %v", err)
	}

	if err := os.Remove(csvPath); err != nil {
		t.Fatal(err)
	}
	_, err = cfg.ZoneModel()
	if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), zonePath+":4:23: zone.asset_register_csv: cannot read asset register") {
		t.Errorf("after removing the register: %v", err)
	}
}

func writeZoneFixture(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
