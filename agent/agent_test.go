package agent

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/agent/demo"
	"github.com/otaudit/otaudit/configs"
	"github.com/otaudit/otaudit/store"
)

var t0 = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

func host(ip, mac string, packets int64) otaudit.Observation {
	return otaudit.Observation{Kind: otaudit.KindHost, Source: "pcap:t", FirstSeen: t0, LastSeen: t0.Add(time.Minute),
		Host: &otaudit.HostSighting{IP: netip.MustParseAddr(ip), MAC: mac, MACVendor: "Vendor of " + mac, Packets: packets}}
}

func TestBuildInventory(t *testing.T) {
	zone := otaudit.Zone{
		Name:     "z",
		CIDRs:    []netip.Prefix{netip.MustParsePrefix("10.10.0.0/16")},
		Register: []otaudit.RegisteredAsset{{IP: netip.MustParseAddr("10.10.0.1"), Role: "firewall", Name: "fw"}},
	}
	obs := []otaudit.Observation{
		host("10.10.0.1", "00:90:e8:00:00:01", 10),
		host("10.20.0.5", "00:90:e8:00:00:01", 5), // routed through the firewall
		host("10.10.2.10", "00:80:f4:00:00:10", 7),
		host("10.10.2.10", "ff:ff:ff:ff:ff:ff", 1),
		host("10.10.255.255", "", 0), // only ever a destination
		host("224.0.0.251", "01:00:5e:00:00:fb", 3),
		{Kind: otaudit.KindFlow, Source: "pcap:t", FirstSeen: t0, LastSeen: t0,
			Flow: &otaudit.Flow{Client: netip.MustParseAddr("10.20.0.5"), Server: netip.MustParseAddr("10.10.2.10"),
				Transport: otaudit.TCP, ServerPort: 502, Protocol: "modbus", ServerAnswered: true}},
		{Kind: otaudit.KindIdentity, Source: "pcap:t", FirstSeen: t0, LastSeen: t0,
			Identity: &otaudit.DeviceIdentity{IP: netip.MustParseAddr("10.10.2.10"), Vendor: "Schneider Electric", Model: "BMX", Firmware: "v3.1"}},
	}
	assets := BuildInventory(&zone, obs)
	var ips []string
	for _, a := range assets {
		ips = append(ips, a.IP.String())
	}
	if strings.Join(ips, " ") != "10.10.0.1 10.10.2.10 10.20.0.5" {
		t.Fatalf("assets %v: want only unicast addresses that sent something", ips)
	}
	fw, plc, remote := assets[0], assets[1], assets[2]
	if !fw.Registered || fw.Role != "firewall" || fw.Zone != "z" {
		t.Errorf("firewall: %+v", fw)
	}
	if remote.Registered || remote.Zone != "" || remote.MACVendor != "" {
		t.Errorf("routed remote host must be outside, unregistered, and not take the router's vendor: %+v", remote)
	}
	if plc.Vendor != "Schneider Electric" || plc.Firmware != "v3.1" || plc.Role != "controller" ||
		len(plc.MACs) != 1 || !plc.Serves("modbus") {
		t.Errorf("plc: %+v", plc)
	}
	if len(remote.Uses) != 1 || remote.Uses[0].Protocol != "modbus" {
		t.Errorf("remote uses: %+v", remote.Uses)
	}
}

// TestBuildInventoryLinkIdentities: an identity announced on the link by
// MAC lands on the address that MAC belongs to; from a MAC never seen with
// an address it makes an asset of its own, keyed by the MAC, in the zone,
// matched against MAC-only register entries and listed after the
// addresses; a MAC behind several addresses (a router's) names none.
func TestBuildInventoryLinkIdentities(t *testing.T) {
	zone := otaudit.Zone{Name: "z", CIDRs: []netip.Prefix{netip.MustParsePrefix("10.10.0.0/16")},
		Register: []otaudit.RegisteredAsset{{MAC: "00:1b:1b:02:e6:1f", Name: "cell switch", Role: "switch"}}}
	linkID := func(mac, name string) otaudit.Observation {
		return otaudit.Observation{Kind: otaudit.KindIdentity, Source: "pcap:t", FirstSeen: t0, LastSeen: t0,
			Identity: &otaudit.DeviceIdentity{Method: "lldp", MAC: mac, Name: name, Model: "SCALANCE " + name}}
	}
	obs := []otaudit.Observation{
		host("10.10.0.5", "00:0e:8c:00:00:05", 4),
		host("10.10.0.1", "00:90:e8:00:00:01", 10),
		host("10.20.0.9", "00:90:e8:00:00:01", 5), // routed through 00:90:e8:00:00:01
		linkID("00:0e:8c:00:00:05", "plc-port"),
		linkID("00:1b:1b:02:e6:1f", "X208"),
		{Kind: otaudit.KindIdentity, Source: "pcap:t", FirstSeen: t0.Add(time.Hour), LastSeen: t0.Add(time.Hour),
			Identity: &otaudit.DeviceIdentity{Method: "cdp", MAC: "00:1B:1B:02:E6:1F", Firmware: "V4.1.4"}},
		linkID("00:90:e8:00:00:01", "router"),
		linkID("01:80:c2:00:00:0e", "group"),
	}
	assets := BuildInventory(&zone, obs)
	var keys []string
	for _, a := range assets {
		keys = append(keys, a.Key)
	}
	if want := "ip:10.10.0.1 ip:10.10.0.5 ip:10.20.0.9 mac:00:1b:1b:02:e6:1f"; strings.Join(keys, " ") != want {
		t.Fatalf("assets %v, want %s", keys, want)
	}
	if plc := assets[1]; plc.Name != "plc-port" || plc.Model != "SCALANCE plc-port" {
		t.Errorf("the announcement of 10.10.0.5's MAC was not filed under it: %+v", plc)
	}
	for _, a := range []otaudit.Asset{assets[0], assets[2]} {
		if a.Name == "router" {
			t.Errorf("a router's MAC named %s", a.IP)
		}
	}
	sw := assets[3]
	if sw.IP.IsValid() || sw.Name != "X208" || sw.Model != "SCALANCE X208" || sw.Firmware != "V4.1.4" || sw.Zone != "z" ||
		!sw.Registered || sw.Role != "switch" || !slices.Equal(sw.MACs, []string{"00:1b:1b:02:e6:1f"}) || sw.MACVendor == "" ||
		sw.FirstSeen != t0 || sw.LastSeen != t0.Add(time.Hour) {
		t.Errorf("switch known by MAC only: %+v", sw)
	}
}

func demoAgent(t *testing.T) (*Agent, string) {
	t.Helper()
	dir := t.TempDir()
	cfg, err := configs.Parse("demo", demo.ZoneYAML, dir)
	if err != nil {
		t.Fatal(err)
	}
	capture := filepath.Join(dir, "plant.pcap")
	if err := demo.WriteCapture(capture); err != nil {
		t.Fatal(err)
	}
	return &Agent{Config: cfg, DBPath: filepath.Join(dir, "o.db"), LockTimeout: 200 * time.Millisecond}, capture
}

func TestInterruptedScanIsMarkedAndKeepsEarlierScans(t *testing.T) {
	a, capture := demoAgent(t)
	if _, err := a.Scan(context.Background(), ScanRequest{Pcaps: []string{capture}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.afterBegin = cancel // Ctrl-C once the scan is recorded, before the capture is read
	res, err := a.Scan(ctx, ScanRequest{Pcaps: []string{capture}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
	if res == nil || res.Scan.Status != otaudit.ScanIncomplete {
		t.Fatalf("interrupted scan: %+v", res)
	}
	scans, err := a.Scans(context.Background())
	if err != nil || len(scans) != 2 || scans[0].Status != otaudit.ScanComplete || scans[1].Status != otaudit.ScanIncomplete {
		t.Fatalf("scans after interrupt: %+v %v", scans, err)
	}
	fs, err := a.Findings(context.Background(), store.FindingFilter{})
	if err != nil || len(fs) == 0 {
		t.Fatalf("the first scan's findings must survive: %d %v", len(fs), err)
	}
}

func TestReaderGetsAPlainErrorWhileAWriterHoldsTheStore(t *testing.T) {
	a, capture := demoAgent(t)
	if _, err := a.Scan(context.Background(), ScanRequest{Pcaps: []string{capture}}); err != nil {
		t.Fatal(err)
	}
	w, err := a.OpenStore(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	_, err = a.Findings(context.Background(), store.FindingFilter{})
	if !errors.Is(err, store.ErrLocked) || !strings.Contains(err.Error(), "in use by another otaudit process") {
		t.Fatalf("want ErrLocked with a plain message, got %v", err)
	}
}

func TestScanWithoutSourcesSaysWhatToDo(t *testing.T) {
	a := &Agent{DBPath: filepath.Join(t.TempDir(), "o.db")}
	_, err := a.Scan(context.Background(), ScanRequest{})
	if err == nil || !strings.Contains(err.Error(), "--pcap") {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(a.DBPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a scan that could not start must not create a store")
	}
}
