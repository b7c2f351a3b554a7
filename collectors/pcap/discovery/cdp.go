package discovery

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// CDP is what one Cisco Discovery Protocol message says about its sender.
type CDP struct {
	Version      int
	DeviceID     string
	Platform     string
	PortID       string
	Software     string
	Capabilities uint32
	// Addresses are the device's IPv4/IPv6 addresses, then its management
	// addresses.
	Addresses []netip.Addr
}

// cdpSNAP is the LLC/SNAP header (DSAP, SSAP, control, Cisco OUI, PID
// 0x2000) before a CDP message in an 802.3 frame.
var cdpSNAP = [8]byte{0xaa, 0xaa, 0x03, 0x00, 0x00, 0x0c, 0x20, 0x00}

// IsCDP reports whether an 802.3 (length-field) frame's payload starts with
// the LLC/SNAP header of CDP.
func IsCDP(llc []byte) bool {
	return len(llc) >= len(cdpSNAP) && [8]byte(llc[:8]) == cdpSNAP
}

const (
	cdpDeviceID   = 0x0001
	cdpAddresses  = 0x0002
	cdpPortID     = 0x0003
	cdpCaps       = 0x0004
	cdpSoftware   = 0x0005
	cdpPlatform   = 0x0006
	cdpMgmtAddrs  = 0x0016
	maxCDPAddress = 8
)

// ParseCDP parses a CDP message: the bytes after the LLC/SNAP header.
func ParseCDP(b []byte) (CDP, error) {
	var c CDP
	if len(b) < 4 {
		return c, fmt.Errorf("cdp: header cut at %d bytes: %w", len(b), ErrMalformed)
	}
	c.Version = int(b[0])
	if c.Version != 1 && c.Version != 2 {
		return c, fmt.Errorf("cdp: version %d: %w", c.Version, ErrMalformed)
	}
	b = b[4:] // version, TTL, checksum
	for len(b) >= 4 {
		typ := binary.BigEndian.Uint16(b[0:2])
		n := int(binary.BigEndian.Uint16(b[2:4]))
		if n < 4 || n > len(b) {
			return c, fmt.Errorf("cdp: TLV type %#04x length %d with %d bytes left: %w", typ, n, len(b), ErrMalformed)
		}
		v := b[4:n]
		b = b[n:]
		switch typ {
		case cdpDeviceID:
			c.DeviceID = text(v)
		case cdpPortID:
			c.PortID = text(v)
		case cdpPlatform:
			c.Platform = text(v)
		case cdpSoftware:
			c.Software = text(v)
		case cdpCaps:
			if len(v) >= 4 {
				c.Capabilities = binary.BigEndian.Uint32(v)
			}
		case cdpAddresses, cdpMgmtAddrs:
			c.Addresses = appendCDPAddresses(c.Addresses, v)
		}
	}
	if len(b) != 0 {
		return c, fmt.Errorf("cdp: %d trailing bytes after the last TLV: %w", len(b), ErrMalformed)
	}
	return c, nil
}

// appendCDPAddresses reads an address TLV: a count, then per address the
// protocol type (1 NLPID, 2 802.2), protocol length, protocol, address
// length and address. IPv4 is NLPID 0xcc; IPv6 an 802.2 SNAP protocol
// ending in 0x86dd.
func appendCDPAddresses(out []netip.Addr, v []byte) []netip.Addr {
	if len(v) < 4 {
		return out
	}
	count := binary.BigEndian.Uint32(v)
	v = v[4:]
	for i := uint32(0); i < count && len(out) < maxCDPAddress; i++ {
		if len(v) < 2 {
			return out
		}
		plen := int(v[1])
		if len(v) < 2+plen+2 {
			return out
		}
		proto := v[2 : 2+plen]
		alen := int(binary.BigEndian.Uint16(v[2+plen:]))
		if len(v) < 4+plen+alen {
			return out
		}
		addr := v[4+plen : 4+plen+alen]
		v = v[4+plen+alen:]
		isV4 := plen == 1 && proto[0] == 0xcc && alen == 4
		isV6 := plen >= 2 && proto[plen-2] == 0x86 && proto[plen-1] == 0xdd && alen == 16
		if isV4 || isV6 {
			if ip, ok := netip.AddrFromSlice(addr); ok && !ip.IsUnspecified() {
				out = append(out, ip)
			}
		}
	}
	return out
}
