package pcap

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/hex"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/otaudit/otaudit"
)

// --- frames built here ------------------------------------------------------

// ether builds an Ethernet II frame, with 802.1Q tags (outer first) when
// vlans are given: the first tag uses TPID tpid (0x8100 or 0x88a8).
func ether(src, dst net.HardwareAddr, typ uint16, payload []byte, tpid uint16, vlans ...uint16) []byte {
	b := slices.Concat([]byte(dst), []byte(src))
	for i, v := range vlans {
		t := uint16(0x8100)
		if i == 0 {
			t = tpid
		}
		b = binary.BigEndian.AppendUint16(b, t)
		b = binary.BigEndian.AppendUint16(b, v)
	}
	b = binary.BigEndian.AppendUint16(b, typ)
	return append(b, payload...)
}

func arpFrame(mac net.HardwareAddr, ip string) []byte {
	p := []byte{0, 1, 8, 0, 6, 4, 0, 2}
	p = append(p, mac...)
	p = append(p, net.ParseIP(ip).To4()...)
	p = append(p, make([]byte, 6)...)
	p = append(p, 10, 0, 0, 254)
	return ether(mac, net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 0x0806, p, 0)
}

// ipv4Packet serialises an IPv4 packet (no link layer) with the given
// fragment fields around payload.
func ipv4Packet(t testing.TB, src, dst string, proto layers.IPProtocol, id uint16, mf bool, fragOff uint16, payload []byte) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: id, FragOffset: fragOff, Protocol: proto,
		SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
	if mf {
		ip.Flags = layers.IPv4MoreFragments
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ip, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// udpDatagram serialises a UDP header and payload (the checksum is left
// zero, as it is optional over IPv4).
func udpDatagram(sport, dport uint16, payload []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, sport)
	b = binary.BigEndian.AppendUint16(b, dport)
	b = binary.BigEndian.AppendUint16(b, uint16(8+len(payload)))
	b = append(b, 0, 0)
	return append(b, payload...)
}

// timedCapture writes frames with explicit timestamps and link type (a
// 32-bit value, so Linux SLL2 = 276 fits) as a little-endian pcap.
func timedCapture(link uint32, ts []time.Time, frames ...[]byte) []byte {
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, magicPcapUs)
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = binary.LittleEndian.AppendUint16(b, 4)
	b = append(b, make([]byte, 8)...)
	b = binary.LittleEndian.AppendUint32(b, 65535)
	b = binary.LittleEndian.AppendUint32(b, link)
	for i, f := range frames {
		b = binary.LittleEndian.AppendUint32(b, uint32(ts[i].Unix()))
		b = binary.LittleEndian.AppendUint32(b, uint32(ts[i].Nanosecond()/1000))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(f)))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b
}

func every(start time.Time, step time.Duration, n int) []time.Time {
	out := make([]time.Time, n)
	for i := range out {
		out[i] = start.Add(time.Duration(i) * step)
	}
	return out
}

var t0 = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func observations(r *Result, kind otaudit.ObservationKind) []otaudit.Observation {
	var out []otaudit.Observation
	for _, o := range r.Observations {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

func hostMACs(r *Result, ip string) []string {
	var macs []string
	for _, o := range observations(r, otaudit.KindHost) {
		if o.Host.IP.String() == ip && o.Host.MAC != "" {
			macs = append(macs, o.Host.MAC)
		}
	}
	slices.Sort(macs)
	return macs
}

func identityOf(r *Result, ip, method string) *otaudit.DeviceIdentity {
	for _, o := range observations(r, otaudit.KindIdentity) {
		if o.Identity.IP.String() == ip && o.Identity.Method == method {
			return o.Identity
		}
	}
	return nil
}

// --- ARP ----------------------------------------------------------------------

func TestARPConflictKeepsBothSightings(t *testing.T) {
	caps := timedCapture(1, every(t0, time.Second, 5),
		arpFrame(macA, "10.0.0.5"),
		arpFrame(macB, "10.0.0.5"), // a second MAC claims the address
		arpFrame(macB, "10.0.0.5"), // the same conflict again: counted once
		arpFrame(macA, "10.0.0.6"),
		arpFrame(macA, "10.0.0.5"), // the first owner again: no conflict
	)
	r, err := analyzeBytes(t, "arp.pcap", caps)
	if err != nil {
		t.Fatal(err)
	}
	if r.Stats.ARPConflicts != 1 {
		t.Errorf("ARPConflicts = %d, want 1", r.Stats.ARPConflicts)
	}
	if got, want := hostMACs(r, "10.0.0.5"), []string{macB.String(), macA.String()}; !slices.Equal(got, want) {
		t.Errorf("10.0.0.5 MACs = %v, want both %v", got, want)
	}
	for _, w := range r.Stats.Warnings {
		if strings.Contains(w, "ARP") {
			t.Errorf("an ARP conflict is a count, not a warning: %q", w)
		}
	}
}

// --- link layers and tags -------------------------------------------------------

func TestQinQTaggedFrames(t *testing.T) {
	inner := frame(t, segment{src: "10.1.0.1", dst: "10.1.0.2", sport: 40000, dport: 502, syn: true})
	ipPart := inner[14:]
	qinq := ether(macA, macB, 0x0800, ipPart, 0x88a8, 100, 20)
	lldp := ether(macA, net.HardwareAddr{0x01, 0x80, 0xc2, 0, 0, 0x0e}, 0x88cc, mustHex(t, lldpSiemensX212), 0x88a8, 100, 20)
	r, err := analyzeBytes(t, "qinq.pcap", timedCapture(1, every(t0, time.Second, 2), qinq, lldp))
	if err != nil {
		t.Fatal(err)
	}
	var vlan uint16
	for _, o := range observations(r, otaudit.KindHost) {
		if o.Host.IP.String() == "10.1.0.1" {
			vlan = o.Host.VLAN
		}
	}
	if vlan != 20 {
		t.Errorf("VLAN of a QinQ frame = %d, want the inner (customer) tag 20", vlan)
	}
	flows := observations(r, otaudit.KindFlow)
	if len(flows) != 1 || flows[0].Flow.ServerPort != 502 || flows[0].Flow.Protocol != "modbus" {
		t.Errorf("flows behind QinQ = %+v", flows)
	}
	if id := identityOf(r, "141.81.0.190", "lldp"); id == nil || id.Name != "Switch1" {
		t.Errorf("LLDP behind QinQ not read: %+v", id)
	}
}

func TestLinuxSLL2(t *testing.T) {
	sll2 := func(proto uint16, mac net.HardwareAddr, payload []byte) []byte {
		b := binary.BigEndian.AppendUint16(nil, proto)
		b = append(b, 0, 0, 0, 0, 0, 2) // reserved, interface index 2
		b = binary.BigEndian.AppendUint16(b, 1)
		b = append(b, 0, 6)
		b = append(b, mac...)
		b = append(b, 0, 0)
		return append(b, payload...)
	}
	udp := ipv4Packet(t, "192.168.7.1", "192.168.7.2", layers.IPProtocolUDP, 1, false, 0, udpDatagram(40000, 161, []byte{0x30, 0}))
	arp := arpFrame(macB, "192.168.7.9")[14:]
	r, err := analyzeBytes(t, "sll2.pcap", timedCapture(276, every(t0, time.Second, 2), sll2(0x0800, macA, udp), sll2(0x0806, macB, arp)))
	if err != nil {
		t.Fatal(err)
	}
	if r.Stats.LinkType != "Linux SLL2" {
		t.Errorf("LinkType = %q", r.Stats.LinkType)
	}
	if got := hostMACs(r, "192.168.7.1"); !slices.Equal(got, []string{macA.String()}) {
		t.Errorf("SLL2 sender MAC = %v", got)
	}
	if got := hostMACs(r, "192.168.7.9"); !slices.Equal(got, []string{macB.String()}) {
		t.Errorf("ARP over SLL2: %v", got)
	}
}

// --- IPv4 fragments ---------------------------------------------------------------

func TestIPv4FragmentReassembly(t *testing.T) {
	// A DHCP request whose options (the host name) are in the last
	// fragment: only a reassembled datagram yields the identity.
	dhcp := mustHex(t, dhcpDiscoverHex)
	dgram := udpDatagram(68, 67, dhcp)
	cut1, cut2 := 104, 208 // multiples of 8
	f1 := ipv4Packet(t, "10.9.0.7", "10.9.0.1", layers.IPProtocolUDP, 77, true, 0, dgram[:cut1])
	f2 := ipv4Packet(t, "10.9.0.7", "10.9.0.1", layers.IPProtocolUDP, 77, true, uint16(cut1/8), dgram[cut1:cut2])
	f3 := ipv4Packet(t, "10.9.0.7", "10.9.0.1", layers.IPProtocolUDP, 77, false, uint16(cut2/8), dgram[cut2:])
	client := net.HardwareAddr{0xe4, 0x11, 0x5b, 0x5a, 0xd9, 0x73} // the message's chaddr
	eth := func(ip []byte) []byte { return ether(client, macB, 0x0800, ip, 0) }
	// Out of order, plus an unrelated incomplete datagram from another
	// host. The Discover carries no IP: the identity goes to the one
	// address the client's MAC sent from.
	stray := ipv4Packet(t, "10.9.0.8", "10.9.0.1", layers.IPProtocolUDP, 5, true, 0, dgram[:cut1])
	r, err := analyzeBytes(t, "frag.pcap", timedCapture(1, every(t0, 10*time.Millisecond, 4), eth(f3), ether(macA, macB, 0x0800, stray, 0), eth(f1), eth(f2)))
	if err != nil {
		t.Fatal(err)
	}
	if r.Stats.FragmentsReassembled != 1 {
		t.Errorf("FragmentsReassembled = %d, want 1", r.Stats.FragmentsReassembled)
	}
	id := identityOf(r, "10.9.0.7", "dhcp")
	if id == nil || id.Name != "LT-US-DSWANSON" || id.Model != "MSFT 5.0" {
		t.Errorf("DHCP identity from the reassembled datagram = %+v", id)
	}
	var flow *otaudit.Flow
	for _, o := range observations(r, otaudit.KindFlow) {
		if o.Flow.Client.String() == "10.9.0.7" {
			flow = o.Flow
		}
	}
	if flow == nil || flow.Protocol != "dhcp" || flow.BytesToServer != int64(len(dhcp)) {
		t.Errorf("flow of the reassembled datagram = %+v, want dhcp with %d bytes", flow, len(dhcp))
	}
}

func TestIPv4FragmentBounds(t *testing.T) {
	payload := bytes.Repeat([]byte{0xab}, 64)
	eth := func(ip []byte) []byte { return ether(macA, macB, 0x0800, ip, 0) }
	var frames [][]byte
	var ts []time.Time
	// maxFragDatagrams+6 first fragments that never complete: the table
	// gives up the oldest ones.
	for i := range maxFragDatagrams + 6 {
		frames = append(frames, eth(ipv4Packet(t, "10.2.0.1", "10.2.0.2", layers.IPProtocolUDP, uint16(i), true, 0, payload)))
		ts = append(ts, t0.Add(time.Duration(i)*time.Millisecond))
	}
	// A datagram whose last fragment comes after the timeout: not rebuilt.
	frames = append(frames,
		eth(ipv4Packet(t, "10.2.0.3", "10.2.0.2", layers.IPProtocolUDP, 9, true, 0, udpDatagram(1000, 2000, payload)[:64])),
		eth(ipv4Packet(t, "10.2.0.3", "10.2.0.2", layers.IPProtocolUDP, 9, false, 8, udpDatagram(1000, 2000, payload)[64:])))
	ts = append(ts, t0.Add(time.Second), t0.Add(time.Second+fragTimeout+time.Second))
	r, err := analyzeBytes(t, "fragbound.pcap", timedCapture(1, ts, frames...))
	if err != nil {
		t.Fatal(err)
	}
	if r.Stats.FragmentsReassembled != 0 {
		t.Errorf("FragmentsReassembled = %d, want 0", r.Stats.FragmentsReassembled)
	}
	// 6 pushed out by the bound (the 7th goes when the timed-out datagram
	// starts), plus the timed-out one itself.
	if r.Stats.FragmentEvictions < 7 {
		t.Errorf("FragmentEvictions = %d, want at least 7", r.Stats.FragmentEvictions)
	}
	for _, o := range observations(r, otaudit.KindFlow) {
		if o.Flow.Client.String() == "10.2.0.3" {
			t.Errorf("a datagram completed after the timeout was decoded: %+v", o.Flow)
		}
	}
	if len(hostMACs(r, "10.2.0.1")) != 1 {
		t.Error("fragments still count as packets of their sender")
	}
}

// --- gzip and rotated files ------------------------------------------------------

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestGzipCapture(t *testing.T) {
	s := newTCPSession(t, "10.0.0.1", 40001, "10.0.0.2", 502).
		client([]byte{0, 1, 0, 0, 0, 6, 1, 3, 0, 0, 0, 1}).
		server([]byte{0, 1, 0, 0, 0, 5, 1, 3, 2, 0, 7}).fin()
	plain := capture(t, s.frames...)
	want, err := analyzeBytes(t, "m.pcap", plain)
	if err != nil {
		t.Fatal(err)
	}
	got, err := analyzeBytes(t, "m.pcap.gz", gzipped(t, plain))
	if err != nil {
		t.Fatal(err)
	}
	if got.Stats.Format != "pcap+gzip" || got.Stats.Packets != want.Stats.Packets {
		t.Errorf("gzip stats = %+v", got.Stats)
	}
	if len(got.Observations) != len(want.Observations) || len(got.Observations) == 0 {
		t.Fatalf("gzip: %d observations, plain: %d", len(got.Observations), len(want.Observations))
	}
	for i := range got.Observations {
		g, w := got.Observations[i], want.Observations[i]
		g.Source, w.Source = "", ""
		if g.Kind != w.Kind || g.Count != w.Count || g.FirstFrame != w.FirstFrame {
			t.Errorf("observation %d differs: %+v vs %+v", i, g, w)
		}
	}
	// A compressed file cut short keeps what it held.
	gz := gzipped(t, plain)
	cut, err := analyzeBytes(t, "cut.pcap.gz", gz[:len(gz)*2/3])
	if err != nil {
		t.Fatalf("a truncated gzip capture with packets must not fail: %v", err)
	}
	if !cut.Stats.Truncated || cut.Stats.Packets == 0 || cut.Stats.Packets >= want.Stats.Packets {
		t.Errorf("truncated gzip: %+v", cut.Stats)
	}
	// Garbage after the gzip magic is a format error.
	if _, err := analyzeBytes(t, "bad.gz", []byte{0x1f, 0x8b, 0xff, 0xff, 0, 0, 0, 0}); !IsFormatError(err) {
		t.Errorf("bad gzip header: err = %v, want a FormatError", err)
	}
}

func TestOrderCaptures(t *testing.T) {
	dir := t.TempDir()
	one := func(ts time.Time) []byte { return timedCapture(1, []time.Time{ts}, arpFrame(macA, "10.0.0.1")) }
	files := map[string][]byte{
		"a-rotated-3.pcap":    one(t0.Add(3 * time.Hour)),
		"b-rotated-1.pcap":    one(t0.Add(1 * time.Hour)),
		"c-rotated-2.pcap.gz": gzipped(t, one(t0.Add(2*time.Hour))),
		"d-same-as-1.pcap":    one(t0.Add(1 * time.Hour)),
		"0-notes.txt":         []byte("not a capture"),
		"e-empty.pcap":        timedCapture(1, nil),
	}
	var paths []string
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	slices.Sort(paths)
	got := OrderCaptures(paths)
	for i := range got {
		got[i] = filepath.Base(got[i])
	}
	want := []string{"b-rotated-1.pcap", "d-same-as-1.pcap", "c-rotated-2.pcap.gz", "a-rotated-3.pcap", "0-notes.txt", "e-empty.pcap"}
	if !slices.Equal(got, want) {
		t.Errorf("OrderCaptures:\n got  %v\n want %v", got, want)
	}
}

// TestFirstPacketTimeReadsLittle: ordering a directory reads the first
// record of each file without the reader's full record buffer (512 KB a
// file, thousands of files in a rotation directory).
func TestFirstPacketTimeReadsLittle(t *testing.T) {
	p := filepath.Join(t.TempDir(), "one.pcap")
	if err := os.WriteFile(p, timedCapture(1, []time.Time{t0}, arpFrame(macA, "10.0.0.1")), 0o600); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	ts, ok := firstPacketTime(p)
	runtime.ReadMemStats(&after)
	if !ok || !ts.Equal(t0) {
		t.Fatalf("first packet time %v %v, want %v", ts, ok, t0)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n >= pcapBufSize/2 {
		t.Fatalf("reading one record allocated %d bytes (the full record buffer is %d)", n, pcapBufSize)
	}
}

// --- discovery protocols in built frames ---------------------------------------

func TestDCPSetIsAWrite(t *testing.T) {
	tool := net.HardwareAddr{0x00, 0x0c, 0x29, 0xba, 0x09, 0xea}
	dev := net.HardwareAddr{0x08, 0x00, 0x06, 0x93, 0xcf, 0x32}
	frames := [][]byte{
		ether(tool, dev, 0x8892, mustHex(t, dcpSetIPHex), 0),
		ether(dev, tool, 0x8892, mustHex(t, dcpSetResponseHex), 0),
		arpFrame(dev, "192.168.0.6"),
		frame(t, segment{src: "192.168.0.50", dst: "192.168.0.6", sport: 40000, dport: 80, syn: true}),
	}
	frames[3] = ether(tool, dev, 0x0800, frames[3][14:], 0) // the tool has 192.168.0.50
	r, err := analyzeBytes(t, "dcpset.pcap", timedCapture(1, every(t0, time.Second, len(frames)), frames...))
	if err != nil {
		t.Fatal(err)
	}
	ops := observations(r, otaudit.KindOperation)
	if len(ops) != 1 {
		t.Fatalf("operations = %+v, want one DCP Set", ops)
	}
	op := ops[0].Operation
	if op.Protocol != "profinet-dcp" || op.Class != otaudit.OpWrite || op.Name != "Set IP" || op.Requests != 1 || op.Responses != 1 ||
		op.Client.String() != "192.168.0.50" || op.Server.String() != "192.168.0.6" {
		t.Errorf("DCP Set operation = %+v", op)
	}
}

func TestCDPIn8023Frame(t *testing.T) {
	cdp := slices.Concat([]byte{0xaa, 0xaa, 0x03, 0x00, 0x00, 0x0c, 0x20, 0x00},
		[]byte{2, 180, 0, 0},
		[]byte{0, 1, 0, 6, 'S', '9'},
		[]byte{0, 6, 0, 9, 'c', 'i', 's', 'c', 'o'},
		[]byte{0, 2, 0, 0x11, 0, 0, 0, 1, 1, 1, 0xcc, 0, 4, 10, 3, 3, 3})
	b := slices.Concat([]byte(net.HardwareAddr{0x01, 0x00, 0x0c, 0xcc, 0xcc, 0xcc}), []byte(macA))
	b = binary.BigEndian.AppendUint16(b, uint16(len(cdp)))
	b = append(b, cdp...)
	b = append(b, make([]byte, 8)...) // Ethernet padding beyond the length
	r, err := analyzeBytes(t, "cdp.pcap", timedCapture(1, []time.Time{t0}, b))
	if err != nil {
		t.Fatal(err)
	}
	if r.Stats.DecodeErrors != 0 {
		t.Errorf("decode errors: %v", r.Stats.Warnings)
	}
	id := identityOf(r, "10.3.3.3", "cdp")
	if id == nil || id.Name != "S9" || id.Model != "cisco" {
		t.Errorf("CDP identity = %+v", id)
	}
	if got := hostMACs(r, "10.3.3.3"); !slices.Equal(got, []string{macA.String()}) {
		t.Errorf("CDP address sighting = %v", got)
	}
}

func TestMalformedDiscoveryFramesAreCounted(t *testing.T) {
	frames := [][]byte{
		ether(macA, macB, 0x88cc, []byte{0x02, 0x40, 0x04}, 0),                                // LLDP TLV overruns
		ether(macA, macB, 0x8892, []byte{0xfe, 0xfe, 5, 0, 0, 0, 0, 1, 0, 0, 0, 40, 2, 2}, 0), // DCP length lies
		ether(macA, macB, 0x8892, []byte{0x80, 0x00, 1, 2, 3}, 0),                             // PROFINET RT data: ignored
	}
	r, err := analyzeBytes(t, "bad.pcap", timedCapture(1, every(t0, time.Second, len(frames)), frames...))
	if err != nil {
		t.Fatal(err)
	}
	if r.Stats.DecodeErrors != 2 {
		t.Errorf("DecodeErrors = %d, want 2: %v", r.Stats.DecodeErrors, r.Stats.Warnings)
	}
}

// --- shared captures (tshark ground truth in EXPECTED.md) -----------------------

func TestSharedLayer2Identities(t *testing.T) {
	dir := sharedPcaps(t)
	type want struct {
		ip, method                            string
		vendor, model, code, name, fw, serial string
		// mac: for a device never seen with an address, the identity is
		// kept under its MAC (ip "").
		mac string
	}
	cases := map[string][]want{
		// EXPECTED.md: LLDP from 00:1b:1b:02:e6:1f, system name Switch1,
		// "Siemens, SIMATIC NET, SCALANCE X212-2, 6GK5 212-2BB00-2AA3, HW: 7, FW: V4.02", mgmt 141.81.0.190.
		"plant1_mixed_modbus_s7_enip_cip.pcap": {{ip: "141.81.0.190", method: "lldp", vendor: "Siemens", model: "SCALANCE X212-2",
			code: "6GK5 212-2BB00-2AA3", name: "Switch1", fw: "V4.02"}},
		"lldp_siemens_s7_1200_ktp700.pcapng": {
			{ip: "192.168.0.1", method: "lldp", vendor: "Siemens", model: "CPU-1200", code: "6ES7 214-1AG40-0XB0", fw: "V.4.2.1", serial: "S V-K2C13707"},
			{ip: "192.168.0.2", method: "lldp", vendor: "Siemens", model: "KTP700 Basic", code: "6AV2 123-2GB03-0AX0", name: "hmixb110d0", fw: "V13.0.1"},
		},
		// DCP Identify response: X208-BORD, 192.168.0.6, vendor 0x002a device 0x0a01, "INC".
		"profinet_dcp_set_ip.pcap": {{ip: "192.168.0.6", method: "profinet-dcp", vendor: "Siemens", model: "INC",
			code: "vendor 0x002a device 0x0a01", name: "X208-BORD"}},
		"profinet_io_cm_startup_lldp_mixed.pcap": {
			{ip: "192.168.1.2", method: "profinet-dcp", model: "IC200PNS001", code: "vendor 0x015a device 0x0003", name: "versamax-pns11"},
			{ip: "192.168.1.2", method: "lldp", name: "versamax-pns11"},
			// DHCP Discover from e4:11:5b:5a:d9:73, whose only IPv4 address is 169.254.216.43.
			{ip: "169.254.216.43", method: "dhcp", model: "MSFT 5.0", name: "LT-US-DSWANSON"},
			// The SCALANCE X208 announces mgmt 0.0.0.0 in LLDP from two
			// port MACs and asks DHCP for an address from a third; it
			// never sends from an IP: kept by MAC.
			{method: "dhcp", name: "siemens-x208-switch", mac: "00:0e:8c:ef:75:c5"},
			{method: "lldp", name: "siemens-x208-switch", mac: "00:0e:8c:ef:75:c9"},
			{method: "lldp", name: "siemens-x208-switch", mac: "00:0e:8c:ef:75:cd"},
		},
		// LLDP from d8:50:e6:05:a3:1e (mgmt 0.0.0.0): the MAC's address.
		"dnp3_lab_operate_with_it_noise.pcap": {{ip: "192.168.1.150", method: "lldp", name: "DESKTOP-M5C7L14"}},
		// Identify requests only: names searched for, not announced.
		"profinet_dcp_identify.pcap": nil,
		// Cisco switches announce no IP (CDP address 0.0.0.0, no LLDP
		// management address) and send no IP traffic: kept by MAC.
		"lldp_cdp_cisco_switches.pcap": {
			{method: "cdp", vendor: "Cisco", model: "cisco WS-C3560-24TS", name: "S1", fw: "12.2(44)SE", mac: "00:18:ba:98:68:8f"},
			{method: "cdp", vendor: "Cisco", model: "cisco WS-C3560G-24PS", name: "S2", fw: "12.2(44)SE", mac: "00:19:2f:a7:b2:8d"},
			{method: "lldp", vendor: "Cisco", name: "S1.cisco.com", fw: "12.2(44)SE", mac: "00:18:ba:98:68:8f"},
			{method: "lldp", vendor: "Cisco", name: "S2.cisco.com", fw: "12.2(44)SE", mac: "00:19:2f:a7:b2:8d"},
		},
	}
	for file, wants := range cases {
		t.Run(file, func(t *testing.T) {
			r := analyzeShared(t, dir, file)
			var l2 []*otaudit.DeviceIdentity
			for _, o := range observations(r, otaudit.KindIdentity) {
				switch o.Identity.Method {
				case "lldp", "cdp", "profinet-dcp", "dhcp":
					l2 = append(l2, o.Identity)
				}
			}
			if len(l2) != len(wants) {
				t.Errorf("%d layer-2 identities, want %d: %+v", len(l2), len(wants), l2)
			}
			for _, w := range wants {
				var id *otaudit.DeviceIdentity
				if w.ip != "" {
					id = identityOf(r, w.ip, w.method)
				} else {
					for _, x := range l2 {
						if !x.IP.IsValid() && x.MAC == w.mac && x.Method == w.method {
							id = x
						}
					}
				}
				if id == nil {
					t.Errorf("no %s identity for %s%s", w.method, w.ip, w.mac)
					continue
				}
				got := want{method: id.Method, vendor: id.Vendor, model: id.Model, code: id.ProductCode, name: id.Name, fw: id.Firmware, serial: id.Serial, mac: id.MAC}
				if id.IP.IsValid() {
					got.ip = id.IP.String()
				}
				if got != w {
					t.Errorf("identity:\n got  %+v\n want %+v", got, w)
				}
			}
			if r.Stats.DecodeErrors != 0 {
				t.Errorf("decode errors: %v", r.Stats.Warnings)
			}
		})
	}
	t.Run("profinet_dcp_set_ip.pcap operation", func(t *testing.T) {
		r := analyzeShared(t, dir, "profinet_dcp_set_ip.pcap")
		ops := observations(r, otaudit.KindOperation)
		// EXPECTED.md: Set (service 4) request 00:0c:29:ba:09:ea → 08:00:06:93:cf:32 with IP
		// 192.168.0.10, answered with success. The tool has no IP in the capture.
		if len(ops) != 1 || ops[0].Operation.Name != "Set IP" || ops[0].Operation.Class != otaudit.OpWrite ||
			ops[0].Operation.Server.String() != "192.168.0.6" || ops[0].Operation.Client.IsValid() ||
			ops[0].Operation.Requests != 1 || ops[0].Operation.Responses != 1 {
			t.Errorf("DCP Set operations = %+v", ops)
		}
	})
}

// TestLayer2AgainstTshark compares LLDP system names and management
// addresses and DCP station names with tshark's dissection of the same
// files, when tshark is installed.
func TestLayer2AgainstTshark(t *testing.T) {
	dir := sharedPcaps(t)
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not on PATH")
	}
	for _, file := range []string{"plant1_mixed_modbus_s7_enip_cip.pcap", "lldp_siemens_s7_1200_ktp700.pcapng", "profinet_io_cm_startup_lldp_mixed.pcap", "profinet_dcp_set_ip.pcap"} {
		t.Run(file, func(t *testing.T) {
			r := analyzeShared(t, dir, file)
			ctx := context.Background()
			out := runTshark(ctx, t, tshark, "-n", "-r", filepath.Join(dir, file), "-Y", "lldp.mgn.addr.ip4 || (pn_dcp.service_type == 1 && pn_dcp.suboption_ip_ip)",
				"-T", "fields", "-E", "occurrence=f", "-e", "lldp.mgn.addr.ip4", "-e", "lldp.tlv.system.name", "-e", "pn_dcp.suboption_ip_ip", "-e", "pn_dcp.suboption_device_nameofstation")
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				f := strings.Split(line, "\t")
				if len(f) < 4 {
					continue
				}
				ip, name, method := f[0], f[1], "lldp"
				if ip == "" {
					ip, name, method = f[2], f[3], "profinet-dcp"
				}
				a, err := netip.ParseAddr(ip)
				if err != nil || a.IsUnspecified() {
					continue
				}
				if len(hostMACs(r, ip)) == 0 {
					t.Errorf("%s announces %s (tshark) but otaudit has no host sighting", method, ip)
				}
				id := identityOf(r, ip, method)
				if name != "" && (id == nil || id.Name != name) {
					t.Errorf("%s %s: tshark name %q, otaudit %+v", method, ip, name, id)
				}
			}
		})
	}
}

// Payloads copied from the shared captures (after the Ethernet header).
const (
	// plant1_mixed_modbus_s7_enip_cip.pcap frame 499
	lldpSiemensX212 = "02080773776974636831040907706f72742d30303106020014082d5369656d656e732c2053494d41544943204e45542c2045746865726e65742053776974636820506f72742030310a07537769746368310c4c5369656d656e732c2053494d41544943204e45542c205343414c414e434520583231322d322c2036474b35203231322d32424230302d324141332c2048573a20372c2046573a2056342e30320e0400800080101405018d5100be0200000001082b0601040181c06efe08000ecf0200000000fe0a000ecf05001b1b02e61efe0900120f01036c0000100000"
	// profinet_dcp_set_ip.pcap frame 3
	dcpSetIPHex = "fefd040001000001000000120102000e0001c0a8000affffff00c0a80001000000000000000000000000"
	// profinet_dcp_set_ip.pcap frame 4
	dcpSetResponseHex = "fefd0401010000010000000805040003010200000000000000000000000000000000000000000000000000000000"
	// profinet_io_cm_startup_lldp_mixed.pcap frame 1237 (UDP payload)
	dhcpDiscoverHex = "0101060012c1249f0000800000000000000000000000000000000000e4115b5ad97300000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000638253633501013d0701e4115b5ad9730c0e4c542d55532d445357414e534f4e3c084d53465420352e30370c010f03062c2e2f1f2179f92bff00000000000000"
)

// l2Announced adds host exceptions for addresses only known from an LLDP,
// CDP or DCP announcement (a management address the device gave, with the
// MAC of the frame): tshark's endpoints,ip table counts IP packets only.
func l2Announced(m map[string]string, ips ...string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	for _, ip := range ips {
		m[ip] = "+announced as a management address (LLDP/CDP/DCP); tshark endpoints,ip counts IP packets only"
	}
	return m
}
