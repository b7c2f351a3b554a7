package oui

import (
	"net"
	"testing"
)

func TestLookupKnownEntries(t *testing.T) {
	tests := []struct {
		mac  string
		want string
	}{
		// MA-L. IEEE registers 00:04:17 to ELAU AG (a Schneider Electric
		// company); Wireshark's manuf file renames it "Schneider Electric".
		{"00:04:17:02:58:b7", "ELAU AG"},
		{"00:0e:8c:f9:f5:0c", "Siemens AG"},
		{"00:00:bc:d1:60:da", "Rockwell Automation"},
		{"00:1b:1b:35:84:10", "Siemens AG,"},
		{"00-03-1D-0A-DC-18", "Taiwan Commate Computer, Inc."},
		// MA-M (28 bits): 20:85:93:B is IOG Products LLC.
		{"20:85:93:b1:22:33", "IOG Products LLC"},
		// MA-S (36 bits): 70:B3:D5:F2:F is TELEPLATFORMS, longer than the
		// 70:B3:D5 MA-L block of the IEEE itself.
		{"70:b3:d5:f2:f1:23", "TELEPLATFORMS"},
		// Locally administered (bit 1 of the first octet) and unknown.
		{"02:00:00:00:00:01", ""},
		{"de:ad:0a:f0:6b:57", ""},
		{"not a mac", ""},
	}
	for _, tc := range tests {
		if got := LookupString(tc.mac); got != tc.want {
			t.Errorf("LookupString(%q) = %q, want %q", tc.mac, got, tc.want)
		}
	}
	if got := Lookup(net.HardwareAddr{0x00, 0x0e, 0x8c}); got != "" {
		t.Errorf("Lookup of a 3-byte address = %q, want empty", got)
	}
	// The MA-S block's parent MA-L is the IEEE Registration Authority.
	if got := LookupString("70:b3:d5:00:00:01"); got == "" || got == "TELEPLATFORMS" {
		t.Errorf("70:b3:d5:00:00:01 = %q, want the MA-L or another MA-S owner", got)
	}
}

func TestTableSize(t *testing.T) {
	if n := Entries(); n < 40000 {
		t.Fatalf("embedded table has %d entries, want > 40000 (regenerate with go generate)", n)
	}
}

func BenchmarkLoad(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		t := parse(tableText)
		if t.entries == 0 {
			b.Fatal("load failed")
		}
	}
}

func BenchmarkLookup(b *testing.B) {
	mac := net.HardwareAddr{0x00, 0x0e, 0x8c, 0xf9, 0xf5, 0x0c}
	load()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if Lookup(mac) == "" {
			b.Fatal("miss")
		}
	}
}
