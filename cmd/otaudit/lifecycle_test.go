package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otaudit/otaudit"
)

func listFindings(t *testing.T, db string, args ...string) []otaudit.Finding {
	t.Helper()
	code, out, stderr := runCLI(t, append([]string{"findings", "--db", db, "--json"}, args...)...)
	if code != exitOK {
		t.Fatalf("findings %v: exit %d: %s", args, code, stderr)
	}
	var fs []otaudit.Finding
	if err := json.Unmarshal([]byte(out), &fs); err != nil {
		t.Fatalf("findings %v: %v\n%s", args, err, out)
	}
	return fs
}

func TestTriageEndToEnd(t *testing.T) {
	dir, _, _ := demoDir(t)
	db := filepath.Join(dir, "otaudit.db")
	all := listFindings(t, db)
	var critical []otaudit.Finding
	for _, f := range all {
		if f.Severity == otaudit.SeverityCritical {
			critical = append(critical, f)
		}
	}
	if len(critical) < 2 {
		t.Fatalf("the demo has %d critical findings, the test needs 2", len(critical))
	}
	if code, _, _ := runCLI(t, "findings", "--db", db, "--fail-on", "critical"); code != exitFindings {
		t.Fatalf("before triage: --fail-on critical exit %d, want %d", code, exitFindings)
	}

	until := time.Now().UTC().AddDate(1, 0, 0).Format(time.DateOnly)
	usage := [][]string{
		{"findings", "accept", critical[0].ID, "--by", "alice"},                                       // no reason
		{"findings", "accept", critical[0].ID, "--reason", "r"},                                       // no owner
		{"findings", "accept", critical[0].ID, "--reason", " ", "--by", "alice"},                      // blank reason
		{"findings", "accept", critical[0].ID, "--reason", "r", "--by", "a", "--until", "2001-01-01"}, // past
		{"findings", "accept", critical[0].ID, "--reason", "r", "--by", "a", "--until", "soon"},
		{"findings", "mark-false-positive", critical[0].ID, "--reason", "r"},
		{"findings", "reopen", critical[0].ID},
		{"findings", "accept", "--reason", "r", "--by", "a"}, // no ID
	}
	for _, args := range usage {
		code, _, stderr := runCLI(t, append(args, "--db", db)...)
		if code != exitUsage || !strings.Contains(stderr, "otaudit:") {
			t.Errorf("%v: exit %d, want %d (stderr %q)", args, code, exitUsage, stderr)
		}
	}
	code, _, stderr := runCLI(t, "findings", "accept", "00000000000000000000", "--db", db, "--reason", "r", "--by", "a")
	if code != exitError || !strings.Contains(stderr, "00000000000000000000") || !strings.Contains(stderr, db) ||
		strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Fatalf("unknown ID: exit %d, stderr %q: want exit 1 and one line naming the ID and the store", code, stderr)
	}
	if after := listFindings(t, db); !sameFindings(after, all) {
		t.Fatal("refused triage commands changed the store")
	}

	// Accept one critical finding with an expiry, the other without (a
	// warning), then mark the second a false positive instead.
	code, out, stderr := runCLI(t, "findings", "accept", critical[0].ID, "--db", db,
		"--reason", "line isolated until the retrofit", "--by", "alice", "--until", until)
	if code != exitOK || !strings.Contains(out, "accepted by alice until "+until) || strings.Contains(stderr, "warning") {
		t.Fatalf("accept: exit %d out %q err %q", code, out, stderr)
	}
	code, _, stderr = runCLI(t, "findings", "accept", critical[1].ID, "--db", db, "--reason", "r", "--by", "alice")
	if code != exitOK || !strings.Contains(stderr, "warning") || !strings.Contains(stderr, "--until") {
		t.Fatalf("accept without --until: exit %d, stderr %q: want a warning", code, stderr)
	}
	code, out, _ = runCLI(t, "findings", "mark-false-positive", critical[1].ID, "--db", db, "--json",
		"--reason", "the lab bench, not the line", "--by", "bob")
	var marked otaudit.Finding
	if code != exitOK || json.Unmarshal([]byte(out), &marked) != nil || marked.Status != otaudit.StatusFalsePositive || marked.StatusBy != "bob" {
		t.Fatalf("mark-false-positive: exit %d %s", code, out)
	}

	accepted := listFindings(t, db, "--status", "accepted")
	if len(accepted) != 1 || accepted[0].ID != critical[0].ID || accepted[0].StatusBy != "alice" ||
		accepted[0].StatusUntil.Format(time.DateOnly) != until || accepted[0].StatusReason != "line isolated until the retrofit" {
		t.Fatalf("accepted findings: %+v", accepted)
	}
	_, table, _ := runCLI(t, "findings", "--db", db)
	if !strings.Contains(table, critical[0].ID+" [accepted]") || !strings.Contains(table, critical[1].ID+" [false_positive]") {
		t.Errorf("the findings table does not mark the statuses:\n%s", table)
	}
	// --fail-on counts only open findings.
	wantGate := exitOK
	if len(critical) > 2 {
		wantGate = exitFindings
	}
	if code, _, _ := runCLI(t, "findings", "--db", db, "--fail-on", "critical"); code != wantGate {
		t.Fatalf("after triage of 2 of %d critical findings: --fail-on critical exit %d, want %d", len(critical), code, wantGate)
	}

	// Reopen: open again, the history has who and why; reopening twice fails.
	if code, _, stderr := runCLI(t, "findings", "reopen", critical[0].ID, "--db", db, "--reason", "retrofit postponed", "--by", "carol"); code != exitOK {
		t.Fatalf("reopen: exit %d %s", code, stderr)
	}
	code, out, _ = runCLI(t, "findings", "show", critical[0].ID, "--db", db)
	if code != exitOK || !strings.Contains(out, "status:     open") || !strings.Contains(out, "risk accepted by alice until") ||
		!strings.Contains(out, "reopened by carol: retrofit postponed") {
		t.Fatalf("show after reopen: exit %d\n%s", code, out)
	}
	if code, _, stderr := runCLI(t, "findings", "reopen", critical[0].ID, "--db", db, "--reason", "again"); code != exitError || !strings.Contains(stderr, "already open") {
		t.Fatalf("reopen of an open finding: exit %d %q", code, stderr)
	}
	// Triage never creates a store.
	missing := filepath.Join(dir, "missing.db")
	if code, _, stderr := runCLI(t, "findings", "reopen", critical[0].ID, "--db", missing, "--reason", "r"); code != exitError || !strings.Contains(stderr, "run `otaudit scan`") {
		t.Fatalf("triage on a missing store: exit %d %q", code, stderr)
	}
}

func sameFindings(a, b []otaudit.Finding) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

func TestFindingsSince(t *testing.T) {
	dir, _, _ := demoDir(t)
	db := filepath.Join(dir, "otaudit.db")
	all := listFindings(t, db)
	// The demo capture starts 2026-03-02T08:00:00Z and lasts about 90s.
	cut := time.Date(2026, 3, 2, 8, 0, 56, 0, time.UTC)
	want := 0
	for _, f := range all {
		if !f.LastSeen.Before(cut) {
			want++
		}
	}
	if want == 0 || want == len(all) {
		t.Fatalf("the cut at %s does not split the demo's %d findings (%d after)", cut, len(all), want)
	}
	for arg, n := range map[string]int{
		"2026-03-02":             len(all),
		"2026-03-03":             0,
		cut.Format(time.RFC3339): want,
	} {
		if got := listFindings(t, db, "--since", arg); len(got) != n {
			t.Errorf("--since %s: %d findings, want %d", arg, len(got), n)
		}
	}
	for _, bad := range []string{"yesterday", "-72h", "2026-13-01"} {
		if code, _, _ := runCLI(t, "findings", "--db", db, "--since", bad); code != exitUsage {
			t.Errorf("--since %s: exit %d, want %d", bad, code, exitUsage)
		}
	}
	// The default listing is unchanged by the new flag and stable.
	if again := listFindings(t, db); !sameFindings(again, all) {
		t.Fatal("findings --json changed between two reads of an unchanged store")
	}
}

func TestParseTimeArg(t *testing.T) {
	now := time.Date(2026, 5, 10, 12, 0, 0, 0, time.FixedZone("CEST", 2*3600))
	cases := []struct {
		in        string
		direction int
		want      time.Time
	}{
		{"72h", -1, time.Date(2026, 5, 7, 10, 0, 0, 0, time.UTC)},
		{"7d", -1, time.Date(2026, 5, 3, 10, 0, 0, 0, time.UTC)},
		{"90d", +1, time.Date(2026, 8, 8, 10, 0, 0, 0, time.UTC)},
		{"30m", +1, time.Date(2026, 5, 10, 10, 30, 0, 0, time.UTC)},
		{"2027-01-31", +1, time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC)},
		{"2026-03-02T09:00:00+01:00", -1, time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)},
	}
	for _, c := range cases {
		got, err := parseTimeArg(c.in, now, c.direction)
		if err != nil || !got.Equal(c.want) || got.Location() != time.UTC {
			t.Errorf("parseTimeArg(%q, %d) = %v, %v; want %v UTC", c.in, c.direction, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "tomorrow", "-1h", "d", "1.5d", "31/01/2027"} {
		if _, err := parseTimeArg(bad, now, 1); err == nil {
			t.Errorf("parseTimeArg(%q) accepted", bad)
		}
	}
}

func TestSinceFlagReachesFilter(t *testing.T) {
	var got *listOptions
	cmd := newFindingsCmd(&globalOptions{}, streams{Out: &bytes.Buffer{}, Err: &bytes.Buffer{}}, func(_ context.Context, o *listOptions) error {
		got = o
		return nil
	})
	cmd.SetArgs([]string{"--since", "2026-03-02T08:00:00Z", "--status", "accepted"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !got.Filter.Since.Equal(time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)) || got.Filter.Status != otaudit.StatusAcceptedRisk {
		t.Fatalf("filter %+v", got.Filter)
	}
}
