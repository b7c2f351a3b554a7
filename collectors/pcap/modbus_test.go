package pcap

import (
	"encoding/hex"
	"testing"
)

// Real frames from the shared captures (TCP payloads as tshark prints them).
const (
	// modbus_fc_coverage_device_id.pcap frame 94: FC43/14 response, unit 1.
	fc43Response = "00170000003d012b0e018300000300105a65656b204d6f646275732054657374011850726f746f636f6c2050617273696e672069732066756e210207312e322e332e36"
	// plant1_mixed_modbus_s7_enip_cip.pcap frame 25: three FC15 requests in one segment.
	threeWrites = "317c00000009ff0f0009000a02ff03317d00000008ff0f000800010101317e00000008ff0f000600010100"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSplitModbus(t *testing.T) {
	tests := []struct {
		name     string
		in       []byte
		fcs      []byte
		units    []byte
		consumed int
		wantErr  bool
	}{
		{"three PDUs in one segment", unhex(t, threeWrites), []byte{15, 15, 15}, []byte{255, 255, 255}, 43, false},
		{"FC43 response", unhex(t, fc43Response), []byte{43}, []byte{1}, 67, false},
		{"PDU split after the MBAP header", unhex(t, threeWrites)[:10], nil, nil, 0, false},
		{"first whole, second split", unhex(t, threeWrites)[:20], []byte{15}, []byte{255}, 15, false},
		{"protocol id not 0", unhex(t, "0001000100060103000000"), nil, nil, 0, true},
		{"length zero", unhex(t, "00010000000001"), nil, nil, 0, true},
		{"length 255", unhex(t, "000100000100ff"), nil, nil, 0, true},
		{"empty", nil, nil, nil, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var fcs, units []byte
			n, err := splitModbus(tc.in, func(a mbapADU) {
				fcs = append(fcs, a.pdu[0])
				units = append(units, a.unit)
			})
			if (err != nil) != tc.wantErr || n != tc.consumed || string(fcs) != string(tc.fcs) || string(units) != string(tc.units) {
				t.Errorf("got n=%d err=%v fcs=%v units=%v; want n=%d err=%v fcs=%v units=%v", n, err, fcs, units, tc.consumed, tc.wantErr, tc.fcs, tc.units)
			}
		})
	}
}

func TestParseDeviceID(t *testing.T) {
	adu, _, err := parseMBAP(unhex(t, fc43Response))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := parseDeviceID(adu.pdu)
	if err != nil {
		t.Fatal(err)
	}
	want := map[byte]string{0: "Zeek Modbus Test", 1: "Protocol Parsing is fun!", 2: "1.2.3.6"}
	for id, v := range want {
		if objs[id] != v {
			t.Errorf("object %d = %q, want %q", id, objs[id], v)
		}
	}
	// A length that runs past the PDU is an error, objects before it kept.
	lying := append([]byte(nil), adu.pdu...)
	lying[len(lying)-8] = 0x40 // length byte of object 2 ("1.2.3.6")
	objs, err = parseDeviceID(lying)
	if err == nil || objs[0] != "Zeek Modbus Test" || objs[2] != "" {
		t.Errorf("lying length: err=%v objs=%v", err, objs)
	}
	for _, short := range [][]byte{nil, {0x2b}, {0x2b, 0x0e, 1, 0x83, 0, 0}} {
		if _, err := parseDeviceID(short); err == nil {
			t.Errorf("parseDeviceID(% x) accepted a short PDU", short)
		}
	}
}

func FuzzModbusStream(f *testing.F) {
	f.Add(unhex(f, threeWrites))
	f.Add(unhex(f, fc43Response))
	f.Add([]byte{0, 1, 0, 0, 0, 2, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := splitModbus(b, func(a mbapADU) {
			if len(a.pdu) == 0 || len(a.pdu) > 253 {
				t.Fatalf("PDU of %d bytes", len(a.pdu))
			}
		})
		if n < 0 || n > len(b) || (err != nil && n == len(b) && len(b) > 0) {
			t.Fatalf("consumed %d of %d (err %v)", n, len(b), err)
		}
	})
}

func FuzzModbusDeviceID(f *testing.F) {
	adu, _, _ := parseMBAP(unhex(f, fc43Response))
	f.Add(adu.pdu)
	f.Add([]byte{0x2b, 0x0e, 1, 0x83, 0, 0, 1, 0, 0xff})
	f.Fuzz(func(t *testing.T, pdu []byte) {
		objs, err := parseDeviceID(pdu)
		if err == nil && len(pdu) < 7 {
			t.Fatal("accepted a PDU shorter than the header")
		}
		for _, v := range objs {
			if len(v) > 255 {
				t.Fatalf("object of %d bytes", len(v))
			}
		}
	})
}
