package pcap

import (
	"context"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/collectors/pcap/s7comm"
)

// s7Counts sums S7comm operations per function code over every
// client/server pair.
func s7Counts(r *Result) (req, resp map[int]int64) {
	req, resp = map[int]int64{}, map[int]int64{}
	for _, o := range r.Observations {
		if o.Kind == otaudit.KindOperation && o.Operation.Protocol == "s7comm" {
			req[o.Operation.Function] += o.Operation.Requests
			resp[o.Operation.Function] += o.Operation.Responses
		}
	}
	return req, resp
}

// s7Expected is the S7comm part of one EXPECTED.md section.
type s7Expected struct {
	jobs     map[int]int64 // client→PLC Job function → count
	ackData  map[int]int64 // client→PLC Ack_Data function → count
	userdata map[int]int64 // client→PLC Userdata code → count
	szl      map[string][]string
}

func parseS7Expected(t *testing.T, dir string) map[string]*s7Expected {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "EXPECTED.md"))
	if err != nil {
		t.Fatal(err)
	}
	jobRe := regexp.MustCompile(`^- client→PLC (Job|Ack_Data) function 0x([0-9a-f]{2}) .*: ×(\d+)$`)
	udRe := regexp.MustCompile(`^- client→PLC Userdata group (\d+) .* subfunction (\d+): ×(\d+)$`)
	idRe := regexp.MustCompile("^- SZL 0x001C identity from ([0-9.]+): .*module name `([^`]*)`.*serial `([^`]*)`, CPU type `([^`]*)`")
	mlfbRe := regexp.MustCompile("^- SZL 0x0011 module identification, order number \\(MlfB\\): `([^`]*)`")
	out := map[string]*s7Expected{}
	var cur *s7Expected
	ip := ""
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "## ") {
			cur = &s7Expected{jobs: map[int]int64{}, ackData: map[int]int64{}, userdata: map[int]int64{}, szl: map[string][]string{}}
			out[strings.Fields(line)[1]] = cur
			continue
		}
		if cur == nil {
			continue
		}
		if m := jobRe.FindStringSubmatch(line); m != nil {
			fn, _ := strconv.ParseInt(m[2], 16, 32)
			n, _ := strconv.ParseInt(m[3], 10, 64)
			if m[1] == "Job" {
				cur.jobs[int(fn)] += n
			} else {
				cur.ackData[int(fn)] += n
			}
		} else if m := udRe.FindStringSubmatch(line); m != nil {
			g, _ := strconv.Atoi(m[1])
			s, _ := strconv.Atoi(m[2])
			n, _ := strconv.ParseInt(m[3], 10, 64)
			cur.userdata[s7comm.UserdataCode(byte(g), byte(s))] += n
		} else if m := idRe.FindStringSubmatch(line); m != nil {
			ip = m[1]
			cur.szl[ip] = append(cur.szl[ip], m[2], m[3], m[4])
		} else if m := mlfbRe.FindStringSubmatch(line); m != nil && ip != "" {
			cur.szl[ip] = append(cur.szl[ip], m[1])
		}
	}
	return out
}

var s7Captures = []string{
	"s7comm_snap7_everything_szl_upload.pcap",
	"s7comm_step7_program_download.pcap",
	"s7comm_snap7_cpu_stop.pcap",
	"s7comm_read_szl_plc_status.pcap",
	"s7comm_hmi_reads_writes_3hosts.pcap",
	"plant1_mixed_modbus_s7_enip_cip.pcap",
}

// TestS7commMatchesExpected checks the S7comm operations and SZL
// identities of the shared captures against EXPECTED.md (tshark 4.0.17).
// EXPECTED.md lists what the client sends; here every Job counts as a
// request and every Ack_Data as a response, whoever sends it, so a
// client Job line is a request count and a client Ack_Data line (the
// download blocks the PLC asked for) a response count.
func TestS7commMatchesExpected(t *testing.T) {
	dir := sharedPcaps(t)
	exp := parseS7Expected(t, dir)
	for _, file := range s7Captures {
		t.Run(file, func(t *testing.T) {
			e := exp[file]
			if e == nil || len(e.jobs)+len(e.userdata) == 0 {
				t.Fatalf("EXPECTED.md lists no S7comm functions for %s", file)
			}
			r := analyzeShared(t, dir, file)
			req, resp := s7Counts(r)
			for fn, n := range e.jobs {
				if req[fn] != n {
					t.Errorf("Job 0x%02x requests = %d, EXPECTED.md %d", fn, req[fn], n)
				}
			}
			for fn, n := range e.ackData {
				if resp[fn] != n {
					t.Errorf("Ack_Data 0x%02x responses = %d, EXPECTED.md %d", fn, resp[fn], n)
				}
			}
			for code, n := range e.userdata {
				if req[code] != n {
					t.Errorf("Userdata %#x requests = %d, EXPECTED.md %d", code, req[code], n)
				}
			}
			// Nothing the client asked for is missing from EXPECTED.md.
			for fn, n := range req {
				if n > 0 && e.jobs[fn] == 0 && e.userdata[fn] == 0 && e.ackData[fn] == 0 {
					t.Errorf("function %#x: %d requests not in EXPECTED.md", fn, n)
				}
			}
			for ip, strs := range e.szl {
				found := false
				for _, o := range r.Observations {
					if o.Kind != otaudit.KindIdentity || o.Identity.Method != "s7-szl" || o.Identity.IP.String() != ip {
						continue
					}
					found = true
					id := o.Identity
					got := []string{id.Name, id.Serial, id.Model, id.ProductCode}
					for i, s := range strs {
						if i < len(got) && got[i] != s {
							t.Errorf("identity of %s: field %d = %q, EXPECTED.md %q", ip, i, got[i], s)
						}
					}
					if id.Vendor != "Siemens" || !strings.HasPrefix(id.Firmware, "V") {
						t.Errorf("identity of %s: vendor %q firmware %q", ip, id.Vendor, id.Firmware)
					}
				}
				if !found {
					t.Errorf("no s7-szl identity for %s", ip)
				}
			}
			for _, o := range r.Observations {
				if o.Kind == otaudit.KindFlow && o.Flow.ServerPort == 102 && o.Flow.Protocol != "s7comm" {
					t.Errorf("flow %s -> %s:102 protocol %q", o.Flow.Client, o.Flow.Server, o.Flow.Protocol)
				}
			}
		})
	}
}

// TestS7commTshark compares every S7comm PDU count, both directions, with
// tshark: requests are Jobs and Userdata requests, responses Ack_Data,
// Acks (matched to their Job by PDU reference) and Userdata responses.
func TestS7commTshark(t *testing.T) {
	dir := sharedPcaps(t)
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not on PATH: install wireshark's tshark to compare with it")
	}
	for _, file := range s7Captures {
		r := analyzeShared(t, dir, file)
		t.Run(file, func(t *testing.T) {
			out := runTshark(context.Background(), t, tshark, "-n", "-r", filepath.Join(dir, file), "-Y", "s7comm",
				"-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,",
				"-e", "s7comm.header.rosctr", "-e", "s7comm.header.pduref", "-e", "s7comm.param.func",
				"-e", "s7comm.param.userdata.type", "-e", "s7comm.param.userdata.funcgroup", "-e", "s7comm.param.userdata.subfunc")
			wantReq, wantResp := map[int]int64{}, map[int]int64{}
			jobs := map[string]int{}
			for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
				f := strings.Split(line, "\t")
				if len(f) < 6 {
					continue
				}
				rosctr, refs, fns := strings.Split(f[0], ","), strings.Split(f[1], ","), strings.Split(f[2], ",")
				fi := 0
				for i, rc := range rosctr {
					ref := refs[min(i, len(refs)-1)]
					switch rc {
					case "1", "3":
						fn, err := strconv.ParseInt(strings.TrimPrefix(fns[min(fi, len(fns)-1)], "0x"), 16, 32)
						fi++
						if err != nil {
							t.Fatalf("tshark func %q: %v", f[2], err)
						}
						if rc == "1" {
							wantReq[int(fn)]++
							jobs[ref] = int(fn)
						} else {
							wantResp[int(fn)]++
						}
					case "2":
						if fn, ok := jobs[ref]; ok {
							wantResp[fn]++
						}
					case "7":
						g, _ := strconv.Atoi(f[4])
						s, _ := strconv.Atoi(f[5])
						code := s7comm.UserdataCode(byte(g), byte(s))
						if f[3] == "4" {
							wantReq[code]++
						} else {
							wantResp[code]++
						}
					}
				}
			}
			gotReq, gotResp := s7Counts(r)
			maps.DeleteFunc(gotReq, func(_ int, v int64) bool { return v == 0 })
			maps.DeleteFunc(gotResp, func(_ int, v int64) bool { return v == 0 })
			if !maps.Equal(gotReq, wantReq) {
				t.Errorf("requests per code differ from tshark:\n got  %v\n want %v", gotReq, wantReq)
			}
			if !maps.Equal(gotResp, wantResp) {
				t.Errorf("responses per code differ from tshark:\n got  %v\n want %v", gotResp, wantResp)
			}
		})
	}
}

// TestS7commPlusAndOtherPort feeds an S7comm-plus session on port 102 and
// a classic S7comm session on a non-standard port.
func TestS7commPlusAndOtherPort(t *testing.T) {
	tpkt := func(s7 []byte) []byte {
		b := []byte{3, 0, 0, byte(7 + len(s7)), 2, 0xf0, 0x80}
		return append(b, s7...)
	}
	// S7comm-plus V3 request and response headers (layout of Wireshark's
	// s7comm_plus dissector); the payload beyond the header is not decoded.
	plusReq := tpkt([]byte{0x72, 0x03, 0x00, 0x05, 0x31, 0x00, 0x00, 0x04, 0xca, 0x72, 0x03, 0x00, 0x00})
	plusResp := tpkt([]byte{0x72, 0x03, 0x00, 0x05, 0x32, 0x00, 0x00, 0x04, 0xca, 0x72, 0x03, 0x00, 0x00})
	cr := []byte{3, 0, 0, 22, 0x11, 0xe0, 0, 0, 0, 1, 0, 0xc0, 1, 0x0a, 0xc1, 2, 1, 0, 0xc2, 2, 1, 2}
	cc := []byte{3, 0, 0, 22, 0x11, 0xd0, 0, 1, 0, 1, 0, 0xc0, 1, 0x0a, 0xc1, 2, 1, 0, 0xc2, 2, 1, 2}
	plus := newTCPSession(t, "10.0.0.5", 50000, "10.0.0.9", 102).client(cr).server(cc).client(plusReq).server(plusResp).fin()

	stop, _ := hex.DecodeString("0300002102f0803201000000020010000029000000000009505f50524f4752414d")
	stopAck, _ := hex.DecodeString("0300001402f08032030000000200010000000029")
	// The stop Job split over two segments, on port 1102.
	other := newTCPSession(t, "10.0.0.6", 50001, "10.0.0.9", 1102).client(cr).server(cc).client(stop[:9]).client(stop[9:]).server(stopAck)

	r, err := analyzeBytes(t, "s7plus.pcap", capture(t, append(plus.frames, other.frames...)...))
	if err != nil {
		t.Fatal(err)
	}
	var flows, ops []string
	for _, o := range r.Observations {
		switch o.Kind {
		case otaudit.KindFlow:
			flows = append(flows, fmt.Sprintf("%s:%d %s", o.Flow.Server, o.Flow.ServerPort, o.Flow.Protocol))
		case otaudit.KindOperation:
			p := o.Operation
			ops = append(ops, fmt.Sprintf("%s %s fn %d %s req=%d resp=%d", p.Protocol, p.Client, p.Function, p.Class, p.Requests, p.Responses))
		}
	}
	wantFlows := []string{"10.0.0.9:102 s7comm-plus", "10.0.0.9:1102 s7comm"}
	wantOps := []string{"s7comm-plus 10.0.0.5 fn 3 other req=1 resp=1", "s7comm 10.0.0.6 fn 41 mode_change req=1 resp=1"}
	for _, w := range wantFlows {
		if !strings.Contains(strings.Join(flows, "\n"), w) {
			t.Errorf("flow %q missing; got %v", w, flows)
		}
	}
	for _, w := range wantOps {
		if !strings.Contains(strings.Join(ops, "\n"), w) {
			t.Errorf("operation %q missing; got %v", w, ops)
		}
	}
	if r.Stats.DecodeErrors != 0 {
		t.Errorf("decode errors: %d %v", r.Stats.DecodeErrors, r.Stats.Warnings)
	}
}
