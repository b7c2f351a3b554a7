//go:build integration

package integration_test

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/gosnmp/gosnmp"
)

// writePlantCapture writes a small capture of other hosts talking (an HMI
// polling the PLC over Modbus, a manager reading the switch over SNMP) for
// a passive scan to read.
func writePlantCapture(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	hmi := &pcapBuilder{t: t, w: w, now: time.Unix(1_700_000_000, 0), seqs: map[uint16]uint32{}, agent: net.ParseIP("10.99.0.50").To4()}
	hmi.tcp("10.99.0.10", 50010, 502, true, nil)
	for i := uint16(0); i < 5; i++ {
		hmi.tcp("10.99.0.10", 50010, 502, false, mbap(i, 1, 3, 0, 0, 0, 4))
	}
	hmi.udp("10.99.0.11", 161, snmpMsg(t, gosnmp.Version2c, gosnmp.GetRequest))
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestPassiveScanSendsNothing: analysing a capture puts no packet on the
// wire, watched on the agent's own interface.
func TestPassiveScanSendsNothing(t *testing.T) {
	needZone(t)
	otauditBin(t)
	dir := t.TempDir()
	pcap := filepath.Join(dir, "plant.pcap")
	writePlantCapture(t, pcap)

	c := startCapture(t, "eth0")
	res := runOtaudit(t, 2*time.Minute, "--db", filepath.Join(dir, "otaudit.db"), "--json", "scan", "--pcap", pcap)
	a, err := analyzeCapture(c.stop(t), agentAddr)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 && res.ExitCode != 3 {
		t.Fatalf("passive scan: %v", res)
	}
	var out struct {
		Assets int `json:"assets"`
	}
	if err := json.Unmarshal(res.Stdout, &out); err != nil {
		t.Fatalf("scan JSON: %v", err)
	}
	if out.Assets == 0 {
		t.Error("the passive scan found no asset: it did not read the capture")
	}
	if !a.MarkerSeen {
		t.Fatal("the capture did not see the test's own marker: it watched nothing")
	}
	if a.FromAgent != 0 {
		t.Errorf("a passive scan sent %d frames from %s: %v", a.FromAgent, agentAddr, a.Requests)
	}
	t.Logf("passive scan in %v: %d assets, %d frames on eth0, none from the agent", res.Wall.Round(time.Millisecond), out.Assets, a.Frames)
}
