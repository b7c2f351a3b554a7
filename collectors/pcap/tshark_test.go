package pcap

import (
	"bytes"
	"context"
	"maps"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestTsharkAgreement compares, for every shared capture, the host
// addresses and the Modbus requests per (unit, function code) with what
// tshark reports. Known differences are listed, with the reason, in
// hostExceptions / modbusExceptions (captures_test.go) and in the ARP rule
// below; nothing else is tolerated.
func TestTsharkAgreement(t *testing.T) {
	dir := sharedPcaps(t)
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not on PATH: install wireshark's tshark to compare with it")
	}
	files := manifestFiles(t, dir)
	for _, file := range files {
		r := analyzeShared(t, dir, file) // analysed before the parallel subtests
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(dir, file)
			ctx := context.Background()
			// (a) hosts: tshark's IPv4 and IPv6 endpoint tables.
			out := runTshark(ctx, t, tshark, "-n", "-r", path, "-qz", "endpoints,ip", "-z", "endpoints,ipv6")
			var want []string
			for _, line := range strings.Split(out, "\n") {
				f := strings.Fields(line)
				if len(f) == 0 {
					continue
				}
				if a, err := netip.ParseAddr(f[0]); err == nil && !slices.Contains(want, a.String()) {
					want = append(want, a.String())
				}
			}
			// ARP senders and Modbus requests in one pass.
			out = runTshark(ctx, t, tshark, "-n", "-r", path, "-Y", "arp || (mbtcp && tcp.dstport==502)",
				"-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,", "-e", "arp.src.proto_ipv4", "-e", "mbtcp.unit_id", "-e", "modbus.func_code")
			arp := map[string]bool{}
			wantReq := map[string]int64{}
			for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
				f := strings.Split(line, "\t")
				if len(f) < 3 {
					continue
				}
				if f[0] != "" {
					arp[f[0]] = true
					continue
				}
				// Several PDUs in one frame: units and codes pair up in order.
				units, fcs := strings.Split(f[1], ","), strings.Split(f[2], ",")
				for i, fc := range fcs {
					if fc == "" {
						continue
					}
					u := units[min(i, len(units)-1)]
					wantReq[u+"/"+fc]++
				}
			}
			got := hostSet(r)
			for _, ip := range got {
				if !slices.Contains(want, ip) {
					// Exception "arp-sender": the brief asks for ARP sightings
					// as hosts; tshark's endpoint table counts IP only.
					if arp[ip] || strings.HasPrefix(hostExceptions[file][ip], "+announced") {
						continue
					}
					t.Errorf("host %s reported by otaudit, not by tshark", ip)
				}
			}
			for _, ip := range want {
				if !slices.Contains(got, ip) {
					t.Errorf("host %s reported by tshark, missing from otaudit", ip)
				}
			}
			for k, ex := range modbusExceptions[file] {
				wantReq[k] += ex.delta
			}
			gotReq := modbusRequests(r)
			if !maps.Equal(gotReq, wantReq) {
				t.Errorf("modbus requests per unit/fc differ from tshark:\n got  %v\n want %v", gotReq, wantReq)
			}
		})
	}
}

func runTshark(ctx context.Context, t *testing.T, tshark string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, tshark, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("tshark %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}
