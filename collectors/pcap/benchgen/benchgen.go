// Package benchgen writes a large synthetic Ethernet capture for the
// passive-analysis benchmark (`make bench-pcap`): OT polling (Modbus/TCP,
// SNMP), IT traffic (HTTP, HTTPS, DNS), remote access (SSH, RDP, VNC),
// ARP, and a share of malformed frames, between more than a thousand hosts.
//
// It is deterministic for a given seed and streams packets to the writer,
// so its memory does not depend on the number of packets. What must not
// live here: any analysis, and any real capture data.
package benchgen

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// Config says how much to write.
type Config struct {
	Packets int64  // at least this many packets
	Seed    uint64 // same seed, same file
	// Repeat replays the same host population for Repeat times as long
	// (1 when 0): the benchmark doubles a capture this way to show that
	// memory stays flat when only the length grows.
	Repeat int
}

// Summary is what was written.
type Summary struct {
	Packets   int64
	Hosts     int
	Malformed int64
}

// Population sizes; Hosts() is their sum.
const (
	plcs         = 60
	hmis         = 20
	workstations = 1000
	servers      = 30
	externals    = 8
)

// Hosts is how many distinct IP hosts the capture holds.
func Hosts() int { return plcs + hmis + workstations + servers + externals + 2 }

type host struct {
	ip  [4]byte
	mac [6]byte
}

type gen struct {
	r   *rand.Rand
	w   *pcapgo.Writer
	ts  time.Time
	buf gopacket.SerializeBuffer
	n   int64
	bad int64

	plc, hmi, ws, srv, ext []host
	snmpMgr, jump          host
	modbusSeq              map[[2]int][2]uint32
	txid                   uint16
	port                   uint16
}

func mkHost(a, b, c, d byte) host {
	return host{ip: [4]byte{a, b, c, d}, mac: [6]byte{0x00, 0x0e, 0x8c, b, c, d}} // Siemens-like OUI
}

// Write writes the capture to out (classic pcap, microseconds, Ethernet).
func Write(out io.Writer, cfg Config) (Summary, error) {
	bw := bufio.NewWriterSize(out, 1<<20)
	w := pcapgo.NewWriter(bw)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return Summary{}, fmt.Errorf("benchgen: file header: %w", err)
	}
	g := &gen{
		r: rand.New(rand.NewPCG(cfg.Seed, 0x6f74617564697421)), w: w,
		ts:        time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC),
		buf:       gopacket.NewSerializeBuffer(),
		modbusSeq: map[[2]int][2]uint32{},
		port:      32768,
	}
	for i := range plcs {
		g.plc = append(g.plc, mkHost(10, 10, 1, byte(10+i)))
	}
	for i := range hmis {
		g.hmi = append(g.hmi, mkHost(10, 10, 2, byte(10+i)))
	}
	for i := range workstations {
		g.ws = append(g.ws, mkHost(10, 20, byte(i/250), byte(1+i%250)))
	}
	for i := range servers {
		g.srv = append(g.srv, mkHost(10, 30, 0, byte(10+i)))
	}
	for i := range externals {
		h := mkHost(203, 0, 113, byte(10+i))
		h.mac = [6]byte{0x02, 0, 0, 0, 0, 1} // behind the firewall's MAC
		g.ext = append(g.ext, h)
	}
	g.snmpMgr, g.jump = mkHost(10, 10, 3, 5), mkHost(10, 10, 3, 9)
	total := cfg.Packets * int64(max(cfg.Repeat, 1))
	for g.n < total {
		if err := g.step(); err != nil {
			return Summary{}, err
		}
	}
	if err := bw.Flush(); err != nil {
		return Summary{}, fmt.Errorf("benchgen: flush: %w", err)
	}
	return Summary{Packets: g.n, Hosts: Hosts(), Malformed: g.bad}, nil
}

func (g *gen) step() error {
	switch x := g.r.IntN(1000); {
	case x < 450:
		return g.modbusPoll()
	case x < 540:
		return g.snmpPoll()
	case x < 800:
		return g.web()
	case x < 860:
		return g.dns()
	case x < 950:
		return g.remote()
	case x < 985:
		return g.arp()
	default:
		return g.malformed()
	}
}

func (g *gen) tick() { g.ts = g.ts.Add(time.Duration(50+g.r.IntN(100)) * time.Microsecond) }

func (g *gen) writeRaw(b []byte) error {
	g.tick()
	g.n++
	return g.w.WritePacket(gopacket.CaptureInfo{Timestamp: g.ts, CaptureLength: len(b), Length: len(b)}, b)
}

func (g *gen) emit(ls ...gopacket.SerializableLayer) error {
	if err := gopacket.SerializeLayers(g.buf, gopacket.SerializeOptions{FixLengths: true}, ls...); err != nil {
		return fmt.Errorf("benchgen: packet %d: %w", g.n+1, err)
	}
	return g.writeRaw(g.buf.Bytes())
}

func eth(src, dst host) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: src.mac[:], DstMAC: dst.mac[:], EthernetType: layers.EthernetTypeIPv4}
}

func ip4(src, dst host, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: src.ip[:], DstIP: dst.ip[:]}
}

func (g *gen) tcp(src, dst host, sport, dport uint16, seq, ack uint32, flags string, payload []byte) error {
	t := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: seq, Ack: ack, Window: 8192, DataOffset: 5}
	for _, f := range flags {
		switch f {
		case 'S':
			t.SYN = true
		case 'A':
			t.ACK = true
		case 'P':
			t.PSH = true
		case 'F':
			t.FIN = true
		case 'R':
			t.RST = true
		}
	}
	return g.emit(eth(src, dst), ip4(src, dst, layers.IPProtocolTCP), t, gopacket.Payload(payload))
}

func (g *gen) udp(src, dst host, sport, dport uint16, payload []byte) error {
	return g.emit(eth(src, dst), ip4(src, dst, layers.IPProtocolUDP), &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}, gopacket.Payload(payload))
}

func (g *gen) ephemeral() uint16 {
	g.port++
	if g.port < 32768 {
		g.port = 32768
	}
	return g.port
}

// modbusPoll: an HMI reads holding registers of a PLC on its long-lived
// connection (one in fifty polls writes a register).
func (g *gen) modbusPoll() error {
	hi, pi := g.r.IntN(hmis), g.r.IntN(plcs)
	h, p := g.hmi[hi], g.plc[pi]
	key := [2]int{hi, pi}
	cport := uint16(40000 + hi*100 + pi)
	seq, ok := g.modbusSeq[key]
	if !ok {
		seq = [2]uint32{1000, 5000}
		if err := g.tcp(h, p, cport, 502, seq[0]-1, 0, "S", nil); err != nil {
			return err
		}
		if err := g.tcp(p, h, 502, cport, seq[1]-1, seq[0], "SA", nil); err != nil {
			return err
		}
	}
	g.txid++
	req := []byte{byte(g.txid >> 8), byte(g.txid), 0, 0, 0, 6, 1, 3, 0, 0, 0, 10}
	resp := make([]byte, 9+20)
	copy(resp, []byte{byte(g.txid >> 8), byte(g.txid), 0, 0, 0, 23, 1, 3, 20})
	if g.r.IntN(50) == 0 {
		req = []byte{byte(g.txid >> 8), byte(g.txid), 0, 0, 0, 6, 1, 6, 0, 1, 0, 42}
		resp = append([]byte(nil), req...)
	}
	if err := g.tcp(h, p, cport, 502, seq[0], seq[1], "PA", req); err != nil {
		return err
	}
	if err := g.tcp(p, h, 502, cport, seq[1], seq[0]+uint32(len(req)), "PA", resp); err != nil {
		return err
	}
	seq[0] += uint32(len(req))
	seq[1] += uint32(len(resp))
	g.modbusSeq[key] = seq
	return nil
}

// snmpPoll: the manager asks a device for sysDescr with a community.
func (g *gen) snmpPoll() error {
	dev := g.plc[g.r.IntN(plcs)]
	if g.r.IntN(3) == 0 {
		dev = g.srv[g.r.IntN(servers)]
	}
	community := "public"
	if g.r.IntN(4) == 0 {
		community = "s3cr3t-ro"
	}
	get := snmpGet(community, 0xa0, "")
	if err := g.udp(g.snmpMgr, dev, 40161, 161, get); err != nil {
		return err
	}
	return g.udp(dev, g.snmpMgr, 161, 40161, snmpGet(community, 0xa2, "Synthetic PLC firmware 1.0"))
}

// snmpGet builds a v2c GetRequest (pdu 0xa0) or Response (0xa2) for
// sysDescr.0, with value as an OCTET STRING when given.
func snmpGet(community string, pdu byte, value string) []byte {
	oid := []byte{0x06, 0x08, 0x2b, 6, 1, 2, 1, 1, 1, 0}
	val := []byte{0x05, 0x00}
	if value != "" {
		val = append([]byte{0x04, byte(len(value))}, value...)
	}
	vb := tlv(0x30, append(append([]byte{}, oid...), val...))
	vbl := tlv(0x30, vb)
	body := append([]byte{0x02, 0x01, 0x01, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00}, vbl...)
	msg := append([]byte{0x02, 0x01, 0x01}, tlv(0x04, []byte(community))...)
	msg = append(msg, tlv(pdu, body)...)
	return tlv(0x30, msg)
}

func tlv(tag byte, v []byte) []byte { return append([]byte{tag, byte(len(v))}, v...) }

// web: a workstation fetches a page (HTTP) or talks TLS to a server, on a
// fresh connection each time, as browsers do.
func (g *gen) web() error {
	w, s := g.ws[g.r.IntN(workstations)], g.srv[g.r.IntN(servers)]
	cport := g.ephemeral()
	port := uint16(80)
	req := []byte("GET /index.html HTTP/1.1\r\nHost: intranet\r\nUser-Agent: bench\r\n\r\n")
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 64\r\n\r\n" + string(make([]byte, 64)))
	if g.r.IntN(2) == 0 {
		port = 443
		req = append([]byte{0x17, 0x03, 0x03, 0x01, 0x00}, make([]byte, 256)...)
		resp = append([]byte{0x17, 0x03, 0x03, 0x04, 0x00}, make([]byte, 1024)...)
	}
	a, b := g.r.Uint32(), g.r.Uint32()
	steps := []func() error{
		func() error { return g.tcp(w, s, cport, port, a, 0, "S", nil) },
		func() error { return g.tcp(s, w, port, cport, b, a+1, "SA", nil) },
		func() error { return g.tcp(w, s, cport, port, a+1, b+1, "PA", req) },
		func() error { return g.tcp(s, w, port, cport, b+1, a+1+uint32(len(req)), "PA", resp) },
		func() error {
			return g.tcp(w, s, cport, port, a+1+uint32(len(req)), b+1+uint32(len(resp)), "FA", nil)
		},
	}
	for _, f := range steps {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}

func (g *gen) dns() error {
	w, s := g.ws[g.r.IntN(workstations)], g.srv[0]
	q := []byte{byte(g.n), byte(g.n >> 8), 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 4, 'h', 'o', 's', 't', 3, 'l', 'a', 'n', 0, 0, 1, 0, 1}
	port := g.ephemeral()
	if err := g.udp(w, s, port, 53, q); err != nil {
		return err
	}
	return g.udp(s, w, 53, port, append(q, 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 30, 0, 10))
}

// remote: SSH from outside to the jump host, RDP and VNC from the jump
// host into the OT network.
func (g *gen) remote() error {
	switch g.r.IntN(3) {
	case 0:
		ei := g.r.IntN(externals)
		e, cport := g.ext[ei], uint16(50000+ei) // a few long sessions
		if err := g.tcp(g.jump, e, 22, cport, 1, 1, "PA", []byte("SSH-2.0-OpenSSH_8.9p1\r\n")); err != nil {
			return err
		}
		if err := g.tcp(e, g.jump, cport, 22, 1, 24, "PA", []byte("SSH-2.0-PuTTY_Release_0.78\r\n")); err != nil {
			return err
		}
		return g.tcp(e, g.jump, cport, 22, 29, 24, "PA", make([]byte, 96))
	case 1:
		hi := g.r.IntN(hmis)
		hmi, cport := g.hmi[hi], uint16(51000+hi)
		cookie := []byte("Cookie: mstshash=operator\r\n")
		x224 := append([]byte{3, 0, 0, byte(11 + len(cookie)), byte(6 + len(cookie)), 0xe0, 0, 0, 0, 0, 0}, cookie...)
		if err := g.tcp(g.jump, hmi, cport, 3389, 1, 0, "S", nil); err != nil {
			return err
		}
		return g.tcp(g.jump, hmi, cport, 3389, 2, 1, "PA", x224)
	default:
		hi := g.r.IntN(hmis)
		hmi, cport := g.hmi[hi], uint16(52000+hi)
		if err := g.tcp(hmi, g.jump, 5900, cport, 1, 1, "PA", []byte("RFB 003.008\n")); err != nil {
			return err
		}
		return g.tcp(g.jump, hmi, cport, 5900, 1, 13, "PA", []byte("RFB 003.008\n"))
	}
}

func (g *gen) arp() error {
	a, b := g.plc[g.r.IntN(plcs)], g.hmi[g.r.IntN(hmis)]
	return g.emit(&layers.Ethernet{SrcMAC: a.mac[:], DstMAC: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: a.mac[:], SourceProtAddress: a.ip[:], DstHwAddress: make([]byte, 6), DstProtAddress: b.ip[:]})
}

// malformed: frames cut in the IP or TCP header, a Modbus length field
// that lies, garbage on OT ports.
func (g *gen) malformed() error {
	g.bad++
	h, p := g.hmi[g.r.IntN(hmis)], g.plc[g.r.IntN(plcs)]
	switch g.r.IntN(3) {
	case 0:
		if err := g.tcp(h, p, g.ephemeral(), 502, 1, 1, "PA", []byte{0, 1, 0, 0, 0xff, 0xff, 1, 3, 0}); err != nil {
			return err
		}
		b := g.buf.Bytes()
		return g.writeRaw(b[:14+g.r.IntN(30)]) // and the same frame cut short
	case 1:
		return g.tcp(h, p, g.ephemeral(), 502, 1, 1, "PA", []byte{0, 1, 0, 0, 0xff, 0xff, 1, 3, 0})
	default:
		junk := make([]byte, 40)
		binary.BigEndian.PutUint64(junk, g.r.Uint64())
		ports := []uint16{102, 44818, 20000, 2404, 4840}
		return g.tcp(h, p, g.ephemeral(), ports[g.r.IntN(len(ports))], 1, 1, "PA", junk)
	}
}
