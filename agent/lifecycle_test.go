package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/store"
)

// copyWithoutTelnet writes src to dst minus every TCP packet to or from
// port 23, and returns how many it dropped.
func copyWithoutTelnet(t *testing.T, src, dst string) int {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	r, err := pcapgo.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	w := pcapgo.NewWriter(out)
	if err := w.WriteFileHeader(r.Snaplen(), r.LinkType()); err != nil {
		t.Fatal(err)
	}
	dropped := 0
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break // io.EOF; the demo capture is well formed
		}
		p := gopacket.NewPacket(data, r.LinkType(), gopacket.NoCopy)
		if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && (tcp.SrcPort == 23 || tcp.DstPort == 23) {
			dropped++
			continue
		}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	return dropped
}

func TestRescanWithoutTelnetResolvesOnlyTheTelnetFindings(t *testing.T) {
	ctx := context.Background()
	a, capture := demoAgent(t)
	noTelnet := filepath.Join(filepath.Dir(capture), "no-telnet.pcap")
	if n := copyWithoutTelnet(t, capture, noTelnet); n == 0 {
		t.Fatal("the demo capture has no Telnet packets to drop")
	}
	first, err := a.Scan(ctx, ScanRequest{Pcaps: []string{capture}})
	if err != nil {
		t.Fatal(err)
	}
	second, err := a.Scan(ctx, ScanRequest{Pcaps: []string{noTelnet}})
	if err != nil {
		t.Fatal(err)
	}
	producedAgain := map[string]bool{}
	for _, f := range second.Report.Findings {
		producedAgain[f.ID] = true
	}
	var gone []otaudit.Finding
	for _, f := range first.Report.Findings {
		if !producedAgain[f.ID] {
			gone = append(gone, f)
		}
	}
	for _, f := range gone {
		t.Logf("gone: %s %s", f.CheckID, f.AssetKey)
	}
	if !slices.ContainsFunc(gone, func(f otaudit.Finding) bool { return f.CheckID == "AC-CLEARTEXT-LOGIN-TELNET" }) {
		t.Fatalf("the capture without Telnet still produced the Telnet login finding")
	}

	stored, err := a.Findings(ctx, store.FindingFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != len(first.Report.Findings) {
		t.Fatalf("%d findings stored, want the first scan's %d (the second adds none)", len(stored), len(first.Report.Findings))
	}
	status := map[string]otaudit.Finding{}
	for _, f := range stored {
		status[f.ID] = f
	}
	for _, f := range gone {
		got := status[f.ID]
		if got.Status != otaudit.StatusResolved {
			t.Errorf("%s on %s (not seen by scan %d): %s, want resolved", f.CheckID, f.AssetKey, second.Scan.ID, got.Status)
		}
		if !telnetEvidence(f) {
			t.Errorf("%s on %s disappeared without Telnet evidence: %+v", f.CheckID, f.AssetKey, f.Evidence)
		}
	}
	for _, f := range second.Report.Findings {
		if got := status[f.ID]; got.Status != otaudit.StatusOpen {
			t.Errorf("%s on %s (seen again): %s, want open", f.CheckID, f.AssetKey, got.Status)
		}
	}
	_, hist, err := a.Finding(ctx, gone[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	last := hist[len(hist)-1]
	if last.ScanID != second.Scan.ID || !strings.HasPrefix(last.Note, "resolved: not seen by scan") {
		t.Fatalf("history of a resolved finding ends with %+v", last)
	}

	// The full capture again: the Telnet findings reopen.
	if _, err := a.Scan(ctx, ScanRequest{Pcaps: []string{capture}}); err != nil {
		t.Fatal(err)
	}
	open, err := a.Findings(ctx, store.FindingFilter{Status: otaudit.StatusOpen})
	if err != nil || len(open) != len(first.Report.Findings) {
		t.Fatalf("after the full capture again: %d open, want %d (%v)", len(open), len(first.Report.Findings), err)
	}
}

// telnetEvidence: some of f's evidence is about Telnet.
func telnetEvidence(f otaudit.Finding) bool {
	for _, e := range f.Evidence {
		if strings.Contains(strings.ToLower(e.Detail), "telnet") {
			return true
		}
	}
	return false
}

func TestScanResultCarriesStoredStatus(t *testing.T) {
	ctx := context.Background()
	a, capture := demoAgent(t)
	clock := time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC)
	a.Now = func() time.Time { return clock }
	first, err := a.Scan(ctx, ScanRequest{Pcaps: []string{capture}})
	if err != nil {
		t.Fatal(err)
	}
	accept, fp := first.Report.Findings[0], first.Report.Findings[1]
	until := clock.Add(7 * 24 * time.Hour)
	if _, err := a.SetFindingStatus(ctx, accept.ID, Triage{Status: otaudit.StatusAcceptedRisk, Reason: "isolated line", By: "alice", Until: until}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SetFindingStatus(ctx, fp.ID, Triage{Status: otaudit.StatusFalsePositive, Reason: "test bench", By: "bob"}); err != nil {
		t.Fatal(err)
	}
	_, err = a.SetFindingStatus(ctx, "no-such-id", Triage{Status: otaudit.StatusOpen, Reason: "r"})
	if !errors.Is(err, ErrNoSuchFinding) || !strings.Contains(err.Error(), "no-such-id") || !strings.Contains(err.Error(), a.DBPath) {
		t.Fatalf("unknown ID: %v", err)
	}

	statuses := func(res *ScanResult) map[string]otaudit.FindingStatus {
		m := map[string]otaudit.FindingStatus{}
		for _, f := range res.Report.Findings {
			m[f.ID] = f.Status
		}
		return m
	}
	clock = clock.Add(24 * time.Hour)
	second, err := a.Scan(ctx, ScanRequest{Pcaps: []string{capture}})
	if err != nil {
		t.Fatal(err)
	}
	if s := statuses(second); s[accept.ID] != otaudit.StatusAcceptedRisk || s[fp.ID] != otaudit.StatusFalsePositive {
		t.Fatalf("scan result before expiry: accepted %s, false positive %s", s[accept.ID], s[fp.ID])
	}
	// After the expiry the scan's commit reopens the acceptance.
	clock = until.Add(time.Minute)
	third, err := a.Scan(ctx, ScanRequest{Pcaps: []string{capture}})
	if err != nil {
		t.Fatal(err)
	}
	if s := statuses(third); s[accept.ID] != otaudit.StatusOpen || s[fp.ID] != otaudit.StatusFalsePositive {
		t.Fatalf("scan result after expiry: accepted %s, false positive %s", s[accept.ID], s[fp.ID])
	}
}
