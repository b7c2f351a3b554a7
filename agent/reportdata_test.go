package agent

import (
	"errors"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/agent/demo"
	"github.com/otaudit/otaudit/configs"
)

func TestReportDataFollowsTheConfiguredZone(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	clock := func() time.Time { return time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC) }
	db := filepath.Join(dir, "otaudit.db")
	cfg, err := configs.Parse("cell-1.yaml", demo.ZoneYAML, dir)
	if err != nil {
		t.Fatal(err)
	}
	capture := filepath.Join(dir, DemoCaptureName)
	if err := demo.WriteCapture(capture); err != nil {
		t.Fatal(err)
	}
	// A passive scan (not a demo scan) of the demo zone, with its file.
	if _, err := (&Agent{Config: cfg, DBPath: db, Now: clock}).Scan(ctx, ScanRequest{Pcaps: []string{capture}}); err != nil {
		t.Fatal(err)
	}

	full, err := (&Agent{Config: cfg, DBPath: db, Now: clock}).ReportData(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if full.Zone.Name != "cell-1" || len(full.Zone.Conduits) != 1 || len(full.Notes) != 0 {
		t.Fatalf("with its configuration: zone %q, %d conduits, notes %q", full.Zone.Name, len(full.Zone.Conduits), full.Notes)
	}
	if !full.Generated.Equal(clock()) || len(full.Scans) != 1 || len(full.Scores) != 1 || len(full.Findings) == 0 {
		t.Fatalf("report data: generated %v, %d scans, %d scores, %d findings", full.Generated, len(full.Scans), len(full.Scores), len(full.Findings))
	}
	sessions := 0
	for _, o := range full.Observations {
		switch {
		case o.Kind == otaudit.KindRemoteSession:
			sessions++
		case o.Kind == otaudit.KindFlow:
			if in := inZone(full.Zone, full.Assets); in(o.Flow.Client) == in(o.Flow.Server) {
				t.Errorf("flow %s → %s stays inside or outside the zone but is in the report data", o.Flow.Client, o.Flow.Server)
			}
		default:
			t.Errorf("observation of kind %s in the report data", o.Kind)
		}
	}
	if sessions != 2 {
		t.Errorf("%d remote sessions, want the demo's 2 (Telnet inside, RDP from outside)", sessions)
	}

	// No configuration: the store's zone, by name and targets only, and a
	// note that says what is missing.
	bare, err := (&Agent{DBPath: db, Now: clock}).ReportData(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if bare.Zone.Name != "cell-1" || bare.Zone.Bounded() || len(bare.Notes) != 1 || !strings.Contains(bare.Notes[0], "--config") {
		t.Fatalf("without configuration: zone %q (bounded %v), notes %q", bare.Zone.Name, bare.Zone.Bounded(), bare.Notes)
	}
	if bare.Zone.SLTarget != cfg.Zone.SLTarget {
		t.Errorf("without configuration: SL-T %v, want the scored targets %v", bare.Zone.SLTarget, cfg.Zone.SLTarget)
	}
	if len(bare.Findings) != len(full.Findings) || len(bare.Scores) != 1 {
		t.Errorf("without configuration: %d findings (want %d), %d scores", len(bare.Findings), len(full.Findings), len(bare.Scores))
	}

	// A configuration of another zone is honoured, and the note says the
	// store holds nothing of it.
	other, err := configs.Parse("other.yaml", []byte("version: 1\nzone:\n  name: other\n"), dir)
	if err != nil {
		t.Fatal(err)
	}
	od, err := (&Agent{Config: other, DBPath: db, Now: clock}).ReportData(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if od.Zone.Name != "other" || len(od.Scans) != 0 || len(od.Findings) != 0 || len(od.Scores) != 0 || len(od.Notes) != 1 {
		t.Fatalf("other zone: %q, %d scans, %d findings, %d scores, notes %q", od.Zone.Name, len(od.Scans), len(od.Findings), len(od.Scores), od.Notes)
	}
}

func inZone(z otaudit.Zone, assets []otaudit.Asset) func(netip.Addr) bool {
	zones := map[netip.Addr]string{}
	for _, a := range assets {
		zones[a.IP] = a.Zone
	}
	return func(ip netip.Addr) bool {
		if zone, ok := zones[ip]; ok {
			return zone != ""
		}
		return z.Contains(ip)
	}
}

func TestReportDataWithoutStore(t *testing.T) {
	_, err := (&Agent{DBPath: filepath.Join(t.TempDir(), "missing.db")}).ReportData(t.Context())
	if !errors.Is(err, ErrNoDatabase) {
		t.Fatalf("ReportData on a missing store: %v, want ErrNoDatabase", err)
	}
}
