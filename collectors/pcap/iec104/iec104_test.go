package iec104

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// Frames are TCP payloads from the shared captures iec104_control_commands.pcap
// (EmreEkin/ICS-Pcaps) and iec104_diverse_asdus.pcap (ITI), frame numbers as
// tshark counts them.
var frames = []struct {
	name string
	hex  string
	// want: one "format type cause ca neg" per APDU, as tshark decodes it.
	want []string
}{
	{"control frame 4 STARTDT act", "680443000000", []string{"U 0x40"}},
	{"control frame 7 STARTDT act", "680407000000", []string{"U 0x04"}},
	{"control frame 8 STARTDT con", "68040b000000", []string{"U 0x08"}},
	{"control frame 15 S ack", "680401001a00", []string{"S"}},
	{"control frame 9 C_IC_NA_1 act", "680e00000000640106000a0000000014", []string{"I C_IC_NA_1 6 10 false"}},
	{"control frame 10 M_EI_NA_1 init", "680e00000000460104000a0000000000", []string{"I M_EI_NA_1 4 10 false"}},
	{"control frame 21 C_SC con, term, M_SP spont",
		"680e420006002d0107000a0002000001680e440006002d010a000a0002000001680e46000600010103000a0002000001",
		[]string{"I C_SC_NA_1 7 10 false", "I C_SC_NA_1 10 10 false", "I M_SP_NA_1 3 10 false"}},
	{"control frame 52 C_BO term, M_BO spont",
		"68116800120033010a000a000300000200000068126a001200070103000a000300000200000000",
		[]string{"I C_BO_NA_1 10 10 false", "I M_BO_NA_1 3 10 false"}},
	{"diverse frame 9 C_SC_TA_1 act", "681528009c003a010600030095110081080017130d086d", []string{"I C_SC_TA_1 6 3 false"}},
	{"diverse frame 11 C_SC_TA_1 con", "68159c002a003a010700030095110081080017130d0809", []string{"I C_SC_TA_1 7 3 false"}},
	// Synthetic: a negative confirmation with cause 47 (unknown IOA).
	{"negative unknown IOA", "680e00000000640147000a0000000014", []string{"I C_IC_NA_1 7 10 true"}},
}

func describe(p APDU) string {
	switch p.Format {
	case FormatU:
		return fmt.Sprintf("U 0x%02x", p.UFunction)
	case FormatS:
		return "S"
	}
	u := p.ASDU
	return fmt.Sprintf("I %s %d %d %v", TypeName(u.TypeID), u.Cause, u.CommonAddress, u.Negative)
}

func TestParseRealFrames(t *testing.T) {
	for _, tc := range frames {
		t.Run(tc.name, func(t *testing.T) {
			b, err := hex.DecodeString(tc.hex)
			if err != nil {
				t.Fatal(err)
			}
			if !Looks(b) {
				t.Errorf("Looks = false for a real segment")
			}
			var got []string
			for len(b) > 0 {
				p, n, err := Parse(b)
				if err != nil {
					t.Fatalf("Parse after %v: %v", got, err)
				}
				got = append(got, describe(p))
				b = b[n:]
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		hex  string
		err  error
	}{
		{"empty", "", ErrNeedMore},
		{"start only", "68", ErrNeedMore},
		{"wrong start", "690443000000", ErrStart},
		{"length too small", "680343000000", ErrLength},
		{"length too large", "68fe43000000", ErrLength},
		{"cut APDU", "680e00000000640106", ErrNeedMore},
		{"I frame without ASDU header", "680600000000ff00", ErrASDUShort},
		{"S frame with payload", "680501000000ff", ErrSFormat},
		{"U frame with two functions", "680447000000", ErrUFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := hex.DecodeString(tc.hex)
			_, _, err := Parse(b)
			if !errors.Is(err, tc.err) {
				t.Errorf("err = %v, want %v", err, tc.err)
			}
		})
	}
}

func TestLooksIsStrict(t *testing.T) {
	for _, s := range []string{
		"hello world\r\n",                   // 'h' then a plausible length byte
		"680443000000ff",                    // trailing garbage
		"680e00000000640106000a00000000",    // cut APDU
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n", // not 0x68 at all
	} {
		b := []byte(s)
		if d, err := hex.DecodeString(s); err == nil {
			b = d
		}
		if Looks(b) {
			t.Errorf("Looks(%q) = true", s)
		}
	}
}

func TestTypeNamesAndCategories(t *testing.T) {
	for _, tc := range []struct {
		id   byte
		name string
		cat  Category
	}{
		{45, "C_SC_NA_1", CategoryCommand}, {51, "C_BO_NA_1", CategoryCommand}, {58, "C_SC_TA_1", CategoryCommand},
		{64, "C_BO_TA_1", CategoryCommand}, {100, "C_IC_NA_1", CategoryInterrogate}, {101, "C_CI_NA_1", CategoryInterrogate},
		{102, "C_RD_NA_1", CategoryInterrogate}, {103, "C_CS_NA_1", CategoryClockSync}, {104, "C_TS_NA_1", CategoryTest},
		{105, "C_RP_NA_1", CategoryResetProcess}, {106, "C_CD_NA_1", CategoryDelay}, {107, "C_TS_TA_1", CategoryTest},
		{13, "M_ME_NC_1", CategoryMonitor}, {70, "M_EI_NA_1", CategorySystem}, {52, "type 52", CategoryUnknown},
	} {
		if got := TypeName(tc.id); got != tc.name {
			t.Errorf("TypeName(%d) = %q, want %q", tc.id, got, tc.name)
		}
		if got := TypeCategory(tc.id); got != tc.cat {
			t.Errorf("TypeCategory(%d) = %d, want %d", tc.id, got, tc.cat)
		}
	}
}

// FuzzParse: any input either parses into an APDU no longer than the input
// or is rejected, and never panics.
func FuzzParse(f *testing.F) {
	for _, tc := range frames {
		b, _ := hex.DecodeString(tc.hex)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, n, err := Parse(b)
		if n > len(b) || n < 0 {
			t.Fatalf("size %d beyond input %d", n, len(b))
		}
		if err == nil && p.Format == FormatI && p.ASDU == nil {
			t.Fatal("I-format APDU without ASDU and no error")
		}
		_ = Looks(b)
	})
}
