package arpsweep

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
)

// ARP over Ethernet for IPv4 (RFC 826): the 28 bytes after the Ethernet
// header.
const (
	frameLen     = 28
	hwEthernet   = 1
	protoIPv4    = 0x0800
	opRequest    = 1
	opReply      = 2
	hwAddrLen    = 6
	protoAddrLen = 4
)

// request is the ARP request "who has target? tell source", from srcMAC.
func request(srcMAC net.HardwareAddr, source, target netip.Addr) ([]byte, error) {
	if len(srcMAC) != hwAddrLen || !source.Is4() || !target.Is4() {
		return nil, errors.New("ARP request needs an Ethernet MAC and IPv4 addresses")
	}
	b := make([]byte, frameLen)
	binary.BigEndian.PutUint16(b[0:], hwEthernet)
	binary.BigEndian.PutUint16(b[2:], protoIPv4)
	b[4], b[5] = hwAddrLen, protoAddrLen
	binary.BigEndian.PutUint16(b[6:], opRequest)
	copy(b[8:14], srcMAC)
	s4 := source.As4()
	copy(b[14:18], s4[:])
	// b[18:24]: target MAC unknown, zero.
	t4 := target.As4()
	copy(b[24:28], t4[:])
	return b, nil
}

// sender returns the sender of an Ethernet/IPv4 ARP request or reply: any
// ARP packet a host sends proves it holds its sender address. Anything
// else (other hardware or protocol types, short packets, probes with a
// zero sender address) is not a sender.
func sender(b []byte) (netip.Addr, net.HardwareAddr, bool) {
	if len(b) < frameLen ||
		binary.BigEndian.Uint16(b[0:]) != hwEthernet || binary.BigEndian.Uint16(b[2:]) != protoIPv4 ||
		b[4] != hwAddrLen || b[5] != protoAddrLen {
		return netip.Addr{}, nil, false
	}
	if op := binary.BigEndian.Uint16(b[6:]); op != opRequest && op != opReply {
		return netip.Addr{}, nil, false
	}
	ip := netip.AddrFrom4([4]byte(b[14:18]))
	if ip.IsUnspecified() {
		// An address probe (RFC 5227) says nothing about who holds the
		// address.
		return netip.Addr{}, nil, false
	}
	mac := net.HardwareAddr(append([]byte(nil), b[8:14]...))
	return ip, mac, true
}
