package pcap

import (
	"bytes"
	"encoding/binary"

	"github.com/otaudit/otaudit/collectors/pcap/dnp3"
	"github.com/otaudit/otaudit/collectors/pcap/enip"
	"github.com/otaudit/otaudit/collectors/pcap/iec104"
)

// tcpDissectors is the explicit list of stream dissectors by protocol name.
// A new TCP protocol is one file implementing streamDissector plus one line
// here (and, if it can be recognised by payload, one case in detectTCP).
var tcpDissectors = map[string]func() streamDissector{
	"modbus":  func() streamDissector { return &modbusStream{} },
	"telnet":  func() streamDissector { return &telnetStream{} },
	"ftp":     func() streamDissector { return &ftpStream{} },
	"http":    func() streamDissector { return &httpStream{} },
	"opcua":   func() streamDissector { return &opcuaStream{} },
	"ssh":     func() streamDissector { return &sshStream{} },
	"vnc":     func() streamDissector { return &vncStream{} },
	"rdp":     func() streamDissector { return &rdpStream{} },
	"enip":    func() streamDissector { return &enipStream{} },
	"dnp3":    func() streamDissector { return &dnp3Stream{} },
	"iec104":  func() streamDissector { return &iec104Stream{} },
	"openvpn": func() streamDissector { return &openvpnStream{} },
	"s7comm":  func() streamDissector { return &s7Stream{} },
	"https":   newTLSStream,
	"tls":     newTLSStream,
	"anydesk": newTLSStream,
}

func newTLSStream() streamDissector { return &tlsStream{} }

// carriesTLS says proto's dissector is the TLS one (tcpDissectors).
func carriesTLS(proto string) bool { return proto == "https" || proto == "tls" || proto == "anydesk" }

// udpDissectors is the same for datagram protocols.
var udpDissectors = map[string]datagramDissector{
	"snmp":      snmpDatagramWithState,
	"snmp-trap": snmpDatagramWithState,
	"enip":      enipDatagram,
	"dnp3":      dnp3Datagram,
	"bacnet":    bacnetDatagram,
	"ike":       ikeDatagram,
	"openvpn":   openvpnDatagram,
	"wireguard": wireguardDatagram,
	"dhcp":      dhcpDatagram,
}

// detectUDP recognises, by a strict signature, a datagram protocol that has
// a dissector, for UDP conversations on ports that name none; "" when
// nothing matched. Every signature demands a length field that agrees with
// the datagram exactly (or a checksum), which random payloads almost never
// do.
func detectUDP(b []byte) string {
	switch {
	case isBVLC(b):
		return "bacnet"
	case isSNMPMessage(b):
		return "snmp"
	case enip.LooksLikeENIP(b):
		return "enip"
	case dnp3.LooksLikeDNP3(b):
		return "dnp3"
	}
	return ""
}

// isBVLC matches a BACnet/IP virtual link header (Annex J): type 0x81, a
// known function, the length of the whole datagram, and for the NPDU
// carrying functions an NPDU of version 1.
func isBVLC(b []byte) bool {
	if len(b) < 4 || b[0] != 0x81 || b[1] > 0x0c || int(binary.BigEndian.Uint16(b[2:4])) != len(b) {
		return false
	}
	switch b[1] {
	case 0x04: // Forwarded-NPDU: 6 bytes of origin, then the NPDU
		return len(b) >= 12 && b[10] == 0x01
	case 0x09, 0x0a, 0x0b: // Distribute-Broadcast-To-Network, Original-Unicast/Broadcast-NPDU
		return len(b) >= 6 && b[4] == 0x01
	}
	return true
}

// isSNMPMessage matches the start of an SNMP message: a SEQUENCE whose
// length is the rest of the datagram, holding an INTEGER version 0, 1 or 3
// and then the community (v1, v2c) or the v3 header data.
func isSNMPMessage(b []byte) bool {
	if len(b) < 8 || b[0] != 0x30 {
		return false
	}
	n, hdr := int(b[1]), 2
	switch {
	case b[1] == 0x81:
		n, hdr = int(b[2]), 3
	case b[1] == 0x82:
		n, hdr = int(binary.BigEndian.Uint16(b[2:4])), 4
	case b[1] > 0x7f:
		return false
	}
	if hdr+n != len(b) || len(b) < hdr+5 {
		return false
	}
	v := b[hdr:]
	if v[0] != 0x02 || v[1] != 0x01 {
		return false
	}
	switch v[2] {
	case 0, 1:
		return v[3] == 0x04
	case 3:
		return v[3] == 0x30
	}
	return false
}

var httpMethods = [][]byte{
	[]byte("GET "), []byte("POST "), []byte("HEAD "), []byte("PUT "), []byte("DELETE "),
	[]byte("OPTIONS "), []byte("PATCH "), []byte("CONNECT "), []byte("TRACE "),
}

// detectTCP recognises a protocol from the first payload bytes of either
// direction; "" when nothing matched.
func detectTCP(c *conn, d dir, b []byte) string {
	switch {
	case isTLSHello(d, b) || isTLSRecordExact(b):
		if carriesTLS(c.protocol) {
			return c.protocol // a protocol known to run over TLS keeps its name
		}
		return "tls"
	case bytes.HasPrefix(b, []byte("SSH-")):
		return "ssh"
	case isRFBVersion(b):
		return "vnc"
	case isTPKTCOTP(b):
		if bytes.Contains(b, []byte("Cookie: mstshash=")) || c.sport == 3389 || c.cport == 3389 {
			return "rdp"
		}
		if c.sport == 102 || c.cport == 102 || isS7DT(b) {
			return "s7comm"
		}
	case d == toServer && isHTTPRequest(b), d == toClient && bytes.HasPrefix(b, []byte("HTTP/1.")):
		return "http"
	case isOPCUAChunk(b):
		return "opcua"
	case iec104.Looks(b):
		return "iec104"
	case enip.LooksLikeENIP(b):
		return "enip"
	case dnp3.LooksLikeDNP3(b):
		return "dnp3"
	case (c.sport == 502 || c.cport == 502) && isMBAP(b):
		return "modbus"
	case len(b) >= 2 && b[0] == telnetIAC && b[1] >= telnetWILL && b[1] <= telnetDONT:
		return "telnet"
	}
	return ""
}

func isHTTPRequest(b []byte) bool {
	for _, m := range httpMethods {
		if bytes.HasPrefix(b, m) {
			line := b
			if i := bytes.IndexByte(b, '\n'); i >= 0 {
				line = b[:i]
			}
			return bytes.Contains(line, []byte(" HTTP/1.")) || bytes.Contains(line, []byte(" HTTP/2"))
		}
	}
	return false
}

// isRFBVersion matches the RFB ProtocolVersion message "RFB xxx.yyy\n".
func isRFBVersion(b []byte) bool {
	if len(b) < 12 || !bytes.HasPrefix(b, []byte("RFB ")) || b[7] != '.' || b[11] != '\n' {
		return false
	}
	for _, i := range []int{4, 5, 6, 8, 9, 10} {
		if b[i] < '0' || b[i] > '9' {
			return false
		}
	}
	return true
}

// isTPKTCOTP matches a TPKT header (RFC 1006) carrying a COTP TPDU.
func isTPKTCOTP(b []byte) bool {
	if len(b) < 7 || b[0] != 3 || b[1] != 0 {
		return false
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n < 7 || int(b[4]) >= n-4 {
		return false
	}
	switch b[5] & 0xf0 {
	case 0xe0, 0xd0, 0xf0, 0x80, 0x70: // CR, CC, DT, DR, ED
		return true
	}
	return false
}

// isOPCUAChunk matches the OPC UA Connection Protocol / Secure
// Conversation chunk header: message type, chunk type, size.
func isOPCUAChunk(b []byte) bool {
	if len(b) < 8 {
		return false
	}
	switch string(b[:3]) {
	case "HEL", "ACK", "OPN", "MSG", "CLO", "ERR", "RHE":
	default:
		return false
	}
	if b[3] != 'F' && b[3] != 'C' && b[3] != 'A' {
		return false
	}
	n := binary.LittleEndian.Uint32(b[4:8])
	return n >= 8 && n <= 1<<24
}
