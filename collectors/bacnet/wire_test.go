package bacnet

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/otaudit/otaudit/collectors/active"
	"github.com/otaudit/otaudit/collectors/pcap/bacnet"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withLength sets the BVLC length of a hand-built datagram to its size.
func withLength(b []byte) []byte {
	binary.BigEndian.PutUint16(b[2:4], uint16(len(b)))
	return b
}

// confirmed builds a unicast confirmed request with service and body, as a
// client that wanted to change the device would send it.
func confirmed(service byte, body ...byte) []byte {
	b := append([]byte{0x81, 0x0a, 0, 0, 0x01, 0x04, 0x00, 0x05, 0x07, service}, body...)
	return withLength(b)
}

// deviceObject is the context-tagged object identifier of device 1234.
var deviceObject = []byte{0x0c, 0x02, 0x00, 0x04, 0xd2}

// The requests the prober builds are what the passive parser, which
// shares no code with the encoder, reads back as unranged Who-Is and
// ReadProperty of the Device object, and the guard lets exactly them
// through.
func TestEncodedRequestsDecodeAndPassTheGuard(t *testing.T) {
	m, err := bacnet.Parse(whoIsDatagram)
	if err != nil || m.BVLCFunction != bacnet.BVLCOriginalUnicastNPDU || m.DestNetwork != 0 || m.APDU == nil ||
		m.APDU.Type != bacnet.UnconfirmedRequest || m.APDU.Service != bacnet.ServiceWhoIs || len(m.APDU.Body) != 0 || m.LengthMismatch {
		t.Fatalf("who-is decodes as %+v %+v, %v", m, m.APDU, err)
	}
	if k, err := checkOutgoing(whoIsDatagram); k != kindWhoIs || err != nil {
		t.Errorf("guard on who-is: %q, %v", k, err)
	}
	for _, prop := range []uint16{77, 121, 300} {
		b := encodeReadProperty(9, 1234, prop)
		m, err := bacnet.Parse(b)
		if err != nil || m.LengthMismatch || m.APDU == nil || m.APDU.Type != bacnet.ConfirmedRequest ||
			m.APDU.Service != bacnet.ServiceReadProperty || m.APDU.InvokeID != 9 || m.APDU.Segmented {
			t.Fatalf("readProperty %d decodes as %+v, %v", prop, m.APDU, err)
		}
		if b[6] != 0x00 || b[7] != 0x05 {
			t.Errorf("readProperty %d: flags 0x%02x max 0x%02x, want no segmentation accepted and max APDU 1476", prop, b[6], b[7])
		}
		gotObject, gotProp := decodeRequestBody(t, m.APDU.Body)
		if gotObject != 8<<22|1234 || gotProp != uint32(prop) {
			t.Errorf("readProperty %d asks object 0x%08x property %d", prop, gotObject, gotProp)
		}
		if k, err := checkOutgoing(b); k != kindReadProperty || err != nil {
			t.Errorf("guard on readProperty %d: %q, %v", prop, k, err)
		}
	}
}

// decodeRequestBody reads a ReadProperty request body the test's own way.
func decodeRequestBody(t testing.TB, body []byte) (object, property uint32) {
	t.Helper()
	if len(body) < 7 || body[0] != 0x0c {
		t.Fatalf("readProperty body % x", body)
	}
	object = binary.BigEndian.Uint32(body[1:5])
	switch {
	case body[5] == 0x19 && len(body) == 7:
		property = uint32(body[6])
	case body[5] == 0x1a && len(body) == 8:
		property = uint32(binary.BigEndian.Uint16(body[6:]))
	default:
		t.Fatalf("readProperty body % x: not exactly object and property", body)
	}
	return object, property
}

// Everything that is not exactly an unranged unicast Who-Is or a
// ReadProperty of one Device property is refused — above all every service
// that changes a device.
func TestGuardRefusesEverythingElse(t *testing.T) {
	charString := []byte{0x3e, 0x75, 0x04, 0x00, 'x', 'y', 'z', 0x3f}
	cases := map[string][]byte{
		"writeProperty objectName":                     confirmed(bacnet.ServiceWriteProperty, append(append(append([]byte{}, deviceObject...), 0x19, 77), charString...)...),
		"writeProperty with the readProperty shape":    confirmed(bacnet.ServiceWriteProperty, append(append([]byte{}, deviceObject...), 0x19, 77)...),
		"writePropertyMultiple":                        confirmed(bacnet.ServiceWritePropertyMultiple, append(append([]byte{}, deviceObject...), 0x1e, 0x09, 0x4d, 0x1f)...),
		"deviceCommunicationControl disable":           confirmed(bacnet.ServiceDeviceCommControl, 0x19, 0x01),
		"reinitializeDevice warmstart":                 confirmed(bacnet.ServiceReinitializeDevice, 0x09, 0x01),
		"atomicWriteFile":                              confirmed(bacnet.ServiceAtomicWriteFile, 0xc4, 0x02, 0x80, 0x00, 0x01),
		"createObject":                                 confirmed(10, 0x0e, 0x09, 0x00, 0x0f),
		"deleteObject":                                 confirmed(11, 0xc4, 0x00, 0x00, 0x00, 0x01),
		"readPropertyMultiple":                         confirmed(bacnet.ServiceReadPropertyMultiple, append(append([]byte{}, deviceObject...), 0x1e, 0x09, 0x4d, 0x1f)...),
		"readProperty of an analog input (real frame)": mustHex(t, "810a001101040005010c0c00000001194d"),
		"readProperty with an array index":             confirmed(bacnet.ServiceReadProperty, append(append([]byte{}, deviceObject...), 0x19, 76, 0x29, 0x00)...),
		"readProperty with trailing bytes":             confirmed(bacnet.ServiceReadProperty, append(append([]byte{}, deviceObject...), 0x19, 77, 0x00)...),
		"readProperty segmented":                       withLength([]byte{0x81, 0x0a, 0, 0, 0x01, 0x04, 0x08, 0x05, 0x01, 0x00, 0x04, 0x0c, 0x0c, 0x02, 0x00, 0x04, 0xd2, 0x19, 77}),
		"readProperty routed to DNET 5":                withLength([]byte{0x81, 0x0a, 0, 0, 0x01, 0x24, 0x00, 0x05, 0x00, 0xff, 0x00, 0x05, 0x01, 0x0c, 0x0c, 0x02, 0x00, 0x04, 0xd2, 0x19, 77}),
		"readProperty with a lying BVLC length":        append(encodeReadProperty(1, 1234, 77), 0x00),
		"who-is broadcast":                             withLength([]byte{0x81, 0x0b, 0, 0, 0x01, 0x00, 0x10, 0x08}),
		"who-is with a range":                          withLength([]byte{0x81, 0x0a, 0, 0, 0x01, 0x00, 0x10, 0x08, 0x09, 0x00, 0x19, 0x10}),
		"who-has":                                      withLength([]byte{0x81, 0x0a, 0, 0, 0x01, 0x00, 0x10, 0x07, 0x3d, 0x02, 0x00, 'x'}),
		"writeGroup":                                   withLength([]byte{0x81, 0x0a, 0, 0, 0x01, 0x00, 0x10, 0x0a, 0x09, 0x01}),
		"i-Am (we answer nobody)":                      mustHex(t, "810a001401001000c4020002d12204009103210f"),
		"network-layer message":                        withLength([]byte{0x81, 0x0a, 0, 0, 0x01, 0x80, 0x00, 0x00}),
		"forwarded NPDU":                               withLength([]byte{0x81, 0x04, 0, 0, 127, 0, 0, 1, 0xba, 0xc0, 0x01, 0x00, 0x10, 0x08}),
		"empty":                                        {},
		"not BACnet":                                   []byte("GET / HTTP/1.0\r\n\r\n"),
	}
	for name, b := range cases {
		k, err := checkOutgoing(b)
		if !errors.Is(err, active.ErrNotAllowed) || k != "" {
			t.Errorf("%s: guard returned %q, %v; want active.ErrNotAllowed", name, k, err)
		}
	}
}

// ackFor is a ReadProperty Complex-ACK for device 1234 with the value
// element(s) given.
func ackFor(invoke byte, property byte, value ...byte) []byte {
	b := append([]byte{0x81, 0x0a, 0, 0, 0x01, 0x00, 0x30, invoke, 0x0c}, deviceObject...)
	b = append(b, 0x19, property, 0x3e)
	b = append(b, value...)
	return withLength(append(b, 0x3f))
}

// charStringElement encodes an application-tagged CharacterString.
func charStringElement(charset byte, s []byte) []byte {
	n := len(s) + 1
	var b []byte
	switch {
	case n <= 4:
		b = []byte{0x70 | byte(n)}
	case n < 254:
		b = []byte{0x75, byte(n)}
	case n < 1<<16:
		b = []byte{0x75, 254, byte(n >> 8), byte(n)}
	default:
		b = []byte{0x75, 255, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	}
	return append(append(b, charset), s...)
}

func TestDecodeReply(t *testing.T) {
	long := strings.Repeat("AHU-", 300)
	cases := []struct {
		name string
		b    []byte
		want reply
		err  bool
	}{
		{"real i-Am (41hosts frame 74)", mustHex(t, "810a001401001000c4020002d12204009103210f"),
			reply{kind: replyIAm, iam: bacnet.IAm{DeviceInstance: 721, MaxAPDU: 1024, Segmentation: 3, VendorID: 15}}, false},
		{"real complexACK of an analog input name (41hosts frame 2)", mustHex(t, "810a0021010030010c0c00000001194d3e750d0053656e736f725f34353331323f"),
			reply{kind: replyAck, invokeID: 1, service: 12, object: 1, property: 77, value: propertyValue{Text: "Sensor_45312"}}, false},
		{"real routed error unknown-property (sample frame 38)", mustHex(t, "810a00120120000d013dff50da0c91029120"),
			reply{kind: replyError, invokeID: 0xda, service: 12, errorClass: 2, errorCode: 32}, false},
		{"utf-8 with padding", ackFor(3, 77, charStringElement(0, []byte("  Kessel 1\x00\x00"))...),
			reply{kind: replyAck, invokeID: 3, service: 12, object: 8<<22 | 1234, property: 77, value: propertyValue{Text: "Kessel 1"}}, false},
		{"iso 8859-1", ackFor(3, 121, charStringElement(5, []byte("Sch\xfctz AG"))...),
			reply{kind: replyAck, invokeID: 3, service: 12, object: 8<<22 | 1234, property: 121, value: propertyValue{Text: "Schütz AG"}}, false},
		{"ucs-2", ackFor(3, 70, charStringElement(4, []byte{0, 'P', 0, 'X', 0x00, 0xe9})...),
			reply{kind: replyAck, invokeID: 3, service: 12, object: 8<<22 | 1234, property: 70, value: propertyValue{Text: "PXé"}}, false},
		{"ucs-4 with an invalid code point", ackFor(3, 70, charStringElement(3, []byte{0, 0, 0, 'A', 0x7f, 0, 0, 0})...),
			reply{kind: replyAck, invokeID: 3, service: 12, object: 8<<22 | 1234, property: 70, value: propertyValue{Text: "A\ufffd"}}, false},
		{"jis x 0208 is not rendered", ackFor(3, 70, charStringElement(2, []byte{0x30, 0x21})...),
			reply{kind: replyAck, invokeID: 3, service: 12, object: 8<<22 | 1234, property: 70, value: propertyValue{Problem: "character set 2 (JIS X 0208) not rendered"}}, false},
		{"control characters escaped", ackFor(3, 28, charStringElement(0, []byte("a\x1b[2Jb\xff"))...),
			reply{kind: replyAck, invokeID: 3, service: 12, object: 8<<22 | 1234, property: 28, value: propertyValue{Text: `a\x1b[2Jb\xff`}}, false},
		{"a real number is not a string", ackFor(3, 44, 0x44, 0x3f, 0x80, 0, 0),
			reply{kind: replyAck, invokeID: 3, service: 12, object: 8<<22 | 1234, property: 44, value: propertyValue{Problem: "value is application tag 4, not a character string"}}, false},
		{"string length says more than is there", ackFor(3, 77, 0x75, 254, 0x01, 0x00, 0x00, 'A', 'B'),
			reply{kind: replyAck, invokeID: 3, service: 12, object: 8<<22 | 1234, property: 77, value: propertyValue{Problem: "malformed acknowledgement: value tag or length out of the datagram"}}, false},
		{"four-byte string length of 4 GiB", ackFor(3, 77, 0x75, 255, 0xff, 0xff, 0xff, 0xff, 0x00, 'A'),
			reply{kind: replyAck, invokeID: 3, service: 12, object: 8<<22 | 1234, property: 77, value: propertyValue{Problem: "malformed acknowledgement: value tag or length out of the datagram"}}, false},
		{"two values", ackFor(3, 77, append(charStringElement(0, []byte("a")), charStringElement(0, []byte("b"))...)...),
			reply{kind: replyAck, invokeID: 3, service: 12, object: 8<<22 | 1234, property: 77, value: propertyValue{Problem: "malformed acknowledgement: more than one value, or no closing tag"}}, false},
		{"segmented ack", withLength([]byte{0x81, 0x0a, 0, 0, 0x01, 0x00, 0x38, 0x03, 0x00, 0x04, 0x0c, 0x0c}),
			reply{kind: replyAck, invokeID: 3, service: 12, value: propertyValue{Problem: "segmented acknowledgement, though segmentation was not accepted"}}, false},
		{"reject unrecognized-service", withLength([]byte{0x81, 0x0a, 0, 0, 0x01, 0x00, 0x60, 0x04, 0x09}),
			reply{kind: replyReject, invokeID: 4, reason: 9}, false},
		{"abort segmentation-not-supported", withLength([]byte{0x81, 0x0a, 0, 0, 0x01, 0x00, 0x71, 0x05, 0x04}),
			reply{kind: replyAbort, invokeID: 5, reason: 4}, false},
		{"who-is from someone else", whoIsDatagram, reply{kind: replyOther}, false},
		{"bvlc result", mustHex(t, "810000060030"), reply{kind: replyOther}, false},
		{"bvlc length lies", append(ackFor(3, 77, charStringElement(0, []byte("x"))...), 0, 0), reply{}, true},
		{"error without code", withLength([]byte{0x81, 0x0a, 0, 0, 0x01, 0x00, 0x50, 0x03, 0x0c, 0x91, 0x02}), reply{}, true},
		{"reject without reason", withLength([]byte{0x81, 0x0a, 0, 0, 0x01, 0x00, 0x60, 0x04}), reply{}, true},
		{"i-Am cut short", mustHex(t, "810a000f01001000c4020002d12204"), reply{}, true},
		{"not BACnet", []byte("SSH-2.0-OpenSSH_9.6\r\n"), reply{}, true},
		{"oversized datagram", append(withLength(make([]byte, 4)), make([]byte, maxDatagram)...), reply{}, true},
	}
	for _, c := range cases {
		got, err := decodeReply(c.b)
		if c.err {
			if !errors.Is(err, errMalformed) {
				t.Errorf("%s: error %v, want errMalformed", c.name, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s:\n got %+v, %v\nwant %+v", c.name, got, err, c.want)
		}
	}

	got, err := decodeReply(ackFor(3, 77, charStringElement(0, []byte(long))...))
	if err != nil || len(got.value.Text) > maxValueLen || !strings.HasSuffix(got.value.Text, "…") || !strings.HasPrefix(got.value.Text, "AHU-AHU-") {
		t.Errorf("1200-byte name: %q (%d bytes), %v; want a bounded, marked prefix", got.value.Text, len(got.value.Text), err)
	}
}

func TestOutcomeNames(t *testing.T) {
	for r, want := range map[reply]string{
		{kind: replyError, errorClass: 2, errorCode: 32}:   "error property/unknown-property",
		{kind: replyError, errorClass: 99, errorCode: 400}: "error 99/400",
		{kind: replyReject, reason: 9}:                     "reject unrecognized-service",
		{kind: replyAbort, reason: 4}:                      "abort segmentation-not-supported",
	} {
		if got := r.outcome(); got != want {
			t.Errorf("%+v: %q, want %q", r, got, want)
		}
	}
}

// FuzzDecodeReply: whatever a device sends, decoding never panics, every
// error is errMalformed, every kept string is valid UTF-8 within
// maxValueLen, and a kept string never comes with a problem. The same
// bytes offered to the send guard are refused unless the independent
// passive parser reads them as a Who-Is or a ReadProperty. Seeds (real
// frames, lying lengths, every charset, oversized strings) are committed
// in testdata/fuzz/FuzzDecodeReply.
func FuzzDecodeReply(f *testing.F) {
	f.Add(mustHex(f, "810a0021010030010c0c00000001194d3e750d0053656e736f725f34353331323f"))
	f.Add(mustHex(f, "810a001401001000c4020002d12204009103210f"))
	f.Add(encodeReadProperty(1, 1234, 77))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeReply(data)
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("error not errMalformed: %v", err)
			}
		} else {
			v := r.value
			if !utf8.ValidString(v.Text) || len(v.Text) > maxValueLen {
				t.Fatalf("value %q: not valid bounded UTF-8", v.Text)
			}
			if v.Text != "" && (v.Problem != "" || r.kind != replyAck) {
				t.Fatalf("value %q kept with problem %q in a reply of kind %d", v.Text, v.Problem, r.kind)
			}
			if !utf8.ValidString(r.outcome()) {
				t.Fatalf("outcome %q not valid UTF-8", r.outcome())
			}
		}
		kind, gerr := checkOutgoing(data)
		if gerr != nil {
			if !errors.Is(gerr, active.ErrNotAllowed) || kind != "" {
				t.Fatalf("guard: %q, %v", kind, gerr)
			}
			return
		}
		m, err := bacnet.Parse(data)
		if err != nil || m.APDU == nil || m.LengthMismatch || m.DestNetwork != 0 || m.SourceNetwork != 0 || m.BVLCFunction != bacnet.BVLCOriginalUnicastNPDU {
			t.Fatalf("guard let % x through as %q; passive parser: %+v, %v", data, kind, m, err)
		}
		a := m.APDU
		switch kind {
		case kindWhoIs:
			if a.Type != bacnet.UnconfirmedRequest || a.Service != bacnet.ServiceWhoIs || len(a.Body) != 0 {
				t.Fatalf("guard let % x through as who-is: %+v", data, a)
			}
		case kindReadProperty:
			if a.Type != bacnet.ConfirmedRequest || a.Service != bacnet.ServiceReadProperty || a.Segmented {
				t.Fatalf("guard let % x through as read-property: %+v", data, a)
			}
			object, _ := decodeRequestBody(t, a.Body)
			if object>>22 != 8 {
				t.Fatalf("guard let a readProperty of object 0x%08x through", object)
			}
		default:
			t.Fatalf("guard returned kind %q", kind)
		}
	})
}
