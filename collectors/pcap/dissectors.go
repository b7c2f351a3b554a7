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
}

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

var httpMethods = [][]byte{
	[]byte("GET "), []byte("POST "), []byte("HEAD "), []byte("PUT "), []byte("DELETE "),
	[]byte("OPTIONS "), []byte("PATCH "), []byte("CONNECT "), []byte("TRACE "),
}

// detectTCP recognises a protocol from the first payload bytes of either
// direction; "" when nothing matched.
func detectTCP(c *conn, d dir, b []byte) string {
	switch {
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
