package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/agent/demo"
)

// runCLI runs otaudit in-process, as main would, and returns the exit
// code and both outputs.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errw bytes.Buffer
	code := run(context.Background(), args, streams{Out: &out, Err: &errw})
	return code, out.String(), errw.String()
}

func TestUsageErrorsExitTwo(t *testing.T) {
	for _, args := range [][]string{
		{"frobnicate"},
		{"scan", "--no-such-flag"},
		{"scan", "--fail-on", "severe", "--pcap", "x.pcap"},
		{"findings", "--objective", "XY"},
		{"findings", "--status", "closed"},
		{"export", "--format", "xml"},
		{"assets", "extra-arg"},
		{"config", "check"},
		{"--log-level", "loud", "version"},
	} {
		code, _, stderr := runCLI(t, args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %q)", args, code, exitUsage, stderr)
		}
		if !strings.Contains(stderr, "otaudit:") {
			t.Errorf("%v: no error message on stderr: %q", args, stderr)
		}
	}
}

func TestScanFlagsReachOptions(t *testing.T) {
	var got *scanOptions
	g := &globalOptions{}
	cmd := newScanCmd(g, streams{Out: &bytes.Buffer{}, Err: &bytes.Buffer{}}, func(_ context.Context, o *scanOptions) error {
		got = o
		return nil
	})
	cmd.SetArgs([]string{"--pcap", "a.pcap", "--pcap", "dir/", "--fail-on", "high"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got == nil || strings.Join(got.Pcaps, ",") != "a.pcap,dir/" || got.FailOn != "high" {
		t.Fatalf("options: %+v", got)
	}
}

func TestFindingsFilterParsing(t *testing.T) {
	var got *listOptions
	cmd := newFindingsCmd(&globalOptions{}, streams{Out: &bytes.Buffer{}, Err: &bytes.Buffer{}}, func(_ context.Context, o *listOptions) error {
		got = o
		return nil
	})
	cmd.SetArgs([]string{"--objective", "ac", "--severity", "High", "--status", "open", "--asset", "10.0.0.5", "--check", "AM-UNKNOWN-DEVICE"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	f := got.Filter
	if f.Objective != otaudit.ObjectiveAC || f.MinSeverity != otaudit.SeverityHigh || f.Status != otaudit.StatusOpen ||
		f.AssetKey != "ip:10.0.0.5" || f.CheckID != "AM-UNKNOWN-DEVICE" {
		t.Fatalf("filter: %+v", f)
	}
}

// demoDir runs the demo into a fresh directory and returns it.
func demoDir(t *testing.T, extra ...string) (dir string, code int, stdout string) {
	t.Helper()
	dir = t.TempDir()
	code, stdout, stderr := runCLI(t, append([]string{"demo", "--dir", dir}, extra...)...)
	if code != exitOK && code != exitFindings {
		t.Fatalf("demo: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	return dir, code, stdout
}

func TestDemoReportsAllThreeObjectives(t *testing.T) {
	dir, code, out := demoDir(t)
	if code != exitOK {
		t.Fatalf("demo without --fail-on: exit %d", code)
	}
	for _, want := range []string{
		"AC-MODBUS-WRITE-UNAUTHORIZED-SOURCE", "AC-DEFAULT-CREDENTIAL-OBSERVED", "AC-CLEARTEXT-LOGIN-TELNET",
		"AC-RA-EXTERNAL-DIRECT", "AM-UNKNOWN-DEVICE", "SI-INSECURE-MGMT-SERVICE-FIELD-DEVICE",
		"SI-CLEARTEXT-CONTROL-ACROSS-BOUNDARY", "SR 1.5 (SL1)", "SR 2.1 (SL1)", "SR 7.8 (SL2)",
		"10.10.3.66", "BMX P34 2020", "otaudit findings --db",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "otaudit.db")); err != nil {
		t.Fatalf("demo left no store: %v", err)
	}
	// The integrator's gate: the demo plant has critical findings.
	if _, code, _ := demoDir(t, "--fail-on", "critical"); code != exitFindings {
		t.Fatalf("demo --fail-on critical: exit %d, want %d", code, exitFindings)
	}
}

func writeDemoZone(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "zone.yaml")
	if err := os.WriteFile(p, demo.ZoneYAML, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeDemoCapture(t *testing.T, dir string) (string, []byte) {
	t.Helper()
	b, err := demo.Capture()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "plant.pcap")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, b
}

func TestRescanDoesNotDuplicateFindings(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "o.db")
	zone := writeDemoZone(t, dir)
	capture, _ := writeDemoCapture(t, dir)

	var outputs []string
	for i := 0; i < 2; i++ {
		if code, _, stderr := runCLI(t, "scan", "--db", db, "--config", zone, "--pcap", capture); code != exitOK {
			t.Fatalf("scan %d: exit %d: %s", i+1, code, stderr)
		}
		code, out, stderr := runCLI(t, "findings", "--db", db, "--json")
		if code != exitOK {
			t.Fatalf("findings: exit %d: %s", code, stderr)
		}
		outputs = append(outputs, out)
	}
	if outputs[0] != outputs[1] {
		t.Fatalf("findings --json changed after a rescan of the same capture:\n%s\n---\n%s", outputs[0], outputs[1])
	}
	var fs []otaudit.Finding
	if err := json.Unmarshal([]byte(outputs[1]), &fs); err != nil {
		t.Fatal(err)
	}
	if len(fs) == 0 {
		t.Fatal("no findings")
	}
	ids := map[string]bool{}
	for _, f := range fs {
		if ids[f.ID] {
			t.Fatalf("duplicate finding %s", f.ID)
		}
		ids[f.ID] = true
	}
	// Two scans are recorded, both complete.
	code, out, _ := runCLI(t, "scans", "--db", db, "--json")
	var scans []otaudit.Scan
	if code != exitOK || json.Unmarshal([]byte(out), &scans) != nil || len(scans) != 2 ||
		scans[0].Status != otaudit.ScanComplete || scans[1].Status != otaudit.ScanComplete {
		t.Fatalf("scans: exit %d %s", code, out)
	}
	// The history of a finding shows both scans.
	code, out, _ = runCLI(t, "findings", "show", "--db", db, "--json", fs[0].ID)
	var shown struct {
		History []otaudit.FindingEvent `json:"history"`
	}
	if code != exitOK || json.Unmarshal([]byte(out), &shown) != nil || len(shown.History) != 2 {
		t.Fatalf("findings show: exit %d %s", code, out)
	}
}

func TestSecretsStayOutOfStoreAndExport(t *testing.T) {
	dir, _, _ := demoDir(t)
	db := filepath.Join(dir, "otaudit.db")
	code, export, stderr := runCLI(t, "export", "--db", db, "--format", "json")
	if code != exitOK {
		t.Fatalf("export: exit %d: %s", code, stderr)
	}
	raw, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	// The demo's SNMP community is "public"; the Telnet password is also
	// the user name, so it cannot be told apart and is covered by the
	// collector's own tests.
	for name, content := range map[string]string{"store": string(raw), "export": export} {
		if strings.Contains(content, "public") {
			t.Errorf("the %s holds the captured SNMP community in clear", name)
		}
	}
	if !strings.Contains(export, "hmac-sha256:") || !strings.Contains(export, `"$schema"`) {
		t.Errorf("export lacks fingerprints or its schema marker")
	}
}

func TestBadInputsGetOneClearLine(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "o.db")
	capture, good := writeDemoCapture(t, dir)

	notPcap := filepath.Join(dir, "notes.pcap")
	os.WriteFile(notPcap, []byte("<!DOCTYPE html><html></html>"), 0o600)
	empty := filepath.Join(dir, "empty.pcap")
	os.WriteFile(empty, nil, 0o600)
	truncated := filepath.Join(dir, "cut.pcap")
	os.WriteFile(truncated, good[:len(good)/2+7], 0o600)
	mixed := filepath.Join(dir, "mixed")
	os.Mkdir(mixed, 0o700)
	os.WriteFile(filepath.Join(mixed, "a.pcap"), good, 0o600)
	os.WriteFile(filepath.Join(mixed, "README.txt"), []byte("captures of line 1\n"), 0o600)
	badConfig := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badConfig, []byte("version: 1\nzone:\n  name: z\n  cidrs: [10.0.0.0/33]\n  colour: blue\n"), 0o600)

	cases := []struct {
		name     string
		args     []string
		code     int
		stderr   []string
		stdout   []string
		oneLiner bool
	}{
		{"wrong magic", []string{"scan", "--pcap", notPcap}, exitError, []string{"notes.pcap", "not a pcap"}, nil, true},
		{"empty file", []string{"scan", "--pcap", empty}, exitError, []string{"empty.pcap", "empty"}, nil, true},
		{"missing path", []string{"scan", "--pcap", filepath.Join(dir, "nope.pcap")}, exitError, []string{"nope.pcap", "no such file"}, nil, true},
		{"truncated", []string{"scan", "--pcap", truncated}, exitOK, nil, []string{"truncated at byte", "cut.pcap"}, false},
		{"mixed directory", []string{"scan", "--pcap", mixed}, exitOK, nil, []string{"skipped", "README.txt"}, false},
		{"malformed config", []string{"scan", "--config", badConfig, "--pcap", capture}, exitError,
			[]string{"bad.yaml:4", "zone.cidrs[0]", "bad.yaml:5", "colour"}, nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append(c.args, "--db", db)...)
			if code != c.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, c.code, stdout, stderr)
			}
			for _, w := range c.stderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q: %s", w, stderr)
				}
			}
			for _, w := range c.stdout {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q: %s", w, stdout)
				}
			}
			if c.oneLiner && strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Errorf("want one line, got: %q", stderr)
			}
			if strings.Contains(stderr, "panic") || strings.Contains(stderr, "goroutine") {
				t.Fatalf("panicked: %s", stderr)
			}
		})
	}
	// Nothing stored before was lost: the scans that did read packets are there.
	code, out, _ := runCLI(t, "scans", "--db", db, "--json")
	var scans []otaudit.Scan
	if code != exitOK || json.Unmarshal([]byte(out), &scans) != nil {
		t.Fatalf("scans: %d %s", code, out)
	}
	complete := 0
	for _, s := range scans {
		if s.Status == otaudit.ScanComplete {
			complete++
		}
	}
	if complete != 2 {
		t.Fatalf("want the truncated and the mixed-directory scans complete, got %+v", scans)
	}
	if code, _, stderr := runCLI(t, "db", "check", "--db", db); code != exitOK {
		t.Fatalf("db check after bad inputs: %d %s", code, stderr)
	}
}

func TestStoreThatIsNotADatabaseIsLeftAlone(t *testing.T) {
	dir := t.TempDir()
	notDB := filepath.Join(dir, "notes.db")
	content := []byte("these are my notes, not a database\n")
	os.WriteFile(notDB, content, 0o600)
	capture, _ := writeDemoCapture(t, dir)
	code, _, stderr := runCLI(t, "scan", "--db", notDB, "--pcap", capture)
	if code != exitError || !strings.Contains(stderr, "notes.db") || !strings.Contains(stderr, "not an otaudit database") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	after, _ := os.ReadFile(notDB)
	if !bytes.Equal(after, content) {
		t.Fatal("the file was modified")
	}
	if code, _, stderr := runCLI(t, "findings", "--db", filepath.Join(dir, "missing.db")); code != exitError || !strings.Contains(stderr, "run `otaudit scan`") {
		t.Fatalf("findings on a missing store: exit %d %q", code, stderr)
	}
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	zone := writeDemoZone(t, dir)
	code, out, stderr := runCLI(t, "config", "check", zone)
	if code != exitOK || !strings.Contains(out, `zone "cell-1"`) {
		t.Fatalf("exit %d out %q err %q", code, out, stderr)
	}
	if code, _, _ := runCLI(t, "config", "check", filepath.Join("..", "..", "configs", "example-plant.yaml")); code != exitOK {
		t.Fatalf("the example plant config does not check: exit %d", code)
	}
}

func TestTableCellKeepsColumnsReadable(t *testing.T) {
	long := "Cisco IOS Software, IE4000 Software (IE4000-UNIVERSALK9-M), Version 15.2(7)E4\r\nTechnical Support"
	got := tableCell(long)
	if n := len([]rune(got)); n != 40 || !strings.HasSuffix(got, "…") || strings.ContainsAny(got, "\r\n") {
		t.Fatalf("tableCell(%q) = %q (%d runes)", long, got, n)
	}
	if got := tableCell("BMX\tP34"); got != "BMX P34" {
		t.Fatalf("control characters must become spaces: %q", got)
	}
}
