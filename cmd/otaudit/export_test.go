package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExportEveryFormatFromTheDemo(t *testing.T) {
	dir, _, _ := demoDir(t)
	db := filepath.Join(dir, "otaudit.db")

	// csv writes two files into a directory, created if missing.
	out := filepath.Join(dir, "csv-out")
	if code, _, stderr := runCLI(t, "export", "--db", db, "--format", "csv", "-o", out); code != exitOK {
		t.Fatalf("csv: exit %d: %s", code, stderr)
	}
	for _, name := range []string{"assets.csv", "findings.csv"} {
		f, err := os.Open(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(f).ReadAll()
		f.Close()
		if err != nil || len(rows) < 2 {
			t.Errorf("%s: %d rows, %v", name, len(rows), err)
		}
	}

	// Single-file formats go to standard output without -o.
	code, stdout, stderr := runCLI(t, "export", "--db", db, "--format", "ocsf")
	if code != exitOK {
		t.Fatalf("ocsf: exit %d: %s", code, stderr)
	}
	lines := 0
	for sc := bufio.NewScanner(strings.NewReader(stdout)); sc.Scan(); lines++ {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil || m["class_uid"] == nil {
			t.Fatalf("ocsf line %d: %v", lines+1, err)
		}
	}
	if lines == 0 {
		t.Error("ocsf export is empty")
	}

	// -o FILE for a single-file format.
	bom := filepath.Join(dir, "bom.json")
	if code, _, stderr := runCLI(t, "export", "--db", db, "--format", "cyclonedx", "-o", bom); code != exitOK {
		t.Fatalf("cyclonedx: exit %d: %s", code, stderr)
	}
	if raw, err := os.ReadFile(bom); err != nil || !strings.Contains(string(raw), `"specVersion": "1.6"`) {
		t.Errorf("cyclonedx file: %v", err)
	}
}

func TestExportFilters(t *testing.T) {
	dir, _, _ := demoDir(t)
	db := filepath.Join(dir, "otaudit.db")
	count := func(args ...string) (assets, findings int) {
		t.Helper()
		code, stdout, stderr := runCLI(t, append([]string{"export", "--db", db, "--format", "json"}, args...)...)
		if code != exitOK {
			t.Fatalf("export %v: exit %d: %s", args, code, stderr)
		}
		var doc struct {
			Assets   []json.RawMessage `json:"assets"`
			Findings []json.RawMessage `json:"findings"`
		}
		if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
			t.Fatal(err)
		}
		return len(doc.Assets), len(doc.Findings)
	}
	allA, allF := count()
	if allF == 0 {
		t.Fatal("demo export has no findings")
	}
	if a, f := count("--zone", "cell-1"); a == 0 || a > allA || f != allF {
		t.Errorf("--zone cell-1: %d assets, %d findings (all: %d, %d)", a, f, allA, allF)
	}
	if a, f := count("--zone", "no-such-zone"); a != 0 || f != 0 {
		t.Errorf("--zone no-such-zone: %d assets, %d findings", a, f)
	}
	// The demo capture is from the past: nothing was seen in the future.
	if a, f := count("--since", "2999-01-01"); a != 0 || f != 0 {
		t.Errorf("--since 2999-01-01: %d assets, %d findings", a, f)
	}
	if a, f := count("--since", "2000-01-01"); a != allA || f != allF {
		t.Errorf("--since 2000-01-01: %d assets, %d findings, want all (%d, %d)", a, f, allA, allF)
	}
}

func TestExportUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"export", "--format", "csv"},                          // two files need -o DIR
		{"export", "--format", "json", "--since", "last week"}, // not a time
		{"export", "--format", "xml"},
	} {
		if code, _, stderr := runCLI(t, args...); code != exitUsage || !strings.Contains(stderr, "otaudit:") {
			t.Errorf("%v: exit %d, want %d; stderr %q", args, code, exitUsage, stderr)
		}
	}
}
