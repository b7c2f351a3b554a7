package modbus

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// Real answers from modbus_fc_coverage_device_id.pcap (the CISA/Zeek test
// trace in /work/shared/pcaps, frames 94 and 62), PDU data after the
// function code.
const (
	realFC43Data = "0e018300000300105a65656b204d6f646275732054657374011850726f746f636f6c2050617273696e672069732066756e210207312e322e332e36"
	realFC17Data = "325a65656b204d6f6462757320546573742d50726f746f636f6c2050617273696e672069732066756e212d312e322e332e36ff"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeDeviceID(t *testing.T) {
	tests := []struct {
		name      string
		data      string
		want      []deviceObject
		more      bool
		next      byte
		malformed string // substring of the error; "" = no error
	}{
		{name: "real trace, basic", data: realFC43Data, want: []deviceObject{
			{0, "Zeek Modbus Test"}, {1, "Protocol Parsing is fun!"}, {2, "1.2.3.6"}}},
		{name: "more follows", data: "0e0183ff02" + "01" + "00" + "03" + "414243",
			want: []deviceObject{{0, "ABC"}}, more: true, next: 2},
		{name: "object longer than the data", data: "0e0183000002" + "0003414243" + "01ff4142",
			want: []deviceObject{{0, "ABC"}}, malformed: "claims 255 bytes, 2 left"},
		{name: "more objects announced than sent", data: "0e01830000ff" + "000141",
			want: []deviceObject{{0, "A"}}, malformed: "255 objects announced"},
		{name: "fewer objects announced than sent", data: "0e0183000001" + "000141" + "010142",
			want: []deviceObject{{0, "A"}}, malformed: "after the 1 announced"},
		{name: "header cut short", data: "0e0183", malformed: "header needs 6"},
		{name: "wrong MEI type", data: "0d0183000000", malformed: "MEI type 0x0d"},
		{name: "bad more-follows", data: "0e0183120000", malformed: "more-follows 0x12"},
		{name: "binary value rendered printable", data: "0e0101000001" + "0004" + "41ff0a42",
			want: []deviceObject{{0, `A\xff\x0aB`}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := decodeDeviceID(mustHex(t, tc.data))
			if tc.malformed == "" && err != nil {
				t.Fatalf("error %v", err)
			}
			if tc.malformed != "" {
				if !errors.Is(err, errMalformed) || !strings.Contains(err.Error(), tc.malformed) {
					t.Fatalf("error %v, want errMalformed containing %q", err, tc.malformed)
				}
			}
			if len(r.Objects) != len(tc.want) {
				t.Fatalf("objects %q, want %q", r.Objects, tc.want)
			}
			for i := range tc.want {
				if r.Objects[i] != tc.want[i] {
					t.Errorf("object %d = %q, want %q", i, r.Objects[i], tc.want[i])
				}
			}
			if r.MoreFollows != tc.more || r.NextObjectID != tc.next {
				t.Errorf("more=%v next=%d, want %v %d", r.MoreFollows, r.NextObjectID, tc.more, tc.next)
			}
		})
	}
}

func TestDecodeServerID(t *testing.T) {
	got, err := decodeServerID(mustHex(t, realFC17Data))
	if err != nil || got != "Zeek Modbus Test-Protocol Parsing is fun!-1.2.3.6" {
		t.Fatalf("decodeServerID = %q, %v", got, err)
	}
	if _, err := decodeServerID(mustHex(t, "05414243")); !errors.Is(err, errMalformed) {
		t.Fatalf("lying byte count: err %v, want errMalformed", err)
	}
	if _, err := decodeServerID(nil); !errors.Is(err, errMalformed) {
		t.Fatalf("empty: err %v, want errMalformed", err)
	}
}

func TestPrintableIsBounded(t *testing.T) {
	long := strings.Repeat("\xfe", 1000)
	got := printable([]byte(long), maxValueLen)
	if len(got) > maxValueLen || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") {
		t.Fatalf("printable of 1000 binary bytes: %d bytes, valid %v, %q", len(got), utf8.ValidString(got), got[max(0, len(got)-10):])
	}
	if got := printable([]byte("\x00\x00 Modicon M340 \x00"), maxValueLen); got != "Modicon M340" {
		t.Fatalf("padding not trimmed: %q", got)
	}
	if got := printable([]byte("Größe\u202e"), maxValueLen); got != `Größe\u202e` {
		t.Fatalf("unicode: %q", got)
	}
}

// FuzzDeviceID: whatever a device sends, decoding never panics, never
// returns more objects than announced, and every value is valid, bounded
// UTF-8. Seeds (real trace plus lying lengths and counts) are committed in
// testdata/fuzz/FuzzDeviceID.
func FuzzDeviceID(f *testing.F) {
	f.Add(mustHex(f, realFC43Data))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeDeviceID(data)
		if err != nil && !errors.Is(err, errMalformed) {
			t.Fatalf("error not errMalformed: %v", err)
		}
		if len(data) >= 6 && len(r.Objects) > int(data[5]) {
			t.Fatalf("%d objects, %d announced", len(r.Objects), data[5])
		}
		for _, o := range r.Objects {
			if !utf8.ValidString(o.Value) || len(o.Value) > maxValueLen {
				t.Fatalf("object 0x%02x value %q: not valid bounded UTF-8", o.ID, o.Value)
			}
		}
		if s, err := decodeServerID(data); err == nil && (!utf8.ValidString(s) || len(s) > maxValueLen) {
			t.Fatalf("server id %q: not valid bounded UTF-8", s)
		}
	})
}
