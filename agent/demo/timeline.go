package demo

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// captureStart is when the demo capture begins: a Monday morning shift.
var captureStart = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

var broadcastMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// frame is one packet waiting for its place in the capture. Its layers are
// kept rather than its bytes because the IP identification field depends on
// what the sending host sent before, which is only known once every
// conversation has been laid out and the frames are in time order.
type frame struct {
	at    time.Duration // offset from captureStart, whole microseconds
	order int           // creation order, to break ties deterministically
	src   *host         // IP sender; nil for ARP
	eth   *layers.Ethernet
	arp   *layers.ARP
	ip    *layers.IPv4
	tcp   *layers.TCP
	udp   *layers.UDP
	data  []byte
}

// timeline collects the frames of every conversation. Generators write to
// it in their own time order; the first error sticks and is reported by
// Capture, so the generators stay readable.
type timeline struct {
	frames []*frame
	ports  map[*host]uint16
	err    error
}

func newTimeline() *timeline { return &timeline{ports: make(map[*host]uint16)} }

func (tl *timeline) fail(err error) {
	if tl.err == nil {
		tl.err = err
	}
}

func (tl *timeline) add(f *frame) {
	if f.at < 0 || f.at%time.Microsecond != 0 {
		tl.fail(fmt.Errorf("frame %d: time %v is not a whole microsecond after the start", len(tl.frames)+1, f.at))
	}
	f.order = len(tl.frames)
	tl.frames = append(tl.frames, f)
}

// ephemeralPort hands out h's next client port, stepping like a busy host.
func (tl *timeline) ephemeralPort(h *host) uint16 {
	p, ok := tl.ports[h]
	if !ok {
		p = h.stack.ephemeralBase
	}
	tl.ports[h] = p + 3
	return p
}

// ipFrame addresses a frame from src to dst. Hosts beyond the cell reach it
// through the firewall: their frames carry the firewall's MAC and arrive
// with the TTL one lower.
func (tl *timeline) ipFrame(at time.Duration, src, dst *host, proto layers.IPProtocol) *frame {
	ethSrc, ethDst, ttl := src.mac, dst.mac, src.stack.ttl
	if !src.local {
		ethSrc, ttl = firewall.mac, ttl-1
	}
	if !dst.local {
		ethDst = firewall.mac
	}
	return &frame{
		at:  at,
		src: src,
		eth: &layers.Ethernet{SrcMAC: ethSrc, DstMAC: ethDst, EthernetType: layers.EthernetTypeIPv4},
		ip: &layers.IPv4{Version: 4, IHL: 5, TTL: ttl, Protocol: proto,
			SrcIP: src.IP.AsSlice(), DstIP: dst.IP.AsSlice()},
	}
}

// udp adds one UDP datagram.
func (tl *timeline) udp(at time.Duration, src, dst *host, srcPort, dstPort uint16, payload []byte) {
	f := tl.ipFrame(at, src, dst, layers.IPProtocolUDP)
	f.udp = &layers.UDP{SrcPort: layers.UDPPort(srcPort), DstPort: layers.UDPPort(dstPort)}
	f.data = payload
	tl.add(f)
}

// arp adds a broadcast who-has from asker and target's reply, and returns
// when the reply was seen.
func (tl *timeline) arp(at time.Duration, asker, target *host, r *rng) time.Duration {
	tl.add(&frame{at: at,
		eth: &layers.Ethernet{SrcMAC: asker.mac, DstMAC: broadcastMAC, EthernetType: layers.EthernetTypeARP},
		arp: &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
			HwAddressSize: 6, ProtAddressSize: 4, Operation: layers.ARPRequest,
			SourceHwAddress: asker.mac, SourceProtAddress: asker.IP.AsSlice(),
			DstHwAddress: make([]byte, 6), DstProtAddress: target.IP.AsSlice()}})
	reply := at + r.between(150*time.Microsecond, 900*time.Microsecond)
	tl.add(&frame{at: reply,
		eth: &layers.Ethernet{SrcMAC: target.mac, DstMAC: asker.mac, EthernetType: layers.EthernetTypeARP},
		arp: &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
			HwAddressSize: 6, ProtAddressSize: 4, Operation: layers.ARPReply,
			SourceHwAddress: target.mac, SourceProtAddress: target.IP.AsSlice(),
			DstHwAddress: asker.mac, DstProtAddress: asker.IP.AsSlice()}})
	return reply
}

// gratuitousARP adds the announcement a host makes when it joins the LAN.
func (tl *timeline) gratuitousARP(at time.Duration, h *host) {
	tl.add(&frame{at: at,
		eth: &layers.Ethernet{SrcMAC: h.mac, DstMAC: broadcastMAC, EthernetType: layers.EthernetTypeARP},
		arp: &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
			HwAddressSize: 6, ProtAddressSize: 4, Operation: layers.ARPRequest,
			SourceHwAddress: h.mac, SourceProtAddress: h.IP.AsSlice(),
			DstHwAddress: make([]byte, 6), DstProtAddress: h.IP.AsSlice()}})
}

// pcap file constants; the file format is libpcap 2.4, little-endian,
// microsecond timestamps, the same bytes gopacket's pcapgo.Writer writes.
const (
	pcapMagicMicroseconds = 0xa1b2c3d4
	pcapSnapLen           = 65536
)

// render puts the frames in time order, numbers each host's IP datagrams,
// serialises every frame with correct lengths and checksums, and returns
// the pcap file.
func (tl *timeline) render() ([]byte, error) {
	if tl.err != nil {
		return nil, tl.err
	}
	frames := append([]*frame(nil), tl.frames...)
	sort.SliceStable(frames, func(i, j int) bool {
		if frames[i].at != frames[j].at {
			return frames[i].at < frames[j].at
		}
		return frames[i].order < frames[j].order
	})

	// Each host numbers its datagrams from its own starting point, as a
	// host with a global IP ID counter does.
	ipID := make(map[netip.Addr]uint16)
	for i, h := range hosts {
		ipID[h.IP] = uint16(newRNG(fmt.Sprintf("ipid/%d", i)).next())
	}

	var out bytes.Buffer
	var header [24]byte
	binary.LittleEndian.PutUint32(header[0:4], pcapMagicMicroseconds)
	binary.LittleEndian.PutUint16(header[4:6], 2)
	binary.LittleEndian.PutUint16(header[6:8], 4)
	binary.LittleEndian.PutUint32(header[16:20], pcapSnapLen)
	binary.LittleEndian.PutUint32(header[20:24], uint32(layers.LinkTypeEthernet))
	out.Write(header[:])

	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	for n, f := range frames {
		stack := []gopacket.SerializableLayer{f.eth}
		switch {
		case f.arp != nil:
			stack = append(stack, f.arp)
		case f.ip != nil:
			f.ip.Id = ipID[f.src.IP]
			ipID[f.src.IP]++
			if f.tcp != nil {
				f.ip.Flags = layers.IPv4DontFragment
				if err := f.tcp.SetNetworkLayerForChecksum(f.ip); err != nil {
					return nil, fmt.Errorf("frame %d: %w", n+1, err)
				}
				stack = append(stack, f.ip, f.tcp)
			} else {
				if err := f.udp.SetNetworkLayerForChecksum(f.ip); err != nil {
					return nil, fmt.Errorf("frame %d: %w", n+1, err)
				}
				stack = append(stack, f.ip, f.udp)
			}
			if len(f.data) > 0 {
				stack = append(stack, gopacket.Payload(f.data))
			}
		}
		if err := gopacket.SerializeLayers(buf, opts, stack...); err != nil {
			return nil, fmt.Errorf("frame %d at %v: serialise: %w", n+1, f.at, err)
		}
		data := buf.Bytes()
		if len(data) > 1514 {
			return nil, fmt.Errorf("frame %d at %v: %d bytes exceed the Ethernet MTU", n+1, f.at, len(data))
		}
		ts := captureStart.Add(f.at)
		var rec [16]byte
		binary.LittleEndian.PutUint32(rec[0:4], uint32(ts.Unix()))
		binary.LittleEndian.PutUint32(rec[4:8], uint32(ts.Nanosecond()/1000))
		binary.LittleEndian.PutUint32(rec[8:12], uint32(len(data)))
		binary.LittleEndian.PutUint32(rec[12:16], uint32(len(data)))
		out.Write(rec[:])
		out.Write(data)
	}
	return out.Bytes(), nil
}
