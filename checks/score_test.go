package checks

import (
	"strings"
	"testing"

	"github.com/otaudit/otaudit"
)

func result(id string, state otaudit.CheckState, inScope, failing int, sev otaudit.Severity) otaudit.CheckResult {
	spec, _ := Lookup(id)
	return otaudit.CheckResult{CheckID: id, Objective: spec.Objective, State: state, InScope: inScope, Failing: failing, Severity: sev}
}

func openFinding(id string, sev otaudit.Severity) otaudit.Finding {
	spec, _ := Lookup(id)
	return otaudit.Finding{CheckID: id, Objective: spec.Objective, Severity: sev, Status: otaudit.StatusOpen, Refs: spec.Refs.Refs}
}

func objective(zs otaudit.ZoneScore, o otaudit.Objective) otaudit.ObjectiveScore {
	for _, s := range zs.Objectives {
		if s.Objective == o {
			return s
		}
	}
	return otaudit.ObjectiveScore{}
}

// zoneL2 has no zone-level modifiers for the checks used below, except
// SL-T(IAC) 2 for AC-SNMP-V1V2C-ENABLED.
func zoneL2() otaudit.Zone {
	z := cellZone()
	z.PurdueLevel = 2
	return z
}

func TestScoreWeightsRatiosAndCaps(t *testing.T) {
	const (
		pass = otaudit.CheckPassed
		fail = otaudit.CheckFailed
	)
	for _, tc := range []struct {
		name     string
		results  []otaudit.CheckResult
		findings []otaudit.Finding
		score    int
		band     string
		cap      string
		coverage float64
	}{
		{
			// 100·(5·0.75 + 5 + 2 + 2) / (5+5+2+2) = 91.07 → 91; no open finding.
			name: "high check failing on 1 of 4 assets, finding resolved",
			results: []otaudit.CheckResult{
				result("AC-CLEARTEXT-LOGIN-TELNET", fail, 4, 1, otaudit.SeverityHigh),
				result("AC-CLEARTEXT-LOGIN-FTP", pass, 4, 0, 0),
				result("AC-CLEARTEXT-LOGIN-SNMP", pass, 4, 0, 0),
				result("AC-RA-SESSION-EXCEEDS-MAX", pass, 4, 0, 0),
				result("AC-PASSWORD-NOT-ROTATED", otaudit.CheckNotAssessed, 0, 0, 0),
				result("AC-RA-EXTERNAL-DIRECT", otaudit.CheckNotApplicable, 0, 0, 0),
			},
			findings: []otaudit.Finding{func() otaudit.Finding {
				f := openFinding("AC-CLEARTEXT-LOGIN-TELNET", otaudit.SeverityHigh)
				f.Status = otaudit.StatusResolved
				return f
			}()},
			score: 91, band: BandGood, coverage: 0.8,
		},
		{
			name: "same with the high finding open is capped at 69",
			results: []otaudit.CheckResult{
				result("AC-CLEARTEXT-LOGIN-TELNET", fail, 4, 1, otaudit.SeverityHigh),
				result("AC-CLEARTEXT-LOGIN-FTP", pass, 4, 0, 0),
				result("AC-CLEARTEXT-LOGIN-SNMP", pass, 4, 0, 0),
				result("AC-RA-SESSION-EXCEEDS-MAX", pass, 4, 0, 0),
			},
			findings: []otaudit.Finding{openFinding("AC-CLEARTEXT-LOGIN-TELNET", otaudit.SeverityHigh)},
			score:    69, band: BandWeak, cap: "capped at 69: open high findings (AC-CLEARTEXT-LOGIN-TELNET)", coverage: 1,
		},
		{
			// 100·(2·0.5 + 5 + 5) / 12 = 91.67 → 92; a medium finding does not cap.
			name: "medium failing half its scope",
			results: []otaudit.CheckResult{
				result("AC-CLEARTEXT-LOGIN-SNMP", fail, 2, 1, otaudit.SeverityMedium),
				result("AC-CLEARTEXT-LOGIN-FTP", pass, 4, 0, 0),
				result("AC-CLEARTEXT-LOGIN-TELNET", pass, 4, 0, 0),
			},
			findings: []otaudit.Finding{openFinding("AC-CLEARTEXT-LOGIN-SNMP", otaudit.SeverityMedium)},
			score:    92, band: BandGood, coverage: 1,
		},
		{
			// 100·(10·0.9 + 5) / 15 = 93.3 → 93, capped at 39 by the critical finding.
			name: "one critical finding caps at 39",
			results: []otaudit.CheckResult{
				result("AC-DEFAULT-CREDENTIAL-OBSERVED", fail, 10, 1, otaudit.SeverityCritical),
				result("AC-CLEARTEXT-LOGIN-TELNET", pass, 10, 0, 0),
			},
			findings: []otaudit.Finding{openFinding("AC-DEFAULT-CREDENTIAL-OBSERVED", otaudit.SeverityCritical), openFinding("AC-CLEARTEXT-LOGIN-TELNET", otaudit.SeverityHigh)},
			score:    39, band: BandPoor, cap: "capped at 39: open critical findings (AC-DEFAULT-CREDENTIAL-OBSERVED)", coverage: 1,
		},
		{
			// The passing AC-SNMP-V1V2C-ENABLED weighs high (medium + SL-T(IAC) ≥ 2):
			// 100·(5·1 + 2·0) / 7 = 71.4 → 71. Unmodified it would be 50.
			name: "zone-level modifiers raise a passing check's weight",
			results: []otaudit.CheckResult{
				result("AC-SNMP-V1V2C-ENABLED", pass, 3, 0, 0),
				result("AC-CLEARTEXT-LOGIN-SNMP", fail, 1, 1, otaudit.SeverityMedium),
			},
			findings: []otaudit.Finding{openFinding("AC-CLEARTEXT-LOGIN-SNMP", otaudit.SeverityMedium)},
			score:    71, band: BandAcceptable, coverage: 1,
		},
		{
			// The failing check weighs by its worst finding (critical after M1),
			// not its base (high): 100·(10·0.5 + 5) / 15 = 66.7 → 67. With the
			// base weight it would be 75. The finding is resolved, so no cap.
			name: "a failing check weighs by its finding's severity",
			results: []otaudit.CheckResult{
				result("AC-CLEARTEXT-LOGIN-TELNET", fail, 2, 1, otaudit.SeverityCritical),
				result("AC-CLEARTEXT-LOGIN-FTP", pass, 2, 0, 0),
			},
			score: 67, band: BandWeak, coverage: 1,
		},
		{
			// Band edge: 100·(5+5+5+2+1) / (18+2) = 90 exactly → good.
			name: "exactly 90 is good",
			results: []otaudit.CheckResult{
				result("AC-CLEARTEXT-LOGIN-SNMP", fail, 1, 1, otaudit.SeverityMedium),
				result("AC-CLEARTEXT-LOGIN-TELNET", pass, 2, 0, 0),
				result("AC-CLEARTEXT-LOGIN-FTP", pass, 2, 0, 0),
				result("AC-CLEARTEXT-LOGIN-HTTP-BASIC", pass, 2, 0, 0),
				result("AC-RA-SESSION-EXCEEDS-MAX", pass, 2, 0, 0),
				result("AC-PASSWORD-NOT-ROTATED", pass, 2, 0, 0),
			},
			score: 90, band: BandGood, coverage: 1,
		},
		{
			// Band edge: 100·(5+5+2+2) / (14+3·2) = 70 exactly → acceptable.
			name: "exactly 70 is acceptable",
			results: []otaudit.CheckResult{
				result("AC-CLEARTEXT-LOGIN-SNMP", fail, 1, 1, otaudit.SeverityMedium),
				result("AC-RA-SESSION-EXCEEDS-MAX", fail, 1, 1, otaudit.SeverityMedium),
				result("AC-PROTOCOL-NOT-ALLOWED-IN-ZONE", fail, 1, 1, otaudit.SeverityMedium),
				result("AC-CLEARTEXT-LOGIN-TELNET", pass, 2, 0, 0),
				result("AC-CLEARTEXT-LOGIN-FTP", pass, 2, 0, 0),
				result("AC-SHARED-ACCOUNT-MANY-USERS", pass, 2, 0, 0),
				result("AC-UNREGISTERED-ACCOUNT", pass, 2, 0, 0),
			},
			score: 70, band: BandAcceptable, coverage: 1,
		},
		{
			// Band edge: 100·(2+2) / (4+3·2) = 40 exactly → weak, not poor.
			name: "exactly 40 is weak",
			results: []otaudit.CheckResult{
				result("AC-CLEARTEXT-LOGIN-SNMP", fail, 1, 1, otaudit.SeverityMedium),
				result("AC-RA-SESSION-EXCEEDS-MAX", fail, 1, 1, otaudit.SeverityMedium),
				result("AC-PROTOCOL-NOT-ALLOWED-IN-ZONE", fail, 1, 1, otaudit.SeverityMedium),
				result("AC-SHARED-ACCOUNT-MANY-USERS", pass, 2, 0, 0),
				result("AC-UNREGISTERED-ACCOUNT", pass, 2, 0, 0),
			},
			score: 40, band: BandWeak, coverage: 1,
		},
		{
			name: "coverage below one half",
			results: []otaudit.CheckResult{
				result("AC-CLEARTEXT-LOGIN-TELNET", pass, 4, 0, 0),
				result("AC-DEFAULT-SNMP-COMMUNITY", otaudit.CheckNotAssessed, 0, 0, 0),
				result("AC-OPCUA-ANONYMOUS-ACCESS", otaudit.CheckNotAssessed, 0, 0, 0),
			},
			score: 100, band: BandInsufficient, coverage: 1.0 / 3,
		},
		{
			name: "nothing assessed",
			results: []otaudit.CheckResult{
				result("AC-DEFAULT-SNMP-COMMUNITY", otaudit.CheckNotAssessed, 0, 0, 0),
				result("AC-RA-EXTERNAL-DIRECT", otaudit.CheckNotApplicable, 0, 0, 0),
			},
			score: -1, band: BandNotAssessed, coverage: 0,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			zs := Score(zoneL2(), Report{Results: tc.results, Findings: tc.findings}, 7)
			ac := objective(zs, otaudit.ObjectiveAC)
			if ac.Score != tc.score || ac.Band != tc.band {
				t.Errorf("AC = %d %q, want %d %q", ac.Score, ac.Band, tc.score, tc.band)
			}
			if (tc.cap == "") != (ac.Cap == "") || !strings.Contains(ac.Cap, tc.cap) {
				t.Errorf("cap = %q, want %q", ac.Cap, tc.cap)
			}
			if d := ac.Coverage - tc.coverage; d > 1e-9 || d < -1e-9 {
				t.Errorf("coverage = %v, want %v", ac.Coverage, tc.coverage)
			}
			if zs.ScanID != 7 || zs.Zone != "cell-1" || len(zs.Results) != len(tc.results) {
				t.Errorf("zone score header wrong: %+v", zs)
			}
		})
	}
}

func TestScoreObjectivesAndFailingOrder(t *testing.T) {
	rep := Report{
		Results: []otaudit.CheckResult{
			result("AC-CLEARTEXT-LOGIN-SNMP", otaudit.CheckFailed, 4, 1, otaudit.SeverityMedium),
			result("AC-RA-EXTERNAL-DIRECT", otaudit.CheckFailed, 4, 1, otaudit.SeverityCritical),
			result("AC-CLEARTEXT-LOGIN-TELNET", otaudit.CheckFailed, 4, 2, otaudit.SeverityHigh),
			result("AM-UNKNOWN-DEVICE", otaudit.CheckNotAssessed, 0, 0, 0),
		},
	}
	zs := Score(zoneL2(), rep, 1)
	var got []otaudit.Objective
	for _, o := range zs.Objectives {
		got = append(got, o.Objective)
		switch o.Objective {
		case otaudit.ObjectiveSM, otaudit.ObjectiveLF, otaudit.ObjectiveRM:
			if o.Score != -1 || o.Band != BandNotAssessable {
				t.Errorf("%s = %d %q, want -1 %q", o.Objective, o.Score, o.Band, BandNotAssessable)
			}
		case otaudit.ObjectiveAM:
			if o.Score != -1 || o.Band != BandNotAssessed || o.Applicable != 1 || o.Assessed != 0 {
				t.Errorf("AM = %+v, want not assessed with 1 applicable", o)
			}
		}
	}
	if len(got) != 9 || got[0] != otaudit.ObjectiveAC || got[8] != otaudit.ObjectiveRM {
		t.Errorf("objectives %v, want AC AM SI DC IM RA SM LF RM", got)
	}
	ac := objective(zs, otaudit.ObjectiveAC)
	var order []string
	for _, r := range ac.Failing {
		order = append(order, r.CheckID)
	}
	if want := "AC-RA-EXTERNAL-DIRECT AC-CLEARTEXT-LOGIN-TELNET AC-CLEARTEXT-LOGIN-SNMP"; strings.Join(order, " ") != want {
		t.Errorf("failing order %v, want %s", order, want)
	}
}

func frOf(zs otaudit.ZoneScore, fr otaudit.FR) otaudit.FRLevel {
	for _, l := range zs.FRs {
		if l.FR == fr {
			return l
		}
	}
	return otaudit.FRLevel{}
}

// TestFRIntervalWhenSR15IsDisproved: a clear-text Telnet login inside the
// zone disproves SR 1.5 (SL1) and SR 4.1 (SL1), so IAC and DC can be at
// most SL 0.
func TestFRIntervalWhenSR15IsDisproved(t *testing.T) {
	fx := fixture{zone: cellZone(), obs: []otaudit.Observation{
		flow("10.1.0.9", "10.1.0.5", "telnet", 23, true),
		cred("telnet", "10.1.0.9", "10.1.0.5", "admin", "hmac-sha256:0a", false, "success"),
	}}
	zs := Score(fx.zone, Evaluate(fx.input()), 1)
	iac := frOf(zs, otaudit.FR1)
	if iac.Upper != 0 || iac.Lower != 0 || iac.Target != 2 || iac.DefiniteGap != 2 || iac.PotentialGap != 2 {
		t.Errorf("IAC = %+v, want upper 0, lower 0, target 2, gaps 2/2", iac)
	}
	if strings.Join(iac.Failed, ",") != "SR 1.5" {
		t.Errorf("IAC failed = %v, want [SR 1.5]", iac.Failed)
	}
	if dc := frOf(zs, otaudit.FR4); dc.Upper != 0 || strings.Join(dc.Failed, ",") != "SR 4.1" {
		t.Errorf("DC = %+v, want upper 0 with SR 4.1 failed", dc)
	}
	// Nothing in FR6 or FR7 is disproved: upper stays 4, no definite gap.
	if tre := frOf(zs, otaudit.FR6); tre.Upper != 4 || tre.DefiniteGap != 0 || tre.PotentialGap != 2 {
		t.Errorf("TRE = %+v, want upper 4, definite gap 0, potential gap 2", tre)
	}
}

// TestFRLowerBound: with every check passing, FR4 level 1 (SR 4.1, SR 4.3,
// both network-observable) is demonstrated, level 2 (SR 4.1 RE1, SR 4.2)
// is not. FR1 needs SR 1.1 at level 1, which only attestation can show.
// A boundary-crossing SI-CLEARTEXT-CONTROL finding then disproves SR 4.1
// RE1 (level 2) and SR 3.1 RE1 (level 3).
func TestFRLowerBound(t *testing.T) {
	var rep Report
	for _, c := range Catalog() {
		rep.Results = append(rep.Results, result(c.ID, otaudit.CheckPassed, 3, 0, 0))
	}
	zs := Score(zoneL2(), rep, 1)
	if dc := frOf(zs, otaudit.FR4); dc.Lower != 1 || dc.Upper != 4 {
		t.Errorf("all passing: DC = %+v, want [1, 4]", dc)
	}
	if iac := frOf(zs, otaudit.FR1); iac.Lower != 0 || iac.Upper != 4 {
		t.Errorf("all passing: IAC = %+v, want [0, 4]", iac)
	}

	for i, r := range rep.Results {
		if r.CheckID == "SI-CLEARTEXT-CONTROL-ACROSS-BOUNDARY" {
			rep.Results[i] = result(r.CheckID, otaudit.CheckFailed, 3, 1, otaudit.SeverityMedium)
		}
	}
	fx := fixture{zone: cellZone(), obs: []otaudit.Observation{flow("10.2.0.7", "10.1.0.5", "modbus", 502, true)}}
	crossing, _, _ := run(t, fx, "SI-CLEARTEXT-CONTROL-ACROSS-BOUNDARY")
	rep.Findings = crossing
	zs = Score(zoneL2(), rep, 1)
	if dc := frOf(zs, otaudit.FR4); dc.Upper != 1 || dc.Lower != 1 || strings.Join(dc.Failed, ",") != "SR 4.1 RE1" {
		t.Errorf("crossing: DC = %+v, want [1, 1] with SR 4.1 RE1 failed", dc)
	}
	if si := frOf(zs, otaudit.FR3); si.Upper != 2 || si.DefiniteGap != 0 {
		t.Errorf("crossing: SI = %+v, want upper 2 (SR 3.1 RE1 is SL3), no definite gap at target 2", si)
	}
}
