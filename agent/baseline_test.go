package agent

import (
	"bytes"
	"context"
	"errors"
	"net"
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
	"github.com/otaudit/otaudit/checks"
)

// newcomer is the device the test adds to the demo plant: a laptop that
// polls plc-1 over Modbus.
const (
	newcomerIP  = "10.10.3.77"
	newcomerMAC = "02:00:5e:10:03:77"
	plc1IP      = "10.10.2.10"
	plc1MAC     = "00:80:f4:12:a0:10"
)

// withNewcomer writes the demo capture plus one Modbus/TCP exchange (three-
// way handshake, Read Holding Registers and its answer) between the
// newcomer and plc-1, a second after the demo's last packet.
func withNewcomer(t *testing.T, demoCapture, out string) {
	t.Helper()
	raw, err := os.ReadFile(demoCapture)
	if err != nil {
		t.Fatal(err)
	}
	r, err := pcapgo.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, r.LinkType()); err != nil {
		t.Fatal(err)
	}
	var last time.Time
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		last = ci.Timestamp
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if last.IsZero() {
		t.Fatal("demo capture has no packets")
	}
	laptop, plc := net.ParseIP(newcomerIP).To4(), net.ParseIP(plc1IP).To4()
	laptopMAC, _ := net.ParseMAC(newcomerMAC)
	plcMAC, _ := net.ParseMAC(plc1MAC)
	const clientPort, clientISN, serverISN = 49877, 1000, 5000
	request := []byte{0, 1, 0, 0, 0, 6, 1, 3, 0, 0, 0, 2}              // MBAP + FC 3, 2 registers from 0
	response := []byte{0, 1, 0, 0, 0, 7, 1, 3, 4, 0x01, 0x2c, 0, 0x0a} // FC 3, 4 bytes
	type segment struct {
		fromClient    bool
		syn, ack, psh bool
		seq, ackNum   uint32
		payload       []byte
	}
	segments := []segment{
		{fromClient: true, syn: true, seq: clientISN},
		{syn: true, ack: true, seq: serverISN, ackNum: clientISN + 1},
		{fromClient: true, ack: true, seq: clientISN + 1, ackNum: serverISN + 1},
		{fromClient: true, ack: true, psh: true, seq: clientISN + 1, ackNum: serverISN + 1, payload: request},
		{ack: true, psh: true, seq: serverISN + 1, ackNum: clientISN + 1 + uint32(len(request)), payload: response},
		{fromClient: true, ack: true, seq: clientISN + 1 + uint32(len(request)), ackNum: serverISN + 1 + uint32(len(response))},
	}
	for i, s := range segments {
		eth := &layers.Ethernet{SrcMAC: plcMAC, DstMAC: laptopMAC, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: plc, DstIP: laptop, Id: uint16(100 + i)}
		tcp := &layers.TCP{SrcPort: 502, DstPort: clientPort, Seq: s.seq, Ack: s.ackNum, SYN: s.syn, ACK: s.ack, PSH: s.psh, Window: 8192}
		if s.fromClient {
			eth.SrcMAC, eth.DstMAC = laptopMAC, plcMAC
			ip.SrcIP, ip.DstIP = laptop, plc
			tcp.SrcPort, tcp.DstPort = clientPort, 502
		}
		if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		sb := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			eth, ip, tcp, gopacket.Payload(s.payload)); err != nil {
			t.Fatal(err)
		}
		data := sb.Bytes()
		ci := gopacket.CaptureInfo{Timestamp: last.Add(time.Second + time.Duration(i)*time.Millisecond), CaptureLength: len(data), Length: len(data)}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func resultOf(rep checks.Report, checkID string) (otaudit.CheckResult, []otaudit.Finding) {
	var fs []otaudit.Finding
	for _, f := range rep.Findings {
		if f.CheckID == checkID {
			fs = append(fs, f)
		}
	}
	for _, r := range rep.Results {
		if r.CheckID == checkID {
			return r, fs
		}
	}
	return otaudit.CheckResult{}, fs
}

func TestBaselineThenDrift(t *testing.T) {
	ctx := context.Background()
	a, capture := demoAgent(t)
	a.Now = func() time.Time { return time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC) }

	if _, err := a.SetBaseline(ctx, BaselineRequest{}); !errors.Is(err, ErrNoDatabase) {
		t.Fatalf("baseline set before any scan: %v, want ErrNoDatabase", err)
	}
	first, err := a.Scan(ctx, ScanRequest{Pcaps: []string{capture}})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := resultOf(first.Report, "AM-NEW-DEVICE-SINCE-BASELINE"); r.State != otaudit.CheckNotAssessed {
		t.Fatalf("before a baseline the drift check must be NOT_ASSESSED, got %s", r.State)
	}
	if _, err := a.Baseline(ctx); !errors.Is(err, ErrNoBaseline) {
		t.Fatalf("baseline show before set: %v, want ErrNoBaseline", err)
	}

	b, err := a.SetBaseline(ctx, BaselineRequest{By: "j.doe", Note: "commissioning"})
	if err != nil {
		t.Fatal(err)
	}
	if b.ScanID != first.Scan.ID || b.Zone != "cell-1" || b.ApprovedBy != "j.doe" || b.Note != "commissioning" || !b.Created.Equal(a.Now()) {
		t.Errorf("baseline header: %+v", b)
	}
	inside := 0
	for _, x := range first.Assets {
		if x.Zone != "" {
			inside++
		}
	}
	if len(b.Assets) != inside || len(b.Writers) == 0 || len(b.RemotePaths) == 0 || len(b.BoundaryFlows) == 0 {
		t.Errorf("baseline of the demo: %d assets (want %d inside), %d writers, %d remote paths, %d boundary flows",
			len(b.Assets), inside, len(b.Writers), len(b.RemotePaths), len(b.BoundaryFlows))
	}
	if i := slices.IndexFunc(b.Assets, func(x otaudit.BaselineAsset) bool { return x.IP.String() == plc1IP }); i < 0 || b.Assets[i].Firmware == "" {
		t.Errorf("plc-1 should be in the baseline with the firmware it identified: %+v", b.Assets)
	}
	stored, err := a.Baseline(ctx)
	if err != nil || stored.ScanID != b.ScanID || len(stored.Assets) != len(b.Assets) {
		t.Fatalf("stored baseline %+v, %v", stored, err)
	}
	if rep, err := a.BaselineDiff(ctx, 0); err != nil || len(rep.Items) != 0 {
		t.Fatalf("the baseline scan drifts from itself: %+v %v", rep.Items, err)
	}

	grown := filepath.Join(t.TempDir(), "plant-plus-laptop.pcap")
	withNewcomer(t, capture, grown)
	second, err := a.Scan(ctx, ScanRequest{Pcaps: []string{grown}})
	if err != nil {
		t.Fatal(err)
	}
	r, fs := resultOf(second.Report, "AM-NEW-DEVICE-SINCE-BASELINE")
	if r.State != otaudit.CheckFailed || len(fs) != 1 || fs[0].AssetKey != "ip:"+newcomerIP {
		t.Fatalf("after the laptop appeared: state %s, findings %+v", r.State, fs)
	}
	if fs[0].Severity != otaudit.SeverityHigh || !strings.Contains(fs[0].Summary, "modbus to "+plc1IP) {
		t.Errorf("a newcomer polling a PLC over Modbus is high: %s %q", fs[0].Severity, fs[0].Summary)
	}
	// The PLC identified itself (FC 43) with the same firmware both times.
	if r, fs := resultOf(second.Report, "AM-FIRMWARE-CHANGED"); r.State != otaudit.CheckPassed || len(fs) != 0 {
		t.Errorf("AM-FIRMWARE-CHANGED on an unchanged PLC: %s %+v", r.State, fs)
	}

	rep, err := a.BaselineDiff(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if rep.BaselineScan != first.Scan.ID || rep.CurrentScan != second.Scan.ID {
		t.Errorf("diff compares scan %d with %d, want %d with %d", rep.BaselineScan, rep.CurrentScan, first.Scan.ID, second.Scan.ID)
	}
	var kinds []string
	for _, it := range rep.Items {
		kinds = append(kinds, string(it.Kind)+" "+it.Asset)
	}
	if !slices.Contains(kinds, "new_asset ip:"+newcomerIP) {
		t.Errorf("diff lacks the newcomer: %v", kinds)
	}
	// A read is not a write: the newcomer is no new writer.
	for _, it := range rep.Items {
		if it.Kind == checks.DriftNewWriter || it.Kind == checks.DriftMissingAsset {
			t.Errorf("unexpected drift %s: %s", it.Kind, it.Summary)
		}
	}
	// Diff against the first scan explicitly: no drift.
	if rep, err := a.BaselineDiff(ctx, first.Scan.ID); err != nil || len(rep.Items) != 0 {
		t.Errorf("diff --scan %d: %+v %v", first.Scan.ID, rep.Items, err)
	}
	if _, err := a.BaselineDiff(ctx, 999); !errors.Is(err, ErrNoScan) {
		t.Errorf("diff against a scan that does not exist: %v, want ErrNoScan", err)
	}
}

func TestRegisterFromInventory(t *testing.T) {
	ctx := context.Background()
	a, capture := demoAgent(t)
	if _, err := a.Scan(ctx, ScanRequest{Pcaps: []string{capture}}); err != nil {
		t.Fatal(err)
	}
	reg, err := a.RegisterFromInventory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	assets, err := a.Assets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	inside := 0
	for _, x := range assets {
		if x.Zone == "cell-1" {
			inside++
		}
	}
	if len(reg) != inside || inside == 0 {
		t.Fatalf("register proposal has %d entries, the zone has %d assets", len(reg), inside)
	}
	for _, e := range reg {
		if strings.HasPrefix(e.IP.String(), "10.20.") || strings.HasPrefix(e.IP.String(), "192.168.") {
			t.Errorf("outside asset %s proposed for the zone's register", e.IP)
		}
		if e.IP.String() == plc1IP && (e.MAC != plc1MAC || e.Firmware == "" || e.Role != "PLC") {
			t.Errorf("plc-1 proposal: %+v", e)
		}
	}
	fromConfig, err := a.RegisterFromConfig()
	if err != nil || len(fromConfig) != 11 {
		t.Errorf("the demo zone declares 11 register entries, got %d (%v)", len(fromConfig), err)
	}
}
