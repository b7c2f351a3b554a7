package pcap

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/otaudit/otaudit"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the shared captures")

// testJudge knows "public" as the SNMP default, like the embedded list.
var testJudge = otaudit.CredentialJudge{
	Key:      []byte("test-key"),
	Defaults: map[string][]string{"snmp": {"public", "private"}, "": {"admin"}},
}

// sharedResults analyses every shared capture once per test binary.
var sharedCache = map[string]*Result{}

func analyzeShared(t *testing.T, dir, file string) *Result {
	t.Helper()
	if r, ok := sharedCache[file]; ok {
		return r
	}
	r, err := AnalyzeFile(context.Background(), filepath.Join(dir, file), Options{Judge: testJudge})
	if err != nil {
		t.Fatalf("AnalyzeFile(%s): %v", file, err)
	}
	sharedCache[file] = r
	return r
}

func hostSet(r *Result) []string {
	var ips []string
	for _, o := range r.Observations {
		if o.Kind == otaudit.KindHost && !slices.Contains(ips, o.Host.IP.String()) {
			ips = append(ips, o.Host.IP.String())
		}
	}
	slices.Sort(ips)
	return ips
}

// modbusRequests sums requests per "unit/fc" like EXPECTED.md and tshark.
func modbusRequests(r *Result) map[string]int64 {
	m := map[string]int64{}
	for _, o := range r.Observations {
		if o.Kind == otaudit.KindOperation && o.Operation.Protocol == "modbus" && o.Operation.Requests > 0 {
			m[fmt.Sprintf("%d/%d", o.Operation.Unit, o.Operation.Function)] += o.Operation.Requests
		}
	}
	return m
}

// hostExceptions are addresses where otaudit knowingly differs from
// tshark's endpoint list, with the reason. Keyed by file, then IP; "+"
// means otaudit reports an extra address, "-" a missing one.
var hostExceptions = map[string]map[string]string{
	"plant1_mixed_modbus_s7_enip_cip.pcap": l2Announced(arpOnly("141.81.0.120", "141.81.0.122", "141.81.0.191", "141.81.0.194", "141.81.0.195", "142.81.0.190", "142.81.0.191", "142.81.0.192"), "141.81.0.190"),
	"enip_cip_listidentity_io.pcap":        l2Announced(arpOnly("192.168.1.4", "192.168.10.131", "192.168.10.21", "192.168.10.24"), "208.73.217.142"),
	"profinet_dcp_set_ip.pcap":             arpOnly("192.168.0.10", "192.168.0.6"),
	"lldp_siemens_s7_1200_ktp700.pcapng":   l2Announced(nil, "192.168.0.2"),
	"telnet_multi_session_tacacs.pcap":     arpOnly("192.168.1.101", "192.168.1.110", "192.168.1.254"),
}

// arpOnly marks addresses that only appear as ARP senders: the brief asks
// for ARP sightings as hosts, tshark's endpoints,ip table has no ARP.
func arpOnly(ips ...string) map[string]string {
	m := map[string]string{}
	for _, ip := range ips {
		m[ip] = "+ARP sender only; tshark endpoints,ip does not count ARP"
	}
	return m
}

// modbusExceptions are request counts where otaudit knowingly differs from
// tshark, keyed by file then "unit/fc", with the difference and why.
var modbusExceptions = map[string]map[string]struct {
	delta int64
	why   string
}{
	"plant1_mixed_modbus_s7_enip_cip.pcap": {"255/4": {+4, "frame 1131 is a retransmission of 12 seen bytes plus 48 new ones (four FC4 requests); " +
		"tshark skips segments it flags as retransmissions, otaudit decodes the new bytes once"}},
}

func TestSharedCapturesMatchExpected(t *testing.T) {
	dir := sharedPcaps(t)
	exp := parseExpected(t, dir)
	for _, file := range manifestFiles(t, dir) {
		t.Run(file, func(t *testing.T) {
			r := analyzeShared(t, dir, file)
			if r.Stats.Packets == 0 {
				t.Fatal("no packets read")
			}
			if r.Source != "pcap:"+file {
				t.Errorf("Source = %q", r.Source)
			}
			e := exp[file]
			if e == nil {
				t.Fatalf("EXPECTED.md has no section for %s", file)
			}
			got := hostSet(r)
			want := slices.Clone(e.hosts)
			for ip, why := range hostExceptions[file] {
				switch {
				case strings.HasPrefix(why, "+"):
					want = append(want, ip)
				case strings.HasPrefix(why, "-"):
					want = slices.DeleteFunc(want, func(s string) bool { return s == ip })
				}
			}
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("hosts differ from EXPECTED.md:\n got  %v\n want %v", got, want)
			}
			gotReq := modbusRequests(r)
			wantReq := maps.Clone(e.requests)
			for k, ex := range modbusExceptions[file] {
				wantReq[k] += ex.delta
			}
			if len(wantReq) > 0 || len(gotReq) > 0 {
				if !mapsEqual(gotReq, wantReq) {
					t.Errorf("modbus requests per unit/fc:\n got  %v\n want %v", gotReq, wantReq)
				}
			}
			if len(e.fc43) > 0 {
				js, _ := json.Marshal(r)
				for _, s := range e.fc43 {
					if !strings.Contains(string(js), s) {
						t.Errorf("FC43 string %q not in the result", s)
					}
				}
			}
		})
	}
}

func mapsEqual(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestSharedCapturesGolden compares a compact summary of every shared
// capture with testdata/golden/<file>.json (rewrite with -update).
func TestSharedCapturesGolden(t *testing.T) {
	dir := sharedPcaps(t)
	for _, file := range manifestFiles(t, dir) {
		t.Run(file, func(t *testing.T) {
			r := analyzeShared(t, dir, file)
			got, err := json.MarshalIndent(summarize(file, r), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", "golden", file+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestSharedCapturesGolden -update)", err)
			}
			if string(got) != string(want) {
				t.Errorf("summary differs from %s (rerun with -update if the change is intended):\n%s", path, lineDiff(string(want), string(got)))
			}
		})
	}
}

// lineDiff lists lines only in want (-) or only in got (+).
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var sb strings.Builder
	for _, l := range w {
		if !slices.Contains(g, l) {
			sb.WriteString("- " + l + "\n")
		}
	}
	for _, l := range g {
		if !slices.Contains(w, l) {
			sb.WriteString("+ " + l + "\n")
		}
	}
	return sb.String()
}
