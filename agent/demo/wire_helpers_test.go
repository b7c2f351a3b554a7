package demo

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sort"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// record is one packet of a pcap file as read back from bytes.
type record struct {
	n    int // 1-based frame number
	ts   time.Time
	data []byte
}

// readPcap parses a classic little-endian microsecond pcap file. It is
// written here rather than taken from pcapgo so the test checks the file
// format independently of the writer.
func readPcap(b []byte) ([]record, error) {
	if len(b) < 24 {
		return nil, fmt.Errorf("pcap: %d bytes, shorter than the file header", len(b))
	}
	if m := binary.LittleEndian.Uint32(b[0:4]); m != pcapMagicMicroseconds {
		return nil, fmt.Errorf("pcap: magic %#x, want %#x", m, pcapMagicMicroseconds)
	}
	if v1, v2 := binary.LittleEndian.Uint16(b[4:6]), binary.LittleEndian.Uint16(b[6:8]); v1 != 2 || v2 != 4 {
		return nil, fmt.Errorf("pcap: version %d.%d, want 2.4", v1, v2)
	}
	if lt := binary.LittleEndian.Uint32(b[20:24]); lt != uint32(layers.LinkTypeEthernet) {
		return nil, fmt.Errorf("pcap: link type %d, want Ethernet", lt)
	}
	var out []record
	for off := 24; off < len(b); {
		if len(b)-off < 16 {
			return nil, fmt.Errorf("pcap: packet %d: truncated record header", len(out)+1)
		}
		sec := binary.LittleEndian.Uint32(b[off:])
		usec := binary.LittleEndian.Uint32(b[off+4:])
		capLen := int(binary.LittleEndian.Uint32(b[off+8:]))
		origLen := int(binary.LittleEndian.Uint32(b[off+12:]))
		off += 16
		if usec >= 1_000_000 || capLen != origLen || capLen > len(b)-off {
			return nil, fmt.Errorf("pcap: packet %d: bad record header (usec %d, caplen %d, len %d)", len(out)+1, usec, capLen, origLen)
		}
		out = append(out, record{n: len(out) + 1, ts: time.Unix(int64(sec), int64(usec)*1000).UTC(), data: b[off : off+capLen]})
		off += capLen
	}
	return out, nil
}

// wirePacket is a decoded packet of the demo capture.
type wirePacket struct {
	record
	eth     *layers.Ethernet
	arp     *layers.ARP
	ip      *layers.IPv4
	tcp     *layers.TCP
	udp     *layers.UDP
	src     netip.Addr
	dst     netip.Addr
	payload []byte // TCP or UDP payload
}

// endpoint is one side of a TCP connection.
type endpoint struct {
	ip   netip.Addr
	port uint16
}

func (e endpoint) String() string { return netip.AddrPortFrom(e.ip, e.port).String() }

// stream is one TCP connection, with its segments in capture order and the
// bytes each side sent.
type stream struct {
	client, server endpoint
	segments       []*wirePacket
	toServer       []byte
	toClient       []byte
}

func (s *stream) String() string { return s.client.String() + " -> " + s.server.String() }

// demoCapture is the generated capture decoded once per test binary.
type demoCapture struct {
	raw     []byte
	packets []*wirePacket
	streams []*stream
}

var decodedCapture *demoCapture

func loadCapture(t *testing.T) *demoCapture {
	t.Helper()
	if decodedCapture != nil {
		return decodedCapture
	}
	raw, err := Capture()
	if err != nil {
		t.Fatalf("Capture: %v", err)
	}
	recs, err := readPcap(raw)
	if err != nil {
		t.Fatal(err)
	}
	dc := &demoCapture{raw: raw}
	for _, r := range recs {
		p := &wirePacket{record: r}
		pkt := gopacket.NewPacket(r.data, layers.LayerTypeEthernet, gopacket.Default)
		if el := pkt.ErrorLayer(); el != nil {
			t.Fatalf("frame %d: decode failure: %v", r.n, el.Error())
		}
		p.eth, _ = pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		p.arp, _ = pkt.Layer(layers.LayerTypeARP).(*layers.ARP)
		p.ip, _ = pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		p.tcp, _ = pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		p.udp, _ = pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if p.ip != nil {
			p.src, _ = netip.AddrFromSlice(p.ip.SrcIP)
			p.dst, _ = netip.AddrFromSlice(p.ip.DstIP)
		}
		switch {
		case p.tcp != nil:
			p.payload = p.tcp.Payload
		case p.udp != nil:
			p.payload = p.udp.Payload
		}
		dc.packets = append(dc.packets, p)
	}
	dc.streams = buildStreams(dc.packets)
	decodedCapture = dc
	return dc
}

// buildStreams groups TCP segments by connection; the client is the side
// that sent the first segment seen. Payload is appended in capture order,
// which is stream order once TestTCPStreams has checked the sequence
// numbers.
func buildStreams(packets []*wirePacket) []*stream {
	byKey := map[[2]endpoint]*stream{}
	var ordered []*stream
	for _, p := range packets {
		if p.tcp == nil {
			continue
		}
		a := endpoint{p.src, uint16(p.tcp.SrcPort)}
		b := endpoint{p.dst, uint16(p.tcp.DstPort)}
		s := byKey[[2]endpoint{a, b}]
		if s == nil {
			s = byKey[[2]endpoint{b, a}]
		}
		if s == nil {
			s = &stream{client: a, server: b}
			byKey[[2]endpoint{a, b}] = s
			ordered = append(ordered, s)
		}
		s.segments = append(s.segments, p)
		if a == s.client {
			s.toServer = append(s.toServer, p.payload...)
		} else {
			s.toClient = append(s.toClient, p.payload...)
		}
	}
	return ordered
}

// streamsTo returns the streams to server port on ip.
func (dc *demoCapture) streamsTo(ip netip.Addr, port uint16) []*stream {
	var out []*stream
	for _, s := range dc.streams {
		if s.server.ip == ip && s.server.port == port {
			out = append(out, s)
		}
	}
	return out
}

// modbusADU is one Modbus/TCP application data unit.
type modbusADU struct {
	tid  uint16
	unit byte
	pdu  []byte
}

// parseModbus splits a reassembled Modbus/TCP byte stream into ADUs.
func parseModbus(b []byte) ([]modbusADU, error) {
	var out []modbusADU
	for len(b) > 0 {
		if len(b) < 8 {
			return nil, fmt.Errorf("modbus: %d trailing bytes, shorter than an MBAP header", len(b))
		}
		if proto := binary.BigEndian.Uint16(b[2:4]); proto != 0 {
			return nil, fmt.Errorf("modbus: protocol id %d", proto)
		}
		n := int(binary.BigEndian.Uint16(b[4:6]))
		if n < 2 || 6+n > len(b) {
			return nil, fmt.Errorf("modbus: MBAP length %d with %d bytes left", n, len(b)-6)
		}
		out = append(out, modbusADU{tid: binary.BigEndian.Uint16(b[0:2]), unit: b[6], pdu: b[7 : 6+n]})
		b = b[6+n:]
	}
	return out, nil
}

// modbusTransaction pairs a request with its response.
type modbusTransaction struct {
	client   netip.Addr
	server   netip.Addr
	request  modbusADU
	response modbusADU
}

func (dc *demoCapture) modbusTransactions(t *testing.T) []modbusTransaction {
	t.Helper()
	var out []modbusTransaction
	for _, s := range dc.streams {
		if s.server.port != modbusPort {
			continue
		}
		reqs, err := parseModbus(s.toServer)
		if err != nil {
			t.Fatalf("%s: requests: %v", s, err)
		}
		resps, err := parseModbus(s.toClient)
		if err != nil {
			t.Fatalf("%s: responses: %v", s, err)
		}
		if len(reqs) != len(resps) {
			t.Fatalf("%s: %d requests but %d responses", s, len(reqs), len(resps))
		}
		for i := range reqs {
			if reqs[i].tid != resps[i].tid || reqs[i].unit != resps[i].unit {
				t.Fatalf("%s: request %d (tid %d unit %d) answered by tid %d unit %d", s, i+1,
					reqs[i].tid, reqs[i].unit, resps[i].tid, resps[i].unit)
			}
			out = append(out, modbusTransaction{s.client.ip, s.server.ip, reqs[i], resps[i]})
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
