package main

import (
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/otaudit/otaudit"
)

// sharedCapturesIfPresent lists the public captures of ../shared/pcaps (or
// $OTAUDIT_SHARED_PCAPS); ok is false on a machine without them.
func sharedCapturesIfPresent() (files []string, ok bool) {
	dir := os.Getenv("OTAUDIT_SHARED_PCAPS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "pcaps")
	}
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST.md")); err != nil {
		return nil, false
	}
	for _, pattern := range []string{"*.pcap", "*.pcapng"} {
		m, _ := filepath.Glob(filepath.Join(dir, pattern))
		files = append(files, m...)
	}
	sort.Strings(files)
	return files, len(files) > 0
}

// sharedCaptures is sharedCapturesIfPresent for tests that need the
// captures: they skip, saying so, on a machine without them.
func sharedCaptures(t *testing.T) []string {
	t.Helper()
	files, ok := sharedCapturesIfPresent()
	if !ok {
		t.Skip("shared captures not present (../shared/pcaps or $OTAUDIT_SHARED_PCAPS): real-capture CLI tests skipped")
	}
	return files
}

// tsharkSenders returns the unicast IP addresses tshark saw sending at least
// one packet, and the addresses that only announced themselves (ARP, LLDP,
// PROFINET DCP, CDP).
func tsharkSenders(t *testing.T, file string) (senders, arp map[string]bool) {
	senders, arp = map[string]bool{}, map[string]bool{}
	for _, table := range []string{"endpoints,ip", "endpoints,ipv6"} {
		out, err := exec.Command("tshark", "-n", "-r", file, "-q", "-z", table).Output()
		if err != nil {
			t.Fatalf("tshark %s %s: %v", table, file, err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			// columns: Address Packets Bytes TxPackets TxBytes RxPackets RxBytes
			if len(f) < 7 {
				continue
			}
			ip, err := netip.ParseAddr(f[0])
			if err != nil {
				continue
			}
			if tx, err := strconv.Atoi(f[3]); err == nil && tx > 0 && !ip.IsMulticast() && !ip.IsUnspecified() &&
				ip != netip.MustParseAddr("255.255.255.255") {
				senders[ip.String()] = true
			}
		}
	}
	// Hosts that only announced themselves: ARP senders, and management
	// addresses announced by LLDP, PROFINET DCP identify responses and CDP.
	out, err := exec.Command("tshark", "-n", "-r", file, "-Y", "arp || lldp || (pn_dcp && pn_dcp.service_type == 1) || cdp",
		"-T", "fields", "-E", "occurrence=a", "-E", "separator= ", "-E", "aggregator= ",
		"-e", "arp.src.proto_ipv4", "-e", "lldp.mgn.addr.ip4", "-e", "pn_dcp.suboption_ip_ip", "-e", "cdp.address").Output()
	if err != nil {
		t.Fatalf("tshark arp %s: %v", file, err)
	}
	for _, ip := range strings.Fields(string(out)) {
		arp[ip] = true
	}
	return senders, arp
}

// Every public capture scans cleanly, and the inventory holds exactly the
// addresses tshark saw sending (plus hosts that only spoke ARP, which tshark's
// IP endpoint table leaves out).
func TestScanEverySharedCapture(t *testing.T) {
	files := sharedCaptures(t)
	_, tsharkErr := exec.LookPath("tshark")
	if tsharkErr != nil {
		t.Log("tshark not installed: comparing exit status only (CI installs tshark)")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "o.db")
			code, out, stderr := runCLI(t, "scan", "--db", db, "--pcap", file, "--json")
			if code != exitOK {
				t.Fatalf("scan: exit %d: %s", code, stderr)
			}
			var res scanJSON
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatal(err)
			}
			if res.Scan.Status != otaudit.ScanComplete || res.Scan.Stats.Packets == 0 {
				t.Fatalf("scan record: %+v", res.Scan)
			}
			if tsharkErr != nil {
				return
			}
			code, out, stderr = runCLI(t, "assets", "--db", db, "--json")
			if code != exitOK {
				t.Fatalf("assets: exit %d: %s", code, stderr)
			}
			var assets []otaudit.Asset
			if err := json.Unmarshal([]byte(out), &assets); err != nil {
				t.Fatal(err)
			}
			ours := map[string]bool{}
			var macOnly []string
			for _, a := range assets {
				if !a.IP.IsValid() {
					macOnly = append(macOnly, a.MACs...)
					continue
				}
				ours[a.IP.String()] = true
			}
			// A device known only by its MAC must have announced itself.
			if len(macOnly) > 0 {
				out, err := exec.Command("tshark", "-n", "-r", file, "-Y", "lldp || cdp || pn_dcp || dhcp", "-T", "fields", "-e", "eth.src").Output()
				if err != nil {
					t.Fatalf("tshark layer-2 senders %s: %v", file, err)
				}
				for _, m := range macOnly {
					if !strings.Contains(string(out), m) {
						t.Errorf("otaudit lists a device by MAC %s, which tshark never saw announce itself (LLDP, CDP, DCP, DHCP)", m)
					}
				}
			}
			senders, arp := tsharkSenders(t, file)
			for ip := range senders {
				if !ours[ip] {
					t.Errorf("tshark saw %s send, otaudit has no asset for it", ip)
				}
			}
			for ip := range ours {
				if !senders[ip] && !arp[ip] {
					t.Errorf("otaudit lists %s, which tshark never saw send or announce (ARP, LLDP, DCP, CDP)", ip)
				}
			}
		})
	}
}
