//go:build integration

package integration_test

// Decoding the agent's own traffic from a capture, independently of the
// collectors' code: TCP streams are reassembled per connection (client to
// server only) and cut into Modbus ADUs and OPC UA chunks; SNMP messages are
// read with a small BER walker. Each request the agent sent becomes one
// wireRequest named with the contract's request kinds, so the capture can be
// compared with the dry-run plan and checked for anything that writes.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/gopcua/opcua/id"
	"github.com/otaudit/otaudit/collectors/pcap/bacnet"
)

// captureMarker starts the payload of the UDP datagram the tests send after
// a run to know that tcpdump has written everything before it.
const captureMarker = "otaudit-capture-marker "

// Ports the decoder reads as Modbus/TCP and OPC UA binary.
var (
	modbusPorts = map[uint16]bool{502: true, 5020: true}
	opcuaPorts  = map[uint16]bool{4840: true, 4841: true}
)

// wireRequest is one request the agent put on the wire.
type wireRequest struct {
	Time       time.Time
	Server     netip.Addr
	ServerPort uint16
	// Protocol and Kind use the contract's names ("modbus",
	// "read-device-id"); requests outside the contract get descriptive
	// kinds ("fc 6", "set", "service WriteRequest_Encoding_DefaultBinary").
	Protocol, Kind string
	// Code is the Modbus function code, SNMP PDU tag or OPC UA TypeId.
	Code int
	// Opaque: the kind cannot be read from the wire (an SNMPv3 authPriv
	// PDU, an OPC UA message on a signed or encrypted channel).
	Opaque bool
	// Continuation: a later chunk of a multi-chunk OPC UA message. It counts
	// for the rate, not as a request of its own.
	Continuation bool
	Detail       string
}

func (r wireRequest) String() string {
	return fmt.Sprintf("%s %s:%d %s %s %s", r.Time.Format("15:04:05.000"), r.Server, r.ServerPort, r.Protocol, r.Kind, r.Detail)
}

// Requests that change a device. Their absence is the read-only proof.
var (
	modbusWriteFCs = map[int]string{5: "write single coil", 6: "write single register", 15: "write multiple coils",
		16: "write multiple registers", 22: "mask write register", 23: "read/write multiple registers",
		8: "diagnostics", 90: "UMAS (Schneider programming)"}
	opcuaChangingServices = map[int]string{
		id.WriteRequest_Encoding_DefaultBinary: "Write", id.CallRequest_Encoding_DefaultBinary: "Call",
		id.AddNodesRequest_Encoding_DefaultBinary: "AddNodes", id.AddReferencesRequest_Encoding_DefaultBinary: "AddReferences",
		id.DeleteNodesRequest_Encoding_DefaultBinary: "DeleteNodes", id.DeleteReferencesRequest_Encoding_DefaultBinary: "DeleteReferences",
		id.HistoryUpdateRequest_Encoding_DefaultBinary: "HistoryUpdate",
	}
)

// forbidden names what a request would change, "" for a read.
func (r wireRequest) forbidden() string {
	switch r.Protocol {
	case "modbus":
		if what, ok := modbusWriteFCs[r.Code]; ok {
			return fmt.Sprintf("Modbus FC %d (%s)", r.Code, what)
		}
	case "snmp":
		if r.Code == 0xA3 {
			return "SNMP SetRequest"
		}
	case "bacnet":
		if r.Code == -1 {
			return "BACnet " + r.Kind + " (not Who-Is or ReadProperty)"
		}
	case "opcua":
		if what, ok := opcuaChangingServices[r.Code]; ok && !r.Opaque {
			return "OPC UA " + what + " request"
		}
	}
	return ""
}

// opcuaKinds maps request TypeIds to the contract's kinds.
var opcuaKinds = map[int]string{
	id.GetEndpointsRequest_Encoding_DefaultBinary:    "get-endpoints",
	id.FindServersRequest_Encoding_DefaultBinary:     "find-servers",
	id.CreateSessionRequest_Encoding_DefaultBinary:   "create-session",
	id.ActivateSessionRequest_Encoding_DefaultBinary: "activate-session",
	id.CloseSessionRequest_Encoding_DefaultBinary:    "close-session",
	id.ReadRequest_Encoding_DefaultBinary:            "read",
	id.BrowseRequest_Encoding_DefaultBinary:          "browse",
	id.BrowseNextRequest_Encoding_DefaultBinary:      "browse-next",
}

var snmpKinds = map[byte]string{0xA0: "get", 0xA1: "getnext", 0xA2: "response", 0xA3: "set", 0xA4: "trap",
	0xA5: "getbulk", 0xA6: "inform", 0xA7: "trap", 0xA8: "report"}

// captureAnalysis is what the agent sent, as decoded from a capture.
type captureAnalysis struct {
	Requests []wireRequest
	// FromAgent counts frames the agent sent (IPv4 source or ARP sender),
	// the test's marker datagram excepted.
	FromAgent int
	Frames    int
	// Retransmissions: TCP segments from the agent carrying bytes already
	// seen. They are not requests and are left out of the rate.
	Retransmissions int
	// Problems: streams that could not be read to their end (a gap in the
	// capture, a malformed frame). The read-only proof needs them empty.
	Problems   []string
	MarkerSeen bool
	// ARPRequests are the times of the broadcast ARP requests the agent
	// sent, per address asked: the sweep's and the kernel's own (which
	// resolves a neighbour before the first connect to it).
	ARPRequests map[netip.Addr][]time.Time
}

type flowKey struct{ client, server netip.AddrPort }

type segment struct {
	off  uint32
	data []byte
	t    time.Time
}

type tcpFlow struct {
	key     flowKey
	synTime time.Time
	isn     uint32
	haveISN bool
	sawSYN  bool
	segs    []segment
}

// analyzeCapture reads the pcap at path and decodes what agent sent.
func analyzeCapture(path string, agent netip.Addr) (*captureAnalysis, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("pcap %s: %w", path, err)
	}
	a := &captureAnalysis{}
	current := map[flowKey]*tcpFlow{}
	var flows []*tcpFlow
	for n := 1; ; n++ {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break // a capture still being written ends in a partial record
		}
		if err != nil {
			return nil, fmt.Errorf("pcap %s: packet %d: %w", path, n, err)
		}
		a.Frames++
		pkt := gopacket.NewPacket(data, r.LinkType(), gopacket.DecodeOptions{Lazy: true, NoCopy: true})
		if arp, ok := pkt.Layer(layers.LayerTypeARP).(*layers.ARP); ok {
			if ip, ok := netip.AddrFromSlice(arp.SourceProtAddress); ok && ip == agent {
				a.FromAgent++
				eth, _ := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
				asked, ok := netip.AddrFromSlice(arp.DstProtAddress)
				if ok && arp.Operation == layers.ARPRequest && eth != nil && bytes.Equal(eth.DstMAC, layers.EthernetBroadcast) {
					if a.ARPRequests == nil {
						a.ARPRequests = map[netip.Addr][]time.Time{}
					}
					a.ARPRequests[asked] = append(a.ARPRequests[asked], ci.Timestamp)
				}
			}
			continue
		}
		ip4, ok := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if !ok {
			continue
		}
		src, _ := netip.AddrFromSlice(ip4.SrcIP.To4())
		dst, _ := netip.AddrFromSlice(ip4.DstIP.To4())
		if src != agent {
			continue
		}
		if udp, ok := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP); ok && bytes.HasPrefix(udp.Payload, []byte(captureMarker)) {
			a.MarkerSeen = true
			continue
		}
		a.FromAgent++
		switch l4 := pkt.TransportLayer().(type) {
		case *layers.UDP:
			req := wireRequest{Time: ci.Timestamp, Server: dst, ServerPort: uint16(l4.DstPort)}
			if l4.DstPort == bacnet.Port {
				req.Protocol = "bacnet"
				m, err := bacnet.Parse(l4.Payload)
				switch {
				case err != nil || m.APDU == nil:
					req.Kind = "undecodable"
					a.Problems = append(a.Problems, fmt.Sprintf("frame %d: bacnet to %s: %v", n, dst, err))
				case m.APDU.Type == bacnet.UnconfirmedRequest && m.APDU.Service == bacnet.ServiceWhoIs:
					req.Kind = "who-is"
				case m.APDU.Type == bacnet.ConfirmedRequest && m.APDU.Service == bacnet.ServiceReadProperty:
					req.Kind = "read-property"
				default:
					// Anything else is a change, or at least not a read.
					req.Kind, req.Code = fmt.Sprintf("apdu type %d service %d", m.APDU.Type, m.APDU.Service), -1
				}
				a.Requests = append(a.Requests, req)
				continue
			}
			if l4.DstPort != 161 {
				req.Protocol, req.Kind = "udp", fmt.Sprintf("datagram to port %d", l4.DstPort)
				a.Requests = append(a.Requests, req)
				continue
			}
			req.Protocol = "snmp"
			tag, version, opaque, err := snmpPDU(l4.Payload)
			switch {
			case err != nil:
				req.Kind = "undecodable"
				a.Problems = append(a.Problems, fmt.Sprintf("frame %d: snmp to %s: %v", n, dst, err))
			case opaque:
				req.Kind, req.Opaque, req.Detail = "encrypted", true, version
			default:
				req.Kind, req.Code, req.Detail = snmpKinds[tag], int(tag), version
				if req.Kind == "" {
					req.Kind = fmt.Sprintf("pdu 0x%02x", tag)
				}
			}
			a.Requests = append(a.Requests, req)
		case *layers.TCP:
			key := flowKey{netip.AddrPortFrom(src, uint16(l4.SrcPort)), netip.AddrPortFrom(dst, uint16(l4.DstPort))}
			fl := current[key]
			if l4.SYN && !l4.ACK {
				if fl != nil && fl.haveISN && fl.isn == l4.Seq {
					continue // SYN retransmission: the same connection attempt
				}
				fl = &tcpFlow{key: key, synTime: ci.Timestamp, isn: l4.Seq, haveISN: true, sawSYN: true}
				current[key] = fl
				flows = append(flows, fl)
				continue
			}
			if fl == nil { // connection began before the capture
				fl = &tcpFlow{key: key, synTime: ci.Timestamp}
				current[key] = fl
				flows = append(flows, fl)
			}
			if len(l4.Payload) == 0 {
				continue
			}
			if !fl.haveISN {
				fl.isn, fl.haveISN = l4.Seq-1, true
			}
			payload := append([]byte(nil), l4.Payload...)
			fl.segs = append(fl.segs, segment{off: l4.Seq - fl.isn - 1, data: payload, t: ci.Timestamp})
		}
	}
	for _, fl := range flows {
		a.decodeFlow(fl)
	}
	sort.SliceStable(a.Requests, func(i, j int) bool { return a.Requests[i].Time.Before(a.Requests[j].Time) })
	return a, nil
}

// decodeFlow reassembles the client's side of one connection and cuts it
// into requests.
//
// A connection attempt (SYN) is a "tcp connect" request, as the ledger
// counts it for discovery probes, Modbus connections and OPC UA channels
// alike: every collector opens its connections through Session.Do("tcp",
// "connect"), so the per-device rate covers the SYN as well as the first
// message on the connection (an OPC UA Hello is a request of its own).
func (a *captureAnalysis) decodeFlow(fl *tcpFlow) {
	server, port := fl.key.server.Addr(), fl.key.server.Port()
	sort.SliceStable(fl.segs, func(i, j int) bool { return fl.segs[i].off < fl.segs[j].off })
	if fl.sawSYN {
		a.Requests = append(a.Requests, wireRequest{Time: fl.synTime, Server: server, ServerPort: port,
			Protocol: "tcp", Kind: "connect", Detail: fmt.Sprintf("port %d", port)})
	}
	if len(fl.segs) == 0 {
		return
	}
	var stream []byte
	var times []segment // stream offset -> time the byte first went out
	for _, s := range fl.segs {
		have := uint32(len(stream))
		end := s.off + uint32(len(s.data))
		switch {
		case end <= have:
			a.Retransmissions++
			continue
		case s.off > have:
			a.Problems = append(a.Problems, fmt.Sprintf("%v -> %v: %d bytes missing from the capture at offset %d", fl.key.client, fl.key.server, s.off-have, have))
		default:
			if s.off < have {
				a.Retransmissions++
			}
			times = append(times, segment{off: have, t: s.t})
			stream = append(stream, s.data[have-s.off:]...)
			continue
		}
		break
	}
	timeAt := func(off int) time.Time {
		i := sort.Search(len(times), func(i int) bool { return times[i].off > uint32(off) }) - 1
		if i < 0 {
			i = 0
		}
		return times[i].t
	}
	base := wireRequest{Server: server, ServerPort: port}
	var reqs []wireRequest
	var err error
	switch {
	case modbusPorts[port]:
		reqs, err = modbusRequests(stream, base, timeAt)
	case opcuaPorts[port]:
		reqs, err = opcuaRequests(stream, base, timeAt)
	default:
		base.Time, base.Protocol, base.Kind = timeAt(0), "tcp", fmt.Sprintf("payload to port %d", port)
		base.Detail = fmt.Sprintf("%d bytes", len(stream))
		reqs = []wireRequest{base}
	}
	if err != nil {
		a.Problems = append(a.Problems, fmt.Sprintf("%v -> %v: %v", fl.key.client, fl.key.server, err))
	}
	a.Requests = append(a.Requests, reqs...)
}

// modbusRequests cuts a client stream into Modbus/TCP ADUs.
func modbusRequests(b []byte, base wireRequest, timeAt func(int) time.Time) ([]wireRequest, error) {
	var out []wireRequest
	for off := 0; off < len(b); {
		if len(b)-off < 8 {
			return out, fmt.Errorf("modbus: %d trailing bytes at offset %d, not an ADU", len(b)-off, off)
		}
		h := b[off:]
		length := int(binary.BigEndian.Uint16(h[4:6]))
		if binary.BigEndian.Uint16(h[2:4]) != 0 || length < 2 || length > 254 {
			return out, fmt.Errorf("modbus: malformed MBAP header % x at offset %d", h[:7], off)
		}
		if len(h) < 6+length {
			return out, fmt.Errorf("modbus: ADU at offset %d truncated (%d of %d bytes)", off, len(h), 6+length)
		}
		pdu := h[7 : 6+length]
		r := base
		r.Time, r.Protocol, r.Code = timeAt(off), "modbus", int(pdu[0])
		r.Detail = fmt.Sprintf("unit %d", h[6])
		switch fc := pdu[0]; {
		case fc == 3 && len(pdu) == 5 && binary.BigEndian.Uint16(pdu[3:5]) == 1:
			r.Kind = "read-holding-registers"
		case fc == 3 && len(pdu) == 5:
			r.Kind = fmt.Sprintf("read-holding-registers x%d", binary.BigEndian.Uint16(pdu[3:5]))
		case fc == 17:
			r.Kind = "report-server-id"
		case fc == 43 && len(pdu) >= 2 && pdu[1] == 14:
			r.Kind = "read-device-id"
		case fc == 43 && len(pdu) >= 2:
			r.Kind = fmt.Sprintf("fc 43 mei %d", pdu[1])
		default:
			r.Kind = fmt.Sprintf("fc %d", fc)
		}
		out = append(out, r)
		off += 6 + length
	}
	return out, nil
}

// opcuaRequests cuts a client stream into OPC UA binary chunks. The
// channel's policy comes from its OpenSecureChannel request; on a None
// channel every message's TypeId is readable, on any other it may be
// encrypted and is reported as opaque.
func opcuaRequests(b []byte, base wireRequest, timeAt func(int) time.Time) ([]wireRequest, error) {
	var out []wireRequest
	policy := ""
	continuing := false
	for off := 0; off < len(b); {
		if len(b)-off < 8 {
			return out, fmt.Errorf("opcua: %d trailing bytes at offset %d, not a chunk", len(b)-off, off)
		}
		h := b[off:]
		msgType, chunk := string(h[0:3]), h[3]
		size := int(binary.LittleEndian.Uint32(h[4:8]))
		if size < 8 || size > 1<<24 {
			return out, fmt.Errorf("opcua: chunk %q at offset %d has size %d", msgType, off, size)
		}
		if len(h) < size {
			return out, fmt.Errorf("opcua: chunk %q at offset %d truncated (%d of %d bytes)", msgType, off, len(h), size)
		}
		c := h[:size]
		r := base
		r.Time, r.Protocol = timeAt(off), "opcua"
		switch msgType {
		case "HEL":
			r.Kind = "hello"
		case "OPN":
			r.Kind = "open-secure-channel"
			if len(c) >= 16 {
				n := int(int32(binary.LittleEndian.Uint32(c[12:16])))
				if n >= 0 && 16+n <= len(c) {
					policy = string(c[16 : 16+n])
				}
			}
			r.Detail = policy
		case "CLO":
			r.Kind = "close-secure-channel"
		case "MSG":
			r.Detail = policy
			switch {
			case continuing:
				r.Continuation, r.Kind = true, "continuation"
			case !strings.HasSuffix(policy, "#None"):
				r.Opaque, r.Kind = true, "secured"
			default:
				typeID, err := nodeIDNumeric(c, 24)
				if err != nil {
					return out, fmt.Errorf("opcua: MSG at offset %d: %w", off, err)
				}
				r.Code = typeID
				if k, ok := opcuaKinds[typeID]; ok {
					r.Kind = k
				} else {
					r.Kind = "service " + id.Name(uint32(typeID))
				}
			}
			continuing = chunk == 'C'
		default:
			r.Kind = "chunk " + msgType
		}
		out = append(out, r)
		off += size
	}
	return out, nil
}

// nodeIDNumeric decodes the numeric NodeId at b[at:] (two-byte, four-byte
// or numeric encoding, which is how request TypeIds are sent).
func nodeIDNumeric(b []byte, at int) (int, error) {
	if len(b) < at+2 {
		return 0, errors.New("no TypeId")
	}
	switch b[at] {
	case 0x00:
		return int(b[at+1]), nil
	case 0x01:
		if len(b) >= at+4 {
			return int(binary.LittleEndian.Uint16(b[at+2 : at+4])), nil
		}
	case 0x02:
		if len(b) >= at+7 {
			return int(binary.LittleEndian.Uint32(b[at+3 : at+7])), nil
		}
	}
	return 0, fmt.Errorf("TypeId encoding 0x%02x is not numeric", b[at])
}

// snmpPDU returns the PDU tag of an SNMP message and its version; opaque
// is true for an encrypted (authPriv) v3 PDU, whose tag cannot be seen.
func snmpPDU(b []byte) (tag byte, version string, opaque bool, err error) {
	tg, msg, _, err := berTLV(b)
	if err != nil || tg != 0x30 {
		return 0, "", false, fmt.Errorf("not an SNMP message (%v)", err)
	}
	tg, ver, rest, err := berTLV(msg)
	if err != nil || tg != 0x02 || len(ver) != 1 {
		return 0, "", false, fmt.Errorf("no version (%v)", err)
	}
	switch ver[0] {
	case 0, 1:
		version = map[byte]string{0: "v1", 1: "v2c"}[ver[0]]
		if tg, _, rest, err = berTLV(rest); err != nil || tg != 0x04 {
			return 0, version, false, fmt.Errorf("no community (%v)", err)
		}
		tg, _, _, err = berTLV(rest)
		return tg, version, false, err
	case 3:
		version = "v3"
		tg, global, rest, err := berTLV(rest)
		if err != nil || tg != 0x30 {
			return 0, version, false, fmt.Errorf("no msgGlobalData (%v)", err)
		}
		// msgID, msgMaxSize, then msgFlags (one octet: 0x02 = privacy)
		_, _, g, err := berTLV(global)
		if err == nil {
			_, _, g, err = berTLV(g)
		}
		var flags []byte
		if err == nil {
			tg, flags, _, err = berTLV(g)
		}
		if err != nil || tg != 0x04 || len(flags) != 1 {
			return 0, version, false, fmt.Errorf("no msgFlags (%v)", err)
		}
		if _, _, rest, err = berTLV(rest); err != nil { // msgSecurityParameters
			return 0, version, false, err
		}
		tg, scoped, _, err := berTLV(rest)
		if err != nil {
			return 0, version, false, err
		}
		if flags[0]&0x02 != 0 || tg == 0x04 {
			return 0, version + " authPriv", true, nil
		}
		// ScopedPDU: contextEngineID, contextName, PDU
		if _, _, scoped, err = berTLV(scoped); err == nil {
			_, _, scoped, err = berTLV(scoped)
		}
		if err != nil {
			return 0, version, false, err
		}
		tg, _, _, err = berTLV(scoped)
		return tg, version, false, err
	}
	return 0, "", false, fmt.Errorf("SNMP version %d", ver[0])
}

// berTLV splits one BER tag-length-value off b.
func berTLV(b []byte) (tag byte, val, rest []byte, err error) {
	if len(b) < 2 {
		return 0, nil, nil, errors.New("BER: short")
	}
	tag, n, hdr := b[0], int(b[1]), 2
	if n&0x80 != 0 {
		k := n & 0x7f
		if k == 0 || k > 3 || len(b) < 2+k {
			return 0, nil, nil, errors.New("BER: bad length")
		}
		n = 0
		for _, c := range b[2 : 2+k] {
			n = n<<8 | int(c)
		}
		hdr += k
	}
	if len(b) < hdr+n {
		return 0, nil, nil, errors.New("BER: value truncated")
	}
	return tag, b[hdr : hdr+n], b[hdr+n:], nil
}
