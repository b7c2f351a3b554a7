package pcap

import (
	"bytes"
	"strconv"

	"github.com/otaudit/otaudit"
)

// A strict, allocation-free reader for the common SNMP v1/v2c message:
// version, community, and a request/response PDU whose variable bindings
// hold NULL, OCTET STRING or OBJECT IDENTIFIER values, in canonical BER
// (definite lengths, every container exactly filled, minimal OID arcs).
// gosnmp decoded every datagram into a fresh object graph, some 45
// allocations each, the largest cost of the analysis after the connection
// table. Whatever this reader does not accept goes to gosnmp as before, so
// gosnmp keeps the last word on unusual and malformed messages; the
// differential test (snmp_fast_test.go) holds the two to the same result
// on what this reader does accept.

// snmpFast is what the analysis reads from such a message. Slices point
// into the datagram.
type snmpFast struct {
	community []byte
	tag       byte // PDU tag
	requestID uint32
	errStatus byte
	vbl       []byte // contents of the variable-binding list, validated
}

// snmpFastTLV reads a tag and a definite length (short form, or long form
// of one or two octets) and returns the contents and what follows.
func snmpFastTLV(b []byte) (tag byte, content, rest []byte, ok bool) {
	if len(b) < 2 {
		return 0, nil, nil, false
	}
	tag, n, p := b[0], int(b[1]), 2
	switch {
	case n < 0x80:
	case n == 0x81 && len(b) >= 3:
		n, p = int(b[2]), 3
	case n == 0x82 && len(b) >= 4:
		n, p = int(b[2])<<8|int(b[3]), 4
	default:
		return 0, nil, nil, false
	}
	if len(b)-p < n {
		return 0, nil, nil, false
	}
	return tag, b[p : p+n], b[p+n:], true
}

// snmpFastInt reads an INTEGER of 1 to 4 octets as a signed value.
func snmpFastInt(b []byte) (v int32, rest []byte, ok bool) {
	tag, c, rest, ok := snmpFastTLV(b)
	if !ok || tag != 0x02 || len(c) == 0 || len(c) > 4 {
		return 0, nil, false
	}
	u := int32(int8(c[0]))
	for _, x := range c[1:] {
		u = u<<8 | int32(x)
	}
	return u, rest, true
}

// snmpFastOID checks that c is a non-empty OID whose arcs are minimally
// encoded and fit in 28 bits, starting with the arcs 1.3 (0x2b).
func snmpFastOID(c []byte) bool {
	if len(c) == 0 || c[0] != 0x2b || c[len(c)-1]&0x80 != 0 {
		return false
	}
	start := 1
	for i := 1; i < len(c); i++ {
		if i == start && c[i] == 0x80 {
			return false // a leading zero septet: not minimal
		}
		if c[i]&0x80 == 0 {
			if i-start >= 4 {
				return false
			}
			start = i + 1
		}
	}
	return true
}

// parseSNMPFast accepts b when it is such a message; ok false means "ask
// gosnmp", not "malformed".
func parseSNMPFast(b []byte) (m snmpFast, ok bool) {
	tag, msg, rest, ok := snmpFastTLV(b)
	if !ok || tag != 0x30 || len(rest) != 0 {
		return m, false
	}
	version, msg, ok := snmpFastInt(msg)
	if !ok || (version != snmpV1 && version != snmpV2c) {
		return m, false
	}
	tag, m.community, msg, ok = snmpFastTLV(msg)
	if !ok || tag != 0x04 {
		return m, false
	}
	tag, pdu, rest, ok := snmpFastTLV(msg)
	if !ok || len(rest) != 0 {
		return m, false
	}
	switch tag {
	case 0xa0, 0xa1, 0xa2, 0xa3, 0xa6, 0xa7, 0xa8: // not GetBulk, not the v1 Trap
	default:
		return m, false
	}
	m.tag = tag
	id, pdu, ok := snmpFastInt(pdu)
	if !ok {
		return m, false
	}
	m.requestID = uint32(id)
	status, pdu, ok := snmpFastInt(pdu)
	if !ok || status < 0 || status > 0x7f {
		return m, false
	}
	m.errStatus = byte(status)
	if _, pdu, ok = snmpFastInt(pdu); !ok { // error-index
		return m, false
	}
	tag, m.vbl, rest, ok = snmpFastTLV(pdu)
	if !ok || tag != 0x30 || len(rest) != 0 {
		return m, false
	}
	for vbl := m.vbl; len(vbl) > 0; {
		var vb []byte
		tag, vb, vbl, ok = snmpFastTLV(vbl)
		if !ok || tag != 0x30 {
			return m, false
		}
		tag, name, val, ok := snmpFastTLV(vb)
		if !ok || tag != 0x06 || !snmpFastOID(name) {
			return m, false
		}
		tag, v, rest, ok := snmpFastTLV(val)
		if !ok || len(rest) != 0 {
			return m, false
		}
		switch {
		case tag == 0x05 && len(v) == 0, tag == 0x04:
		case tag == 0x06 && snmpFastOID(v):
		default:
			return m, false
		}
	}
	return m, true
}

// Encoded names of the system group objects snmpIdentity reads.
var (
	berSysDescr    = []byte{0x2b, 6, 1, 2, 1, 1, 1, 0}
	berSysObjectID = []byte{0x2b, 6, 1, 2, 1, 1, 2, 0}
	berSysName     = []byte{0x2b, 6, 1, 2, 1, 1, 5, 0}
)

// snmpFastIdentity is snmpIdentity for a message parseSNMPFast accepted.
func snmpFastIdentity(a *analysis, m *snmpFast, f *frameInfo) {
	// A device answers the same poll again and again: values the identity
	// already has are not spelled out again (identity keeps the first).
	var known otaudit.DeviceIdentity
	if g := a.lookupIdent(identKey{ip: f.src, method: "snmp-passive"}); g != nil {
		known = g.id
	}
	model, product, name := snmpFastSystemFor(m, known.Model != "", known.ProductCode != "", known.Name != "")
	if model != "" || product != "" || name != "" {
		a.identity(otaudit.DeviceIdentity{IP: f.src, Method: "snmp-passive", Model: model, ProductCode: product, Name: name}, f)
	}
}

// snmpFastSystem reads sysDescr, sysObjectID and sysName as snmpIdentity
// does: the last binding of each wins.
func snmpFastSystem(m *snmpFast) (model, product, name string) {
	return snmpFastSystemFor(m, false, false, false)
}

// knownValue stands for a value the identity already holds: only whether
// it is empty matters, since identity keeps the value it has.
const knownValue = "\x00known"

// snmpFastSystemFor is snmpFastSystem, with knownValue (or "") for the
// fields said known: the same emptiness, without building the strings.
func snmpFastSystemFor(m *snmpFast, knownModel, knownProduct, knownName bool) (model, product, name string) {
	for vbl := m.vbl; len(vbl) > 0; {
		_, vb, rest, _ := snmpFastTLV(vbl)
		vbl = rest
		_, oid, val, _ := snmpFastTLV(vb)
		tag, v, _, _ := snmpFastTLV(val)
		switch {
		case tag == 0x04 && bytes.Equal(oid, berSysDescr):
			model = printableOrKnown(v, 255, knownModel)
		case tag == 0x06 && bytes.Equal(oid, berSysObjectID):
			if knownProduct {
				product = knownValue // an OID always spells as ".1.3…"
			} else {
				product = printable(snmpFastOIDString(v), 128)
			}
		case tag == 0x04 && bytes.Equal(oid, berSysName):
			name = printableOrKnown(v, 255, knownName)
		}
	}
	return model, product, name
}

// printableOrKnown is printable(b, limit), or knownValue when known and
// printable would not be empty.
func printableOrKnown(b []byte, limit int, known bool) string {
	if !known {
		return printable(b, limit)
	}
	kept := 0
	for _, c := range b {
		if kept >= limit {
			break
		}
		if c >= 0x20 && c < 0x7f {
			if c != ' ' {
				return knownValue
			}
			kept++
		}
	}
	return ""
}

// snmpFastOIDString spells an OID the way gosnmp does (".1.3.6…").
func snmpFastOIDString(c []byte) []byte {
	out := make([]byte, 0, len(c)*4+1)
	out = append(out, ".1.3"...)
	v := uint64(0)
	for _, x := range c[1:] {
		v = v<<7 | uint64(x&0x7f)
		if x&0x80 == 0 {
			out = append(out, '.')
			out = strconv.AppendUint(out, v, 10)
			v = 0
		}
	}
	return out
}
