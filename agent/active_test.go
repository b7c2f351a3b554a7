package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/collectors/active"
	"github.com/otaudit/otaudit/collectors/active/activetest"
	"github.com/otaudit/otaudit/collectors/discovery"
	"github.com/otaudit/otaudit/configs"
)

// identityProber stands in for a protocol collector: it plans and sends
// one read and reports an identity for every target.
type identityProber struct{}

func (identityProber) Name() string { return "modbus" }
func (identityProber) Plan(t active.Target, _ active.Limits) []active.PlannedRequest {
	if t.OpenTCP != nil && len(t.OpenTCP) == 0 {
		return nil
	}
	return []active.PlannedRequest{{Target: t.Addr, Protocol: "modbus", Kind: "read-device-id", MaxAttempts: 1, Detail: "unit 1"}}
}
func (identityProber) Probe(ctx context.Context, s *active.Session, t active.Target, emit func(otaudit.Observation)) error {
	if err := s.Do(ctx, "modbus", "read-device-id", "unit 1", func(context.Context) error { return nil }); err != nil {
		return err
	}
	emit(otaudit.Observation{Kind: otaudit.KindIdentity, Source: "modbus:active", FirstSeen: t0, LastSeen: t0, Count: 1,
		Identity: &otaudit.DeviceIdentity{IP: t.Addr, Method: "modbus-fc43", Vendor: "Schneider Electric", Model: "BMX P34 2020"}})
	return nil
}

// loopbackListener accepts on 127.0.0.1:0, closes every connection at once
// and counts them.
func loopbackListener(t *testing.T) (uint16, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return uint16(ln.Addr().(*net.TCPAddr).Port), &n
}

func TestActiveScanCommitsWhatDevicesSaid(t *testing.T) {
	port, accepted := loopbackListener(t)
	a := &Agent{DBPath: filepath.Join(t.TempDir(), "o.db"), Now: func() time.Time { return t0 }}
	req := ActiveRequest{
		Targets:          []string{"127.0.0.1"},
		Probers:          []active.Prober{identityProber{}, discovery.New(discovery.Config{Ports: []discovery.Port{{Number: port, Protocol: "modbus"}}})},
		SchedulerOptions: []active.Option{active.WithClock(activetest.NewVirtualClock(t0))},
	}
	res, err := a.ActiveScan(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Scan.Mode != "active" || res.Scan.Status != otaudit.ScanComplete || res.Scan.ID == 0 {
		t.Fatalf("scan %+v", res.Scan)
	}
	if accepted.Load() != 1 {
		t.Errorf("listener accepted %d connections, want the one discovery connect", accepted.Load())
	}
	ledger := res.Active.Ledger
	if len(ledger) != 2 || ledger[0].Protocol != "tcp" || ledger[1].Protocol != "modbus" {
		t.Fatalf("ledger %+v: want discovery's connect, then the identity read", ledger)
	}
	// The port, discovery's retry budget for the device, the identity read.
	if len(res.Active.Plan.Requests) != 3 {
		t.Errorf("plan %+v", res.Active.Plan.Requests)
	}
	stored, err := a.Assets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 1 {
		t.Fatalf("stored assets %+v", stored)
	}
	got := stored[0]
	if got.IP != netip.MustParseAddr("127.0.0.1") || got.Vendor != "Schneider Electric" || !got.Serves("modbus") {
		t.Errorf("asset %+v: want the discovered service and the reported identity", got)
	}
	scans, err := a.Scans(context.Background())
	if err != nil || len(scans) != 1 || scans[0].Status != otaudit.ScanComplete || scans[0].Stats.Packets != 2 {
		t.Fatalf("scans %+v, %v", scans, err)
	}
}

func TestActiveScanHonoursTheZoneConfiguration(t *testing.T) {
	parse := func(t *testing.T, active string) *configs.Config {
		t.Helper()
		cfg, err := configs.Parse("zone.yaml", []byte("version: 1\nzone:\n  name: cell\n  cidrs: [10.10.0.0/16]\n"+active), "")
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	ctx := context.Background()
	t.Run("disabled", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "o.db")
		a := &Agent{Config: parse(t, "active: {enabled: false}\n"), DBPath: db}
		_, err := a.ActiveScan(ctx, ActiveRequest{Targets: []string{"10.10.0.5"}, Probers: []active.Prober{identityProber{}}})
		if !errors.Is(err, ErrActiveDisabled) {
			t.Fatalf("err %v, want ErrActiveDisabled", err)
		}
		if _, serr := os.Stat(db); serr == nil {
			t.Error("a refused scan created the store")
		}
		// The plan can still be reviewed.
		plan, err := a.PlanActive(ctx, ActiveRequest{Targets: []string{"10.10.0.5"}, Probers: []active.Prober{identityProber{}}})
		if err != nil || len(plan.Requests) != 1 {
			t.Fatalf("plan %+v, %v", plan, err)
		}
	})
	t.Run("config targets outside the zone", func(t *testing.T) {
		a := &Agent{Config: parse(t, "active: {enabled: true, targets: [10.20.0.0/24]}\n"), DBPath: filepath.Join(t.TempDir(), "o.db")}
		_, err := a.PlanActive(ctx, ActiveRequest{Probers: []active.Prober{identityProber{}}})
		if err == nil || !strings.Contains(err.Error(), "active.targets: 10.20.0.0/24 lies outside zone \"cell\"") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("explicit targets outside the zone are probed with a warning", func(t *testing.T) {
		a := &Agent{Config: parse(t, "active: {enabled: true, targets: [10.10.2.0/30], exclude: [10.10.2.2]}\n")}
		plan, err := a.PlanActive(ctx, ActiveRequest{Targets: []string{"10.20.0.7"}, Probers: []active.Prober{identityProber{}}})
		if err != nil || len(plan.Targets) != 1 || len(plan.Warnings) != 1 || !strings.Contains(plan.Warnings[0], "outside zone") {
			t.Fatalf("plan %+v, %v", plan, err)
		}
		plan, err = a.PlanActive(ctx, ActiveRequest{Probers: []active.Prober{identityProber{}}})
		if err != nil || len(plan.Targets) != 1 || plan.Targets[0].Addr != netip.MustParseAddr("10.10.2.1") {
			t.Fatalf("config targets minus config exclusions: %+v, %v", plan, err)
		}
	})
	t.Run("an exclusion that cannot be applied stops the scan", func(t *testing.T) {
		a := &Agent{DBPath: filepath.Join(t.TempDir(), "o.db")}
		_, err := a.ActiveScan(ctx, ActiveRequest{Targets: []string{"10.10.0.0/24"}, Exclude: []string{"10.10.0.0/33"},
			Probers: []active.Prober{identityProber{}}})
		if err == nil || !strings.Contains(err.Error(), "exclusions could not be applied") {
			t.Fatalf("err %v", err)
		}
	})
}

// TestPassiveFirstProbesOnlyKnownAssets: after a passive scan, a /24 shrinks
// to the assets the capture showed.
func TestPassiveFirstProbesOnlyKnownAssets(t *testing.T) {
	a, capture := demoAgent(t)
	ctx := context.Background()
	if _, err := a.Scan(ctx, ScanRequest{Pcaps: []string{capture}}); err != nil {
		t.Fatal(err)
	}
	assets, err := a.Assets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	inCell := map[netip.Addr]bool{}
	for _, as := range assets {
		if netip.MustParsePrefix("10.10.2.0/24").Contains(as.IP) {
			inCell[as.IP] = true
		}
	}
	plan, err := a.PlanActive(ctx, ActiveRequest{Targets: []string{"10.10.2.0/24"}, PassiveFirst: true, Probers: []active.Prober{identityProber{}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(inCell) == 0 || len(plan.Targets) != len(inCell) {
		t.Fatalf("%d targets, want the %d assets of 10.10.2.0/24 in the store", len(plan.Targets), len(inCell))
	}
	for _, tg := range plan.Targets {
		if !inCell[tg.Addr] {
			t.Errorf("target %s was never seen passively", tg.Addr)
		}
	}
}

// unreachableProber stands in for discovery on addresses that fail ARP.
type unreachableProber struct{}

func (unreachableProber) Name() string { return "tcp" }
func (unreachableProber) Plan(t active.Target, _ active.Limits) []active.PlannedRequest {
	return []active.PlannedRequest{{Target: t.Addr, Protocol: "tcp", Kind: "connect", MaxAttempts: 1, Detail: "port 502"}}
}
func (unreachableProber) Probe(ctx context.Context, s *active.Session, t active.Target, _ func(otaudit.Observation)) error {
	return s.Do(ctx, "tcp", "connect", "port 502", func(context.Context) error {
		return fmt.Errorf("tcp %s port 502: %w", t.Addr, active.ErrUnreachable)
	})
}

// TestUnreachableTargetsAreOutcomes: addresses that fail ARP are neither
// device errors nor probed further; only those named one by one become a
// scan warning (the empty addresses of a range are normal).
func TestUnreachableTargetsAreOutcomes(t *testing.T) {
	a := &Agent{DBPath: filepath.Join(t.TempDir(), "o.db"), Now: func() time.Time { return t0 }}
	res, err := a.ActiveScan(context.Background(), ActiveRequest{
		Targets:          []string{"192.0.2.0/30", "198.51.100.7"},
		Probers:          []active.Prober{identityProber{}, unreachableProber{}},
		SchedulerOptions: []active.Option{active.WithClock(activetest.NewVirtualClock(t0))},
	})
	if err != nil {
		t.Fatal(err)
	}
	rep := res.Active.Report
	if len(rep.Errors) != 0 || len(rep.Unreachable) != 3 {
		t.Fatalf("errors %+v, unreachable %v: want the 3 targets unreachable and no error", rep.Errors, rep.Unreachable)
	}
	for _, e := range res.Active.Ledger {
		if e.Protocol != "tcp" {
			t.Errorf("ledger: %s %s to %s, an unreachable target", e.Protocol, e.Kind, e.Target)
		}
	}
	var warned []string
	for _, w := range res.Scan.Warnings {
		if strings.Contains(w, "unreachable") {
			warned = append(warned, w)
		}
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "198.51.100.7") {
		t.Errorf("warnings %q: want one, for the target named by its address", warned)
	}
}
