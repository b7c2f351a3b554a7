package snmp

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/gosnmp/gosnmp"
	"github.com/otaudit/otaudit/collectors/active"
)

// maxValueLen bounds every string kept from an agent's answer: a hostile
// agent may send a 64 KiB sysDescr.
const maxValueLen = 256

// printable is active.Printable with the padding this protocol uses (spaces, NULs and line ends).
func printable(b []byte, max int) string { return active.Printable(b, max, " \x00\r\n") }

// renderValue turns one variable binding's value into a bounded printable
// string; "" for the exceptions (noSuchObject, noSuchInstance,
// endOfMibView) and for values that carry nothing readable.
func renderValue(v gosnmp.SnmpPDU) string {
	switch v.Type {
	case gosnmp.OctetString, gosnmp.Opaque, gosnmp.BitString:
		b, _ := v.Value.([]byte)
		return printable(b, maxValueLen)
	case gosnmp.ObjectIdentifier, gosnmp.IPAddress:
		s, _ := v.Value.(string)
		return printable([]byte(s), maxValueLen)
	case gosnmp.Integer, gosnmp.Counter32, gosnmp.Gauge32, gosnmp.TimeTicks, gosnmp.Counter64, gosnmp.Uinteger32:
		n := gosnmp.ToBigInt(v.Value)
		if n == nil {
			return ""
		}
		return n.String()
	}
	return ""
}

// intValue is an integer-typed value, ok false for anything else.
func intValue(v gosnmp.SnmpPDU) (int64, bool) {
	switch v.Type {
	case gosnmp.Integer, gosnmp.Counter32, gosnmp.Gauge32, gosnmp.TimeTicks, gosnmp.Uinteger32:
		n := gosnmp.ToBigInt(v.Value)
		if n == nil || !n.IsInt64() {
			return 0, false
		}
		return n.Int64(), true
	}
	return 0, false
}

// macValue renders an ifPhysAddress as a lower-case colon-separated MAC,
// "" unless it is exactly six bytes and not all zero.
func macValue(v gosnmp.SnmpPDU) string {
	b, ok := v.Value.([]byte)
	if v.Type != gosnmp.OctetString || !ok || len(b) != 6 || bytes.Equal(b, make([]byte, 6)) {
		return ""
	}
	parts := make([]string, 6)
	for i, c := range b {
		parts[i] = fmt.Sprintf("%02x", c)
	}
	return strings.Join(parts, ":")
}

// engineIDString renders an engine ID as hex, bounded (RFC 3411 allows 5
// to 32 octets).
func engineIDString(id string) string {
	if len(id) > 32 {
		id = id[:32]
	}
	return fmt.Sprintf("%x", id)
}

// oidUnder reports whether oid is strictly inside the subtree root
// (dotted, with or without the leading dot).
func oidUnder(oid, root string) bool {
	oid, root = strings.TrimPrefix(oid, "."), strings.TrimPrefix(root, ".")
	return strings.HasPrefix(oid, root+".")
}

// oidSuffix is what follows root in oid ("" when oid is not under root).
func oidSuffix(oid, root string) string {
	if !oidUnder(oid, root) {
		return ""
	}
	return strings.TrimPrefix(oid, ".")[len(strings.TrimPrefix(root, "."))+1:]
}

// compareOIDs orders dotted OIDs numerically, as agents walk them.
func compareOIDs(a, b string) int {
	as, bs := strings.Split(strings.TrimPrefix(a, "."), "."), strings.Split(strings.TrimPrefix(b, "."), ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, errx := strconv.ParseUint(as[i], 10, 64)
		y, erry := strconv.ParseUint(bs[i], 10, 64)
		if errx != nil || erry != nil {
			if c := strings.Compare(as[i], bs[i]); c != 0 {
				return c
			}
			continue
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return len(as) - len(bs)
}

// oidString renders an OID index suffix of length-prefixed octets (as the
// VACM tables use) back to text, ok false when it is not one.
func octetIndex(parts []string) (string, []string, bool) {
	if len(parts) == 0 {
		return "", nil, false
	}
	n, err := strconv.Atoi(parts[0])
	if err != nil || n < 0 || n > len(parts)-1 || n > 64 {
		return "", nil, false
	}
	b := make([]byte, n)
	for i := 0; i < n; i++ {
		c, err := strconv.Atoi(parts[1+i])
		if err != nil || c < 0 || c > 255 {
			return "", nil, false
		}
		b[i] = byte(c)
	}
	return string(b), parts[1+n:], true
}

// octetOID encodes s as a length-prefixed OID index.
func octetOID(s string) string {
	var sb strings.Builder
	sb.WriteString(strconv.Itoa(len(s)))
	for i := 0; i < len(s); i++ {
		sb.WriteByte('.')
		sb.WriteString(strconv.Itoa(int(s[i])))
	}
	return sb.String()
}
