package pcap

import (
	"net/netip"
	"slices"
	"strconv"
	"testing"

	"github.com/gosnmp/gosnmp"

	"github.com/otaudit/otaudit"
)

func snmpGet(t *testing.T, pdu gosnmp.PDUType, community string) []byte {
	t.Helper()
	p := &gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: community, PDUType: pdu, RequestID: 7,
		Variables: []gosnmp.SnmpPDU{{Name: ".1.3.6.1.2.1.1.1.0", Type: gosnmp.Null}}}
	if pdu == gosnmp.GetResponse {
		p.Variables = []gosnmp.SnmpPDU{{Name: ".1.3.6.1.2.1.1.1.0", Type: gosnmp.OctetString, Value: []byte("Siemens, SIMATIC NET")}}
	}
	b, err := p.MarshalMsg()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// iAm is a BACnet/IP I-Am of device 77, vendor 8, as a broadcast NPDU.
var iAm = []byte{0x81, 0x0b, 0x00, 0x14, 0x01, 0x00, 0x10, 0x00, 0xc4, 0x02, 0x00, 0x00, 0x4d, 0x22, 0x05, 0xc4, 0x91, 0x03, 0x21, 0x08}

// TestUDPProtocolsRecognisedByPayload: SNMP on a non-standard port and
// BACnet/IP on 47809 are recognised from their first datagram and
// dissected (community fingerprint, I-Am identity) in one flow per
// conversation, a later datagram without the signature included; other
// payloads on unknown ports stay unnamed.
func TestUDPProtocolsRecognisedByPayload(t *testing.T) {
	b := capture(t,
		frame(t, segment{udp: true, src: "10.0.0.5", dst: "10.0.0.9", sport: 50000, dport: 1161, payload: snmpGet(t, gosnmp.GetRequest, "public")}),
		frame(t, segment{udp: true, src: "10.0.0.9", dst: "10.0.0.5", sport: 1161, dport: 50000, payload: snmpGet(t, gosnmp.GetResponse, "public")}),
		frame(t, segment{udp: true, src: "10.0.0.5", dst: "10.0.0.9", sport: 50000, dport: 1161, payload: []byte("not snmp at all")}),
		// A device announcing itself to the broadcast address on 47809.
		frame(t, segment{udp: true, src: "10.0.0.20", dst: "10.0.0.255", sport: 47809, dport: 47809, payload: iAm}),
		frame(t, segment{udp: true, src: "10.0.0.5", dst: "10.0.0.9", sport: 40000, dport: 9999, payload: []byte{0x30, 0x05, 0x02, 0x01, 0x01, 0x04, 0x00, 0x00}}),
	)
	r, err := analyzeBytes(t, "udp.pcap", b)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range flowsOf(r) {
		got = append(got, f.Client.String()+" "+f.Server.String()+":"+strconv.Itoa(int(f.ServerPort))+" "+f.Protocol+" "+strconv.FormatInt(f.Packets, 10))
	}
	slices.Sort(got)
	want := []string{
		"10.0.0.255 10.0.0.20:47809 bacnet 1", // the I-Am's sender is the server
		"10.0.0.5 10.0.0.9:1161 snmp 3",
		"10.0.0.5 10.0.0.9:9999  1", // the length does not match: not SNMP
	}
	if !slices.Equal(got, want) {
		t.Errorf("flows\n got %q\nwant %q", got, want)
	}
	creds, ids := 0, 0
	for _, o := range r.Observations {
		switch {
		case o.Kind == otaudit.KindCredential && o.Credential.Protocol == "snmp" && o.Credential.Server == netip.MustParseAddr("10.0.0.9"):
			creds++
			if !o.Credential.KnownDefault {
				t.Errorf("community public on 1161 not judged a known default: %+v", o.Credential)
			}
		case o.Kind == otaudit.KindIdentity && o.Identity.Method == "bacnet-iam" && o.Identity.IP == netip.MustParseAddr("10.0.0.20"):
			ids++
		}
	}
	if creds != 1 || ids != 1 {
		t.Errorf("%d SNMP credentials on 1161 and %d BACnet identities on 47809, want 1 and 1", creds, ids)
	}
}

func TestDetectUDPSignatures(t *testing.T) {
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"bacnet i-am", iAm, "bacnet"},
		{"bacnet wrong length", append(slices.Clone(iAm), 0), ""},
		{"bacnet npdu version 2", func() []byte { b := slices.Clone(iAm); b[4] = 2; return b }(), ""},
		{"snmp v2c get", snmpGet(t, gosnmp.GetRequest, "private"), "snmp"},
		{"snmp cut short", snmpGet(t, gosnmp.GetRequest, "private")[:20], ""},
		{"ber but not snmp", []byte{0x30, 0x06, 0x02, 0x01, 0x05, 0x04, 0x01, 0x41}, ""},
		{"dns query", []byte{0x30, 0x39, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, ""},
		{"empty", nil, ""},
	} {
		if got := detectUDP(c.b); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func FuzzDetectUDP(f *testing.F) {
	f.Add(iAm)
	f.Add([]byte{0x30, 0x05, 0x02, 0x01, 0x01, 0x04, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		switch detectUDP(b) {
		case "", "bacnet", "snmp", "enip", "dnp3":
		default:
			t.Fatal("unknown protocol")
		}
	})
}
