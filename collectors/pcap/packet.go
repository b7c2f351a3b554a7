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
	hasMAC bool
	vlan   uint16

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
	decoded                                      []gopacket.LayerType
}

func newDecoder() *decoder {
	d := &decoder{decoded: make([]gopacket.LayerType, 0, 8)}
	all := []gopacket.DecodingLayer{&d.eth, &d.dot1q, &d.arp, &d.loopback, &d.sll, &d.ip4, &d.ip6, &d.tcp, &d.udp}
	mk := func(first gopacket.LayerType) *gopacket.DecodingLayerParser {
		p := gopacket.NewDecodingLayerParser(first, all...)
		p.IgnoreUnsupported = true
		return p
	}
	d.fromEth = mk(layers.LayerTypeEthernet)
	d.fromLoop = mk(layers.LayerTypeLoopback)
	d.fromSLL = mk(layers.LayerTypeLinuxSLL)
	d.fromIP4 = mk(layers.LayerTypeIPv4)
	d.fromIP6 = mk(layers.LayerTypeIPv6)
	return d
}

// decode fills p from data. The returned error is a malformed frame; the
// fields decoded before the error are still set (tshark, too, counts the
// addresses of a frame whose TCP header is cut).
func (d *decoder) decode(link linkType, data []byte, p *packet) error {
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
	for _, lt := range d.decoded {
		switch lt {
		case layers.LayerTypeEthernet:
			copy(p.srcMAC[:], d.eth.SrcMAC)
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
	return err
}

type decodeError string

func (e decodeError) Error() string { return string(e) }

const (
	errShortSLL2  decodeError = "Linux SLL2 header shorter than 20 bytes"
	errEmptyFrame decodeError = "empty frame"
	errNotIP      decodeError = "raw IP frame with unknown IP version"
)
