package enip

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/otaudit/otaudit"
)

// Frames are TCP payloads copied from the shared public captures (file and
// frame named per case); tshark 4.0 dissects each as the test expects.
const (
	// enip_cip_listidentity_io.pcap, frame 372: ListIdentity reply of a
	// 1756-ENBT/A.
	listIdentityReply = "63003300000000000000000000000000c1debed10000000001000c002d0001000002af120a0101a4000000000000000001000c003a00040330008e4d52000b313735362d454e42542f4103"
	// enip_cip_listidentity_io.pcap, frame 371: the request.
	listIdentityRequest = "63000000000000000000000000000000c1debed100000000"
	// cip_stop_plc.pcap, frame 1: SendUnitData carrying CIP Stop to class 0x8e.
	cipStop = "70001c0001002a00000000000000000000000000000000000000000001000200a1000400224095ffb100080006010702208e2401"
	// plant1_mixed_modbus_s7_enip_cip.pcap: Multiple_Service_Packet of four
	// Read_Modify_Write_Tag requests on symbolic tags (LMS_*).
	plantMSPWrites = "7000aa0000010210000000006c8795000000000000000000000000000a000200a100040001038b00b100960062bc0a022002240104000a00280046006a004e0c91164c4d535f44495341424c455f32445343414e4e455231010001ff4e0c91164c4d535f44495341424c455f32445343414e4e455232010001ff4e0f911b4c4d535f44495341424c455f424152434f44455f5343414e4e455200010000fe4e0f911b4c4d535f534554504f494e544348414e47455f524543454956454400010000fe"
	// plant1_mixed_modbus_s7_enip_cip.pcap: SendRRData, Unconnected_Send
	// to the Connection Manager carrying Get_Attributes_All to class 0xac.
	plantUnconnectedSend = "6f0026000001021000000000b0e330000000000000000000000000001400020000000000b200160052022006240107e90800010220ac2401010001000100"
	// enip_controllogix_factorytalk_hmi.pcap: SendRRData with Forward_Open.
	forwardOpen = "6f0040000001021200000000020000000000000000000000000000000000020000000000b2003000540220062401069b000000004b0500804b054d004561fa110200000080841e00f84380841e00f843a303010020022401"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestListIdentity(t *testing.T) {
	msg, n, err := ParseEncapsulation(unhex(t, listIdentityReply))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Command != CmdListIdentity || n != HeaderLen+0x33 {
		t.Fatalf("command 0x%04x size %d", msg.Command, n)
	}
	ids, err := ParseListIdentity(msg.Data)
	if err != nil || len(ids) != 1 {
		t.Fatalf("ids %v err %v", ids, err)
	}
	id := ids[0]
	// tshark: vendor 0x0001, device type 12, product code 58, revision
	// 1027 (= 4.3), serial 0x00524d8e, name 1756-ENBT/A.
	if id.VendorID != 1 || id.DeviceType != 12 || id.ProductCode != 58 || id.RevisionMajor != 4 || id.RevisionMinor != 3 ||
		id.Serial != 0x00524d8e || id.ProductName != "1756-ENBT/A" || !id.HasState || id.State != 3 {
		t.Fatalf("identity %+v", id)
	}
	if VendorName(id.VendorID) != "Rockwell Automation/Allen-Bradley" || DeviceTypeName(id.DeviceType) != "Communications Adapter" {
		t.Fatalf("names %q %q", VendorName(id.VendorID), DeviceTypeName(id.DeviceType))
	}
	if !strings.Contains(VendorName(9999), "9999") {
		t.Fatal("unknown vendor not shown by number")
	}

	req, _, err := ParseEncapsulation(unhex(t, listIdentityRequest))
	if err != nil || req.Command != CmdListIdentity || len(req.Data) != 0 {
		t.Fatalf("request %+v err %v", req, err)
	}
}

func TestCIPMessages(t *testing.T) {
	type svc struct {
		code     byte
		class    uint16
		hasClass bool
		symbolic bool
		embedded bool
	}
	tests := []struct {
		name      string
		frame     string
		connected bool
		seq       uint16
		want      []svc
		classes   []otaudit.OperationClass
	}{
		{"cip stop", cipStop, true, 262, []svc{{0x07, 0x8e, true, false, false}}, []otaudit.OperationClass{otaudit.OpModeChange}},
		{"msp of symbolic writes", plantMSPWrites, true, 0xbc62, []svc{
			{0x0a, 0x02, true, false, false},
			{0x4e, 0, false, true, true}, {0x4e, 0, false, true, true}, {0x4e, 0, false, true, true}, {0x4e, 0, false, true, true},
		}, []otaudit.OperationClass{otaudit.OpOther, otaudit.OpWrite, otaudit.OpWrite, otaudit.OpWrite, otaudit.OpWrite}},
		{"unconnected send", plantUnconnectedSend, false, 0, []svc{
			{0x52, 0x06, true, false, false}, {0x01, 0xac, true, false, true},
		}, []otaudit.OperationClass{otaudit.OpOther, otaudit.OpRead}},
		{"forward open", forwardOpen, false, 0, []svc{{0x54, 0x06, true, false, false}}, []otaudit.OperationClass{otaudit.OpOther}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg, _, err := ParseEncapsulation(unhex(t, tc.frame))
			if err != nil {
				t.Fatal(err)
			}
			tr, err := ParseTransfer(msg.Data)
			if err != nil {
				t.Fatal(err)
			}
			if tr.Connected != tc.connected || tr.Sequence != tc.seq {
				t.Fatalf("connected %v seq %d", tr.Connected, tr.Sequence)
			}
			got, err := ParseMessage(tr.Message)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d services %+v, want %d", len(got), got, len(tc.want))
			}
			for i, w := range tc.want {
				g := got[i]
				if g.Code != w.code || g.Class != w.class || g.HasClass != w.hasClass || g.Symbolic != w.symbolic || g.Embedded != w.embedded || g.Reply {
					t.Errorf("service %d: got %+v, want %+v", i, g, w)
				}
				if _, class := ServiceInfo(g.Code, g.Class, g.HasClass, g.Symbolic); class != tc.classes[i] {
					t.Errorf("service %d: class %s, want %s", i, class, tc.classes[i])
				}
			}
		})
	}
}

func TestServiceInfoDependsOnObject(t *testing.T) {
	tests := []struct {
		code     byte
		class    uint16
		hasClass bool
		symbolic bool
		name     string
		op       otaudit.OperationClass
	}{
		{0x4e, ClassConnectionManager, true, false, "Forward_Close", otaudit.OpOther},
		{0x4e, 0, false, true, "Read_Modify_Write_Tag", otaudit.OpWrite},
		{0x4d, ClassSymbol, true, false, "Write_Tag", otaudit.OpWrite},
		{0x53, 0, false, true, "Write_Tag_Fragmented", otaudit.OpWrite},
		{0x52, 0, false, true, "Read_Tag_Fragmented", otaudit.OpRead},
		{0x52, ClassConnectionManager, true, false, "Unconnected_Send", otaudit.OpOther},
		{0x4e, 0xb2, true, false, "Service 0x4e (class 0xb2)", otaudit.OpOther},
		{0x50, ClassFile, true, false, "Download_Transfer", otaudit.OpFile},
		{0x05, 0x01, true, false, "Reset", otaudit.OpRestart},
		{0x06, 0x8e, true, false, "Start", otaudit.OpModeChange},
		{0x10, 0xf5, true, false, "Set_Attribute_Single", otaudit.OpWrite},
		{0x02, 0xf5, true, false, "Set_Attributes_All", otaudit.OpWrite},
		{0x0e, 0x01, true, false, "Get_Attribute_Single", otaudit.OpRead},
		{0x8e, 0x01, true, false, "Get_Attribute_Single", otaudit.OpRead}, // reply bit ignored
	}
	for _, tc := range tests {
		name, op := ServiceInfo(tc.code, tc.class, tc.hasClass, tc.symbolic)
		if name != tc.name || op != tc.op {
			t.Errorf("ServiceInfo(0x%02x, 0x%x, %v, %v) = %q %s, want %q %s", tc.code, tc.class, tc.hasClass, tc.symbolic, name, op, tc.name, tc.op)
		}
	}
}

func TestReplies(t *testing.T) {
	// A Multiple_Service_Packet reply with two Read_Tag replies, the second
	// failed (general status 0x04 path segment error).
	msp := []byte{0x8a, 0, 0x1e, 0, 2, 0, 6, 0, 12, 0, 0xcc, 0, 0, 0, 0xc3, 0, 0xcc, 0, 0x04, 0}
	got, err := ParseMessage(msp)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || !got[0].Reply || got[0].Code != 0x0a || got[1].Code != 0x4c || got[1].Status != 0 || got[2].Status != 0x04 || !got[2].Embedded {
		t.Fatalf("%+v", got)
	}
}

func TestMalformed(t *testing.T) {
	full := unhex(t, listIdentityReply)
	for cut := 0; cut < HeaderLen+0x33; cut++ {
		if _, _, err := ParseEncapsulation(full[:cut]); !errors.Is(err, ErrNeedMore) {
			t.Fatalf("cut at %d: %v", cut, err)
		}
	}
	bad := append([]byte(nil), full...)
	bad[20] = 1 // options must be zero
	if _, _, err := ParseEncapsulation(bad); !errors.Is(err, ErrNotENIP) {
		t.Fatalf("options: %v", err)
	}
	msg, _, _ := ParseEncapsulation(full)
	lying := append([]byte(nil), msg.Data...)
	lying[38] = 0xff // product name length runs past the item
	if _, err := ParseListIdentity(lying); !errors.Is(err, ErrMalformed) {
		t.Fatalf("name length: %v", err)
	}
	// A Multiple_Service_Packet whose offsets point backwards.
	if _, err := ParseMessage([]byte{0x0a, 2, 0x20, 2, 0x24, 1, 2, 0, 8, 0, 4, 0, 0x4c, 0}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("offsets: %v", err)
	}
	if LooksLikeENIP([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")) || !LooksLikeENIP(full) {
		t.Fatal("LooksLikeENIP")
	}
}

// FuzzENIP runs every parser over arbitrary bytes; they must neither panic
// nor return slices outside their input.
func FuzzENIP(f *testing.F) {
	for _, s := range []string{listIdentityReply, listIdentityRequest, cipStop, plantMSPWrites, plantUnconnectedSend, forwardOpen} {
		f.Add(unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		msg, n, err := ParseEncapsulation(b)
		if err != nil {
			return
		}
		if n < HeaderLen || n > len(b) || len(msg.Data) != n-HeaderLen {
			t.Fatalf("size %d of %d, data %d", n, len(b), len(msg.Data))
		}
		ids, _ := ParseListIdentity(msg.Data)
		for _, id := range ids {
			if len(id.ProductName) > 255 {
				t.Fatalf("product name of %d bytes", len(id.ProductName))
			}
		}
		tr, err := ParseTransfer(msg.Data)
		if err != nil {
			return
		}
		services, _ := ParseMessage(tr.Message)
		// Embedded messages are disjoint and at least two bytes each.
		if len(services) > len(tr.Message)/2+1 {
			t.Fatalf("%d services", len(services))
		}
		for _, s := range services {
			ServiceInfo(s.Code, s.Class, s.HasClass, s.Symbolic)
		}
	})
}
