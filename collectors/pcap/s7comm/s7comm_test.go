package s7comm

import (
	"encoding/hex"
	"errors"
	"testing"

	"github.com/otaudit/otaudit"
)

// Frames are TCP payloads copied from the shared captures (file, frame).
const (
	// s7comm_snap7_cpu_stop.pcap #1: Job PLC Stop "P_PROGRAM".
	hexStop = "0300002102f0803201000000020010000029000000000009505f50524f4752414d"
	// s7comm_step7_program_download.pcap #1: Job Setup communication.
	hexSetup = "0300001902f08032010000020000080000f0000001000101e0"
	// s7comm_step7_program_download.pcap #89: the PLC's Job Download block.
	hexDownloadBlock = "0300002302f080320100006501001200001b00000000000000095f3041303030303150"
	// s7comm_step7_program_download.pcap #88: Ack_Data Request download.
	hexAckRequestDownload = "0300001402f0803203000083000001000000001a"
	// s7comm_step7_program_download.pcap #93: Job PI-Service "_INSE".
	hexPIInsert = "0300002b02f080320100008400001a000028000000000000fd000a01003041303030303150055f494e5345"
	// s7comm_snap7_everything_szl_upload.pcap #63: PI-Service "P_PROGRAM".
	hexPIStart = "0300002702f080320100001f000016000028000000000000fd0002432009505f50524f4752414d"
	// s7comm_snap7_everything_szl_upload.pcap #44: Ack with error 0xd20c.
	hexAckError = "0300001302f08032020000150000000000d20c"
	// s7comm_snap7_everything_szl_upload.pcap #3: Read SZL 0x0011 request.
	hexSZLReq = "0300002102f080320700000100000800080001120411440100ff09000400110000"
	// s7comm_snap7_everything_szl_upload.pcap #4: SZL 0x0011 response.
	hexSZL11 = "0300009902f080320700000100000c007c000112081284010200000000ff09007800110000001c0004000136455337203331352d32454831342d304142302000c000030001000636455337203331352d32454831342d304142302000c0000300010007202020202020202020202020202020202020202000c0560302070081426f6f74204c6f61646572202020202020202020000041200909"
	// s7comm_snap7_everything_szl_upload.pcap #6 and #8: SZL 0x001C in two parts.
	hexSZL1CPart1 = "030000f702f080320700000200000c00da0001120812840102d5010000ff0900d6001c00000022000a000153373330302f45543230304d2073746174696f6e5f31000000000000000000000002504c435f310000000000000000000000000000000000000000000000000000000003000000000000000000000000000000000000000000000000000000000000000000044f726967696e616c205369656d656e732045717569706d656e7400000000000000055320432d423155333933313432303131000000000000000000000000000000000007435055203331352d3220504e2f445000000000000000000000000000000000000008"
	hexSZL1CPart2 = "030000a702f080320700000300000c008a0001120812840102d5000000ff0900864d4d4320344131414330313900000000000000000000000000000000000000000009002af60000010000000000000000000000000000000000000000000000000000000a0000000000000000000000000000000000000000000000000000000000000000000b0000000000000000000000000000000000000000000000000000000000000000"
	// plant1_mixed_modbus_s7_enip_cip.pcap: empty COTP DT (keep-alive, EOT clear).
	hexKeepAlive = "0300000702f000"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// s7PDU unwraps TPKT and COTP and parses the S7comm PDU of a frame.
func s7PDU(t *testing.T, s string) (COTP, PDU) {
	t.Helper()
	tpdu, n, err := SplitTPKT(mustHex(t, s))
	if err != nil || n != len(s)/2 {
		t.Fatalf("SplitTPKT: n=%d err=%v", n, err)
	}
	c, err := ParseCOTP(tpdu)
	if err != nil {
		t.Fatalf("ParseCOTP: %v", err)
	}
	if c.Type != COTPData || !c.EOT {
		t.Fatalf("COTP type 0x%02x EOT %v, want a last DT", c.Type, c.EOT)
	}
	p, err := ParsePDU(c.Data)
	if err != nil {
		t.Fatalf("ParsePDU: %v", err)
	}
	return c, p
}

func TestParsePDU(t *testing.T) {
	cases := []struct {
		name      string
		frame     string
		rosctr    ROSCTR
		fn        byte
		class     otaudit.OperationClass
		pi        string
		errClass  byte
		udGroup   byte
		udSub     byte
		udType    byte
		udPayload int
	}{
		{"plc stop", hexStop, Job, FuncPLCStop, otaudit.OpModeChange, "P_PROGRAM", 0, 0, 0, 0, 0},
		{"setup communication", hexSetup, Job, FuncSetupComm, otaudit.OpOther, "", 0, 0, 0, 0, 0},
		{"download block (sent by the PLC)", hexDownloadBlock, Job, FuncDownloadBlock, otaudit.OpProgramDownload, "", 0, 0, 0, 0, 0},
		{"ack_data request download", hexAckRequestDownload, AckData, FuncRequestDownload, otaudit.OpProgramDownload, "", 0, 0, 0, 0, 0},
		{"pi-service insert block", hexPIInsert, Job, FuncPIService, otaudit.OpModeChange, "_INSE", 0, 0, 0, 0, 0},
		{"pi-service start", hexPIStart, Job, FuncPIService, otaudit.OpModeChange, "P_PROGRAM", 0, 0, 0, 0, 0},
		{"ack with error", hexAckError, Ack, 0, otaudit.OpOther, "", 0xd2, 0, 0, 0, 0},
		{"read szl request", hexSZLReq, Userdata, 0, otaudit.OpIdentify, "", 0, GroupCPU, 1, UserdataRequest, 4},
		{"read szl response", hexSZL11, Userdata, 0, otaudit.OpIdentify, "", 0, GroupCPU, 1, UserdataResponse, 0x78},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, p := s7PDU(t, tc.frame)
			if p.ROSCTR != tc.rosctr || p.Function != tc.fn || p.ErrorClass != tc.errClass {
				t.Fatalf("got %s fn 0x%02x err 0x%02x, want %s fn 0x%02x err 0x%02x", p.ROSCTR, p.Function, p.ErrorClass, tc.rosctr, tc.fn, tc.errClass)
			}
			pi, ok := p.PIService()
			if pi != tc.pi || ok != (tc.pi != "") {
				t.Errorf("PIService = %q, %v; want %q", pi, ok, tc.pi)
			}
			if p.ROSCTR == Userdata {
				u := p.Userdata
				if u == nil {
					t.Fatal("no Userdata header")
				}
				if u.Group != tc.udGroup || u.Subfunction != tc.udSub || u.Type != tc.udType || len(u.Payload) != tc.udPayload {
					t.Fatalf("userdata %+v", *u)
				}
				if f := UserdataFunction(u.Group, u.Subfunction); f.Class != tc.class {
					t.Errorf("class %s, want %s", f.Class, tc.class)
				}
				return
			}
			if p.ROSCTR != Ack {
				if f := JobFunction(p.Function); f.Class != tc.class {
					t.Errorf("class %s, want %s", f.Class, tc.class)
				}
			}
		})
	}
}

func TestSZLIdentity(t *testing.T) {
	_, p := s7PDU(t, hexSZL11)
	s, err := ParseSZL(p.Userdata.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if s.ID != 0x0011 || s.RecordLen != 28 || s.Count != 4 || len(s.Records) != 4 {
		t.Fatalf("SZL header %+v", s)
	}
	m := s.Identity()
	if m.OrderNumber != "6ES7 315-2EH14-0AB0" || m.Firmware != "V3.2.7" || m.Vendor() != "Siemens" {
		t.Errorf("0x0011 identity %+v", m)
	}

	// 0x001C comes in two Userdata parts linked by the data unit reference.
	_, p1 := s7PDU(t, hexSZL1CPart1)
	_, p2 := s7PDU(t, hexSZL1CPart2)
	u1, u2 := p1.Userdata, p2.Userdata
	if !u1.MoreFollows || u2.MoreFollows || u1.DataUnitRef != 0xd5 || u2.DataUnitRef != 0xd5 {
		t.Fatalf("parts: more %v/%v ref %x/%x", u1.MoreFollows, u2.MoreFollows, u1.DataUnitRef, u2.DataUnitRef)
	}
	if _, err := ParseSZL(u1.Payload); err == nil {
		t.Error("first part alone: want an error for the missing records")
	}
	whole := append(append([]byte(nil), u1.Payload...), u2.Payload...)
	s, err = ParseSZL(whole)
	if err != nil {
		t.Fatal(err)
	}
	if s.ID != 0x001c || s.Count != 10 || len(s.Records) != 10 {
		t.Fatalf("SZL 0x001C: id %x count %d records %d", s.ID, s.Count, len(s.Records))
	}
	m = s.Identity()
	want := ModuleIdentity{SystemName: "S7300/ET200M station_1", ModuleName: "PLC_1", Copyright: "Original Siemens Equipment",
		Serial: "S C-B1U393142011", ModuleType: "CPU 315-2 PN/DP", MemoryCard: "MMC 4A1AC019"}
	if m != want {
		t.Errorf("0x001C identity\n got  %+v\n want %+v", m, want)
	}
	// s7comm_read_szl_plc_status.pcap #56: SZL 0x0F11 is the header only.
	hdr := []byte{0x0f, 0x11, 0, 0, 0, 0x1c, 0, 4}
	if s, err := ParseSZL(hdr); err != nil || s.Count != 4 || len(s.Records) != 0 {
		t.Errorf("header-only SZL 0x0F11: %+v %v", s, err)
	}
	m.Merge(ModuleIdentity{OrderNumber: "6ES7 315-2EH14-0AB0", ModuleName: "other"})
	if m.OrderNumber == "" || m.ModuleName != "PLC_1" {
		t.Errorf("Merge: %+v", m)
	}
}

func TestTPKTAndCOTPEdges(t *testing.T) {
	full := mustHex(t, hexStop)
	if _, _, err := SplitTPKT(full[:10]); !errors.Is(err, ErrNeedMore) {
		t.Errorf("short frame: %v", err)
	}
	if _, _, err := SplitTPKT([]byte{4, 0, 0, 7, 2, 0xf0, 0x80}); !errors.Is(err, ErrNotTPKT) {
		t.Errorf("version 4: %v", err)
	}
	if _, _, err := SplitTPKT([]byte{3, 0, 0, 3}); !errors.Is(err, ErrNotTPKT) {
		t.Errorf("length 3: %v", err)
	}
	tpdu, _, err := SplitTPKT(mustHex(t, hexKeepAlive))
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseCOTP(tpdu)
	if err != nil || c.Type != COTPData || c.EOT || len(c.Data) != 0 {
		t.Errorf("keep-alive: %+v %v", c, err)
	}
	// COTP CR of an S7 client (TSAP 0x0100 → 0x0102, rack 0 slot 2).
	cr := []byte{0x11, 0xe0, 0, 0, 0, 1, 0, 0xc0, 1, 0x0a, 0xc1, 2, 1, 0, 0xc2, 2, 1, 2}
	c, err = ParseCOTP(cr)
	if err != nil || c.Type != COTPConnectRequest || hex.EncodeToString(c.DstTSAP) != "0102" || hex.EncodeToString(c.SrcTSAP) != "0100" {
		t.Errorf("CR: %+v %v", c, err)
	}
	// A PDU whose lengths run past its end is refused.
	bad := mustHex(t, hexSetup)[7:]
	bad[7] = 0x40
	if _, err := ParsePDU(bad); err == nil {
		t.Error("lying parameter length accepted")
	}
}

func TestS7commPlus(t *testing.T) {
	// Header layout from the Wireshark s7comm_plus dissector: 0x72, version,
	// data length; an S7-1500 V3 CreateObject request starts like this.
	b := []byte{0x72, 0x03, 0x00, 0x1d, 0x31, 0x00, 0x00, 0x04, 0xca}
	h, err := ParsePlusHeader(b)
	if err != nil || h.Version != 3 || h.Length != 0x1d {
		t.Fatalf("%+v %v", h, err)
	}
	if !LooksLikeS7(b) {
		t.Error("LooksLikeS7(S7comm-plus) = false")
	}
	if _, err := ParsePlusHeader([]byte{0x72, 0x09, 0, 0}); err == nil {
		t.Error("version 9 accepted")
	}
	tp, _, _ := SplitTPKT(mustHex(t, hexSetup))
	c, _ := ParseCOTP(tp)
	if !LooksLikeS7(c.Data) {
		t.Error("LooksLikeS7(S7comm) = false")
	}
	if LooksLikeS7([]byte("GET / HTTP/1.1\r\n")) {
		t.Error("LooksLikeS7(HTTP) = true")
	}
}

func TestUserdataCodes(t *testing.T) {
	if c := UserdataCode(GroupCPU, 1); c != 0x1401 {
		t.Errorf("UserdataCode = %#x", c)
	}
	if f := UserdataFunction(GroupTime, 2); f.Class != otaudit.OpWrite || f.Name != "Userdata Time functions: Set clock" {
		t.Errorf("set clock: %+v", f)
	}
	if f := JobFunction(0x77); f.Class != otaudit.OpOther || f.Name != "Function 0x77" {
		t.Errorf("unknown job: %+v", f)
	}
}

// FuzzParse runs every parser over arbitrary stream bytes: none may panic
// and every result must lie within its input.
func FuzzParse(f *testing.F) {
	for _, s := range []string{hexStop, hexSetup, hexPIInsert, hexAckError, hexSZL11, hexSZL1CPart1, hexKeepAlive} {
		f.Add(mustHex(f, s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for len(b) > 0 {
			tpdu, n, err := SplitTPKT(b)
			if err != nil {
				tpdu, n = b, len(b) // also feed raw bytes to the inner parsers
			}
			if n <= 0 || n > len(b) {
				t.Fatalf("SplitTPKT consumed %d of %d", n, len(b))
			}
			b = b[n:]
			c, err := ParseCOTP(tpdu)
			if err != nil {
				continue
			}
			LooksLikeS7(c.Data)
			_, _ = ParsePlusHeader(c.Data)
			p, err := ParsePDU(c.Data)
			if err != nil {
				continue
			}
			_, _ = p.PIService()
			if p.Userdata != nil {
				_, _ = ParseSZLRequest(p.Userdata.Payload)
				s, _ := ParseSZL(p.Userdata.Payload)
				for _, r := range s.Records {
					if len(r) != s.RecordLen {
						t.Fatalf("record of %d bytes, RecordLen %d", len(r), s.RecordLen)
					}
				}
				_ = s.Identity().Vendor()
			}
		}
	})
}
