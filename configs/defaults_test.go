package configs

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otaudit/otaudit"
)

func TestDefault(t *testing.T) {
	cfg := Default()
	if cfg.Path != DefaultConfigPath || cfg.Version != 1 {
		t.Errorf("path %q version %d", cfg.Path, cfg.Version)
	}
	z := cfg.Zone
	if z.Name != "default" || len(z.CIDRs) != 0 || z.Assets != nil || z.AssetRegisterCSV != "" || z.PurdueLevel != -1 {
		t.Errorf("zone = %+v", z)
	}
	if want := (otaudit.SLVector{2, 2, 2, 2, 2, 2, 2}); z.SLTarget != want {
		t.Errorf("SL-T = %v, want %v", z.SLTarget, want)
	}
	a := cfg.Active
	if a.Enabled || a.PerDevicePPS != 2 || a.PerZonePPS != 20 || a.Concurrency != 4 || a.Timeout != 3*time.Second || a.Retries != 1 {
		t.Errorf("active = %+v", a)
	}
	if g := a.CredentialGuessing; !g.Enabled || g.MaxAttemptsPerDevice != 3 || g.Delay != 2*time.Second {
		t.Errorf("credential guessing = %+v", g)
	}
	if len(cfg.Export) != 0 || len(cfg.Capture.Files) != 0 || cfg.Schedule.Interval != 0 || cfg.Schedule.Cron != "" {
		t.Errorf("default has export %v, capture %v, schedule %+v", cfg.Export, cfg.Capture, cfg.Schedule)
	}
	// Each call is a fresh copy.
	cfg.Zone.Name = "changed"
	if Default().Zone.Name != "default" {
		t.Error("Default returned shared state")
	}
}

// TestDefaultMatchesBaseline keeps default.yaml and the values a zone file
// starts from in step, so "left out" means the same as "no config at all".
func TestDefaultMatchesBaseline(t *testing.T) {
	b := baseline()
	d := Default()
	if d.Active.PerDevicePPS != b.Active.PerDevicePPS || d.Active.PerZonePPS != b.Active.PerZonePPS ||
		d.Active.Concurrency != b.Active.Concurrency || d.Active.Timeout != b.Active.Timeout ||
		d.Active.Retries != b.Active.Retries || d.Active.CredentialGuessing != b.Active.CredentialGuessing ||
		d.Active.Workarounds != b.Active.Workarounds || d.Zone.PurdueLevel != b.Zone.PurdueLevel {
		t.Errorf("default.yaml active %+v differs from baseline %+v", d.Active, b.Active)
	}
}

// TestDefaultPanicsOnBrokenEmbeddedFile: Default's only panic is a build
// defect in the embedded file.
func TestDefaultPanicsOnBrokenEmbeddedFile(t *testing.T) {
	saved := embeddedDefaultConfig
	t.Cleanup(func() { embeddedDefaultConfig = saved })
	embeddedDefaultConfig = []byte("version: 1\nzone: {}\n")
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(panicMessage(r), "embedded default.yaml is invalid") {
			t.Errorf("recover() = %v, want the embedded-file panic", r)
		}
	}()
	Default()
}

func panicMessage(v any) string {
	s, _ := v.(string)
	return s
}

func TestExamplePlantLoads(t *testing.T) {
	cfg, err := Load("example-plant.yaml")
	if err != nil {
		t.Fatalf("example-plant.yaml: %v", err)
	}
	z, err := cfg.ZoneModel()
	if err != nil {
		t.Fatal(err)
	}
	// The example describes a cell with PLCs, HMIs, an EWS, a historian
	// conduit to the DMZ and a jump host; check those made it through.
	roles := map[string]int{}
	for _, r := range z.Register {
		roles[r.Role]++
	}
	if roles["PLC"] < 2 || roles["HMI"] < 1 || roles["EWS"] < 1 {
		t.Errorf("register roles = %v", roles)
	}
	if len(z.EngineeringHosts) == 0 || len(z.JumpHosts) == 0 || !z.Bounded() {
		t.Errorf("zone = %+v", z)
	}
	if c, ok := z.ConduitFor(z.JumpHosts[0].Addr(), "opcua"); !ok || c.PeerZone != "site-dmz" {
		t.Errorf("historian conduit = %+v %v", c, ok)
	}
	if cfg.Active.Enabled {
		t.Error("the example must not enable active probing: someone will run it as is")
	}
}

func TestDefaultCredentials(t *testing.T) {
	d := DefaultCredentials()
	for key, want := range map[string][]string{
		"":      {"admin", "password", "1234", "12345", "123456", "root", "default", "user", "guest", "0000", "1111", "service", "manager"},
		"snmp":  {"public", "private", "community", "manager", "admin", "cisco", "ILMI", "write", "secret"},
		"opcua": {"admin", "password"},
	} {
		for _, w := range want {
			if !slices.Contains(d[key], w) {
				t.Errorf("DefaultCredentials()[%q] lacks %q", key, w)
			}
		}
		seen := map[string]bool{}
		for _, v := range d[key] {
			if v == "" || seen[v] {
				t.Errorf("DefaultCredentials()[%q] has empty or repeated %q", key, v)
			}
			seen[v] = true
		}
	}
	judge := otaudit.CredentialJudge{Key: []byte("k"), Defaults: d}
	for _, c := range []struct {
		protocol, secret string
		want             bool
	}{
		{"snmp", "public", true},
		{"snmp", "ILMI", true},
		{"telnet", "admin", true},
		{"snmp", "admin", true},    // login list applies to every protocol
		{"telnet", "cisco", false}, // community list only for snmp
		{"ftp", "Xq7-not-a-default", false},
		{"opcua", "password1", true},
	} {
		if _, got := judge.Judge(c.protocol, []byte(c.secret)); got != c.want {
			t.Errorf("Judge(%s, %q) known default = %v, want %v", c.protocol, c.secret, got, c.want)
		}
	}
	d[""][0] = "mutated"
	if DefaultCredentials()[""][0] == "mutated" {
		t.Error("DefaultCredentials returned shared state")
	}
	if l := DefaultOPCUALogins(); !slices.Contains(l, DefaultLogin{User: "admin", Password: "admin"}) ||
		!slices.Contains(l, DefaultLogin{User: "user1", Password: "password"}) {
		t.Errorf("DefaultOPCUALogins = %v", l)
	}
}

func TestDefaultCredentialsFileIsStrict(t *testing.T) {
	if _, err := parseDefaultCredentials([]byte("login: [a]\ntelnet: [b]\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("unknown key: %v, want an error naming line 2", err)
	}
}

func TestTestdataConfigsLoad(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("glob: %v %v", paths, err)
	}
	for _, p := range paths {
		if _, err := Load(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}
