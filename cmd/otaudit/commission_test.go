package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The clean fixture lives with the agent's commissioning tests, which keep
// clean.pcap equal to its generator (agent/commission_test.go).
var (
	cleanZone    = filepath.Join("..", "..", "agent", "testdata", "commission", "clean-zone.yaml")
	cleanCapture = filepath.Join("..", "..", "agent", "testdata", "commission", "clean.pcap")
)

// junitReport is the part of JUnit XML a CI system reads, decoded with
// encoding/xml independently of the writer.
type junitReport struct {
	XMLName  xml.Name `xml:"testsuites"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Skipped  int      `xml:"skipped,attr"`
	Suites   []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Skipped  int    `xml:"skipped,attr"`
		Cases    []struct {
			Name    string `xml:"name,attr"`
			Failure *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
			Skipped *struct{} `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func readJUnit(t *testing.T, path string) junitReport {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r junitReport
	if err := xml.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s does not parse as XML: %v", path, err)
	}
	if len(r.Suites) != 7 {
		t.Fatalf("%d testsuites, want one per FR", len(r.Suites))
	}
	tests, failures, skipped := 0, 0, 0
	for _, s := range r.Suites {
		nf, ns := 0, 0
		for _, c := range s.Cases {
			if c.Failure != nil {
				nf++
			}
			if c.Skipped != nil {
				ns++
			}
		}
		if s.Tests != len(s.Cases) || s.Failures != nf || s.Skipped != ns {
			t.Errorf("suite %q: attributes %d/%d/%d, testcases %d/%d/%d", s.Name, s.Tests, s.Failures, s.Skipped, len(s.Cases), nf, ns)
		}
		tests, failures, skipped = tests+s.Tests, failures+nf, skipped+ns
	}
	if r.Tests != tests || r.Failures != failures || r.Skipped != skipped {
		t.Errorf("testsuites attributes %d/%d/%d, suites %d/%d/%d", r.Tests, r.Failures, r.Skipped, tests, failures, skipped)
	}
	return r
}

func (r junitReport) testcase(prefix string) (failure string, skipped, found bool) {
	for _, s := range r.Suites {
		for _, c := range s.Cases {
			if strings.HasPrefix(c.Name, prefix) {
				if c.Failure != nil {
					failure = c.Failure.Text
				}
				return failure, c.Skipped != nil, true
			}
		}
	}
	return "", false, false
}

func TestCommissionDemoZoneFails(t *testing.T) {
	dir := t.TempDir()
	zone := writeDemoZone(t, dir)
	capture, _ := writeDemoCapture(t, dir)
	junit := filepath.Join(dir, "commission.xml")
	code, out, stderr := runCLI(t, "commission", "--config", zone, "--pcap", capture, "--db", filepath.Join(dir, "o.db"),
		"--junit", junit, "--set-baseline", "--allow-attestations")
	if code != exitFindings {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, exitFindings, out, stderr)
	}
	if !strings.Contains(stderr, "commissioning failed: 9 requirement(s)") {
		t.Errorf("stderr: %q", stderr)
	}
	for _, want := range []string{
		"VERDICT: FAIL", "Failed: SR 1.2, SR 1.5, SR 1.13, SR 2.1, SR 4.1, SR 4.1 RE1, SR 5.2 RE1, SR 7.7, SR 7.8",
		"AC-MODBUS-WRITE-UNAUTHORIZED-SOURCE", "10.10.3.66", "Baseline not recorded",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	r := readJUnit(t, junit)
	if r.Failures != 9 {
		t.Errorf("JUnit failures %d, want 9", r.Failures)
	}
	for _, id := range []string{"SR 1.5 ", "SR 2.1 ", "SR 1.13 "} {
		failure, _, found := r.testcase(id)
		if !found || failure == "" {
			t.Errorf("%s: no failure with findings in the JUnit (found %v)", id, found)
		}
	}
	if failure, _, _ := r.testcase("SR 2.1 "); !strings.Contains(failure, "AC-MODBUS-WRITE-UNAUTHORIZED-SOURCE") {
		t.Errorf("SR 2.1 failure text %q", failure)
	}
	if _, skipped, _ := r.testcase("SR 7.3 "); !skipped {
		t.Error("SR 7.3 (backup, not attested) must be skipped")
	}
	if code, _, _ := runCLI(t, "baseline", "show", "--config", zone, "--db", filepath.Join(dir, "o.db")); code != exitError {
		t.Errorf("baseline show after a failed commissioning: exit %d, want %d (no baseline)", code, exitError)
	}
}

func TestCommissionCleanZonePasses(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "o.db")
	junit := filepath.Join(dir, "commission.xml")
	code, out, stderr := runCLI(t, "commission", "--config", cleanZone, "--pcap", cleanCapture, "--db", db,
		"--target-sl", "1", "--junit", junit, "--set-baseline", "--by", "I. Integrator")
	if code != exitOK {
		t.Fatalf("exit %d, want 0\nstdout: %s\nstderr: %s", code, out, stderr)
	}
	for _, want := range []string{"VERDICT: PASS", "SL-T IAC 1, UC 1", "SR 1.13     SL1  pass", "SR 7.3      SL1  attested",
		"SR 1.5      SL1  compensated", "Baseline recorded for zone \"line-7\""} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q\n%s", want, out)
		}
	}
	r := readJUnit(t, junit)
	if r.Failures != 0 || r.Skipped != 0 || r.Tests == 0 {
		t.Errorf("JUnit of a pass: tests %d failures %d skipped %d", r.Tests, r.Failures, r.Skipped)
	}
	code, out, _ = runCLI(t, "baseline", "show", "--json", "--config", cleanZone, "--db", db)
	if code != exitOK {
		t.Fatalf("baseline show: exit %d", code)
	}
	var b struct {
		ApprovedBy string `json:"approved_by"`
		Assets     []struct {
			IP string `json:"ip"`
		} `json:"assets"`
	}
	if err := json.Unmarshal([]byte(out), &b); err != nil || b.ApprovedBy != "I. Integrator" || len(b.Assets) != 3 {
		t.Errorf("baseline %+v (%v)", b, err)
	}
}

func TestCommissionAttestationsPolicy(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "o.db")
	// At the configured SL-T 2 nothing fails, but SL2 requirements are
	// neither shown nor attested: not accepted by default.
	code, out, stderr := runCLI(t, "commission", "--config", cleanZone, "--pcap", cleanCapture, "--db", db, "--set-baseline")
	if code != exitFindings {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, exitFindings, out, stderr)
	}
	if !strings.Contains(out, "VERDICT: PASS WITH ATTESTATIONS REQUIRED — not accepted") || !strings.Contains(out, "Still needing attestation: ") ||
		!strings.Contains(stderr, "--allow-attestations") || !strings.Contains(out, "Baseline not recorded") {
		t.Errorf("stdout: %s\nstderr: %s", out, stderr)
	}
	if code, _, _ := runCLI(t, "baseline", "show", "--config", cleanZone, "--db", db); code != exitError {
		t.Errorf("a run that was not accepted recorded a baseline (baseline show exit %d)", code)
	}
	code, out, stderr = runCLI(t, "commission", "--json", "--config", cleanZone, "--pcap", cleanCapture, "--db", db, "--allow-attestations")
	if code != exitOK {
		t.Fatalf("--allow-attestations: exit %d\n%s", code, stderr)
	}
	var res struct {
		Accepted bool `json:"accepted"`
		Verdict  struct {
			Overall          string   `json:"overall"`
			NeedsAttestation []string `json:"needs_attestation"`
			Requirements     []struct {
				ID      string `json:"id"`
				Verdict string `json:"verdict"`
			} `json:"requirements"`
		} `json:"verdict"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if !res.Accepted || res.Verdict.Overall != "PASS WITH ATTESTATIONS REQUIRED" || len(res.Verdict.NeedsAttestation) == 0 ||
		!slices.ContainsFunc(res.Verdict.Requirements, func(r struct {
			ID      string `json:"id"`
			Verdict string `json:"verdict"`
		}) bool {
			return r.ID == "SR 7.3 RE1" && r.Verdict == "needs attestation"
		}) {
		t.Errorf("json: %+v", res)
	}
}

func TestCommissionErrorsAndUsage(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "o.db")
	for _, args := range [][]string{
		{"--target-sl", "5", "--pcap", cleanCapture},
		{"--target-sl", "0", "--pcap", cleanCapture},
		{"--by", "me", "--pcap", cleanCapture},
		{"--active", "--dry-run"},
		{"--target", "10.0.0.1", "--pcap", cleanCapture},
		{"extra-arg"},
	} {
		code, _, stderr := runCLI(t, append([]string{"commission", "--db", db}, args...)...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, code, exitUsage, stderr)
		}
	}
	// A capture that cannot be read is an error, not a verdict.
	code, out, stderr := runCLI(t, "commission", "--config", cleanZone, "--db", db, "--target-sl", "1",
		"--pcap", cleanCapture, "--pcap", filepath.Join(dir, "missing.pcap"))
	if code != exitError || strings.Contains(out, "VERDICT") || !strings.Contains(stderr, "missing.pcap") {
		t.Errorf("missing capture: exit %d\nstdout %s\nstderr %s", code, out, stderr)
	}
	// Nothing to collect: the embedded default zone names no captures.
	code, _, stderr = runCLI(t, "commission", "--db", db)
	if code != exitError || !strings.Contains(stderr, "nothing to collect") {
		t.Errorf("no collection: exit %d, %s", code, stderr)
	}
}

func TestCommissionFlagsReachTheRequest(t *testing.T) {
	parse := func(args ...string) *commissionOptions {
		t.Helper()
		var got *commissionOptions
		cmd := newCommissionCmd(&globalOptions{}, streams{Out: &bytes.Buffer{}, Err: &bytes.Buffer{}}, func(_ context.Context, o *commissionOptions) error {
			got = o
			return nil
		})
		cmd.SetArgs(args)
		if err := cmd.Execute(); err != nil {
			t.Fatal(err)
		}
		return got
	}
	got := parse("--pcap", "a.pcap", "--active", "--target", "10.0.0.0/24", "--target-sl", "3",
		"--allow-attestations", "--set-baseline", "--by", "me", "--note", "CR-7", "--junit", "j.xml")
	req := got.request()
	if !slices.Equal(req.Pcaps, []string{"a.pcap"}) || req.Active == nil || !slices.Equal(req.Active.Targets, []string{"10.0.0.0/24"}) ||
		req.TargetSL != 3 || !req.AllowAttestations || !req.SetBaseline || req.BaselineBy != "me" || req.BaselineNote != "CR-7" || got.JUnit != "j.xml" {
		t.Fatalf("request %+v, options %+v", req, got)
	}
	if req := parse("--pcap", "a.pcap").request(); req.Active != nil || req.TargetSL != 0 || req.AllowAttestations {
		t.Errorf("defaults: %+v", req)
	}
}
