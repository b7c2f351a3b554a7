package main

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/otaudit/otaudit"
)

// scoreTraces checks that every failing number of `otaudit score` leads to
// stored findings with evidence: a failing check in an objective names
// findings of that check, and every disproved requirement of an FR is
// disproved by some finding's references.
func scoreTraces(t *testing.T, db string) {
	t.Helper()
	code, out, stderr := runCLI(t, "score", "--db", db, "--json")
	if code != exitOK {
		t.Fatalf("score: exit %d: %s", code, stderr)
	}
	var scores []otaudit.ZoneScore
	if err := json.Unmarshal([]byte(out), &scores); err != nil || len(scores) != 1 {
		t.Fatalf("score --json: %v %s", err, out)
	}
	s := scores[0]
	if len(s.FRs) != 7 || len(s.Objectives) == 0 {
		t.Fatalf("want 7 FR intervals and objective scores, got %d FRs, %d objectives", len(s.FRs), len(s.Objectives))
	}
	code, out, stderr = runCLI(t, "findings", "--db", db, "--json")
	if code != exitOK {
		t.Fatalf("findings: exit %d: %s", code, stderr)
	}
	var fs []otaudit.Finding
	if err := json.Unmarshal([]byte(out), &fs); err != nil {
		t.Fatal(err)
	}
	byCheck := map[string][]otaudit.Finding{}
	disproved := map[string]bool{}
	for _, f := range fs {
		if len(f.Evidence) == 0 {
			t.Errorf("finding %s (%s) has no evidence", f.ID, f.CheckID)
		}
		byCheck[f.CheckID] = append(byCheck[f.CheckID], f)
		for _, r := range f.Refs.Disproves {
			disproved[r.ID] = true
		}
	}
	for _, o := range s.Objectives {
		if o.Score < -1 || o.Score > 100 {
			t.Errorf("objective %s score %d out of range", o.Objective, o.Score)
		}
		for _, c := range o.Failing {
			if len(byCheck[c.CheckID]) == 0 {
				t.Errorf("objective %s is pulled down by %s, but no finding of that check is stored", o.Objective, c.CheckID)
			}
		}
	}
	for _, fr := range s.FRs {
		if fr.Lower > fr.Upper || fr.Upper > 4 || fr.Lower < 0 {
			t.Errorf("%s: SL-A interval [%d, %d] is not an interval", fr.FR, fr.Lower, fr.Upper)
		}
		for _, id := range fr.Failed {
			if !disproved[id] {
				t.Errorf("%s: %s is listed as disproved but no stored finding disproves it", fr.FR, id)
			}
		}
	}
}

// On the demo and on every public capture, `otaudit score` gives SL-A
// intervals and objective scores whose failing numbers trace to findings.
func TestScoreTracesToFindings(t *testing.T) {
	dir, _, _ := demoDir(t)
	t.Run("demo", func(t *testing.T) { scoreTraces(t, filepath.Join(dir, "otaudit.db")) })
	files, ok := sharedCapturesIfPresent()
	if !ok {
		t.Log("shared captures not present: the real-capture part is skipped (set OTAUDIT_SHARED_PCAPS)")
		return
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "o.db")
			if code, _, stderr := runCLI(t, "scan", "--db", db, "--pcap", file); code != exitOK {
				t.Fatalf("scan: exit %d: %s", code, stderr)
			}
			scoreTraces(t, db)
		})
	}
}
