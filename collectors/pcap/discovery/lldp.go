package discovery

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// LLDP is what one LLDPDU (IEEE 802.1AB) says about its sender.
type LLDP struct {
	// ChassisID and PortID are rendered by subtype: a MAC address in
	// colon form, a network address as an IP, anything else as text.
	ChassisID  string
	PortID     string
	PortDesc   string
	SystemName string
	SystemDesc string
	// Capabilities and Enabled are the system capability bit sets
	// (bit 2 bridge, bit 4 router, bit 5 telephone, …); HasCaps says the
	// TLV was present.
	Capabilities uint16
	Enabled      uint16
	HasCaps      bool
	// Management holds the management addresses (IPv4 or IPv6).
	Management []netip.Addr
}

const (
	lldpEnd        = 0
	lldpChassisID  = 1
	lldpPortID     = 2
	lldpTTL        = 3
	lldpPortDesc   = 4
	lldpSystemName = 5
	lldpSystemDesc = 6
	lldpCaps       = 7
	lldpMgmtAddr   = 8

	maxLLDPMgmt = 4
)

// ParseLLDP parses an LLDPDU: the payload of an Ethernet frame of type
// 0x88cc. The mandatory chassis ID must come first.
func ParseLLDP(b []byte) (LLDP, error) {
	var l LLDP
	first := true
	for len(b) > 0 {
		if len(b) < 2 {
			return l, fmt.Errorf("lldp: TLV header cut at %d bytes: %w", len(b), ErrMalformed)
		}
		typ := int(b[0] >> 1)
		n := int(b[0]&1)<<8 | int(b[1])
		if len(b)-2 < n {
			return l, fmt.Errorf("lldp: TLV type %d length %d exceeds the %d bytes left: %w", typ, n, len(b)-2, ErrMalformed)
		}
		v := b[2 : 2+n]
		b = b[2+n:]
		if first && typ != lldpChassisID {
			return l, fmt.Errorf("lldp: first TLV is type %d, not chassis ID: %w", typ, ErrMalformed)
		}
		first = false
		switch typ {
		case lldpEnd:
			return l, nil
		case lldpChassisID:
			l.ChassisID = lldpID(v, 4, 5)
		case lldpPortID:
			l.PortID = lldpID(v, 3, 4)
		case lldpPortDesc:
			l.PortDesc = text(v)
		case lldpSystemName:
			l.SystemName = text(v)
		case lldpSystemDesc:
			l.SystemDesc = text(v)
		case lldpCaps:
			if len(v) >= 4 {
				l.Capabilities = uint16(v[0])<<8 | uint16(v[1])
				l.Enabled = uint16(v[2])<<8 | uint16(v[3])
				l.HasCaps = true
			}
		case lldpMgmtAddr:
			// address string length (subtype + address), subtype, address, …
			if len(v) >= 2 && len(l.Management) < maxLLDPMgmt {
				alen := int(v[0]) - 1
				if alen > 0 && len(v) >= 2+alen {
					if ip, ok := ianaAddr(v[1], v[2:2+alen]); ok {
						l.Management = append(l.Management, ip)
					}
				}
			}
		}
	}
	if first {
		return l, fmt.Errorf("lldp: empty LLDPDU: %w", ErrMalformed)
	}
	return l, nil
}

// lldpID renders a chassis or port ID: subtype, then the ID. macSub and
// netSub are the subtypes meaning "MAC address" and "network address"
// (they differ between chassis and port IDs).
func lldpID(v []byte, macSub, netSub byte) string {
	if len(v) < 2 {
		return ""
	}
	sub, id := v[0], v[1:]
	switch {
	case sub == macSub && len(id) == 6:
		return net.HardwareAddr(id).String()
	case sub == netSub && len(id) >= 2:
		if ip, ok := ianaAddr(id[0], id[1:]); ok {
			return ip.String()
		}
	}
	return text(id)
}

// ianaAddr reads an address of IANA address family fam (1 IPv4, 2 IPv6).
func ianaAddr(fam byte, b []byte) (netip.Addr, bool) {
	switch {
	case fam == 1 && len(b) == 4, fam == 2 && len(b) == 16:
		return netip.AddrFromSlice(b)
	}
	return netip.Addr{}, false
}

// Description is what a structured system description says about the
// device. Fields are empty when the description does not say.
type Description struct {
	Vendor      string
	Model       string
	ProductCode string // order number, e.g. "6GK5 212-2BB00-2AA3"
	Firmware    string
	Serial      string
}

// ParseDescription reads the structured system descriptions some vendors
// send; anything else yields the zero Description, because guessing a
// model from free text is worse than saying nothing.
//
//   - Siemens: "Siemens, SIMATIC NET, SCALANCE X212-2, 6GK5 212-2BB00-2AA3, HW: 7, FW: V4.02"
//     (a comma-separated list holding a Siemens order number);
//   - Cisco IOS: "Cisco IOS Software, C3560 Software (…), Version 12.2(44)SE, …".
func ParseDescription(desc string) Description {
	fields := strings.Split(desc, ",")
	for i := range fields {
		fields[i] = strings.TrimSpace(fields[i])
	}
	switch {
	case strings.HasPrefix(desc, "Siemens"):
		return siemensDescription(fields)
	case strings.HasPrefix(desc, "Cisco IOS"):
		var d Description
		for _, f := range fields {
			if v, ok := strings.CutPrefix(f, "Version "); ok && v != "" {
				d.Vendor, d.Firmware = "Cisco", strings.Fields(v)[0]
				break
			}
		}
		return d
	}
	return Description{}
}

func siemensDescription(fields []string) Description {
	order := -1
	for i, f := range fields {
		if isSiemensOrderNumber(f) {
			order = i
			break
		}
	}
	if order < 0 {
		return Description{}
	}
	d := Description{Vendor: "Siemens", ProductCode: fields[order]}
	if order >= 1 {
		d.Model = fields[order-1]
	}
	for _, f := range fields[order+1:] {
		switch {
		case strings.HasPrefix(f, "FW:"):
			d.Firmware = strings.TrimSpace(strings.TrimPrefix(f, "FW:"))
		case strings.HasPrefix(f, "SW.V"), strings.HasPrefix(f, "SW:"):
			d.Firmware = "V" + strings.TrimSpace(strings.TrimLeft(strings.TrimPrefix(strings.TrimPrefix(f, "SW:"), "SW."), "V "))
		case strings.HasPrefix(f, "S ") && d.Serial == "":
			d.Serial = f
		}
	}
	return d
}

// isSiemensOrderNumber matches "6GK5 212-2BB00-2AA3", "6ES7 214-1AG40-0XB0",
// "6AV2 123-2GB03-0AX0": digit, two letters, digit, space, three digits,
// dash, five, dash, four.
func isSiemensOrderNumber(s string) bool {
	if len(s) != 19 || s[4] != ' ' || s[8] != '-' || s[14] != '-' {
		return false
	}
	alnum := func(c byte) bool { return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' }
	digit := func(c byte) bool { return c >= '0' && c <= '9' }
	if !digit(s[0]) || !digit(s[5]) || !digit(s[6]) || !digit(s[7]) {
		return false
	}
	for i, c := range []byte(s) {
		if i == 4 || i == 8 || i == 14 {
			continue
		}
		if !alnum(c) {
			return false
		}
	}
	return true
}
