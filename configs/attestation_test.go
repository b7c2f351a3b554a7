package configs

import (
	"testing"
	"time"

	"github.com/otaudit/otaudit"
)

func TestAttestationsReachTheZoneModel(t *testing.T) {
	doc := zoneDocHead + `  attestations:
    - {requirement: "SR 7.3", compensating: false, description: Nightly backup of PLC projects, evidence: DOC-123, approver: J. Doe, expires: 2027-06-30}
    - requirement: sr1.1re2
      compensating: true
      description: Vendor access only through the site VPN with hardware tokens
      evidence: "RISK-7"
      approver: A. Owner
      expires: "2026-01-01T12:00:00+01:00"
schedule:
  maintenance_windows:
    - {days: [sat], start: "02:00", end: "06:00"}
    - {start: "22:30", end: "01:00"}
`
	cfg, err := Parse("zone.yaml", []byte(doc), "")
	if err != nil {
		t.Fatal(err)
	}
	z, err := cfg.ZoneModel()
	if err != nil {
		t.Fatal(err)
	}
	want := []otaudit.Attestation{
		{Requirement: "SR 7.3", Description: "Nightly backup of PLC projects", Evidence: "DOC-123", Approver: "J. Doe",
			Expires: time.Date(2027, 7, 1, 0, 0, 0, 0, time.UTC)},
		{Requirement: "SR 1.1 RE2", Compensating: true, Description: "Vendor access only through the site VPN with hardware tokens",
			Evidence: "RISK-7", Approver: "A. Owner", Expires: time.Date(2026, 1, 1, 11, 0, 0, 0, time.UTC)},
	}
	if len(z.Attestations) != len(want) {
		t.Fatalf("attestations = %+v", z.Attestations)
	}
	for i := range want {
		if got := z.Attestations[i]; got != want[i] {
			t.Errorf("attestation %d = %+v\nwant %+v", i, got, want[i])
		}
	}
	// A date expiry is valid through that day (UTC) and not after it.
	if !z.Attestations[0].Valid(time.Date(2027, 6, 30, 23, 59, 0, 0, time.UTC)) || z.Attestations[0].Valid(time.Date(2027, 7, 1, 0, 0, 0, 0, time.UTC)) {
		t.Error("expires 2027-06-30 should hold through June 30 and stop on July 1")
	}

	if len(z.MaintenanceWindows) != 2 {
		t.Fatalf("maintenance windows = %+v", z.MaintenanceWindows)
	}
	// The zone model must say the same as the schedule's own reading, in UTC.
	at := func(day time.Weekday, hh, mm int) time.Time {
		// 2025-03-01 is a Saturday.
		return time.Date(2025, 3, 1+(int(day)+1)%7, hh, mm, 0, 0, time.UTC)
	}
	for _, tc := range []struct {
		t    time.Time
		want bool
	}{
		{at(time.Saturday, 2, 0), true},
		{at(time.Saturday, 5, 59), true},
		{at(time.Saturday, 6, 0), false},
		{at(time.Sunday, 3, 0), false},
		{at(time.Wednesday, 23, 0), true},
		{at(time.Thursday, 0, 30), true},
		{at(time.Thursday, 1, 0), false},
		{at(time.Tuesday, 12, 0), false},
	} {
		if got := z.InMaintenanceWindow(tc.t); got != tc.want {
			t.Errorf("InMaintenanceWindow(%s) = %v, want %v", tc.t.Format("Mon 15:04"), got, tc.want)
		}
		inSchedule := false
		for _, w := range cfg.Schedule.MaintenanceWindows {
			inSchedule = inSchedule || w.Contains(tc.t)
		}
		if inSchedule != tc.want {
			t.Errorf("schedule window Contains(%s) = %v, the zone model says %v", tc.t.Format("Mon 15:04"), inSchedule, tc.want)
		}
	}
}

func TestZoneModelWithoutScheduleOrAttestations(t *testing.T) {
	cfg, err := Parse("zone.yaml", []byte(zoneDocHead), "")
	if err != nil {
		t.Fatal(err)
	}
	z, err := cfg.ZoneModel()
	if err != nil {
		t.Fatal(err)
	}
	if z.MaintenanceWindows != nil || z.Attestations != nil {
		t.Errorf("windows %v, attestations %v; want none declared", z.MaintenanceWindows, z.Attestations)
	}
}

func TestAttestationProblems(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want []wantProblem
	}{
		{"bad requirement shape",
			`  attestations: [{requirement: "FR 7", evidence: D, approver: A, expires: 2027-01-01}]` + "\n",
			[]wantProblem{{"bad.yaml:4:32", "zone.attestations[0].requirement", `invalid requirement "FR 7"`}}},
		{"requirement out of range",
			`  attestations: [{requirement: "SR 8.1", evidence: D, approver: A, expires: 2027-01-01}]` + "\n",
			[]wantProblem{{"bad.yaml:4:32", "zone.attestations[0].requirement", "invalid requirement"}}},
		{"missing fields",
			`  attestations: [{requirement: "SR 7.3"}]` + "\n",
			[]wantProblem{
				{"bad.yaml:4:18", "zone.attestations[0].evidence", "required"},
				{"bad.yaml:4:18", "zone.attestations[0].approver", "required"},
				{"bad.yaml:4:18", "zone.attestations[0].expires", "required"},
			}},
		{"bad expiry",
			`  attestations: [{requirement: "SR 7.3", evidence: D, approver: A, expires: 30.06.2027}]` + "\n",
			[]wantProblem{{"bad.yaml:4:77", "zone.attestations[0].expires", "invalid expiry"}}},
		{"compensating needs a description",
			`  attestations: [{requirement: "SR 7.3", compensating: true, evidence: D, approver: A, expires: 2027-01-01}]` + "\n",
			[]wantProblem{{"bad.yaml:4:18", "zone.attestations[0].description", "required for a compensating"}}},
		{"empty approver",
			`  attestations: [{requirement: "SR 7.3", evidence: D, approver: "", expires: 2027-01-01}]` + "\n",
			[]wantProblem{{"bad.yaml:4:55", "zone.attestations[0].approver", "must not be empty"}}},
		{"unknown key",
			`  attestations: [{requirement: "SR 7.3", evidence: D, approver: A, expires: 2027-01-01, signed: yes}]` + "\n",
			[]wantProblem{{"bad.yaml:4:89", "zone.attestations[0].signed", "unknown"}}},
		{"not a list",
			`  attestations: {requirement: "SR 7.3"}` + "\n",
			[]wantProblem{{"bad.yaml:4:17", "zone.attestations", "list"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assertProblems(t, parseZoneProblems(t, zoneDocHead+tc.yaml), tc.want)
		})
	}
}

func TestNormalizeRequirementID(t *testing.T) {
	for in, want := range map[string]string{
		"SR 7.3": "SR 7.3", "sr7.3": "SR 7.3", "SR 1.1 RE2": "SR 1.1 RE2", "sr 1.1re2": "SR 1.1 RE2", " SR  1.13   RE1 ": "SR 1.13 RE1",
	} {
		if got := normalizeRequirementID(in); got != want || !requirementID.MatchString(got) {
			t.Errorf("normalizeRequirementID(%q) = %q, want %q (and a valid shape)", in, got, want)
		}
	}
}
