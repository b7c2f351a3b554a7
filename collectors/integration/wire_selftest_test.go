//go:build integration

package integration_test

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/gosnmp/gosnmp"
)

// The capture decoder is the read-only proof, so it must be able to fail:
// this writes a capture with writes in it (Modbus FC 6 split across two
// segments and retransmitted, an SNMP SetRequest, an OPC UA WriteRequest on
// a None channel) and reads requests of every kind back. It needs no zone.

type pcapBuilder struct {
	t     *testing.T
	w     *pcapgo.Writer
	now   time.Time
	seqs  map[uint16]uint32
	agent net.IP
}

func (b *pcapBuilder) write(ls ...gopacket.SerializableLayer) {
	b.t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		b.t.Fatal(err)
	}
	b.now = b.now.Add(10 * time.Millisecond)
	data := buf.Bytes()
	if err := b.w.WritePacket(gopacket.CaptureInfo{Timestamp: b.now, CaptureLength: len(data), Length: len(data)}, data); err != nil {
		b.t.Fatal(err)
	}
}

func (b *pcapBuilder) ip(dst string, proto layers.IPProtocol) (*layers.Ethernet, *layers.IPv4) {
	return &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 9}, EthernetType: layers.EthernetTypeIPv4},
		&layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: b.agent, DstIP: net.ParseIP(dst).To4()}
}

// tcp sends payload on the connection from local port sport, at the
// connection's current sequence number unless at is given (a retransmission).
func (b *pcapBuilder) tcp(dst string, sport, dport uint16, syn bool, payload []byte, at ...uint32) {
	eth, ip := b.ip(dst, layers.IPProtocolTCP)
	seq := b.seqs[sport]
	if len(at) > 0 {
		seq = at[0]
	}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: seq, SYN: syn, ACK: !syn, PSH: len(payload) > 0, Window: 64000}
	_ = tcp.SetNetworkLayerForChecksum(ip)
	b.write(eth, ip, tcp, gopacket.Payload(payload))
	if len(at) == 0 {
		b.seqs[sport] = seq + uint32(len(payload))
		if syn {
			b.seqs[sport]++
		}
	}
}

func (b *pcapBuilder) udp(dst string, dport uint16, payload []byte) {
	eth, ip := b.ip(dst, layers.IPProtocolUDP)
	udp := &layers.UDP{SrcPort: 40000, DstPort: layers.UDPPort(dport)}
	_ = udp.SetNetworkLayerForChecksum(ip)
	b.write(eth, ip, udp, gopacket.Payload(payload))
}

func mbap(tid uint16, unit byte, pdu ...byte) []byte {
	adu := make([]byte, 7, 7+len(pdu))
	binary.BigEndian.PutUint16(adu[0:2], tid)
	binary.BigEndian.PutUint16(adu[4:6], uint16(len(pdu)+1))
	adu[6] = unit
	return append(adu, pdu...)
}

func uaChunk(msgType string, chunk byte, body []byte) []byte {
	c := append([]byte(msgType), chunk, 0, 0, 0, 0)
	c = append(c, body...)
	binary.LittleEndian.PutUint32(c[4:8], uint32(len(c)))
	return c
}

func uaOPN(policy string) []byte {
	body := make([]byte, 8)                                       // secureChannelId, uri length
	binary.LittleEndian.PutUint32(body[4:8], uint32(len(policy))) // (secureChannelId 0)
	body = append(body, policy...)
	body = append(body, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff) // null certificate, thumbprint
	return uaChunk("OPN", 'F', body)
}

func uaMSG(chunk byte, typeID uint16) []byte {
	body := make([]byte, 16) // secureChannelId, tokenId, sequence number, request id
	body = append(body, 0x01, 0x00, byte(typeID), byte(typeID>>8))
	body = append(body, make([]byte, 20)...) // request header, never read
	return uaChunk("MSG", chunk, body)
}

func snmpMsg(t *testing.T, version gosnmp.SnmpVersion, pdu gosnmp.PDUType) []byte {
	t.Helper()
	p := &gosnmp.SnmpPacket{Version: version, Community: "test", PDUType: pdu, RequestID: 7,
		Variables: []gosnmp.SnmpPDU{{Name: ".1.3.6.1.2.1.1.5.0", Type: gosnmp.OctetString, Value: "x"}}}
	b, err := p.MarshalMsg()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCaptureDecoderSeesWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "synthetic.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	b := &pcapBuilder{t: t, w: w, now: time.Unix(1_700_000_000, 0), seqs: map[uint16]uint32{}, agent: net.ParseIP("10.99.0.2").To4()}

	// Modbus: device id, one register, then FC 6 split in two segments with
	// the second one retransmitted; FC 3 of 10 registers is outside the plan.
	b.tcp("10.99.0.10", 50001, 502, true, nil)
	b.tcp("10.99.0.10", 50001, 502, false, mbap(1, 1, 43, 14, 1, 0))
	b.tcp("10.99.0.10", 50001, 502, false, mbap(2, 1, 3, 0, 0, 0, 1))
	write := mbap(3, 1, 6, 0, 1, 0, 42)
	b.tcp("10.99.0.10", 50001, 502, false, write[:5])
	at := b.seqs[50001]
	b.tcp("10.99.0.10", 50001, 502, false, write[5:])
	b.tcp("10.99.0.10", 50001, 502, false, write[5:], at)
	b.tcp("10.99.0.10", 50001, 502, false, mbap(4, 1, 3, 0, 0, 0, 10))
	// a connect probe: SYN, nothing sent
	b.tcp("10.99.0.10", 50002, 102, true, nil)
	// SNMP: a GetRequest and a SetRequest
	b.udp("10.99.0.11", 161, snmpMsg(t, gosnmp.Version2c, gosnmp.GetRequest))
	b.udp("10.99.0.11", 161, snmpMsg(t, gosnmp.Version1, gosnmp.SetRequest))
	// OPC UA on a None channel: Read, then a Write split in two chunks; on a
	// Basic256Sha256 channel a message is opaque even if it looks like Write.
	b.tcp("10.99.0.12", 50003, 4840, true, nil)
	b.tcp("10.99.0.12", 50003, 4840, false, uaChunk("HEL", 'F', make([]byte, 24)))
	b.tcp("10.99.0.12", 50003, 4840, false, uaOPN("http://opcfoundation.org/UA/SecurityPolicy#None"))
	b.tcp("10.99.0.12", 50003, 4840, false, append(uaMSG('F', 631), uaMSG('C', 673)...))
	b.tcp("10.99.0.12", 50003, 4840, false, uaMSG('F', 673))
	b.tcp("10.99.0.12", 50004, 4840, true, nil)
	b.tcp("10.99.0.12", 50004, 4840, false, uaOPN("http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256"))
	b.tcp("10.99.0.12", 50004, 4840, false, uaMSG('F', 673))
	// BACnet: Who-Is, ReadProperty (device 7, object-name), WriteProperty
	// (analog-value 1, present-value).
	b.udp("10.99.0.20", 47808, []byte{0x81, 0x0a, 0x00, 0x08, 0x01, 0x00, 0x10, 0x08})
	b.udp("10.99.0.20", 47808, []byte{0x81, 0x0a, 0x00, 0x11, 0x01, 0x04, 0x00, 0x05, 0x01, 0x0c, 0x0c, 0x02, 0x00, 0x00, 0x07, 0x19, 0x4d})
	b.udp("10.99.0.20", 47808, []byte{0x81, 0x0a, 0x00, 0x18, 0x01, 0x04, 0x00, 0x05, 0x02, 0x0f, 0x0c, 0x00, 0x80, 0x00, 0x01, 0x19, 0x55, 0x3e, 0x44, 0x42, 0x28, 0x00, 0x00, 0x3f})
	b.udp("10.99.0.11", 9, []byte(captureMarker+"1"))
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	a, err := analyzeCapture(path, netip.MustParseAddr("10.99.0.2"))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Problems) != 0 {
		t.Errorf("problems: %q", a.Problems)
	}
	if !a.MarkerSeen {
		t.Error("marker not seen")
	}
	if a.Retransmissions != 1 {
		t.Errorf("retransmissions = %d, want 1", a.Retransmissions)
	}
	var got []string
	var forbidden []string
	for _, r := range a.Requests {
		got = append(got, r.Protocol+" "+r.Kind)
		if f := r.forbidden(); f != "" {
			forbidden = append(forbidden, f)
		}
	}
	want := []string{
		// one per SYN: the Modbus connection, the connect probe and both
		// OPC UA connections (the Hello is a request of its own)
		"tcp connect", "tcp connect", "tcp connect", "tcp connect",
		"modbus read-device-id", "modbus read-holding-registers", "modbus fc 6", "modbus read-holding-registers x10",
		"snmp get", "snmp set",
		"opcua hello", "opcua open-secure-channel", "opcua read", "opcua continuation",
		"opcua service WriteRequest_Encoding_DefaultBinary", "opcua open-secure-channel", "opcua secured",
		"bacnet who-is", "bacnet read-property", "bacnet apdu type 0 service 15",
	}
	if !equalMultiset(got, want) {
		t.Errorf("decoded requests\n got %q\nwant %q", got, want)
	}
	wantForbidden := []string{"Modbus FC 6 (write single register)", "SNMP SetRequest", "OPC UA Write request",
		"BACnet apdu type 0 service 15 (not Who-Is or ReadProperty)"}
	if !equalMultiset(forbidden, wantForbidden) {
		t.Errorf("forbidden = %q, want %q", forbidden, wantForbidden)
	}
	// 21 frames from the agent; the marker does not count
	if a.FromAgent != 21 {
		t.Errorf("frames from agent = %d, want 21", a.FromAgent)
	}
}

func equalMultiset(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

// maxInWindow decides the rate assertion: a half-open one-second window.
func TestMaxInWindow(t *testing.T) {
	base := time.Unix(1_700_000_000, 0)
	at := func(ms ...int) []time.Time {
		var ts []time.Time
		for _, m := range ms {
			ts = append(ts, base.Add(time.Duration(m)*time.Millisecond))
		}
		return ts
	}
	for _, c := range []struct {
		name  string
		times []time.Time
		want  int
	}{
		{"ten a second, evenly", at(0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1100), 10},
		{"the window is half-open", at(0, 1000), 1},
		{"a burst after a pause", at(0, 1500, 1501, 1502, 1503, 2400), 5},
		{"unsorted input", at(900, 0, 950, 50), 4},
		{"nothing", nil, 0},
	} {
		if got, _ := maxInWindow(c.times, time.Second); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}
