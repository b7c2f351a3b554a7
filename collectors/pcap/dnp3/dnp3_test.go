package dnp3

import (
	"encoding/hex"
	"errors"
	"testing"

	"github.com/otaudit/otaudit"
)

// Frames are TCP payloads copied from the shared public captures; tshark
// 4.0 dissects each as the test expects.
const (
	// dnp3_lab_operate_with_it_noise.pcap, frame 586: master 2 →
	// outstation 1, Direct Operate (CROB).
	directOperate = "056414c4010002004aa2f7cf0529032801000000c3f52841009bff"
	// the same capture, frame 587: outstation 1 → master 2, its Response.
	response = "0564164402000100635ff0cf81020029032801000000c3f52841a45c00ffff"
	// dnp3_digitalbond_testdata_part1.pcap: master 3 → outstation 4, Stop
	// Application.
	stopApplication = "056411c4040003004eefc1c1123c02060107063c04ed8763"
	// the same capture, frame 19: second start byte wrong; tshark does not
	// take it for DNP3 either.
	badStart = "050511c40400030046a2c2c2143c02063c03063c0406d32f"
	// dnp3_lab_operate_with_it_noise.pcap, frame 2: a Response of length
	// 0x44, spanning five CRC blocks.
	multiBlock = "056444440200010068afd7c68100000102000000010302000000be9501140100000001000000001501000000737e01000000001e0100000001000000000a0eb102000000012803000000010000000075f3"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFrames(t *testing.T) {
	tests := []struct {
		name       string
		frame      string
		fromMaster bool
		dst, src   uint16
		fc         byte
		class      otaudit.OperationClass
		rejected   bool
	}{
		{"direct operate", directOperate, true, 1, 2, 5, otaudit.OpWrite, false},
		{"response", response, false, 2, 1, FuncResponse, otaudit.OpOther, false},
		{"stop application", stopApplication, true, 4, 3, 18, otaudit.OpModeChange, false},
		{"response, several blocks", multiBlock, false, 2, 1, FuncResponse, otaudit.OpOther, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := unhex(t, tc.frame)
			f, n, err := ParseFrame(b, nil)
			if err != nil {
				t.Fatal(err)
			}
			if n != len(b) || f.DataCRCError {
				t.Fatalf("size %d of %d, CRC error %v", n, len(b), f.DataCRCError)
			}
			if want := int(f.Length) - 5; len(f.UserData) != want {
				t.Fatalf("user data %d bytes, want %d", len(f.UserData), want)
			}
			if f.FromMaster() != tc.fromMaster || f.Destination != tc.dst || f.Source != tc.src || !f.CarriesUserData() {
				t.Fatalf("frame %+v", f)
			}
			app, first, err := ParseSegment(f.UserData)
			if err != nil || !first {
				t.Fatalf("segment first=%v err=%v", first, err)
			}
			if app.Function != tc.fc || app.Rejected() != tc.rejected {
				t.Fatalf("app %+v", app)
			}
			if _, class := FunctionInfo(app.Function); class != tc.class {
				t.Fatalf("class %s, want %s", class, tc.class)
			}
		})
	}
}

func TestRequestAndResponseShareSequence(t *testing.T) {
	req, _, _ := ParseFrame(unhex(t, directOperate), nil)
	resp, _, _ := ParseFrame(unhex(t, response), nil)
	ra, _, _ := ParseSegment(req.UserData)
	sa, _, _ := ParseSegment(resp.UserData)
	if ra.Sequence() != sa.Sequence() || ra.IsResponse() || !sa.IsResponse() || !sa.HasIIN {
		t.Fatalf("request %+v response %+v", ra, sa)
	}
}

func TestClasses(t *testing.T) {
	want := map[byte]otaudit.OperationClass{
		1: otaudit.OpRead, 2: otaudit.OpWrite, 3: otaudit.OpWrite, 4: otaudit.OpWrite, 5: otaudit.OpWrite, 6: otaudit.OpWrite,
		13: otaudit.OpRestart, 14: otaudit.OpRestart, 16: otaudit.OpModeChange, 17: otaudit.OpModeChange, 18: otaudit.OpModeChange,
		25: otaudit.OpFile, 26: otaudit.OpFile, 27: otaudit.OpFile, 28: otaudit.OpFile, 0: otaudit.OpOther, 200: otaudit.OpOther,
	}
	for fc, class := range want {
		if _, got := FunctionInfo(fc); got != class {
			t.Errorf("function %d: %s, want %s", fc, got, class)
		}
	}
}

func TestMalformed(t *testing.T) {
	if _, _, err := ParseFrame(unhex(t, badStart), nil); !errors.Is(err, ErrNotDNP3) {
		t.Fatalf("bad start: %v", err)
	}
	full := unhex(t, multiBlock)
	for cut := 0; cut < len(full); cut++ {
		if _, _, err := ParseFrame(full[:cut], nil); !errors.Is(err, ErrNeedMore) {
			t.Fatalf("cut at %d: %v", cut, err)
		}
	}
	hdr := append([]byte(nil), full...)
	hdr[4] ^= 1 // destination changed: header CRC fails
	if _, _, err := ParseFrame(hdr, nil); !errors.Is(err, ErrNotDNP3) {
		t.Fatalf("header CRC: %v", err)
	}
	data := append([]byte(nil), full...)
	data[12] ^= 1 // first data block changed: its CRC fails, the frame is still read
	f, _, err := ParseFrame(data, nil)
	if err != nil || !f.DataCRCError {
		t.Fatalf("data CRC: %v %+v", err, f)
	}
	if got := Resync(append([]byte{0x00, 0x05}, full...)); got != 2 {
		t.Fatalf("resync at %d", got)
	}
	if _, _, err := ParseSegment([]byte{TransportFIR | TransportFIN, 0xc0}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short application header: %v", err)
	}
}

// FuzzDNP3 splits arbitrary bytes into frames as the stream adapter does.
func FuzzDNP3(f *testing.F) {
	for _, s := range []string{directOperate, response, stopApplication, badStart, multiBlock} {
		f.Add(unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var buf []byte
		for off := 0; off < len(b); {
			fr, n, err := ParseFrame(b[off:], buf)
			switch {
			case errors.Is(err, ErrNeedMore):
				return
			case err != nil:
				step := Resync(b[off:])
				if step <= 0 {
					t.Fatalf("resync did not advance at %d", off)
				}
				off += step
				continue
			}
			if n < headerLen || off+n > len(b) || len(fr.UserData) > 250 {
				t.Fatalf("frame of %d bytes at %d, user data %d", n, off, len(fr.UserData))
			}
			buf = fr.UserData[:0]
			if fr.CarriesUserData() {
				ParseSegment(fr.UserData)
			}
			off += n
		}
	})
}

// buildFrame encodes a link frame around user data, CRCs included.
func buildFrame(ctrl byte, dst, src uint16, user []byte) []byte {
	h := []byte{startByte0, startByte1, byte(5 + len(user)), ctrl, byte(dst), byte(dst >> 8), byte(src), byte(src >> 8)}
	c := crc(h)
	out := append(h, byte(c), byte(c>>8))
	for len(user) > 0 {
		n := min(blockLen, len(user))
		c := crc(user[:n])
		out = append(out, user[:n]...)
		out = append(out, byte(c), byte(c>>8))
		user = user[n:]
	}
	return out
}

func TestRejectedResponse(t *testing.T) {
	// Outstation 10 → master 1: Response, IIN2 "function code not supported".
	b := buildFrame(0x44, 1, 10, []byte{TransportFIR | TransportFIN, 0xc3, FuncResponse, 0x00, 0x01})
	if !LooksLikeDNP3(b) {
		t.Fatal("built frame not recognised")
	}
	f, _, err := ParseFrame(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	app, first, err := ParseSegment(f.UserData)
	if err != nil || !first || !app.Rejected() || app.Sequence() != 3 || f.FromMaster() {
		t.Fatalf("%+v %+v first=%v err=%v", f, app, first, err)
	}
	// A continuation segment (FIR clear) has no application header.
	if _, first, err := ParseSegment([]byte{0x01, 0xaa, 0xbb}); first || err != nil {
		t.Fatalf("continuation: first=%v err=%v", first, err)
	}
}
