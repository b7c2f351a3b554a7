package checks

import (
	"strings"
	"testing"
	"time"

	"github.com/otaudit/otaudit"
)

// evalWithBaseline evaluates obs against a baseline built from approved,
// as the agent does after `otaudit baseline set`.
func evalWithBaseline(t *testing.T, approved, obs []otaudit.Observation, collected []string, checkID string) ([]otaudit.Finding, otaudit.CheckResult) {
	t.Helper()
	zone := cellZone()
	b := buildFixtureBaseline(zone, approved)
	b.ScanID, b.Created, b.ApprovedBy = 3, t0.Add(-24*time.Hour), "j.doe"
	if collected == nil {
		collected = []string{"pcap"}
	}
	in := fixture{zone: zone, obs: obs, collected: append(collected, "baseline")}.input()
	in.Baseline = &b
	return findingsOf(t, Evaluate(in), checkID)
}

func findingsOf(t *testing.T, rep Report, checkID string) ([]otaudit.Finding, otaudit.CheckResult) {
	t.Helper()
	var fs []otaudit.Finding
	for _, f := range rep.Findings {
		if f.CheckID == checkID {
			fs = append(fs, f)
		}
	}
	for _, r := range rep.Results {
		if r.CheckID == checkID {
			return fs, r
		}
	}
	t.Fatalf("no result for %s", checkID)
	return nil, otaudit.CheckResult{}
}

func withIdentity(obs []otaudit.Observation, ip, vendor, model, firmware string) []otaudit.Observation {
	var out []otaudit.Observation
	for _, o := range obs {
		if o.Kind != otaudit.KindIdentity || o.Identity.IP != addr(ip) {
			out = append(out, o)
		}
	}
	if vendor+model+firmware != "" {
		out = append(out, identity(ip, vendor, model, firmware))
	}
	return out
}

func TestFirmwareChanged(t *testing.T) {
	approved := driftObservations()
	const check = "AM-FIRMWARE-CHANGED"

	t.Run("firmware changed", func(t *testing.T) {
		now := withIdentity(approved, "10.1.0.5", "Schneider Electric", "BMX P34 2020", "v3.4")
		fs, res := evalWithBaseline(t, approved, now, []string{"pcap", "modbus"}, check)
		if res.State != otaudit.CheckFailed || len(fs) != 1 {
			t.Fatalf("state %s, %d findings: want one failure", res.State, len(fs))
		}
		f := fs[0]
		if f.AssetKey != "ip:10.1.0.5" || f.Severity != otaudit.SeverityHigh {
			t.Errorf("finding %s severity %s", f.AssetKey, f.Severity)
		}
		for _, want := range []string{`firmware "v3.4" where the baseline has "v3.1"`, "scan 3", "by j.doe"} {
			if !strings.Contains(f.Summary, want) {
				t.Errorf("summary %q lacks %q", f.Summary, want)
			}
		}
		if len(f.Evidence) == 0 || f.Evidence[0].Kind != string(otaudit.KindIdentity) {
			t.Errorf("evidence should be the identification reply: %+v", f.Evidence)
		}
	})
	t.Run("model changed", func(t *testing.T) {
		now := withIdentity(approved, "10.1.0.5", "Schneider Electric", "BMX P34 2040", "v3.1")
		fs, _ := evalWithBaseline(t, approved, now, []string{"modbus"}, check)
		if len(fs) != 1 || !strings.Contains(fs[0].Summary, `model "BMX P34 2040"`) {
			t.Fatalf("findings %+v", fs)
		}
	})
	t.Run("same identity passes", func(t *testing.T) {
		fs, res := evalWithBaseline(t, approved, approved, []string{"modbus"}, check)
		if len(fs) != 0 || res.State != otaudit.CheckPassed || res.InScope != 3 {
			t.Fatalf("state %s in scope %d findings %d: want PASS over the three baselined assets", res.State, res.InScope, len(fs))
		}
	})
	t.Run("unknown firmware is not a change", func(t *testing.T) {
		now := withIdentity(approved, "10.1.0.5", "", "", "")
		fs, res := evalWithBaseline(t, approved, now, []string{"modbus"}, check)
		if len(fs) != 0 || res.State != otaudit.CheckPassed {
			t.Fatalf("state %s findings %+v", res.State, fs)
		}
	})
	t.Run("case and blanks are not a change", func(t *testing.T) {
		now := withIdentity(approved, "10.1.0.5", "Schneider Electric", "bmx p34 2020", " V3.1 ")
		if fs, _ := evalWithBaseline(t, approved, now, []string{"modbus"}, check); len(fs) != 0 {
			t.Fatalf("findings %+v", fs)
		}
	})
}

func TestNewDeviceSinceBaseline(t *testing.T) {
	approved := driftObservations()
	const check = "AM-NEW-DEVICE-SINCE-BASELINE"

	t.Run("new device writing modbus to a PLC is high", func(t *testing.T) {
		now := append(approved[:len(approved):len(approved)],
			host("10.1.0.66", "00:0c:29:00:00:66", "VMware"),
			flow("10.1.0.66", "10.1.0.5", "modbus", 502, true),
			op("modbus", "10.1.0.66", "10.1.0.5", otaudit.OpWrite, 6, "Write Single Register", 2))
		fs, res := evalWithBaseline(t, approved, now, nil, check)
		if res.State != otaudit.CheckFailed || len(fs) != 1 {
			t.Fatalf("state %s, findings %+v", res.State, fs)
		}
		f := fs[0]
		if f.AssetKey != "ip:10.1.0.66" || f.Severity != otaudit.SeverityHigh || !strings.Contains(f.Summary, "modbus to 10.1.0.5") {
			t.Errorf("finding %s %s %q", f.AssetKey, f.Severity, f.Summary)
		}
	})
	t.Run("new quiet device is medium", func(t *testing.T) {
		now := append(approved[:len(approved):len(approved)],
			host("10.1.0.77", "00:0c:29:00:00:77", "VMware"),
			flow("10.1.0.77", "10.1.0.10", "http", 80, true))
		fs, _ := evalWithBaseline(t, approved, now, nil, check)
		if len(fs) != 1 || fs[0].AssetKey != "ip:10.1.0.77" || fs[0].Severity != otaudit.SeverityMedium {
			t.Fatalf("findings %+v", fs)
		}
	})
	t.Run("new device outside the zone is not counted", func(t *testing.T) {
		now := append(approved[:len(approved):len(approved)],
			host("172.16.9.50", "00:0c:29:00:00:50", "VMware"),
			flow("172.16.9.50", "10.1.0.10", "http", 80, true))
		fs, res := evalWithBaseline(t, approved, now, nil, check)
		if len(fs) != 0 || res.State != otaudit.CheckPassed {
			t.Fatalf("state %s findings %+v", res.State, fs)
		}
	})
	t.Run("the baselined plant passes", func(t *testing.T) {
		fs, res := evalWithBaseline(t, approved, approved, nil, check)
		if len(fs) != 0 || res.State != otaudit.CheckPassed {
			t.Fatalf("state %s findings %+v", res.State, fs)
		}
	})
}

func TestDriftChecksNeedABaseline(t *testing.T) {
	obs := append(driftObservations(), host("10.1.0.66", "00:0c:29:00:00:66", "VMware"))
	for _, check := range []string{"AM-FIRMWARE-CHANGED", "AM-NEW-DEVICE-SINCE-BASELINE"} {
		// No baseline supplied at all: the catalog's needs make it
		// NOT_ASSESSED, never a silent pass.
		in := fixture{zone: cellZone(), obs: obs, collected: []string{"pcap", "modbus"}}.input()
		fs, res := findingsOf(t, Evaluate(in), check)
		if res.State != otaudit.CheckNotAssessed || len(fs) != 0 || !strings.Contains(res.Reason, "baseline") {
			t.Errorf("%s without a baseline: state %s reason %q findings %d", check, res.State, res.Reason, len(fs))
		}
		// A caller that claims a baseline but passes none.
		in = fixture{zone: cellZone(), obs: obs, collected: []string{"pcap", "modbus", "baseline"}}.input()
		fs, res = findingsOf(t, Evaluate(in), check)
		if res.State != otaudit.CheckNotAssessed || len(fs) != 0 || !strings.Contains(res.Reason, "otaudit baseline set") {
			t.Errorf("%s with Collected[baseline] but no Baseline: state %s reason %q", check, res.State, res.Reason)
		}
	}
	// Passive captures carry device identity too (Modbus FC 43 replies), so
	// a pcap scan with a baseline assesses AM-FIRMWARE-CHANGED.
	approved := driftObservations()
	_, res := evalWithBaseline(t, approved, approved, []string{"pcap"}, "AM-FIRMWARE-CHANGED")
	if res.State == otaudit.CheckNotAssessed {
		t.Errorf("AM-FIRMWARE-CHANGED on a pcap-only scan with a baseline: %s (%s)", res.State, res.Reason)
	}
}
