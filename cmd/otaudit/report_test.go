package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReportCommand(t *testing.T) {
	dir, _, _ := demoDir(t)
	db := filepath.Join(dir, "otaudit.db")
	out := filepath.Join(dir, "report.html")

	code, stdout, stderr := runCLI(t, "report", "--format", "html", "--db", db, "-o", out)
	if code != exitOK {
		t.Fatalf("report: exit %d\nstderr: %s", code, stderr)
	}
	if stdout != "" || !strings.Contains(stderr, "wrote "+out) {
		t.Errorf("report -o: stdout %q, stderr %q", stdout, stderr)
	}
	page, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	// Without --config the report follows the demo scan to the demo zone.
	for _, s := range []string{"<!DOCTYPE html>", `<h1 id="zone-name">Zone cell-1</h1>`, `<svg class="mapsvg"`, "site-dmz"} {
		if !strings.Contains(string(page), s) {
			t.Errorf("report.html lacks %q", s)
		}
	}

	// Standard output by default, the same document.
	code, stdout, stderr = runCLI(t, "report", "--db", db)
	if code != exitOK || !strings.HasPrefix(stdout, "<!DOCTYPE html>") {
		t.Fatalf("report to stdout: exit %d, stdout starts %q, stderr %q", code, stdout[:min(len(stdout), 40)], stderr)
	}

	if code, _, stderr := runCLI(t, "report", "--format", "pdf", "--db", db); code != exitUsage {
		t.Errorf("--format pdf: exit %d, want %d (stderr %q)", code, exitUsage, stderr)
	}
	if code, _, stderr := runCLI(t, "report", "--db", filepath.Join(dir, "missing.db")); code != exitError ||
		!strings.Contains(stderr, "no otaudit database") {
		t.Errorf("missing store: exit %d, stderr %q", code, stderr)
	}
}
