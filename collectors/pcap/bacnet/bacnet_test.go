package bacnet

import (
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
)

// Frames are UDP payloads from the shared captures
// bacnet_ip_41hosts_whois_iam.pcap (cisagov/icsnpp-bacnet) and
// bacnet_ip_wireshark_sample.pcap (ControlThings ct-samples), frame numbers
// as tshark counts them; want is the decode tshark shows.
var frames = []struct {
	name string
	hex  string
	want string
}{
	{"41hosts frame 72 who-Is broadcast", "810b000c0120ffff00ff1008", "bvlc 0x0b dnet 65535 type 1 service 8 who-Is"},
	{"41hosts frame 74 i-Am", "810a001401001000c4020002d12204009103210f", "bvlc 0x0a dnet 0 type 1 service 0 i-Am"},
	{"41hosts frame 1 readProperty request", "810a001101040005010c0c00000001194d", "bvlc 0x0a dnet 0 type 0 service 12 readProperty"},
	{"41hosts frame 2 readProperty ComplexACK", "810a0021010030010c0c00000001194d3e750d0053656e736f725f34353331323f", "bvlc 0x0a dnet 0 type 3 service 12 readProperty"},
	{"41hosts frame 572 reinitializeDevice request", "810a001101040005011409061d0b0044656c63617474793730", "bvlc 0x0a dnet 0 type 0 service 20 reinitializeDevice"},
	{"41hosts frame 573 reinitializeDevice Error", "810a001101045001149105911a", "bvlc 0x0a dnet 0 type 5 service 20 reinitializeDevice"},
	{"41hosts frame 579 reinitializeDevice SimpleACK", "810a00110104200414", "bvlc 0x0a dnet 0 type 2 service 20 reinitializeDevice"},
	{"sample frame 38 readProperty Error via router", "810a00120120000d013dff50da0c91029120", "bvlc 0x0a dnet 13 type 5 service 12 readProperty"},
	{"sample frame 1 i-Am broadcast", "810b00170120ffff00ff1000c40200006f21329103212a", "bvlc 0x0b dnet 65535 type 1 service 0 i-Am"},
}

func describe(m Message) string {
	a := m.APDU
	name := ConfirmedServiceName(a.Service)
	if a.Type == UnconfirmedRequest {
		name = UnconfirmedServiceName(a.Service)
	}
	return fmt.Sprintf("bvlc 0x%02x dnet %d type %d service %d %s", m.BVLCFunction, m.DestNetwork, a.Type, a.Service, name)
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseRealFrames(t *testing.T) {
	for _, tc := range frames {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse(mustHex(t, tc.hex))
			if err != nil {
				t.Fatal(err)
			}
			if m.APDU == nil {
				t.Fatal("no APDU")
			}
			if got := describe(m); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestParseIAm(t *testing.T) {
	for _, tc := range []struct {
		hex              string
		instance, vendor uint32
	}{
		{"810a001401001000c4020002d12204009103210f", 721, 15},  // 41hosts 172.20.32.108
		{"810a001401001000c4020001c82204009103217b", 456, 123}, // 41hosts 172.20.32.107
		{"810b00170120ffff00ff1000c40200006f21329103212a", 111, 42},
	} {
		m, err := Parse(mustHex(t, tc.hex))
		if err != nil {
			t.Fatal(err)
		}
		iam, err := ParseIAm(m.APDU)
		if err != nil {
			t.Fatal(err)
		}
		if iam.DeviceInstance != tc.instance || iam.VendorID != tc.vendor {
			t.Errorf("%s: instance %d vendor %d, want %d %d", tc.hex, iam.DeviceInstance, iam.VendorID, tc.instance, tc.vendor)
		}
	}
	m, _ := Parse(mustHex(t, "810b000c0120ffff00ff1008"))
	if _, err := ParseIAm(m.APDU); !errors.Is(err, ErrNotIAm) {
		t.Errorf("who-Is as I-Am: err = %v", err)
	}
	// An I-Am whose object identifier is not a device (type 0, analog-input).
	m, _ = Parse(mustHex(t, "810a001401001000c4000002d12204009103210f"))
	if _, err := ParseIAm(m.APDU); !errors.Is(err, ErrIAm) {
		t.Errorf("non-device I-Am: err = %v", err)
	}
}

func TestLyingBVLCLength(t *testing.T) {
	// 41hosts frame 573: the BVLC says 17 bytes, the datagram has 13;
	// tshark decodes it as an Error for reinitializeDevice, and so do we.
	m, err := Parse(mustHex(t, "810a001101045001149105911a"))
	if err != nil {
		t.Fatal(err)
	}
	if !m.LengthMismatch || m.APDU == nil || m.APDU.Type != Error || m.APDU.Service != ServiceReinitializeDevice {
		t.Errorf("got %+v %+v", m, m.APDU)
	}
}

func TestForwardedNPDUOrigin(t *testing.T) {
	// The 41hosts i-Am of frame 74 as a BBMD would forward it.
	b := mustHex(t, "8104001a"+"ac14206cbac0"+"01001000c4020002d12204009103210f")
	m, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Origin.String() != "172.20.32.108:47808" {
		t.Errorf("origin %s", m.Origin)
	}
	if m.APDU == nil || m.APDU.Service != ServiceIAm {
		t.Errorf("APDU %+v", m.APDU)
	}
}

func TestParseRejects(t *testing.T) {
	for _, tc := range []struct {
		name, hex string
		err       error
	}{
		{"empty", "", ErrNotBVLC},
		{"not BACnet/IP", "820a000c0120ffff00ff1008", ErrNotBVLC},
		{"length below header", "810a0002", ErrLength},
		{"NPDU version 2", "810a0007020010", ErrNPDUVer},
		{"NPDU DNET cut", "810a00070120ff", ErrNPDU},
		{"NPDU only", "810a00060100", ErrAPDU},
		{"confirmed request cut", "810a0007010000", ErrAPDU},
		{"unknown APDU type", "810a00080100f0ff", ErrAPDUType},
		{"forwarded origin cut", "81040008ac14206c", ErrLength},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := hex.DecodeString(tc.hex)
			if _, err := Parse(b); !errors.Is(err, tc.err) {
				t.Errorf("err = %v, want %v", err, tc.err)
			}
		})
	}
	// BVLC functions without an NPDU are not errors.
	m, err := Parse(mustHex(t, "810000060000"))
	if err != nil || m.APDU != nil {
		t.Errorf("BVLC-Result: %+v, %v", m, err)
	}
}

func TestNames(t *testing.T) {
	for s, want := range map[int]string{12: "readProperty", 15: "writeProperty", 16: "writePropertyMultiple",
		17: "deviceCommunicationControl", 20: "reinitializeDevice", 14: "readPropertyMultiple", 99: "confirmed service 99"} {
		if got := ConfirmedServiceName(s); got != want {
			t.Errorf("ConfirmedServiceName(%d) = %q, want %q", s, got, want)
		}
	}
	if got := UnconfirmedServiceName(8); got != "who-Is" {
		t.Errorf("who-Is named %q", got)
	}
	if got := VendorName(15); got != "Cornell University" {
		t.Errorf("vendor 15 = %q", got)
	}
	if got := VendorName(123); got != "BACnet vendor 123" {
		t.Errorf("vendor 123 = %q", got)
	}
}

// FuzzParse: any datagram is decoded or rejected without panicking, and an
// I-Am body never panics either.
func FuzzParse(f *testing.F) {
	for _, tc := range frames {
		b, _ := hex.DecodeString(tc.hex)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil || m.APDU == nil {
			return
		}
		if m.APDU.Type > Abort {
			t.Fatalf("APDU type %d accepted", m.APDU.Type)
		}
		_, _ = ParseIAm(m.APDU)
	})
}
