package checks

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/otaudit/otaudit"
)

func TestEmbeddedCatalogParses(t *testing.T) {
	d, err := Embedded()
	if err != nil {
		t.Fatalf("embedded configs/checks.yaml is broken: %v", err)
	}
	if got := len(Catalog()); got != 61 {
		t.Errorf("catalog has %d checks, want 60 + optional #61", got)
	}
	for i, c := range d.Checks {
		if c.Number != i+1 {
			t.Errorf("check %s is number %d at position %d", c.ID, c.Number, i+1)
		}
		if c.Optional != (c.Number == 61) {
			t.Errorf("check %s: optional = %t, only #61 is optional", c.ID, c.Optional)
		}
	}
	if _, ok := Lookup("AC-RA-EXTERNAL-DIRECT"); !ok {
		t.Error(`Lookup("AC-RA-EXTERNAL-DIRECT") failed`)
	}
	if _, ok := Lookup("AC-NO-SUCH-CHECK"); ok {
		t.Error("Lookup of an unknown ID succeeded")
	}
}

func TestCatalogEntriesAreComplete(t *testing.T) {
	d, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range d.Checks {
		if c.Title == "" || c.Remediation == "" || !c.Objective.Valid() || c.SubObjective == "" || c.Severity < otaudit.SeverityLow {
			t.Errorf("check %s lacks title, objective, sub-objective, severity or remediation: %+v", c.ID, c)
		}
		r := c.Refs
		if len(r.SR)+len(r.IEC62443_2_1)+len(r.IEC62443_4_2)+len(r.ISO27001) == 0 {
			t.Errorf("check %s has no references", c.ID)
		}
		for _, list := range [][]otaudit.SRRef{r.SR, r.Disproves, r.DisprovesOnBoundary} {
			for _, x := range list {
				req, ok := d.Requirement(x.ID)
				if !ok {
					t.Errorf("check %s cites %s, which is not in the SR table", c.ID, x.ID)
				} else if req.Level != x.SL {
					t.Errorf("check %s cites %s at SL %d, table says %d", c.ID, x.ID, x.SL, req.Level)
				}
			}
		}
	}
}

func TestEveryEvaluatorHasACatalogEntry(t *testing.T) {
	if len(rules) < 20 {
		t.Errorf("only %d evaluators registered", len(rules))
	}
	for id, r := range rules {
		if _, ok := Lookup(id); !ok {
			t.Errorf("evaluator %s has no catalog entry", id)
		}
		if r.scope == nil || r.evaluate == nil {
			t.Errorf("evaluator %s lacks a scope or evaluate function", id)
		}
	}
}

// TestRequirementTableCounts recomputes reference §2.1's summary table
// from the transcribed SR/RE rows.
func TestRequirementTableCounts(t *testing.T) {
	var srs, res [5]int
	for _, r := range Requirements() {
		if strings.Contains(r.ID, " RE") {
			res[r.Level]++
		} else {
			srs[r.Level]++
		}
	}
	if want := [5]int{0, 37, 12, 2, 0}; srs != want {
		t.Errorf("base SRs per level = %v, want %v", srs, want)
	}
	if want := [5]int{0, 0, 11, 28, 10}; res != want {
		t.Errorf("REs per level = %v, want %v", res, want)
	}
}

func TestParseRejectsBrokenCatalogs(t *testing.T) {
	base := `version: 1
requirements:
  - {id: "SR 1.5", fr: 1, level: 1, name: "Authenticator management"}
checks:
  - id: X-ONE
    number: 1
    title: t
    objective: AC
    sub_objective: AC 1
    refs: {sr: [{id: "SR 1.5", sl: 1}], disproves: [{id: "SR 1.5", sl: 1}]}
    severity: high
    severity_rationale: r
    roles: {primary: AO, all: [AO]}
    remediation: fix it
    needs: [pcap]
`
	if _, err := Parse([]byte(base)); err != nil {
		t.Fatalf("valid catalog rejected: %v", err)
	}
	for name, tc := range map[string]struct{ old, new, want string }{
		"version":        {"version: 1", "version: 2", "version 2"},
		"unknown SR":     {`disproves: [{id: "SR 1.5", sl: 1}]`, `disproves: [{id: "SR 9.9", sl: 1}]`, "SR 9.9 is not in the requirement table"},
		"wrong SL":       {`refs: {sr: [{id: "SR 1.5", sl: 1}]`, `refs: {sr: [{id: "SR 1.5", sl: 2}]`, "has sl 2"},
		"no title":       {"title: t", "title: ''", "title, remediation"},
		"bad objective":  {"objective: AC", "objective: SM", "objective"},
		"bad severity":   {"severity: high", "severity: dire", "unknown severity"},
		"unknown need":   {"needs: [pcap]", "needs: [pcap, crystal_ball]", "unknown need"},
		"no collector":   {"needs: [pcap]", "needs: [inventory]", "names no collector"},
		"unknown field":  {"number: 1", "number: 1\n    colour: red", "colour"},
		"bad role":       {"primary: AO", "primary: XX", "roles.primary"},
		"duplicate":      {"checks:\n", "checks:\n  - {id: X-ONE}\n", "listed twice"},
		"disproves only": {`refs: {sr: [{id: "SR 1.5", sl: 1}]`, `refs: {sr: []`, "does not list it in refs.sr"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(strings.Replace(base, tc.old, tc.new, 1)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// TestCatalogMatchesReference checks the other direction: the catalog's
// IDs, numbers, sub-objectives and base severities against the index of
// the reference document (§3.1), and the SR table against §2.1.
func TestCatalogMatchesReference(t *testing.T) {
	path := referencePath(t)
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("reference %s not readable: %v", path, err)
	}
	defer f.Close()
	row := regexp.MustCompile(`^\| (\d+) \| ([A-Z0-9-]+) \| ([A-Z]{2} \d)[^|]* \| [^|]+ \| ([a-z/ ]+|by CVSS) \|`)
	seen := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := row.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		seen++
		n, _ := strconv.Atoi(m[1])
		spec, ok := Lookup(m[2])
		if !ok {
			t.Errorf("reference check #%d %s is not in the catalog", n, m[2])
			continue
		}
		if spec.Number != n || spec.SubObjective != m[3] {
			t.Errorf("%s: catalog has #%d %s, reference #%d %s", m[2], spec.Number, spec.SubObjective, n, m[3])
		}
		sev := strings.TrimSpace(m[4])
		if !strings.Contains(sev, "/") && sev != "by CVSS" && spec.Severity.String() != sev {
			t.Errorf("%s: catalog severity %s, reference %s", m[2], spec.Severity, sev)
		}
	}
	if seen != 60 {
		t.Errorf("parsed %d index rows from the reference, want 60", seen)
	}
}

// referencePath finds /work/shared/reference/iec62443.md relative to the
// repository root (the directory with go.mod), or via OTAUDIT_SHARED.
func referencePath(t *testing.T) string {
	if d := os.Getenv("OTAUDIT_SHARED"); d != "" {
		return filepath.Join(d, "reference", "iec62443.md")
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Skip(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, "..", "shared", "reference", "iec62443.md")
			if _, err := os.Stat(p); err != nil {
				t.Skipf("…/shared/reference not present next to the repository (%s); set OTAUDIT_SHARED to run this test", p)
			}
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("repository root (go.mod) not found")
		}
		dir = parent
	}
}
