package checks

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otaudit/otaudit"
)

func verdictFor(c Commissioning, id string) (RequirementVerdict, bool) {
	for _, r := range c.Requirements {
		if r.ID == id {
			return r, true
		}
	}
	return RequirementVerdict{}, false
}

// attestAll attests every requirement of the table that the network
// cannot show (and, with observable, those it can too).
func attestAll(expires time.Time, observable bool) []otaudit.Attestation {
	d, _ := Embedded()
	obs := toSet(d.NetworkObservable)
	var out []otaudit.Attestation
	for _, r := range d.Requirements {
		if !obs[r.ID] || observable {
			out = append(out, attest(r.ID, false, expires))
		}
	}
	return out
}

func TestCommissionVerdicts(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	later, earlier := now.AddDate(1, 0, 0), now.AddDate(0, 0, -1)
	rep := conduitReport(now)

	t.Run("a disproved requirement at SL-T fails the zone, with its findings", func(t *testing.T) {
		c := Commission(cellZone(), rep, now)
		if c.Overall != OverallFail || !slices.Equal(c.Failed, []string{"SR 5.2 RE1"}) {
			t.Fatalf("overall %s failed %v", c.Overall, c.Failed)
		}
		r, _ := verdictFor(c, "SR 5.2 RE1")
		if r.Verdict != VerdictFail || len(r.Findings) != 1 || r.Findings[0].CheckID != "AC-FLOW-UNDECLARED-CONDUIT" ||
			!slices.Equal(r.Checks, []string{"AC-FLOW-UNDECLARED-CONDUIT"}) || r.Severity != otaudit.SeverityHigh {
			t.Errorf("SR 5.2 RE1: %+v", r)
		}
		// Every catalog check passed: the observable requirements are met.
		for _, id := range []string{"SR 5.1", "SR 5.2", "SR 1.5"} {
			if r, _ := verdictFor(c, id); r.Verdict != VerdictPass || !r.Observable {
				t.Errorf("%s: %s observable=%v, want pass", id, r.Verdict, r.Observable)
			}
		}
		if r, _ := verdictFor(c, "SR 7.3"); r.Verdict != VerdictNeedsAttestation || r.Observable || !strings.Contains(r.Reason, "network cannot show") {
			t.Errorf("SR 7.3: %+v", r)
		}
	})

	t.Run("only requirements up to SL-T are judged", func(t *testing.T) {
		z := cellZone()
		z.SLTarget = otaudit.SLVector{1, 1, 1, 1, 1, 1, 1}
		c := Commission(z, rep, now)
		if _, judged := verdictFor(c, "SR 5.2 RE1"); judged || len(c.Failed) != 0 {
			t.Fatalf("SR 5.2 RE1 (SL2) judged at SL-T 1: failed %v", c.Failed)
		}
		if c.Overall != OverallNeedsAttestation {
			t.Errorf("overall %s, want %s (SR 7.3 and others are not attested)", c.Overall, OverallNeedsAttestation)
		}
		if len(c.Requirements)+c.AboveTarget != len(Requirements()) {
			t.Errorf("%d judged + %d above target != %d in the table", len(c.Requirements), c.AboveTarget, len(Requirements()))
		}
		for _, r := range c.Requirements {
			if r.Level != 1 {
				t.Errorf("%s SL%d judged at SL-T 1", r.ID, r.Level)
			}
		}
	})

	t.Run("attested everywhere the network is silent: PASS at SL1", func(t *testing.T) {
		z := cellZone()
		z.SLTarget = otaudit.SLVector{1, 1, 1, 1, 1, 1, 1}
		z.Attestations = attestAll(later, false)
		c := Commission(z, rep, now)
		if c.Overall != OverallPass || len(c.NeedsAttestation) != 0 {
			t.Fatalf("overall %s, needing %v", c.Overall, c.NeedsAttestation)
		}
		r, _ := verdictFor(c, "SR 7.3")
		if r.Verdict != VerdictAttested || r.Attestation == nil || r.Attestation.Approver != "A. Owner" ||
			!strings.Contains(r.Reason, "A. Owner") || !strings.Contains(r.Reason, "DOC-1") {
			t.Errorf("SR 7.3: %+v", r)
		}
	})

	t.Run("an attestation does not outweigh a failure", func(t *testing.T) {
		z := cellZone()
		z.Attestations = []otaudit.Attestation{attest("SR 5.2 RE1", false, later)}
		c := Commission(z, rep, now)
		r, _ := verdictFor(c, "SR 5.2 RE1")
		if r.Verdict != VerdictFail || r.Attestation == nil || !strings.Contains(r.Reason, "does not outweigh") || c.Overall != OverallFail {
			t.Errorf("SR 5.2 RE1: %+v, overall %s", r, c.Overall)
		}
	})

	t.Run("a compensating countermeasure covers a failure", func(t *testing.T) {
		z := cellZone()
		z.Attestations = append(attestAll(later, false), attest("SR 5.2 RE1", true, later))
		c := Commission(z, rep, now)
		r, _ := verdictFor(c, "SR 5.2 RE1")
		if r.Verdict != VerdictCompensated || r.Attestation == nil || !r.Attestation.Compensating || len(r.Findings) != 1 {
			t.Errorf("SR 5.2 RE1: %+v", r)
		}
		if c.Overall != OverallPass {
			t.Errorf("overall %s, failed %v, needing %v", c.Overall, c.Failed, c.NeedsAttestation)
		}
	})

	t.Run("an expired attestation counts for nothing and is shown", func(t *testing.T) {
		z := cellZone()
		z.Attestations = []otaudit.Attestation{attest("SR 7.3", false, earlier)}
		c := Commission(z, rep, now)
		r, _ := verdictFor(c, "SR 7.3")
		if r.Verdict != VerdictNeedsAttestation || len(r.Expired) != 1 || !strings.Contains(r.Reason, "expired") {
			t.Errorf("SR 7.3: %+v", r)
		}
	})

	t.Run("a false positive disproves nothing; an accepted risk does", func(t *testing.T) {
		for status, fails := range map[otaudit.FindingStatus]bool{otaudit.StatusFalsePositive: false, otaudit.StatusAcceptedRisk: true, otaudit.StatusResolved: false} {
			r := conduitReport(now)
			r.Findings[0].Status = status
			c := Commission(cellZone(), r, now)
			if got := slices.Contains(c.Failed, "SR 5.2 RE1"); got != fails {
				t.Errorf("finding %s: SR 5.2 RE1 failed=%v, want %v", status, got, fails)
			}
		}
	})
}

func TestCommissionNamesTheChecksThatWereNotAssessed(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	rep := conduitReport(now)
	for i, r := range rep.Results {
		if r.CheckID == "AC-DEFAULT-SNMP-COMMUNITY" || r.CheckID == "AC-OPCUA-DEFAULT-CREDENTIALS" {
			rep.Results[i].State = otaudit.CheckNotAssessed
		}
	}
	c := Commission(cellZone(), rep, now)
	r, _ := verdictFor(c, "SR 1.5")
	if r.Verdict != VerdictNeedsAttestation || !slices.Equal(r.Unassessed, []string{"AC-DEFAULT-SNMP-COMMUNITY", "AC-OPCUA-DEFAULT-CREDENTIALS"}) ||
		!strings.Contains(r.Reason, "AC-DEFAULT-SNMP-COMMUNITY") {
		t.Fatalf("SR 1.5: %+v", r)
	}
}

// TestCommissionAgreesWithTheSLAInterval: FAIL exactly when an FR has a
// definite gap, PASS exactly when no FR has a potential gap, over a set
// of zones and reports.
func TestCommissionAgreesWithTheSLAInterval(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	later := now.AddDate(1, 0, 0)
	reports := map[string]Report{"conduit": conduitReport(now), "empty": {}}
	sr15 := conduitReport(now)
	sr15.Results = append(sr15.Results, result("AC-SNMP-V1V2C-ENABLED", otaudit.CheckFailed, 1, 1, otaudit.SeverityHigh))
	sr15.Findings = append(sr15.Findings, openFinding("AC-SNMP-V1V2C-ENABLED", otaudit.SeverityHigh))
	reports["snmp"] = sr15
	for name, rep := range reports {
		for _, sl := range []int{1, 2, 3} {
			for _, att := range [][]otaudit.Attestation{nil, attestAll(later, false), attestAll(later, true),
				append(attestAll(later, true), attest("SR 5.2 RE1", true, later), attest("SR 1.5", true, later))} {
				z := cellZone()
				z.SLTarget = otaudit.SLVector{sl, sl, sl, sl, sl, sl, sl}
				z.Attestations = att
				c := Commission(z, rep, now)
				zs := ScoreAt(z, rep, 1, now)
				definite, potential := false, false
				for _, l := range zs.FRs {
					definite = definite || l.DefiniteGap > 0
					potential = potential || l.PotentialGap > 0
				}
				if (c.Overall == OverallFail) != definite || (c.Overall == OverallPass) == potential {
					t.Errorf("%s SL%d %d attestations: overall %s, definite gap %v, potential gap %v (failed %v, needing %v)",
						name, sl, len(att), c.Overall, definite, potential, c.Failed, c.NeedsAttestation)
				}
				var backlog []string
				for _, b := range zs.Backlog {
					backlog = append(backlog, b.Requirement)
				}
				slices.Sort(backlog)
				if failed := slices.Sorted(slices.Values(c.Failed)); !slices.Equal(failed, backlog) {
					t.Errorf("%s SL%d: failed %v, backlog %v", name, sl, failed, backlog)
				}
			}
		}
	}
}

func TestExpiryText(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.Time{}, "with no expiry"},
		{time.Date(2027, 7, 1, 0, 0, 0, 0, time.UTC), "through 2027-06-30"},
		{time.Date(2026, 1, 1, 11, 0, 0, 0, time.UTC), "until 2026-01-01T11:00:00Z"},
	} {
		if got := ExpiryText(tc.t); got != tc.want {
			t.Errorf("ExpiryText(%v) = %q, want %q", tc.t, got, tc.want)
		}
	}
}
