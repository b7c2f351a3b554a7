package discovery

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
)

// DHCP message types (option 53).
const (
	DHCPDiscover = 1
	DHCPOffer    = 2
	DHCPRequest  = 3
	DHCPDecline  = 4
	DHCPAck      = 5
	DHCPNak      = 6
	DHCPRelease  = 7
	DHCPInform   = 8
)

// DHCP is what one DHCP (or BOOTP) message says about the client.
type DHCP struct {
	Op int // 1 request (client), 2 reply (server)
	// MsgType is option 53 (0 for plain BOOTP).
	MsgType int
	// ClientMAC is chaddr when the hardware type is Ethernet.
	ClientMAC [6]byte
	HasMAC    bool
	// ClientIP is ciaddr, YourIP yiaddr, RequestedIP option 50.
	ClientIP, YourIP, RequestedIP netip.Addr
	Hostname                      string // option 12
	VendorClass                   string // option 60
	// ClientID is option 61 rendered as text: "01:<mac>" style hex when
	// it is a hardware address, the printable text otherwise.
	ClientID string
}

var dhcpMagic = [4]byte{99, 130, 83, 99}

const (
	dhcpFixed        = 236
	dhcpOptPad       = 0
	dhcpOptHostname  = 12
	dhcpOptRequested = 50
	dhcpOptMsgType   = 53
	dhcpOptVendor    = 60
	dhcpOptClientID  = 61
	dhcpOptEnd       = 255
)

// ParseDHCP parses a BOOTP/DHCP message (a UDP payload on port 67 or 68).
func ParseDHCP(b []byte) (DHCP, error) {
	var m DHCP
	if len(b) < dhcpFixed+4 {
		return m, fmt.Errorf("dhcp: message of %d bytes is shorter than the fixed header: %w", len(b), ErrMalformed)
	}
	m.Op = int(b[0])
	if m.Op != 1 && m.Op != 2 {
		return m, fmt.Errorf("dhcp: op %d: %w", m.Op, ErrMalformed)
	}
	if [4]byte(b[dhcpFixed:dhcpFixed+4]) != dhcpMagic {
		return m, fmt.Errorf("dhcp: no DHCP magic cookie: %w", ErrMalformed)
	}
	if b[1] == 1 && b[2] == 6 { // Ethernet, 6-byte address
		copy(m.ClientMAC[:], b[28:34])
		m.HasMAC = true
	}
	m.ClientIP = addr4(b[12:16])
	m.YourIP = addr4(b[16:20])
	opts := b[dhcpFixed+4:]
	for len(opts) > 0 {
		code := opts[0]
		if code == dhcpOptPad {
			opts = opts[1:]
			continue
		}
		if code == dhcpOptEnd {
			break
		}
		if len(opts) < 2 || len(opts) < 2+int(opts[1]) {
			return m, fmt.Errorf("dhcp: option %d overruns the message: %w", code, ErrMalformed)
		}
		v := opts[2 : 2+int(opts[1])]
		opts = opts[2+len(v):]
		switch code {
		case dhcpOptMsgType:
			if len(v) == 1 {
				m.MsgType = int(v[0])
			}
		case dhcpOptHostname:
			m.Hostname = text(v)
		case dhcpOptVendor:
			m.VendorClass = text(v)
		case dhcpOptRequested:
			if len(v) == 4 {
				m.RequestedIP = addr4(v)
			}
		case dhcpOptClientID:
			if len(v) == 7 && v[0] == 1 {
				m.ClientID = "01:" + net.HardwareAddr(v[1:]).String()
			} else {
				m.ClientID = text(v)
			}
		}
	}
	return m, nil
}

// addr4 is the IPv4 address in b, or the zero Addr when it is 0.0.0.0.
func addr4(b []byte) netip.Addr {
	if binary.BigEndian.Uint32(b) == 0 {
		return netip.Addr{}
	}
	return netip.AddrFrom4([4]byte(b))
}
