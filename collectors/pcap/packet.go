package pcap

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// l4 is the transport of a decoded packet.
type l4 uint8

const (
	l4None l4 = iota
	l4TCP
	l4UDP
)

// packet is the part of a frame the analysis uses. It is reused for every
// frame; byte slices point into the reader's buffer.
type packet struct {
	frame  int64 // 1-based, as tshark numbers frames
	ts     time.Time
	length int // original length on the wire

	srcMAC [6]byte
	dstMAC [6]byte
	hasMAC bool
	vlan   uint16

	// l2 is set for the non-IP frames the discovery adapter reads: l2type
	// is the EtherType (LLDP, PROFINET) or etherLLC for an 802.3 frame,
	// whose payload then starts with the LLC header (CDP).
	l2        bool
	l2type    layers.EthernetType
	l2payload []byte

	// fragment is set for an IPv4 fragment; the transport fields are only
	// filled when this fragment completed a datagram.
	fragment bool

	arp       bool
	arpMAC    [6]byte
	arpIP     netip.Addr
	hasIP     bool
	src, dst  netip.Addr
	transport l4
	sport     uint16
	dport     uint16
	seq       uint32
	syn, ack  bool
	fin, rst  bool
	payload   []byte
}

// decoder holds the preallocated layers and one DecodingLayerParser per
// first layer (they share the layer values), so decoding a frame allocates
// nothing.
type decoder struct {
	eth      layers.Ethernet
	dot1q    layers.Dot1Q
	arp      layers.ARP
	loopback layers.Loopback
	sll      layers.LinuxSLL
	ip4      layers.IPv4
	ip6      layers.IPv6
	tcp      layers.TCP
	udp      layers.UDP

	fromEth, fromLoop, fromSLL, fromIP4, fromIP6 *gopacket.DecodingLayerParser
	fromARP, fromTCP, fromUDP                    *gopacket.DecodingLayerParser
	decoded                                      []gopacket.LayerType
	decodedL4                                    []gopacket.LayerType

	// frags reassembles IPv4 fragments.
	frags fragTable
}

func newDecoder() *decoder {
	d := &decoder{decoded: make([]gopacket.LayerType, 0, 8), decodedL4: make([]gopacket.LayerType, 0, 2)}
	all := []gopacket.DecodingLayer{&d.eth, &d.dot1q, &d.arp, &d.loopback, &d.sll, &d.ip4, &d.ip6, &d.tcp, &d.udp}
	mk := func(first gopacket.LayerType) *gopacket.DecodingLayerParser {
		p := gopacket.NewDecodingLayerParser(first, all...)
		// A slice indexed by layer type instead of the default map: the
		// map lookup per layer was a third of the decoding time.
		var sparse gopacket.DecodingLayerContainer = gopacket.DecodingLayerSparse(nil)
		for _, l := range all {
			sparse = sparse.Put(l)
		}
		p.SetDecodingLayerContainer(sparse)
		p.IgnoreUnsupported = true
		return p
	}
	d.fromEth = mk(layers.LayerTypeEthernet)
	d.fromLoop = mk(layers.LayerTypeLoopback)
	d.fromSLL = mk(layers.LayerTypeLinuxSLL)
	d.fromIP4 = mk(layers.LayerTypeIPv4)
	d.fromIP6 = mk(layers.LayerTypeIPv6)
	d.fromARP = mk(layers.LayerTypeARP)
	d.fromTCP = mk(layers.LayerTypeTCP)
	d.fromUDP = mk(layers.LayerTypeUDP)
	return d
}

// decode fills p from data. The returned error is a malformed frame; the
// fields decoded before the error are still set (tshark, too, counts the
// addresses of a frame whose TCP header is cut).
func (d *decoder) decode(link linkType, data []byte, p *packet) error {
	if link == linkEthernet && d.decodeFast(data, p) {
		return nil
	}
	return d.decodeLayers(link, data, p)
}

// decodeLayers is decode through the DecodingLayerParsers, for every frame.
func (d *decoder) decodeLayers(link linkType, data []byte, p *packet) error {
	var parser *gopacket.DecodingLayerParser
	switch link {
	case linkEthernet:
		parser = d.fromEth
	case linkNull, linkLoop:
		parser = d.fromLoop
	case linkLinuxSLL:
		parser = d.fromSLL
	case linkLinuxSLL2:
		// SLL2 (20-byte header) has no gopacket layer: read the protocol
		// and sender address by hand, then continue at the network layer.
		if len(data) < 20 {
			return errShortSLL2
		}
		proto := layers.EthernetType(binary.BigEndian.Uint16(data[0:2]))
		if data[11] == 6 {
			copy(p.srcMAC[:], data[12:18])
			p.hasMAC = true
		}
		data = data[20:]
		switch proto {
		case layers.EthernetTypeIPv4:
			parser = d.fromIP4
		case layers.EthernetTypeIPv6:
			parser = d.fromIP6
		case layers.EthernetTypeARP:
			parser = d.fromARP
		default:
			return nil
		}
	default: // raw IP: the version nibble says which
		if len(data) == 0 {
			return errEmptyFrame
		}
		switch data[0] >> 4 {
		case 4:
			parser = d.fromIP4
		case 6:
			parser = d.fromIP6
		default:
			return errNotIP
		}
	}
	err := parser.DecodeLayers(data, &d.decoded)
	d.fill(p, d.decoded)
	if len(d.decoded) == 0 {
		return err
	}
	switch last := d.decoded[len(d.decoded)-1]; {
	case last == layers.LayerTypeEthernet:
		d.layer2(p, d.eth.EthernetType, d.eth.Payload)
	case last == layers.LayerTypeDot1Q:
		t := d.dot1q.Type
		if t < 0x0600 { // an 802.3 length inside the tag: LLC follows
			t = etherLLC
		}
		d.layer2(p, t, d.dot1q.Payload)
	case last == layers.LayerTypeIPv4 && (d.ip4.Flags&layers.IPv4MoreFragments != 0 || d.ip4.FragOffset != 0):
		p.fragment = true
		whole, ferr := d.frags.add(fragKey{src: p.src, dst: p.dst, id: d.ip4.Id, proto: uint8(d.ip4.Protocol)},
			int(d.ip4.FragOffset)*8, d.ip4.Flags&layers.IPv4MoreFragments != 0, d.ip4.Payload, p.ts)
		if ferr != nil {
			return ferr
		}
		if whole != nil {
			return d.transport(p, d.ip4.Protocol, whole)
		}
	}
	return err
}

// decodeFast decodes the commonest frame, Ethernet + IPv4 (unfragmented,
// no options) + TCP or UDP, without the parser's dispatch from layer to
// layer. It fills p only when the frame is
// such a frame and decoded without error, exactly as the parser would have
// (same layer code, same fields); otherwise it returns false, leaves p
// alone, and the parser decodes the frame from the start.
func (d *decoder) decodeFast(data []byte, p *packet) bool {
	if len(data) < 14+20 || layers.EthernetType(binary.BigEndian.Uint16(data[12:14])) != layers.EthernetTypeIPv4 {
		return false
	}
	// The Ethernet header of an IPv4 frame is two addresses and the type
	// just read, and an IPv4 header without options (IHL 5) whose total
	// length fits the frame is fixed fields: both are read in place, as
	// gopacket's layers would give them (the payload ends at the total
	// length; a frame's padding is not payload). Their decoding was a
	// tenth of the analysis of a polling capture. Anything else is the
	// parser's.
	ip := data[14:]
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	if ip[0]&0x0f != 5 || total < 20 || total > len(ip) {
		return false
	}
	if flagsFrag := binary.BigEndian.Uint16(ip[6:8]); flagsFrag&0x2000 != 0 || flagsFrag&0x1fff != 0 || total == 20 {
		return false // a fragment, or nothing after the header
	}
	l4 := ip[20:total]
	switch layers.IPProtocol(ip[9]) {
	case layers.IPProtocolTCP:
		if len(l4) >= 20 && l4[12]>>4 == 5 {
			// No options: the fields are where the header starts.
			p.transport = l4TCP
			p.sport, p.dport = binary.BigEndian.Uint16(l4[0:2]), binary.BigEndian.Uint16(l4[2:4])
			p.seq = binary.BigEndian.Uint32(l4[4:8])
			flags := l4[13]
			p.fin, p.syn, p.rst, p.ack = flags&0x01 != 0, flags&0x02 != 0, flags&0x04 != 0, flags&0x10 != 0
			p.payload = l4[20:]
			break
		}
		// Options (or a header the layer will reject): gopacket reads them.
		if d.tcp.DecodeFromBytes(l4, gopacket.NilDecodeFeedback) != nil {
			return false
		}
		p.transport = l4TCP
		p.sport, p.dport = uint16(d.tcp.SrcPort), uint16(d.tcp.DstPort)
		p.seq = d.tcp.Seq
		p.syn, p.ack, p.fin, p.rst = d.tcp.SYN, d.tcp.ACK, d.tcp.FIN, d.tcp.RST
		p.payload = d.tcp.Payload
	case layers.IPProtocolUDP:
		if d.udp.DecodeFromBytes(l4, gopacket.NilDecodeFeedback) != nil {
			return false
		}
		p.transport = l4UDP
		p.sport, p.dport = uint16(d.udp.SrcPort), uint16(d.udp.DstPort)
		p.payload = d.udp.Payload
	default:
		return false
	}
	copy(p.dstMAC[:], data[0:6])
	copy(p.srcMAC[:], data[6:12])
	p.hasMAC = true
	p.src = netip.AddrFrom4([4]byte(ip[12:16]))
	p.dst = netip.AddrFrom4([4]byte(ip[16:20]))
	p.hasIP = true
	return true
}

// etherLLC is the EthernetType gopacket gives an 802.3 frame (a length,
// not a type, in the type field): LLC follows.
const etherLLC = layers.EthernetTypeLLC

// layer2 keeps the payload of the non-IP frames the discovery adapter
// reads; other EtherTypes cost nothing more.
func (d *decoder) layer2(p *packet, t layers.EthernetType, payload []byte) {
	switch t {
	case etherLLDP, etherPROFINET, etherLLC:
		p.l2, p.l2type, p.l2payload = true, t, payload
	}
}

const (
	etherLLDP     layers.EthernetType = 0x88cc
	etherPROFINET layers.EthernetType = 0x8892
)

// transport decodes the TCP or UDP header of a reassembled datagram.
func (d *decoder) transport(p *packet, proto layers.IPProtocol, datagram []byte) error {
	var parser *gopacket.DecodingLayerParser
	switch proto {
	case layers.IPProtocolTCP:
		parser = d.fromTCP
	case layers.IPProtocolUDP:
		parser = d.fromUDP
	default:
		return nil
	}
	err := parser.DecodeLayers(datagram, &d.decodedL4)
	d.fill(p, d.decodedL4)
	return err
}

// fill copies the fields of the decoded layers into p.
func (d *decoder) fill(p *packet, decoded []gopacket.LayerType) {
	for _, lt := range decoded {
		switch lt {
		case layers.LayerTypeEthernet:
			copy(p.srcMAC[:], d.eth.SrcMAC)
			copy(p.dstMAC[:], d.eth.DstMAC)
			p.hasMAC = len(d.eth.SrcMAC) == 6
		case layers.LayerTypeLinuxSLL:
			if d.sll.AddrLen == 6 && len(d.sll.Addr) >= 6 {
				copy(p.srcMAC[:], d.sll.Addr)
				p.hasMAC = true
			}
		case layers.LayerTypeDot1Q:
			p.vlan = d.dot1q.VLANIdentifier
		case layers.LayerTypeARP:
			if d.arp.Protocol == layers.EthernetTypeIPv4 && len(d.arp.SourceProtAddress) == 4 && len(d.arp.SourceHwAddress) == 6 {
				p.arp = true
				copy(p.arpMAC[:], d.arp.SourceHwAddress)
				p.arpIP, _ = netip.AddrFromSlice(d.arp.SourceProtAddress)
			}
		case layers.LayerTypeIPv4:
			p.src, _ = netip.AddrFromSlice(d.ip4.SrcIP)
			p.dst, _ = netip.AddrFromSlice(d.ip4.DstIP)
			p.hasIP = p.src.IsValid() && p.dst.IsValid()
		case layers.LayerTypeIPv6:
			p.src, _ = netip.AddrFromSlice(d.ip6.SrcIP)
			p.dst, _ = netip.AddrFromSlice(d.ip6.DstIP)
			p.hasIP = p.src.IsValid() && p.dst.IsValid()
		case layers.LayerTypeTCP:
			p.transport = l4TCP
			p.sport, p.dport = uint16(d.tcp.SrcPort), uint16(d.tcp.DstPort)
			p.seq = d.tcp.Seq
			p.syn, p.ack, p.fin, p.rst = d.tcp.SYN, d.tcp.ACK, d.tcp.FIN, d.tcp.RST
			p.payload = d.tcp.Payload
		case layers.LayerTypeUDP:
			p.transport = l4UDP
			p.sport, p.dport = uint16(d.udp.SrcPort), uint16(d.udp.DstPort)
			p.payload = d.udp.Payload
		}
	}
}

type decodeError string

func (e decodeError) Error() string { return string(e) }

const (
	errShortSLL2  decodeError = "Linux SLL2 header shorter than 20 bytes"
	errEmptyFrame decodeError = "empty frame"
	errNotIP      decodeError = "raw IP frame with unknown IP version"
)
