package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/checks"
)

func listChecks(t *testing.T, args ...string) []checkJSON {
	t.Helper()
	code, out, stderr := runCLI(t, append([]string{"checks", "--json"}, args...)...)
	if code != exitOK {
		t.Fatalf("checks %v: exit %d: %s", args, code, stderr)
	}
	var list []checkJSON
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("checks %v: %v\n%s", args, err, out)
	}
	return list
}

func TestChecksListsTheCatalog(t *testing.T) {
	all := listChecks(t)
	if len(all) != len(checks.Catalog()) || len(all) < 60 {
		t.Fatalf("%d checks listed, the catalog has %d", len(all), len(checks.Catalog()))
	}
	implemented := 0
	evaluators := checks.Evaluators()
	for _, c := range all {
		if c.ID == "" || !c.Objective.Valid() || c.SubObjective == "" || c.Needs == nil || c.Refs.SR == nil {
			t.Errorf("incomplete entry %+v", c)
		}
		if c.Implemented != slices.Contains(evaluators, c.ID) {
			t.Errorf("%s: implemented %t, evaluator registered %t", c.ID, c.Implemented, !c.Implemented)
		}
		if c.Implemented {
			implemented++
		}
		if c.Remediation != "" {
			t.Errorf("%s: the list should leave remediation to `checks show`", c.ID)
		}
	}
	if implemented != len(evaluators) {
		t.Errorf("%d implemented, %d evaluators", implemented, len(evaluators))
	}
	i := slices.IndexFunc(all, func(c checkJSON) bool { return c.ID == "AM-NEW-DEVICE-SINCE-BASELINE" })
	if i < 0 || !all[i].Implemented || !slices.Contains(all[i].Needs, "baseline") {
		t.Errorf("AM-NEW-DEVICE-SINCE-BASELINE: %+v", all[i])
	}

	code, out, _ := runCLI(t, "checks")
	if code != exitOK || !strings.Contains(out, "IMPLEMENTED") || !strings.Contains(out, "AC-RA-EXTERNAL-DIRECT") ||
		!strings.Contains(out, "check(s),") {
		t.Errorf("checks table: exit %d\n%s", code, out)
	}
}

func TestChecksFilters(t *testing.T) {
	all := listChecks(t)
	am := listChecks(t, "--objective", "am")
	if len(am) == 0 || len(am) >= len(all) {
		t.Fatalf("--objective am: %d of %d", len(am), len(all))
	}
	for _, c := range am {
		if c.Objective != otaudit.ObjectiveAM {
			t.Errorf("--objective am listed %s (%s)", c.ID, c.Objective)
		}
	}
	traces := func(c checkJSON, sr string) bool {
		return slices.ContainsFunc(c.Refs.SR, func(r otaudit.SRRef) bool { return r.ID == sr || strings.HasPrefix(r.ID, sr+" RE") })
	}
	sr15 := listChecks(t, "--sr", "SR 1.5")
	want := 0
	for _, c := range all {
		if traces(c, "SR 1.5") {
			want++
		}
	}
	if len(sr15) != want || want == 0 {
		t.Errorf("--sr \"SR 1.5\": %d checks, %d trace to SR 1.5 or its REs", len(sr15), want)
	}
	for _, c := range sr15 {
		if !traces(c, "SR 1.5") {
			t.Errorf("--sr SR 1.5 listed %s with %+v", c.ID, c.Refs.SR)
		}
	}
	// "1.5 re1" is the enhancement alone, spelled loosely.
	for _, c := range listChecks(t, "--sr", "1.5 re1") {
		if !slices.ContainsFunc(c.Refs.SR, func(r otaudit.SRRef) bool { return r.ID == "SR 1.5 RE1" }) {
			t.Errorf("--sr 1.5 re1 listed %s", c.ID)
		}
	}
	ps := listChecks(t, "--role", "ps", "--objective", "AC")
	if len(ps) == 0 {
		t.Fatal("--role ps --objective AC: nothing")
	}
	for _, c := range ps {
		if !slices.Contains(c.Roles.All, "PS") || c.Objective != otaudit.ObjectiveAC {
			t.Errorf("--role ps --objective AC listed %s %+v", c.ID, c.Roles)
		}
	}
	for _, args := range [][]string{
		{"checks", "--objective", "XY"}, {"checks", "--sr", "SR 9.9"}, {"checks", "--role", "QA"}, {"checks", "show"},
	} {
		if code, _, stderr := runCLI(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, code, exitUsage, stderr)
		}
	}
	if code, out, _ := runCLI(t, "checks", "--objective", "SM"); code != exitOK || !strings.Contains(out, "No check matches") {
		t.Errorf("--objective SM (no network checks): exit %d: %s", code, out)
	}
}

func TestCheckShow(t *testing.T) {
	code, out, stderr := runCLI(t, "checks", "show", "am-firmware-changed")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	spec, _ := checks.Lookup("AM-FIRMWARE-CHANGED")
	for _, want := range []string{
		"AM-FIRMWARE-CHANGED (#47)", spec.Title, "sub-objective AM 2", "also SI 4",
		"SR 3.4       SL2  Software and information integrity  [a failure disproves it]", "SR 3.4 RE1   SL3",
		"IEC 62443-2-1:         CM", "IEC 62443-4-2:         CR 3.4, EDR 3.10 RE1", "A.12.5.1", "T0857",
		"high — " + spec.SeverityRationale, "AO (primary), SP", "Needs:        snmp, modbus, opcua, pcap, baseline",
		"Implemented:  yes", spec.Remediation,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}

	code, out, _ = runCLI(t, "checks", "show", "AC-RA-EXTERNAL-DIRECT", "--json")
	var c checkJSON
	if code != exitOK || json.Unmarshal([]byte(out), &c) != nil {
		t.Fatalf("show --json: exit %d: %s", code, out)
	}
	want, _ := checks.Lookup("AC-RA-EXTERNAL-DIRECT")
	if c.ID != want.ID || c.Remediation != want.Remediation || c.SeverityRationale == "" || c.Severity != want.Severity ||
		len(c.Refs.SR) != len(want.Refs.SR) || len(c.Refs.ISO27001) == 0 || c.Roles.Primary != want.Roles.Primary {
		t.Errorf("show --json: %+v", c)
	}

	code, _, stderr = runCLI(t, "checks", "show", "AC-NO-SUCH-CHECK")
	if code != exitError || !strings.Contains(stderr, `unknown check "AC-NO-SUCH-CHECK"`) {
		t.Errorf("unknown ID: exit %d: %q", code, stderr)
	}
}
