package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket/pcapgo"

	"github.com/otaudit/otaudit"
)

// writeEarlyCapture writes the part of the demo capture before cut: the
// plant before the contractor's laptop, the Telnet login and the RDP
// session happen.
func writeEarlyCapture(t *testing.T, dir string, full []byte, cut time.Duration) string {
	t.Helper()
	r, err := pcapgo.NewReader(bytes.NewReader(full))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, r.LinkType()); err != nil {
		t.Fatal(err)
	}
	var start time.Time
	n := 0
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		if start.IsZero() {
			start = ci.Timestamp
		}
		if ci.Timestamp.Sub(start) >= cut {
			break
		}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n == 0 {
		t.Fatal("early capture is empty")
	}
	p := filepath.Join(dir, "early.pcap")
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBaselineCommands(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "o.db")
	zone := writeDemoZone(t, dir)
	full, raw := writeDemoCapture(t, dir)
	early := writeEarlyCapture(t, dir, raw, 40*time.Second)
	cli := func(args ...string) (int, string, string) {
		return runCLI(t, append(args, "--db", db, "--config", zone)...)
	}

	if code, _, stderr := cli("baseline", "set"); code != exitError || !strings.Contains(stderr, "no otaudit database") {
		t.Fatalf("baseline set before any scan: exit %d, %q", code, stderr)
	}
	if code, _, stderr := cli("scan", "--pcap", early); code != exitOK {
		t.Fatalf("scan early: exit %d: %s", code, stderr)
	}
	if code, _, stderr := cli("baseline", "show"); code != exitError || !strings.Contains(stderr, "otaudit baseline set") {
		t.Fatalf("baseline show without a baseline: exit %d, %q", code, stderr)
	}
	if code, _, stderr := cli("baseline", "diff"); code != exitError || !strings.Contains(stderr, "no baseline") {
		t.Fatalf("baseline diff without a baseline: exit %d, %q", code, stderr)
	}
	if code, _, stderr := cli("baseline", "set", "--from-scan", "7"); code != exitError || !strings.Contains(stderr, "scan 7") {
		t.Fatalf("baseline set --from-scan 7 (no such scan): exit %d, %q", code, stderr)
	}
	code, out, stderr := cli("baseline", "set", "--by", "j.doe", "--note", "CR-1234")
	if code != exitOK || !strings.Contains(out, `Baseline of zone "cell-1" recorded from scan 1, approved by j.doe`) ||
		!strings.Contains(out, "asset(s)") || !strings.Contains(out, "note: CR-1234") {
		t.Fatalf("baseline set: exit %d\n%s\n%s", code, out, stderr)
	}

	code, out, _ = cli("baseline", "show", "--json")
	var b otaudit.Baseline
	if code != exitOK || json.Unmarshal([]byte(out), &b) != nil {
		t.Fatalf("baseline show --json: exit %d: %s", code, out)
	}
	if b.Zone != "cell-1" || b.ScanID != 1 || b.ApprovedBy != "j.doe" || b.Note != "CR-1234" || len(b.Assets) == 0 {
		t.Errorf("baseline show --json: %+v", b)
	}
	for _, w := range b.Writers {
		if w.Client.String() == "10.10.3.66" {
			t.Fatalf("the contractor writes after the cut, yet the baseline has its write path: %+v", b.Writers)
		}
	}
	if code, out, _ := cli("baseline", "show"); code != exitOK || !strings.Contains(out, "ASSETS (") || !strings.Contains(out, "WRITERS TO CONTROLLERS") {
		t.Errorf("baseline show: exit %d\n%s", code, out)
	}

	// The whole capture: the contractor's laptop writes to plc-1, and
	// remote sessions start.
	if code, _, stderr := cli("scan", "--pcap", full); code != exitOK {
		t.Fatalf("scan full: exit %d: %s", code, stderr)
	}
	code, out, _ = cli("baseline", "diff", "--json")
	var rep struct {
		Zone         string `json:"zone"`
		BaselineScan uint64 `json:"baseline_scan"`
		CurrentScan  uint64 `json:"current_scan"`
		Items        []struct {
			Kind    string                `json:"kind"`
			Asset   string                `json:"asset"`
			Path    *otaudit.BaselinePath `json:"path"`
			Summary string                `json:"summary"`
		} `json:"items"`
	}
	if code != exitOK || json.Unmarshal([]byte(out), &rep) != nil {
		t.Fatalf("baseline diff --json: exit %d: %s", code, out)
	}
	if rep.Zone != "cell-1" || rep.BaselineScan != 1 || rep.CurrentScan != 2 {
		t.Errorf("diff header: %+v", rep)
	}
	kinds := map[string]bool{}
	for _, it := range rep.Items {
		kinds[it.Kind] = true
		if it.Kind == "new_writer" && it.Path != nil && it.Path.Client.String() == "10.10.3.66" && it.Path.Server.String() == "10.10.2.10" {
			kinds["contractor writes to plc-1"] = true
		}
		if it.Summary == "" {
			t.Errorf("drift item without a summary: %+v", it)
		}
	}
	for _, want := range []string{"contractor writes to plc-1", "new_remote_path"} {
		if !kinds[want] {
			t.Errorf("diff lacks %s: %s", want, out)
		}
	}
	code, out, _ = cli("baseline", "diff")
	if code != exitOK || !strings.Contains(out, "KIND") || !strings.Contains(out, "new_writer") || !strings.Contains(out, "drift item(s)") {
		t.Errorf("baseline diff: exit %d\n%s", code, out)
	}
	if code, out, _ := cli("baseline", "diff", "--scan", "1"); code != exitOK || !strings.Contains(out, "No drift") {
		t.Errorf("baseline diff --scan 1 (the baseline's own scan): exit %d\n%s", code, out)
	}
	if code, _, _ := cli("baseline"); code != exitUsage {
		t.Errorf("baseline without a subcommand: exit %d, want %d", code, exitUsage)
	}
	if code, _, _ := cli("baseline", "set", "--from-scan", "x"); code != exitUsage {
		t.Errorf("baseline set --from-scan x: exit %d, want %d", code, exitUsage)
	}
}
