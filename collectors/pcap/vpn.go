package pcap

import (
	"encoding/binary"
)

// VPN sessions by signature on their ports: IKE (UDP 500, and 4500 with
// NAT traversal), OpenVPN (UDP or TCP 1194) and WireGuard (UDP 51820). A
// dissector only names the session (c.detail) once a datagram matches the
// protocol's header exactly; addSession reports a VPN conversation as a
// RemoteSession only then, so other traffic on these ports is not taken for
// a tunnel. WireGuard is recognised by its exact message sizes: tshark's
// heuristic also takes other UDP (e.g. TeamViewer's) for it.

const (
	ikeHeaderLen = 28

	openvpnHardResetClientV1 = 1
	openvpnHardResetClientV3 = 10

	wgInitiation   = 1
	wgResponse     = 2
	wgCookieReply  = 3
	wgTransport    = 4
	wgTransportMin = 32 // header and an empty (keepalive) packet's tag
)

// isIKE matches an ISAKMP/IKE header whose length is the datagram's.
func isIKE(b []byte) (version byte, ok bool) {
	if len(b) < ikeHeaderLen {
		return 0, false
	}
	v := b[17] >> 4
	if v != 1 && v != 2 {
		return 0, false
	}
	if binary.BigEndian.Uint64(b[0:8]) == 0 { // the initiator SPI is never 0
		return 0, false
	}
	return v, int(binary.BigEndian.Uint32(b[24:28])) == len(b)
}

func ikeDatagram(a *analysis, c *conn, d dir, b []byte, f *frameInfo) {
	natT := false
	if f.sport == 4500 || f.dport == 4500 {
		switch {
		case len(b) == 1 && b[0] == 0xff:
			return // NAT keepalive
		case len(b) >= 4 && binary.BigEndian.Uint32(b) == 0:
			b, natT = b[4:], true // non-ESP marker: IKE follows
		case len(b) >= 8:
			// ESP in UDP: SPI and sequence number; the tunnel itself.
			if c.detail == "" {
				c.detail = "ESP in UDP (NAT-T)"
			}
			return
		}
	}
	v, ok := isIKE(b)
	if !ok {
		return
	}
	detail := "IKEv1"
	if v == 2 {
		detail = "IKEv2"
	}
	if natT {
		detail += " (NAT-T)"
	}
	c.detail = detail
}

// isOpenVPN matches the first octet of an OpenVPN packet (opcode and key
// ID) with enough bytes behind it for a session ID or a data header.
func isOpenVPN(b []byte) bool {
	if len(b) < 9 {
		return false
	}
	op := b[0] >> 3
	return op >= openvpnHardResetClientV1 && op <= openvpnHardResetClientV3
}

func openvpnDatagram(a *analysis, c *conn, d dir, b []byte, f *frameInfo) {
	if isOpenVPN(b) {
		c.detail = "OpenVPN over UDP"
	}
}

// openvpnStream: over TCP each packet has a two-octet length prefix.
type openvpnStream struct{ done bool }

func (s *openvpnStream) data(a *analysis, c *conn, d dir, b []byte, f *frameInfo) int {
	if s.done {
		return len(b)
	}
	if len(b) < 2 {
		return 0
	}
	n := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+min(n, 9) {
		return 0
	}
	if n >= 9 && isOpenVPN(b[2:2+min(n, len(b)-2)]) {
		c.detail = "OpenVPN over TCP"
	}
	s.done = true
	return len(b)
}

func (s *openvpnStream) gap(*analysis, *conn, dir) {}
func (s *openvpnStream) end(*analysis, *conn)      {}

// isWireGuard matches a WireGuard message: type 1–4, three zero reserved
// octets and the exact size of that message type.
func isWireGuard(b []byte) bool {
	if len(b) < 4 || b[1] != 0 || b[2] != 0 || b[3] != 0 {
		return false
	}
	switch b[0] {
	case wgInitiation:
		return len(b) == 148
	case wgResponse:
		return len(b) == 92
	case wgCookieReply:
		return len(b) == 64
	case wgTransport:
		return len(b) >= wgTransportMin && (len(b)-wgTransportMin)%16 == 0
	}
	return false
}

func wireguardDatagram(a *analysis, c *conn, d dir, b []byte, f *frameInfo) {
	if isWireGuard(b) {
		c.detail = "WireGuard"
	}
}
