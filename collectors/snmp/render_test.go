package snmp

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gosnmp/gosnmp"
)

func TestRenderValue(t *testing.T) {
	tests := []struct {
		v    gosnmp.SnmpPDU
		want string
	}{
		{gosnmp.SnmpPDU{Type: gosnmp.OctetString, Value: []byte("Siemens, SIMATIC NET")}, "Siemens, SIMATIC NET"},
		{gosnmp.SnmpPDU{Type: gosnmp.OctetString, Value: []byte("\x00\x01ab\xff\r\n")}, `\x01ab\xff`},
		{gosnmp.SnmpPDU{Type: gosnmp.OctetString, Value: []byte("line1\nline2")}, `line1\x0aline2`},
		{gosnmp.SnmpPDU{Type: gosnmp.ObjectIdentifier, Value: ".1.3.6.1.4.1.4329.6.1.2"}, ".1.3.6.1.4.1.4329.6.1.2"},
		{gosnmp.SnmpPDU{Type: gosnmp.TimeTicks, Value: uint32(4711)}, "4711"},
		{gosnmp.SnmpPDU{Type: gosnmp.Integer, Value: -3}, "-3"},
		{gosnmp.SnmpPDU{Type: gosnmp.NoSuchObject}, ""},
		{gosnmp.SnmpPDU{Type: gosnmp.OctetString, Value: "not bytes"}, ""},
	}
	for _, tc := range tests {
		if got := renderValue(tc.v); got != tc.want {
			t.Errorf("renderValue(%v %q) = %q, want %q", tc.v.Type, tc.v.Value, got, tc.want)
		}
	}
	huge := renderValue(gosnmp.SnmpPDU{Type: gosnmp.OctetString, Value: []byte(strings.Repeat("A", 65000))})
	if len(huge) > maxValueLen || !strings.HasSuffix(huge, "…") {
		t.Errorf("65000-byte value rendered to %d bytes (suffix %q), want at most %d ending in …", len(huge), huge[len(huge)-5:], maxValueLen)
	}
}

func TestSystemIdentity(t *testing.T) {
	ip := mustAddr("10.99.0.11")
	id, ok := systemIdentity(ip, map[string]string{
		oidSysDescr:    "Siemens, SIMATIC NET, SCALANCE X208, HW: Version 3, FW: Version V4.1.4",
		oidSysObjectID: ".1.3.6.1.4.1.4329.6.1.2",
		oidSysName:     "SCALANCE-X208-L1",
	})
	if !ok || id.Vendor != "Siemens" || id.Model != "SCALANCE X208" || id.Firmware != "V4.1.4" || id.Name != "SCALANCE-X208-L1" || id.Method != "snmp-system" {
		t.Errorf("Siemens: %+v", id)
	}
	id, _ = systemIdentity(ip, map[string]string{
		oidSysDescr:    "Cisco IOS Software, IE2000 Software (IE2000-UNIVERSALK9-M), Version 15.2(4)EA7, RELEASE SOFTWARE (fc2)",
		oidSysObjectID: ".1.3.6.1.4.1.9.1.1753",
	})
	if id.Vendor != "Cisco" || id.Firmware != "15.2(4)EA7" || id.Model != "" {
		t.Errorf("Cisco: %+v", id)
	}
	id, _ = systemIdentity(ip, map[string]string{
		oidSysDescr:    "Linux plc 5.10.0 #1 SMP armv7l",
		oidSysObjectID: ".1.3.6.1.4.1.99999.1",
	})
	if id.Vendor != "" || id.Firmware != "" || id.Model != "" {
		t.Errorf("unknown enterprise must not invent a vendor: %+v", id)
	}
}

// FuzzRenderValue: whatever bytes an agent sends as an OctetString, the
// rendering is valid UTF-8, bounded, and printable (no control characters
// reach a terminal or a report). Seeds are in testdata/fuzz.
func FuzzRenderValue(f *testing.F) {
	f.Add([]byte("Siemens, SIMATIC NET, SCALANCE X208"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s := renderValue(gosnmp.SnmpPDU{Type: gosnmp.OctetString, Value: b})
		if !utf8.ValidString(s) || len(s) > maxValueLen {
			t.Fatalf("rendered %q: not valid bounded UTF-8", s)
		}
		for _, r := range s {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("control character %U in %q", r, s)
			}
		}
	})
}
