package pcap

import (
	"bytes"
	"context"
	"encoding/hex"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/otaudit/otaudit"
	enipparse "github.com/otaudit/otaudit/collectors/pcap/enip"
)

// The EtherNet/IP, CIP and DNP3 captures of the shared set, checked
// against the counts EXPECTED.md records from tshark and, when tshark is
// installed, against tshark itself. Counting conventions match tshark's:
// every CIP service is counted, including those embedded in a
// Multiple_Service_Packet or an Unconnected_Send, a reply under its code
// with bit 0x80 set; a DNP3 function code once per application fragment.

var enipDNP3Captures = []string{
	"cip_stop_plc.pcap",
	"enip_cip_listidentity_io.pcap",
	"enip_controllogix_factorytalk_hmi.pcap",
	"enip_controllogix_logix5000_download_upload_run.pcap",
	"plant1_mixed_modbus_s7_enip_cip.pcap",
	"dnp3_digitalbond_testdata_part1.pcap",
	"dnp3_lab_operate_with_it_noise.pcap",
}

// expectedSection returns the part of EXPECTED.md about file.
func expectedSection(t *testing.T, dir, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "EXPECTED.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n## "+file+" ")
	if i < 0 {
		t.Fatalf("EXPECTED.md has no section for %s", file)
	}
	s = s[i+1:]
	if j := strings.Index(s[3:], "\n## "); j >= 0 {
		s = s[:j+3]
	}
	return s
}

var (
	reCount      = regexp.MustCompile(`(0x[0-9a-f]+|\d+)[^×,]*×(\d+)`)
	reHostRow    = regexp.MustCompile(`(?m)^\| ([0-9a-f.:]+) \| [^|]* \| ([^|]*) \| ([^|]*) \|`)
	reListIdent  = regexp.MustCompile("ListIdentity reply\\*\\* from ([0-9.]+): vendor 0x([0-9a-f]+), device type (\\d+), product code (\\d+), revision (\\d+), serial (0x[0-9a-f]+), product name `([^`]*)`")
	reLineLabels = map[string]string{
		"cip":  "- CIP service codes",
		"enip": "- encapsulation commands:",
		"dnp3": "- application-layer function codes:",
	}
)

// expectedCounts parses one "- label: code ×count, …" line of a section.
func expectedCounts(section, label string) map[int]int64 {
	out := map[int]int64{}
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, label) {
			continue
		}
		if i := strings.Index(line, ":"); i >= 0 {
			line = line[i+1:]
		}
		for _, m := range reCount.FindAllStringSubmatch(line, -1) {
			code, _ := strconv.ParseInt(m[1], 0, 32)
			n, _ := strconv.ParseInt(m[2], 10, 64)
			out[int(code)] += n
		}
	}
	return out
}

// observedCounts counts what the analysis saw the way tshark counts it.
func observedCounts(r *Result) (cip, enip, dnp3 map[int]int64) {
	cip, enip, dnp3 = map[int]int64{}, map[int]int64{}, map[int]int64{}
	add := func(m map[int]int64, k int, n int64) {
		if n != 0 {
			m[k] += n
		}
	}
	for _, o := range r.Observations {
		op := o.Operation
		if op == nil {
			continue
		}
		switch op.Protocol {
		case "cip":
			add(cip, op.Function, op.Requests)
			add(cip, op.Function|0x80, op.Responses)
		case "enip":
			add(enip, op.Function, op.Requests+op.Responses)
		case "dnp3":
			add(dnp3, op.Function, op.Requests)
			// A matched Response is counted on its request; tshark counts
			// it as 129. Unsolicited (130) and unmatched (129) responses
			// carry their own code.
			if op.Function >= 0x81 {
				add(dnp3, op.Function, op.Responses)
			} else {
				add(dnp3, 0x81, op.Responses)
			}
		}
	}
	return cip, enip, dnp3
}

func TestENIPDNP3CapturesMatchExpected(t *testing.T) {
	dir := sharedPcaps(t)
	for _, file := range enipDNP3Captures {
		t.Run(file, func(t *testing.T) {
			section := expectedSection(t, dir, file)
			r := analyzeShared(t, dir, file)
			cip, enip, dnp3 := observedCounts(r)
			got := map[string]map[int]int64{"cip": cip, "enip": enip, "dnp3": dnp3}
			for proto, label := range reLineLabels {
				want := expectedCounts(section, label)
				if !maps.Equal(got[proto], want) {
					t.Errorf("%s counts differ from EXPECTED.md (tshark):\n got  %v\n want %v", proto, got[proto], want)
				}
			}

			// Roles: every CIP/ENIP/DNP3 operation goes from a host tshark
			// lists as client/master to one it lists as server/outstation.
			servers, clients := map[string]bool{}, map[string]bool{}
			for _, m := range reHostRow.FindAllStringSubmatch(section, -1) {
				for _, p := range []string{"EtherNet/IP", "DNP3"} {
					if strings.Contains(m[2], p) {
						servers[m[1]] = true
					}
					if strings.Contains(m[3], p) {
						clients[m[1]] = true
					}
				}
			}
			for _, o := range r.Observations {
				op := o.Operation
				if op == nil || (op.Protocol != "cip" && op.Protocol != "enip" && op.Protocol != "dnp3") {
					continue
				}
				if !clients[op.Client.String()] || !servers[op.Server.String()] {
					t.Errorf("%s %s → %s: roles differ from tshark (clients %v, servers %v)", op.Protocol, op.Client, op.Server, clients, servers)
				}
			}

			for _, m := range reListIdent.FindAllStringSubmatch(section, -1) {
				vendor, _ := strconv.ParseUint(m[2], 16, 16)
				rev, _ := strconv.Atoi(m[5])
				want := otaudit.DeviceIdentity{
					Method: "enip-listidentity", Vendor: enipparse.VendorName(uint16(vendor)), ProductCode: m[4],
					Model: m[7], Firmware: strconv.Itoa(rev>>8) + "." + strconv.Itoa(rev&0xff), Serial: m[6],
				}
				found := false
				for _, o := range r.Observations {
					if id := o.Identity; id != nil && id.IP.String() == m[1] && id.Method == want.Method {
						found = true
						want.IP = id.IP
						if *id != want {
							t.Errorf("identity\n got  %+v\n want %+v", *id, want)
						}
					}
				}
				if !found {
					t.Errorf("no enip-listidentity identity for %s", m[1])
				}
			}
			// dnp3_digitalbond has two frames with a broken start (tshark
			// does not dissect them either); plant1's other protocols are
			// other dissectors' business.
			if r.Stats.DecodeErrors > 0 && !strings.HasPrefix(file, "dnp3_digitalbond") && !strings.HasPrefix(file, "plant1") {
				t.Errorf("%d decode errors: %v", r.Stats.DecodeErrors, r.Stats.Warnings)
			}
		})
	}
}

// TestENIPDNP3Classes pins the operation classes the checks act on.
func TestENIPDNP3Classes(t *testing.T) {
	dir := sharedPcaps(t)
	type want struct {
		file, proto, client, server string
		function                    int
		class                       otaudit.OperationClass
	}
	for _, w := range []want{
		{"cip_stop_plc.pcap", "cip", "192.168.1.69", "192.168.1.30", 0x07, otaudit.OpModeChange},
		{"plant1_mixed_modbus_s7_enip_cip.pcap", "cip", "141.81.0.10", "141.81.0.23", 0x4e, otaudit.OpWrite},
		{"plant1_mixed_modbus_s7_enip_cip.pcap", "cip", "141.81.0.10", "141.81.0.23", 0x52, otaudit.OpOther},
		{"enip_cip_listidentity_io.pcap", "cip", "192.168.10.105", "192.168.10.120", 0x04, otaudit.OpWrite},
		{"enip_cip_listidentity_io.pcap", "enip", "10.1.1.167", "10.1.1.164", 0x63, otaudit.OpIdentify},
		{"enip_controllogix_logix5000_download_upload_run.pcap", "cip", "10.92.18.100", "10.92.18.17", 0x4e, otaudit.OpOther}, // Forward_Close
		{"dnp3_digitalbond_testdata_part1.pcap", "dnp3", "10.0.0.8", "10.0.0.3", 2, otaudit.OpWrite},
		{"dnp3_digitalbond_testdata_part1.pcap", "dnp3", "10.0.0.8", "10.0.0.3", 13, otaudit.OpRestart},
		{"dnp3_digitalbond_testdata_part1.pcap", "dnp3", "10.0.0.9", "10.0.0.3", 18, otaudit.OpModeChange},
		{"dnp3_lab_operate_with_it_noise.pcap", "dnp3", "192.168.1.150", "192.168.1.200", 5, otaudit.OpWrite},
		{"dnp3_lab_operate_with_it_noise.pcap", "dnp3", "192.168.1.150", "192.168.1.200", 3, otaudit.OpWrite},
	} {
		r := analyzeShared(t, dir, w.file)
		found := false
		for _, o := range r.Observations {
			op := o.Operation
			if op == nil || op.Protocol != w.proto || op.Function != w.function || op.Client.String() != w.client || op.Server.String() != w.server || op.Requests == 0 {
				continue
			}
			found = true
			if op.Class != w.class {
				t.Errorf("%s: %s %s fn 0x%02x unit %d: class %s, want %s", w.file, w.proto, op.Name, w.function, op.Unit, op.Class, w.class)
			}
		}
		if !found {
			t.Errorf("%s: no %s request 0x%02x from %s to %s", w.file, w.proto, w.function, w.client, w.server)
		}
	}
	// The DNP3 unit is the outstation's link address.
	r := analyzeShared(t, dir, "dnp3_lab_operate_with_it_noise.pcap")
	for _, o := range r.Observations {
		if op := o.Operation; op != nil && op.Protocol == "dnp3" && op.Unit != 1 {
			t.Errorf("dnp3 %s: unit %d, want outstation address 1", op.Name, op.Unit)
		}
	}
}

// TestENIPDNP3AgainstTshark recounts with tshark itself when it is there.
func TestENIPDNP3AgainstTshark(t *testing.T) {
	dir := sharedPcaps(t)
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not on PATH: comparison against EXPECTED.md only")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// One tshark run per file: three columns, each an aggregated list.
	count := func(file string) [3]map[int]int64 {
		out := runTshark(ctx, t, tshark, "-n", "-r", filepath.Join(dir, file), "-Y", "enip || dnp3",
			"-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,",
			"-e", "cip.service", "-e", "enip.command", "-e", "dnp3.al.func")
		m := [3]map[int]int64{{}, {}, {}}
		for _, line := range strings.Split(out, "\n") {
			for col, field := range strings.Split(line, "\t") {
				if col > 2 {
					break
				}
				for _, v := range strings.Split(field, ",") {
					if n, err := strconv.ParseInt(v, 0, 32); err == nil {
						m[col][int(n)]++
					}
				}
			}
		}
		return m
	}
	for _, file := range enipDNP3Captures {
		t.Run(file, func(t *testing.T) {
			cip, enip, dnp3 := observedCounts(analyzeShared(t, dir, file))
			want := count(file)
			for i, c := range []struct {
				proto string
				got   map[int]int64
			}{{"cip", cip}, {"enip", enip}, {"dnp3", dnp3}} {
				if !maps.Equal(c.got, want[i]) {
					t.Errorf("%s differs from tshark:\n got  %v\n want %v", c.proto, c.got, want[i])
				}
			}
		})
	}
}

func enipHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func findOp(r *Result, proto string, unit, fn int) *otaudit.Operation {
	for _, o := range r.Observations {
		if op := o.Operation; op != nil && op.Protocol == proto && op.Unit == unit && op.Function == fn {
			return op
		}
	}
	return nil
}

// TestDNP3StreamByPayload: DNP3 on a non-standard port is recognised by
// its link header (the first segment must hold a whole header: bytes before
// the protocol is recognised are not replayed); a frame split over two
// segments and two frames in one segment are all read; the response is
// counted on the request it answers.
func TestDNP3StreamByPayload(t *testing.T) {
	// dnp3_lab_operate_with_it_noise.pcap frames 586 (Direct Operate), 587
	// (its Response), 588 (Read).
	op := enipHex(t, "056414c4010002004aa2f7cf0529032801000000c3f52841009bff")
	resp := enipHex(t, "0564164402000100635ff0cf81020029032801000000c3f52841a45c00ffff")
	read := enipHex(t, "056414c4010002004aa2f8c0013c01063c02063c03063c0406e6aa")
	s := newTCPSession(t, "10.0.0.1", 40001, "10.0.0.2", 30000).
		client(op).
		server(resp).
		client(read[:7]).
		client(append(append([]byte(nil), read[7:]...), read...)).
		fin()
	r, err := analyzeBytes(t, "dnp3.pcap", capture(t, s.frames...))
	if err != nil {
		t.Fatal(err)
	}
	direct := findOp(r, "dnp3", 1, 5)
	if direct == nil || direct.Requests != 1 || direct.Responses != 1 || direct.Class != otaudit.OpWrite ||
		direct.Client.String() != "10.0.0.1" || direct.Server.String() != "10.0.0.2" {
		t.Fatalf("direct operate: %+v", direct)
	}
	if rd := findOp(r, "dnp3", 1, 1); rd == nil || rd.Requests != 2 || rd.Responses != 0 {
		t.Fatalf("read: %+v", rd)
	}
	if r.Stats.DecodeErrors != 0 {
		t.Fatalf("decode errors: %v", r.Stats.Warnings)
	}
}

// TestENIPStreamPairsReplies: a reply is counted under its request's
// class; a reply whose request was never seen goes to Unit -1.
func TestENIPStreamPairsReplies(t *testing.T) {
	// cip_stop_plc.pcap frame 1 (Stop to class 0x8e, sequence 262), then a
	// hand-made success reply with the same sequence count, then a reply
	// with another sequence count (its request is not in the capture).
	stop := enipHex(t, "70001c0001002a00000000000000000000000000000000000000000001000200a1000400224095ffb100080006010702208e2401")
	reply := func(seq uint16) []byte {
		b := enipHex(t, "70001a0001002a00000000000000000000000000000000000000000001000200a1000400224095ffb1000600000087000000")
		b[len(b)-6], b[len(b)-5] = byte(seq), byte(seq>>8)
		return b
	}
	s := newTCPSession(t, "192.168.1.69", 49271, "192.168.1.30", 44818).
		client(stop).server(reply(262)).server(reply(7)).fin()
	r, err := analyzeBytes(t, "enip.pcap", capture(t, s.frames...))
	if err != nil {
		t.Fatal(err)
	}
	if op := findOp(r, "cip", 0x8e, 0x07); op == nil || op.Requests != 1 || op.Responses != 1 || op.Class != otaudit.OpModeChange {
		t.Fatalf("stop: %+v", op)
	}
	if op := findOp(r, "cip", -1, 0x07); op == nil || op.Responses != 1 || op.Requests != 0 || op.Class != otaudit.OpOther {
		t.Fatalf("unpaired reply: %+v", op)
	}
	if op := findOp(r, "enip", 0, 0x70); op == nil || op.Requests != 1 || op.Responses != 2 {
		t.Fatalf("SendUnitData: %+v", op)
	}
}

// TestENIPDNP3Garbage: noise on both ports is counted, never decoded.
func TestENIPDNP3Garbage(t *testing.T) {
	junk := bytes.Repeat([]byte{0x05, 0x64, 0xff, 0x00, 0x63}, 40)
	var frames [][]byte
	frames = append(frames, newTCPSession(t, "10.0.0.1", 40001, "10.0.0.2", 20000).client(junk).server(junk).frames...)
	frames = append(frames, newTCPSession(t, "10.0.0.1", 40002, "10.0.0.2", 44818).client(junk).server(junk).frames...)
	frames = append(frames, frame(t, segment{src: "10.0.0.1", dst: "10.0.0.2", sport: 40003, dport: 44818, udp: true, payload: junk}))
	frames = append(frames, frame(t, segment{src: "10.0.0.1", dst: "10.0.0.2", sport: 40003, dport: 20000, udp: true, payload: junk}))
	r, err := analyzeBytes(t, "junk.pcap", capture(t, frames...))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range r.Observations {
		if o.Operation != nil {
			t.Errorf("operation from noise: %+v", *o.Operation)
		}
	}
	if r.Stats.DecodeErrors == 0 {
		t.Fatal("noise not counted as decode errors")
	}
}
