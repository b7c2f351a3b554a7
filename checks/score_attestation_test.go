package checks

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otaudit/otaudit"
)

// conduitReport: every catalog check passes except AC-FLOW-UNDECLARED-
// CONDUIT, whose open finding disproves SR 5.2 RE1 (SL2).
func conduitReport(lastSeen time.Time) Report {
	var rep Report
	for _, c := range Catalog() {
		st, failing, sev := otaudit.CheckPassed, 0, otaudit.Severity(0)
		if c.ID == "AC-FLOW-UNDECLARED-CONDUIT" {
			st, failing, sev = otaudit.CheckFailed, 1, otaudit.SeverityHigh
		}
		rep.Results = append(rep.Results, result(c.ID, st, 3, failing, sev))
	}
	f := openFinding("AC-FLOW-UNDECLARED-CONDUIT", otaudit.SeverityHigh)
	f.LastSeen = lastSeen
	rep.Findings = []otaudit.Finding{f}
	return rep
}

func attest(req string, compensating bool, expires time.Time) otaudit.Attestation {
	return otaudit.Attestation{Requirement: req, Compensating: compensating, Description: "d", Evidence: "DOC-1", Approver: "A. Owner", Expires: expires}
}

func backlogIDs(zs otaudit.ZoneScore) []string {
	var out []string
	for _, b := range zs.Backlog {
		out = append(out, b.Requirement)
	}
	return out
}

func TestAttestationsAndCompensatingCountermeasures(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	later, earlier := now.AddDate(1, 0, 0), now.AddDate(0, 0, -1)
	rep := conduitReport(now)
	for _, tc := range []struct {
		name         string
		attestations []otaudit.Attestation
		upper, lower int
		failed       []string
		attested     []string
		compensated  []string
		expired      []string
		backlog      []string
	}{
		{name: "nothing attested: SR 5.4 is unknown, so no level is demonstrated",
			upper: 1, lower: 0, failed: []string{"SR 5.2 RE1"}, backlog: []string{"SR 5.2 RE1"}},
		{name: "SR 5.4 attested: level 1 demonstrated",
			attestations: []otaudit.Attestation{attest("SR 5.4", false, later)},
			upper:        1, lower: 1, failed: []string{"SR 5.2 RE1"}, attested: []string{"SR 5.4"}, backlog: []string{"SR 5.2 RE1"}},
		{name: "an attestation does not overrule a failure",
			attestations: []otaudit.Attestation{attest("SR 5.4", false, later), attest("SR 5.2 RE1", false, later)},
			upper:        1, lower: 1, failed: []string{"SR 5.2 RE1"}, attested: []string{"SR 5.4"}, backlog: []string{"SR 5.2 RE1"}},
		{name: "a compensating countermeasure lifts the upper bound and counts for the lower",
			attestations: []otaudit.Attestation{attest("SR 5.4", false, later), attest("SR 5.2 RE1", true, later), attest("SR 5.1 RE1", false, later)},
			upper:        4, lower: 2, attested: []string{"SR 5.1 RE1", "SR 5.4"}, compensated: []string{"SR 5.2 RE1"}},
		{name: "an expired countermeasure stops counting but is shown",
			attestations: []otaudit.Attestation{attest("SR 5.4", false, later), attest("SR 5.2 RE1", true, earlier), attest("SR 5.1 RE1", false, now)},
			upper:        1, lower: 1, failed: []string{"SR 5.2 RE1"}, attested: []string{"SR 5.4"}, expired: []string{"SR 5.1 RE1", "SR 5.2 RE1"},
			backlog: []string{"SR 5.2 RE1"}},
		{name: "a valid attestation beside an expired one counts",
			attestations: []otaudit.Attestation{attest("SR 5.4", false, earlier), attest("SR 5.4", false, later)},
			upper:        1, lower: 1, failed: []string{"SR 5.2 RE1"}, attested: []string{"SR 5.4"}, backlog: []string{"SR 5.2 RE1"}},
		{name: "an unknown requirement never counts",
			attestations: []otaudit.Attestation{attest("SR 5.9", false, later)},
			upper:        1, lower: 0, failed: []string{"SR 5.2 RE1"}, backlog: []string{"SR 5.2 RE1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			z := cellZone()
			z.Attestations = tc.attestations
			zs := ScoreAt(z, rep, 1, now)
			rdf := frOf(zs, otaudit.FR5)
			if rdf.Upper != tc.upper || rdf.Lower != tc.lower || rdf.DefiniteGap != max(0, 2-tc.upper) || rdf.PotentialGap != max(0, 2-tc.lower) {
				t.Errorf("RDF = upper %d lower %d gaps %d/%d, want upper %d lower %d", rdf.Upper, rdf.Lower, rdf.DefiniteGap, rdf.PotentialGap, tc.upper, tc.lower)
			}
			for _, l := range []struct {
				what      string
				got, want []string
			}{
				{"failed", rdf.Failed, tc.failed}, {"attested", rdf.Attested, tc.attested}, {"compensated", rdf.Compensated, tc.compensated},
				{"expired", rdf.Expired, tc.expired}, {"backlog", backlogIDs(zs), tc.backlog},
			} {
				if !slices.Equal(l.got, l.want) {
					t.Errorf("%s = %v, want %v", l.what, l.got, l.want)
				}
			}
			if len(zs.Attestations) != len(tc.attestations) {
				t.Errorf("zone score shows %d attestations, want all %d", len(zs.Attestations), len(tc.attestations))
			}
		})
	}
}

// Score judges expiry as of the newest finding; ScoreAt as of the time it
// is given.
func TestScoreUsesTheLatestEvidenceTime(t *testing.T) {
	evidence := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	z := cellZone()
	z.Attestations = []otaudit.Attestation{attest("SR 5.4", false, evidence.AddDate(0, 1, 0))}
	rep := conduitReport(evidence)
	if rdf := frOf(Score(z, rep, 1), otaudit.FR5); rdf.Lower != 1 || len(rdf.Expired) != 0 {
		t.Errorf("at the evidence time: RDF %+v, want the attestation to count", rdf)
	}
	if rdf := frOf(ScoreAt(z, rep, 1, evidence.AddDate(0, 2, 0)), otaudit.FR5); rdf.Lower != 0 || !slices.Equal(rdf.Expired, []string{"SR 5.4"}) {
		t.Errorf("two months later: RDF %+v, want SR 5.4 expired and lower 0", rdf)
	}
}

func TestUnknownAttestations(t *testing.T) {
	z := cellZone()
	z.Attestations = []otaudit.Attestation{attest("SR 5.4", false, time.Time{}), attest("SR 5.9", true, time.Time{}), attest("SR 1.1 RE7", false, time.Time{})}
	var got []string
	for _, a := range UnknownAttestations(z) {
		got = append(got, a.Requirement)
	}
	if !slices.Equal(got, []string{"SR 5.9", "SR 1.1 RE7"}) {
		t.Errorf("unknown attestations = %v, want [SR 5.9 SR 1.1 RE7]", got)
	}
}

func TestSubObjectiveScores(t *testing.T) {
	telnet := openFinding("AC-CLEARTEXT-LOGIN-TELNET", otaudit.SeverityHigh)
	rep := Report{
		Results: []otaudit.CheckResult{
			result("AC-CLEARTEXT-LOGIN-TELNET", otaudit.CheckFailed, 4, 1, otaudit.SeverityHigh),
			result("AC-RA-SESSION-EXCEEDS-MAX", otaudit.CheckPassed, 4, 0, 0),
			result("AC-RA-UNENCRYPTED", otaudit.CheckPassed, 4, 0, 0),
			result("AM-UNKNOWN-DEVICE", otaudit.CheckNotAssessed, 0, 0, 0),
			result("DC-OPCUA-CERT-SELF-SIGNED", otaudit.CheckFailed, 2, 1, otaudit.SeverityLow),
			result("DC-OPCUA-SECURITYPOLICY-NONE", otaudit.CheckPassed, 2, 0, 0),
		},
		Findings: []otaudit.Finding{telnet, openFinding("DC-OPCUA-CERT-SELF-SIGNED", otaudit.SeverityLow)},
	}
	zs := Score(zoneL2(), rep, 1)
	var order []string
	subs := map[string]otaudit.ObjectiveScore{}
	for _, s := range zs.SubObjectives {
		order = append(order, s.SubObjective)
		subs[s.SubObjective] = s
		if !strings.HasPrefix(s.SubObjective, string(s.Objective)+" ") {
			t.Errorf("sub-objective %s carries objective %s", s.SubObjective, s.Objective)
		}
	}
	want := "AC 1,AC 2,AC 3,AC 4,AM 1,AM 2,AM 3,SI 1,SI 2,SI 5,DC 2,DC 4,IM 1,IM 2,RA 1"
	if strings.Join(order, ",") != want {
		t.Errorf("sub-objectives %s, want %s", strings.Join(order, ","), want)
	}
	// AC 1: only the Telnet check, failing 1 of 4: 100·5·0.75/5 = 75,
	// capped at 69 by its open high finding.
	if s := subs["AC 1"]; s.Score != 69 || s.Band != BandWeak || !strings.Contains(s.Cap, "AC-CLEARTEXT-LOGIN-TELNET") || s.Assessed != 1 || len(s.Failing) != 1 {
		t.Errorf("AC 1 = %+v, want 69 weak capped by the Telnet finding", s)
	}
	// AC 3: two passing checks, no cap from AC 1's finding.
	if s := subs["AC 3"]; s.Score != 100 || s.Band != BandGood || s.Cap != "" || s.Coverage != 1 {
		t.Errorf("AC 3 = %+v, want 100 good", s)
	}
	if s := subs["AM 1"]; s.Score != -1 || s.Band != BandNotAssessed || s.Applicable != 1 {
		t.Errorf("AM 1 = %+v, want not assessed with one applicable check", s)
	}
	if s := subs["AC 2"]; s.Score != -1 || s.Applicable != 0 {
		t.Errorf("AC 2 = %+v, want nothing applicable", s)
	}
	// DC 4: the low self-signed check failing half its scope (weight 1, 0.5)
	// → 50, below the one-half-weight medium of DC 2 which is not in DC 4.
	if s := subs["DC 4"]; s.Score != 50 || s.Band != BandWeak {
		t.Errorf("DC 4 = %+v, want 50 weak", s)
	}
	if s := subs["DC 2"]; s.Score != 100 {
		t.Errorf("DC 2 = %+v, want 100", s)
	}
	// The objective still aggregates all of AC: 100·(5·0.75 + 2 + 5)/12 = 89.6
	// → 90, capped at 69.
	if ac := objective(zs, otaudit.ObjectiveAC); ac.Score != 69 || ac.Assessed != 3 {
		t.Errorf("AC = %+v, want 69 over 3 assessed checks", ac)
	}
}
