package pcap

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/collectors/pcap/bacnet"
	"github.com/otaudit/otaudit/collectors/pcap/enip"
)

// TestSharedCapturesDepth compares, for every shared capture, the facets
// of issue 3's golden test that TestSharedCapturesMatchExpected does not:
// MACs per host, the protocols each host speaks and in which role,
// cleartext logins, remote-access sessions with start and end, SNMP
// versions and community presence, device identities and OPC UA security.
// The truth is EXPECTED.md (tshark 4.0); with tshark on PATH, MACs and
// SNMP are also recomputed live. Every difference must be listed, with its
// reason, in depthExceptions; an exception that no longer matches a
// difference fails too, so the table cannot go stale.
func TestSharedCapturesDepth(t *testing.T) {
	dir := sharedPcaps(t)
	exp := parseExpectedDepth(t, dir)
	tshark, _ := exec.LookPath("tshark")
	for _, file := range manifestFiles(t, dir) {
		e := exp[file]
		if e == nil {
			t.Errorf("EXPECTED.md has no section for %s", file)
			continue
		}
		r := analyzeShared(t, dir, file)
		facets := []struct {
			name string
			diff func(*testing.T, *depthExpected, *Result) []string
		}{
			{"macs", diffMACs},
			{"roles", diffRoles},
			{"logins", diffLogins},
			{"sessions", diffSessions},
			{"snmp", func(t *testing.T, e *depthExpected, r *Result) []string {
				if e.snmp == nil {
					return diffSNMP(snmpTruth{}, r)
				}
				return diffSNMP(snmpFromExpected(e.snmp), r)
			}},
			{"identity", diffIdentities},
			{"opcua", diffOPCUA},
		}
		for _, f := range facets {
			t.Run(file+"/"+f.name, func(t *testing.T) {
				checkDiffs(t, file, f.name, f.diff(t, e, r), true)
			})
		}
		t.Run(file+"/tshark", func(t *testing.T) {
			if tshark == "" {
				t.Skip("tshark not on PATH: the live MAC and SNMP comparison needs wireshark's tshark")
			}
			t.Parallel() // r was analysed above, outside the parallel part
			live := liveTshark(t, tshark, filepath.Join(dir, file))
			checkDiffs(t, file, "macs", diffMACsLive(live, r), false)
			checkDiffs(t, file, "snmp", diffSNMP(live.snmp, r), false)
			// The golden values must still be what tshark says.
			for _, h := range e.hosts {
				if got := live.macs[h.ip]; len(got) > 0 && !slices.Equal(got, sorted(h.macs)) {
					t.Errorf("EXPECTED.md MACs of %s %v, live tshark %v", h.ip, h.macs, got)
				}
			}
		})
	}
}

// protocolNames maps Wireshark's protocol labels, as EXPECTED.md writes
// them, to otaudit's flow, session and credential protocol names. It is
// the only place the two vocabularies meet. A label EXPECTED.md uses and
// this table lacks fails the test; otaudit names outside the table (http,
// dns, netbios, …) have no counterpart in EXPECTED.md and are not compared.
var protocolNames = []struct {
	otaudit   string
	aliases   []string // further otaudit names for the same protocol
	wireshark []string
}{
	{"modbus", nil, []string{"Modbus/TCP"}},
	{"s7comm", nil, []string{"S7comm"}},
	// otaudit names the encapsulation; the CIP it carries is the same flow.
	{"enip", nil, []string{"EtherNet/IP", "CIP"}},
	{"cip-io", nil, []string{"CIP I/O"}},
	{"dnp3", nil, []string{"DNP3"}},
	{"iec104", nil, []string{"IEC 60870-5-104", "IEC 104"}},
	{"bacnet", nil, []string{"BACnet", "BACnet/IP"}},
	{"opcua", nil, []string{"OPC UA"}},
	// otaudit keeps traps (udp/162) apart from agent traffic (udp/161).
	{"snmp", []string{"snmp-trap"}, []string{"SNMP"}},
	{"telnet", nil, []string{"Telnet"}},
	{"ftp", nil, []string{"FTP"}},
	{"ssh", nil, []string{"SSH"}},
	{"rdp", nil, []string{"RDP"}},
	{"vnc", nil, []string{"VNC", "VNC/RFB"}},
	// No tshark 4.0 dissector: EXPECTED.md lists these by port only.
	{"teamviewer", nil, []string{"TeamViewer"}},
	{"anydesk", nil, []string{"AnyDesk"}},
	{"http-basic", nil, []string{"HTTP Basic"}},
}

// fromWireshark maps a Wireshark label to otaudit's name.
func fromWireshark(t *testing.T, label string) string {
	t.Helper()
	for _, p := range protocolNames {
		if slices.Contains(p.wireshark, label) {
			return p.otaudit
		}
	}
	t.Errorf("Wireshark label %q is not in protocolNames", label)
	return "?" + label
}

// fromOtaudit maps an otaudit protocol name to the table's canonical name,
// or "" when EXPECTED.md has nothing to compare it with.
func fromOtaudit(name string) string {
	for _, p := range protocolNames {
		if p.otaudit == name || slices.Contains(p.aliases, name) {
			return p.otaudit
		}
	}
	return ""
}

// depthException is a difference otaudit knowingly has with tshark.
type depthException struct {
	file, facet string
	// diff is the exact difference line the facet reports.
	diff string
	why  string
	// bug marks a difference judged an otaudit defect, listed so the test
	// passes until it is fixed (then the entry must go).
	bug bool
}

// depthExceptions: every known difference between otaudit and tshark in
// these facets, one capture, facet and exact difference each. Frame
// numbers are tshark's (1-based).
var depthExceptions = []depthException{
	// --- roles ---
	{file: "modbus_digitalbond_testdata_part1.pcap", facet: "roles", diff: "10.0.0.57 server +modbus (otaudit only)",
		why: "10.0.0.8 opens the connection from its port 502 to 10.0.0.57:4446 (SYN frame 88) and sends Modbus exception responses on it " +
			"(frames 91-111); otaudit's flow roles follow the SYN (10.0.0.57 is the TCP server), EXPECTED.md's follow port 502"},
	{file: "modbus_digitalbond_testdata_part1.pcap", facet: "roles", diff: "10.0.0.8 client +modbus (otaudit only)",
		why: "same connection as above: 10.0.0.8 sent the SYN (frame 88), so it is the flow's client in otaudit"},
	{file: "s7comm_read_szl_plc_status.pcap", facet: "roles", diff: "192.168.1.10 server +s7comm (otaudit only)",
		why: "the PLC 192.168.1.40 sends SYNs to 192.168.1.10:102 (frames 1, 2, 166, 240) that are never answered and carry no payload; " +
			"otaudit names a flow by its well-known port when no payload does (Flow.Protocol), tshark has no S7comm PDU to label"},
	{file: "s7comm_read_szl_plc_status.pcap", facet: "roles", diff: "192.168.1.40 client +s7comm (otaudit only)",
		why: "same unanswered SYNs from the PLC to 192.168.1.10:102 (frames 1, 2, 166, 240)"},
	{file: "ssh_session.pcapng", facet: "roles", diff: "127.0.0.1 server +ssh (otaudit only)",
		why: "an SSH connection on 127.0.0.1:8000 that otaudit recognises by its banner; tshark 4.0 dissects SSH only on port 22 by default " +
			"(nDPI's reference classification in EXPECTED.md also finds SSH on 8000)"},
	{file: "ssh_session.pcapng", facet: "roles", diff: "127.0.0.1 client +ssh (otaudit only)",
		why: "same SSH-on-8000 connection, loopback: both ends are 127.0.0.1"},
	{file: "teamviewer_session.pcap", facet: "roles", diff: "10.0.2.15 client +teamviewer (otaudit only)",
		why: "tshark 4.0 has no TeamViewer dissector, so EXPECTED.md lists the session by port (5938) but no role"},
	{file: "teamviewer_session.pcap", facet: "roles", diff: "162.250.2.170 server +teamviewer (otaudit only)",
		why: "no TeamViewer dissector in tshark 4.0 (see above)"},
	{file: "anydesk_sessions.pcapng", facet: "roles", diff: "192.168.1.178 server +anydesk (otaudit only)",
		why: "tshark 4.0 has no AnyDesk dissector, so EXPECTED.md lists the two sessions by port (7070) but no role"},
	{file: "anydesk_sessions.pcapng", facet: "roles", diff: "192.168.1.178 client +anydesk (otaudit only)",
		why: "no AnyDesk dissector in tshark 4.0; 192.168.1.178 is the client of the second session (192.168.1.187:7070)"},
	{file: "anydesk_sessions.pcapng", facet: "roles", diff: "192.168.1.187 server +anydesk (otaudit only)",
		why: "no AnyDesk dissector in tshark 4.0; 192.168.1.187 is the server of the second session"},
	{file: "anydesk_sessions.pcapng", facet: "roles", diff: "192.168.1.187 client +anydesk (otaudit only)",
		why: "no AnyDesk dissector in tshark 4.0; 192.168.1.187 is the client of the first session (192.168.1.178:7070)"},

	{file: "anydesk_sessions.pcapng", facet: "roles", diff: "192.168.1.128 client +anydesk (otaudit only)",
		why: "AnyDesk over TLS on 443, told by the relay's certificate (AnyNet Relay under AnyNet Root CA, philandro Software GmbH) and the client's " +
			"(\"AnyDesk Client\"); tshark labels it TLS by port, nDPI's reference classifies it TLS.AnyDesk"},
	{file: "anydesk_sessions.pcapng", facet: "roles", diff: "195.181.174.176 server +anydesk (otaudit only)",
		why: "the AnyDesk relay of the connection above"},
	{file: "anydesk_sessions.pcapng", facet: "roles", diff: "192.168.149.129 client +anydesk (otaudit only)",
		why: "AnyDesk over TLS on port 80, told by its certificates as above; nDPI's reference classifies it TLS.AnyDesk"},
	{file: "anydesk_sessions.pcapng", facet: "roles", diff: "51.83.238.219 server +anydesk (otaudit only)",
		why: "the AnyDesk relay of the connection above"},

	// --- sessions ---
	{file: "anydesk_sessions.pcapng", facet: "sessions", diff: "session +anydesk 192.168.1.128 -> 195.181.174.176:443 2022-09-13T17:35:49.161771Z .. 2022-09-13T17:36:47.968067Z (otaudit only)",
		why: "AnyDesk over TLS on 443, told by its certificates; EXPECTED.md's session list is port-based (7070), nDPI's reference lists it"},
	{file: "anydesk_sessions.pcapng", facet: "sessions", diff: "session +anydesk 192.168.149.129 -> 51.83.238.219:80 2020-06-05T07:29:59.201196Z .. 2020-06-05T07:30:09.805588Z (otaudit only)",
		why: "AnyDesk over TLS on port 80, told by its certificates; nDPI's reference lists it"},
	{file: "ssh_session.pcapng", facet: "sessions", diff: "session +ssh 127.0.0.1 -> 127.0.0.1:8000 2024-07-11T07:55:22.536128Z .. 2024-07-11T07:55:24.712342Z (otaudit only)",
		why: "SSH on port 8000, found by otaudit from the banner; EXPECTED.md's session list is dissector- and port-based (22), nDPI's reference lists it"},

	// --- macs ---
	{file: "profinet_io_cm_startup_lldp_mixed.pcap", facet: "macs", diff: "192.168.1.2 MACs otaudit [00:09:91:43:e0:67 00:09:91:43:e0:68], tshark [00:09:91:43:e0:67]",
		why: "the LLDPDU announcing management address 192.168.1.2 comes from the port MAC 00:09:91:43:e0:68 (frame 38); otaudit records an " +
			"announced address as a host sighting with the announcing frame's MAC (discovery.go, announced), tshark only counts IP frames"},
	{file: "lldp_siemens_s7_1200_ktp700.pcapng", facet: "macs", diff: "192.168.0.1 MACs otaudit [e0:dc:a0:34:21:d4 e0:dc:a0:34:21:d5], tshark [e0:dc:a0:34:21:d4]",
		why: "the S7-1200 announces 192.168.0.1 in LLDP from its port MAC e0:dc:a0:34:21:d5 (frame 1); as above, otaudit keeps the announcing MAC"},
	{file: "teamviewer_session.pcap", facet: "macs", diff: "162.250.2.170 MAC 52:54:00:12:35:02 has an OUI vendor in Wireshark's manuf, none in otaudit",
		why: "52:54:00 is a locally administered prefix (QEMU/VirtualBox NAT), in no IEEE registry; Wireshark's manuf carries an unofficial " +
			"name for it, otaudit's table is generated from the IEEE registries only"},
	{file: "teamviewer_session.pcap", facet: "macs", diff: "93.47.224.241 MAC 52:54:00:12:35:02 has an OUI vendor in Wireshark's manuf, none in otaudit",
		why: "same locally administered 52:54:00 prefix (the NAT gateway's MAC, routed traffic)"},
}

// checkDiffs fails on every difference not excused by depthExceptions and,
// when stale is set, on every exception of file/facet nothing matched.
func checkDiffs(t *testing.T, file, facet string, diffs []string, stale bool) {
	t.Helper()
	used := map[int]bool{}
	for _, d := range diffs {
		i := slices.IndexFunc(depthExceptions, func(x depthException) bool {
			return x.file == file && x.facet == facet && x.diff == d
		})
		if i < 0 {
			t.Errorf("%s %s: %s", file, facet, d)
			continue
		}
		used[i] = true
	}
	if !stale {
		return
	}
	for i, x := range depthExceptions {
		if x.file == file && x.facet == facet && !used[i] {
			t.Errorf("stale exception (no such difference any more, remove it): %s %s: %s", file, facet, x.diff)
		}
	}
}

// otauditMACs lists the MACs otaudit saw each address sent from.
func otauditMACs(r *Result) map[string][]string {
	m := map[string][]string{}
	for _, o := range r.Observations {
		if o.Kind != otaudit.KindHost {
			continue
		}
		ip := o.Host.IP.String()
		if _, ok := m[ip]; !ok {
			m[ip] = nil
		}
		if o.Host.MAC != "" && !slices.Contains(m[ip], o.Host.MAC) {
			m[ip] = append(m[ip], o.Host.MAC)
		}
	}
	for ip := range m {
		slices.Sort(m[ip])
	}
	return m
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

func diffMACs(t *testing.T, e *depthExpected, r *Result) []string {
	got := otauditMACs(r)
	vendor := map[string]bool{}
	for _, o := range r.Observations {
		if o.Kind == otaudit.KindHost && o.Host.MACVendor != "" {
			vendor[o.Host.MAC] = true
		}
	}
	var diffs []string
	for _, h := range e.hosts {
		want := sorted(h.macs)
		if !slices.Equal(got[h.ip], want) {
			diffs = append(diffs, fmt.Sprintf("%s MACs otaudit %v, tshark %v", h.ip, got[h.ip], want))
		}
		for _, m := range h.withVendor {
			if slices.Contains(got[h.ip], m) && !vendor[m] {
				diffs = append(diffs, fmt.Sprintf("%s MAC %s has an OUI vendor in Wireshark's manuf, none in otaudit", h.ip, m))
			}
		}
	}
	return diffs
}

func diffMACsLive(live *liveFacts, r *Result) []string {
	got := otauditMACs(r)
	var diffs []string
	for _, ip := range sortedKeys(live.macs) {
		if want := live.macs[ip]; !slices.Equal(got[ip], want) {
			diffs = append(diffs, fmt.Sprintf("%s MACs otaudit %v, tshark %v", ip, got[ip], want))
		}
	}
	return diffs
}

// roles is what one host speaks, per role, in otaudit's names.
type roles struct{ server, client, peer []string }

func diffRoles(t *testing.T, e *depthExpected, r *Result) []string {
	want := map[string]*roles{}
	get := func(m map[string]*roles, ip string) *roles {
		if m[ip] == nil {
			m[ip] = &roles{}
		}
		return m[ip]
	}
	for _, h := range e.hosts {
		w := get(want, h.ip)
		for _, l := range h.server {
			w.server = append(w.server, fromWireshark(t, l))
		}
		for _, l := range h.client {
			w.client = append(w.client, fromWireshark(t, l))
		}
		for _, l := range h.peer {
			w.peer = append(w.peer, fromWireshark(t, l))
		}
	}
	got := map[string]*roles{}
	for _, o := range r.Observations {
		if o.Kind != otaudit.KindFlow {
			continue
		}
		p := fromOtaudit(o.Flow.Protocol)
		if p == "" {
			continue
		}
		s, c := get(got, o.Flow.Server.String()), get(got, o.Flow.Client.String())
		s.server = append(s.server, p)
		c.client = append(c.client, p)
	}
	ips := append(sortedKeys(want), sortedKeys(got)...)
	var diffs []string
	for _, ip := range sorted(ips) {
		w, g := get(want, ip), get(got, ip)
		ws, wc, gs, gc := sorted(w.server), sorted(w.client), sorted(g.server), sorted(g.client)
		// "peer" in EXPECTED.md: tshark saw the protocol but could not
		// tell the roles apart; any role in otaudit satisfies it.
		for _, p := range sorted(w.peer) {
			if !slices.Contains(gs, p) && !slices.Contains(gc, p) {
				diffs = append(diffs, fmt.Sprintf("%s peer %s missing", ip, p))
			}
			gs = slices.DeleteFunc(gs, func(s string) bool { return s == p })
			gc = slices.DeleteFunc(gc, func(s string) bool { return s == p })
		}
		diffs = append(diffs, setDiff(ip+" server", gs, ws)...)
		diffs = append(diffs, setDiff(ip+" client", gc, wc)...)
	}
	return diffs
}

// setDiff names what only otaudit has (+) and what only tshark has (-).
func setDiff(what string, got, want []string) []string {
	var d []string
	for _, g := range got {
		if !slices.Contains(want, g) {
			d = append(d, fmt.Sprintf("%s +%s (otaudit only)", what, g))
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			d = append(d, fmt.Sprintf("%s -%s (tshark only)", what, w))
		}
	}
	return d
}

func sortedKeys[V any](m map[string]V) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	slices.Sort(k)
	return k
}

// diffLogins compares the cleartext logins: the protocols, the client →
// server pairs and the user names (never a secret: EXPECTED.md has none
// and otaudit keeps fingerprints only).
func diffLogins(t *testing.T, e *depthExpected, r *Result) []string {
	var want, got []string
	var diffs []string
	for _, l := range e.logins {
		switch l.protocol {
		case "SNMP":
			// No pair in EXPECTED.md; counts are the snmp facet's.
			want = append(want, "snmp")
		case "RDP cookie":
			// Not a credential in otaudit: the cookie's user name is the
			// RDP session's detail.
			found := false
			for _, o := range r.Observations {
				if o.Kind == otaudit.KindRemoteSession && o.RemoteSession.Protocol == "rdp" &&
					o.RemoteSession.Client.String() == l.client && o.RemoteSession.Server.String() == l.server &&
					strings.Contains(o.RemoteSession.Detail, "mstshash="+l.users[0]) {
					found = true
				}
			}
			if !found {
				diffs = append(diffs, fmt.Sprintf("rdp %s -> %s cookie user %q not in any session detail", l.client, l.server, l.users[0]))
			}
		case "Telnet":
			// Only a session where the server asked for both a login and a
			// password can carry a credential.
			if l.loginPrompt && l.passwordPrompt {
				want = append(want, "telnet "+l.client+" -> "+l.server)
			}
		default:
			p := fromWireshark(t, l.protocol)
			for _, u := range l.users {
				want = append(want, fmt.Sprintf("%s %s -> %s user=%q", p, l.client, l.server, u))
			}
			if l.protocol == "FTP" && l.passSent > 0 && l.loginOK == l.passSent {
				want = append(want, fmt.Sprintf("%s %s -> %s outcome=success", p, l.client, l.server))
			}
		}
	}
	for _, o := range r.Observations {
		if o.Kind != otaudit.KindCredential {
			continue
		}
		c := o.Credential
		switch p := fromOtaudit(c.Protocol); p {
		case "snmp":
			got = append(got, "snmp")
		case "telnet":
			got = append(got, "telnet "+c.Client.String()+" -> "+c.Server.String())
		case "":
			got = append(got, "unmapped credential protocol "+c.Protocol)
		default:
			got = append(got, fmt.Sprintf("%s %s -> %s user=%q", p, c.Client, c.Server, c.User))
			if p == "ftp" && c.Outcome == "success" {
				got = append(got, fmt.Sprintf("%s %s -> %s outcome=success", p, c.Client, c.Server))
			}
		}
	}
	return append(diffs, setDiff("login", sorted(got), sorted(want))...)
}

// sessionKey identifies a remote-access session; the client port is not
// part of otaudit's RemoteSession, and times are compared to the
// microsecond, the resolution of the captures and of EXPECTED.md.
func sessionKey(proto string, client, server netip.Addr, port uint16, start, end time.Time) string {
	const us = "2006-01-02T15:04:05.000000Z"
	return fmt.Sprintf("%s %s -> %s:%d %s .. %s", proto, client, server, port, start.UTC().Format(us), end.UTC().Format(us))
}

func diffSessions(t *testing.T, e *depthExpected, r *Result) []string {
	var want, got []string
	for _, s := range e.sessions {
		want = append(want, sessionKey(fromWireshark(t, s.protocol), s.client.Addr(), s.server.Addr(), s.server.Port(), s.start, s.end))
	}
	var sessions []*otaudit.RemoteSession
	for _, o := range r.Observations {
		if o.Kind == otaudit.KindRemoteSession {
			rs := o.RemoteSession
			sessions = append(sessions, rs)
			got = append(got, sessionKey(rs.Protocol, rs.Client, rs.Server, rs.ServerPort, rs.Start, rs.End))
		}
	}
	diffs := multisetDiff("session", got, want)
	// SSH banners: the server's and the client's, in the session detail.
	for _, ep := range sortedKeys(e.sshBanners) {
		ap, err := netip.ParseAddrPort(ep)
		if err != nil {
			t.Fatalf("SSH banner endpoint %q: %v", ep, err)
		}
		banner, found := e.sshBanners[ep], false
		for _, rs := range sessions {
			if rs.Protocol != "ssh" {
				continue
			}
			if (rs.Server == ap.Addr() && rs.ServerPort == ap.Port() && strings.Contains(rs.Detail, "server "+banner)) ||
				(rs.Client == ap.Addr() && strings.Contains(rs.Detail, "client "+banner)) {
				found = true
			}
		}
		if !found {
			diffs = append(diffs, fmt.Sprintf("ssh banner of %s %q not in any session detail", ep, banner))
		}
	}
	// RFB versions: each endpoint's, in a VNC session it took part in.
	for _, ip := range sortedKeys(e.rfbVersions) {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			t.Fatalf("RFB version endpoint %q: %v", ip, err)
		}
		ver := e.rfbVersions[ip]
		if !slices.ContainsFunc(sessions, func(rs *otaudit.RemoteSession) bool {
			return rs.Protocol == "vnc" && (rs.Server == a || rs.Client == a) && strings.Contains(rs.Detail, "RFB "+ver)
		}) {
			diffs = append(diffs, fmt.Sprintf("vnc RFB version %s of %s not in any session detail", ver, ip))
		}
	}
	return diffs
}

// multisetDiff is setDiff keeping duplicates (two sessions may share a key).
func multisetDiff(what string, got, want []string) []string {
	rest := slices.Clone(want)
	var d []string
	for _, g := range sorted2(got) {
		if i := slices.Index(rest, g); i >= 0 {
			rest = slices.Delete(rest, i, i+1)
			continue
		}
		d = append(d, fmt.Sprintf("%s +%s (otaudit only)", what, g))
	}
	for _, w := range sorted2(rest) {
		d = append(d, fmt.Sprintf("%s -%s (tshark only)", what, w))
	}
	return d
}

// sorted2 sorts a copy, keeping duplicates.
func sorted2(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// snmpTruth is the SNMP facet of one capture, from EXPECTED.md or from
// tshark live. No community string is ever held in it: only counts, and
// fingerprints under testJudge's key when computed live.
type snmpTruth struct {
	versions             []string // "v1", "v2c", "v3"
	distinct             int
	packetsWithCommunity int
	knownDefault         bool // 'public' or 'private' seen
	nonDefault           int  // distinct communities that are not defaults
	fingerprints         []string
}

func snmpFromExpected(s *expectedSNMP) snmpTruth {
	st := snmpTruth{distinct: s.distinct, packetsWithCommunity: s.packetsWithCommunity,
		knownDefault: s.publicSeen || s.privateSeen, nonDefault: s.other}
	for _, v := range sortedKeys(s.versions) {
		st.versions = append(st.versions, v)
	}
	return st
}

func diffSNMP(want snmpTruth, r *Result) []string {
	var got snmpTruth
	fps := map[string]bool{}
	for _, o := range r.Observations {
		switch {
		case o.Kind == otaudit.KindSecureChannel && o.SecureChannel.Protocol == "snmp":
			// Policy is the version, then the v3 security level.
			got.versions = append(got.versions, strings.Fields(o.SecureChannel.Policy)[0])
		case o.Kind == otaudit.KindCredential && o.Credential.Protocol == "snmp":
			c := o.Credential
			got.packetsWithCommunity += int(o.Count)
			got.knownDefault = got.knownDefault || c.KnownDefault
			if !fps[c.Fingerprint] {
				fps[c.Fingerprint] = true
				got.distinct++
				if !c.KnownDefault {
					got.nonDefault++
				}
			}
		}
	}
	got.versions = sorted(got.versions)
	got.fingerprints = sortedKeys(fps)
	var d []string
	d = append(d, setDiff("snmp version", got.versions, sorted(want.versions))...)
	cmp := func(what string, g, w any) {
		if g != w {
			d = append(d, fmt.Sprintf("snmp %s otaudit %v, tshark %v", what, g, w))
		}
	}
	cmp("distinct communities", got.distinct, want.distinct)
	cmp("packets carrying a community", got.packetsWithCommunity, want.packetsWithCommunity)
	cmp("known default community seen", got.knownDefault, want.knownDefault)
	cmp("non-default communities", got.nonDefault, want.nonDefault)
	if want.fingerprints != nil && !slices.Equal(got.fingerprints, want.fingerprints) {
		d = append(d, fmt.Sprintf("snmp community fingerprints differ: otaudit %d, tshark %d distinct", len(got.fingerprints), len(want.fingerprints)))
	}
	return d
}

// identityMethods are the otaudit identity methods EXPECTED.md covers;
// others (modbus-fc43, compared by TestSharedCapturesMatchExpected,
// snmp-passive, dhcp) have no section there.
var identityMethods = []string{"s7-szl", "enip-listidentity", "lldp", "cdp", "profinet-dcp", "bacnet-iam"}

// identityField reads one compared field of an otaudit identity.
func identityField(id *otaudit.DeviceIdentity, field string) string {
	switch field {
	case "name":
		return id.Name
	case "model":
		return id.Model
	case "serial":
		return id.Serial
	case "product_code":
		return id.ProductCode
	case "firmware":
		return id.Firmware
	case "vendor":
		return id.Vendor
	}
	return "?" + field
}

// wantField turns an EXPECTED.md value into what otaudit should report:
// vendor IDs become the names otaudit's own registries give them (the
// registry's content is tested in its package; here the ID must match).
func wantField(method, field, v string) (string, string) {
	if field != "vendor_id" {
		return field, v
	}
	n, _ := strconv.Atoi(v)
	if method == "bacnet-iam" {
		return "vendor", bacnet.VendorName(uint32(n))
	}
	return "vendor", enip.VendorName(uint16(n))
}

func diffIdentities(t *testing.T, e *depthExpected, r *Result) []string {
	// otaudit files an identity whose message names no usable address
	// under the one IPv4 address its MAC sent from; find it the same way
	// from EXPECTED.md's host table.
	byMAC := map[string][]string{}
	for _, h := range e.hosts {
		if a, err := netip.ParseAddr(h.ip); err == nil && a.Is4() && !h.bcast && usable(a) {
			for _, m := range h.macs {
				byMAC[m] = append(byMAC[m], h.ip)
			}
		}
	}
	got := map[string][]*otaudit.DeviceIdentity{} // "method ip"
	for _, o := range r.Observations {
		if o.Kind == otaudit.KindIdentity && slices.Contains(identityMethods, o.Identity.Method) {
			k := o.Identity.Method + " " + o.Identity.IP.String()
			if !o.Identity.IP.IsValid() {
				k = o.Identity.Method + " mac:" + o.Identity.MAC
			}
			got[k] = append(got[k], o.Identity)
		}
	}
	matched := map[string]bool{}
	var d []string
	for _, x := range e.idents {
		ip := x.ip
		if ip == "" && len(byMAC[x.mac]) == 1 {
			ip = byMAC[x.mac][0]
		}
		label := x.method + " " + ip
		if ip == "" {
			label = x.method + " from " + x.mac + " (no IP)"
		}
		key := x.method + " " + ip
		if ip == "" {
			// Announced by a MAC never seen with an address: otaudit keeps
			// it under the MAC (DeviceIdentity.MAC).
			key = x.method + " mac:" + x.mac
		}
		ids := got[key]
		if len(ids) == 0 {
			d = append(d, fmt.Sprintf("identity -%s %s (tshark only)", label, fieldsString(x.fields)))
			continue
		}
		matched[key] = true
		for _, f := range sortedKeys(x.fields) {
			field, want := wantField(x.method, f, x.fields[f])
			if !slices.ContainsFunc(ids, func(id *otaudit.DeviceIdentity) bool { return identityField(id, field) == want }) {
				d = append(d, fmt.Sprintf("identity %s %s otaudit %q, tshark %q", label, field, identityField(ids[0], field), want))
			}
		}
		// What otaudit mines from an LLDP system description or a CDP
		// software version (order number, model) must be in that text.
		if x.description != "" {
			mined := []string{"product_code"}
			if x.method == "lldp" {
				mined = append(mined, "model")
			}
			for _, id := range ids {
				for _, field := range mined {
					if v := identityField(id, field); v != "" && !strings.Contains(x.description, v) {
						d = append(d, fmt.Sprintf("identity %s %s %q not in the description tshark shows", label, field, v))
					}
				}
			}
		}
	}
	for _, k := range sortedKeys(got) {
		if !matched[k] {
			id := got[k][0]
			d = append(d, fmt.Sprintf("identity +%s name=%q model=%q (otaudit only)", k, id.Name, id.Model))
		}
	}
	return d
}

func fieldsString(m map[string]string) string {
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s=%q", k, m[k]))
	}
	return strings.Join(parts, " ")
}

func diffOPCUA(t *testing.T, e *depthExpected, r *Result) []string {
	var endpoints, policies []string
	for _, o := range r.Observations {
		if o.Kind == otaudit.KindSecureChannel && o.SecureChannel.Protocol == "opcua" {
			if o.SecureChannel.Endpoint != "" {
				endpoints = append(endpoints, o.SecureChannel.Endpoint)
			}
			policies = append(policies, o.SecureChannel.Policy)
			// Protected must follow the policy: None is neither signed nor encrypted.
			if none := strings.HasSuffix(o.SecureChannel.Policy, "#None"); none == o.SecureChannel.Protected {
				t.Errorf("opcua %s -> %s policy %s protected=%v", o.SecureChannel.Client, o.SecureChannel.Server, o.SecureChannel.Policy, o.SecureChannel.Protected)
			}
		}
	}
	d := setDiff("opcua endpoint", sorted(endpoints), sorted(e.opcuaEndpoints))
	return append(d, setDiff("opcua policy", sorted(policies), sorted(e.opcuaPolicies))...)
}

// liveFacts are the two facets recomputed with tshark.
type liveFacts struct {
	macs map[string][]string // IP → Ethernet sources of frames it sent
	snmp snmpTruth
}

// liveTshark reads MACs and SNMP versions and communities in one pass. A
// community string lives only in this function's locals: it is turned
// into testJudge's fingerprint and default flag at once, never printed.
func liveTshark(t *testing.T, tshark, path string) *liveFacts {
	t.Helper()
	out := runTshark(context.Background(), t, tshark, "-n", "-r", path, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=f",
		"-e", "ip.src", "-e", "ipv6.src", "-e", "eth.src", "-e", "snmp", "-e", "snmp.version", "-e", "snmp.msgVersion", "-e", "snmp.community")
	lf := &liveFacts{macs: map[string][]string{}}
	versions, fps := map[string]bool{}, map[string]bool{}
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 7 {
			continue
		}
		ip := f[0]
		if ip == "" {
			ip = f[1]
		}
		if a, err := netip.ParseAddr(ip); err == nil && f[2] != "" {
			ip = a.String()
			if !slices.Contains(lf.macs[ip], f[2]) {
				lf.macs[ip] = append(lf.macs[ip], f[2])
			}
		}
		if f[3] == "" && f[4] == "" && f[5] == "" {
			continue // not SNMP
		}
		switch {
		case f[4] == "0":
			versions["v1"] = true
		case f[4] == "1":
			versions["v2c"] = true
		case f[5] == "3":
			versions["v3"] = true
		}
		if f[6] != "" {
			lf.snmp.packetsWithCommunity++
			fp, def := testJudge.Judge("snmp", []byte(f[6]))
			if !fps[fp] {
				fps[fp] = true
				lf.snmp.distinct++
				if def {
					lf.snmp.knownDefault = true
				} else {
					lf.snmp.nonDefault++
				}
			}
		}
	}
	for ip := range lf.macs {
		slices.Sort(lf.macs[ip])
	}
	lf.snmp.versions = sortedKeys(versions)
	lf.snmp.fingerprints = sortedKeys(fps)
	if lf.snmp.fingerprints == nil {
		lf.snmp.fingerprints = []string{}
	}
	return lf
}

// TestParseExpectedDepth guards the parser against silently reading
// nothing (a format change in EXPECTED.md would otherwise turn every facet
// into an empty, passing comparison): each facet must be found somewhere,
// every Wireshark label must map, and session rows must be well formed.
func TestParseExpectedDepth(t *testing.T) {
	dir := sharedPcaps(t)
	exp := parseExpectedDepth(t, dir)
	count := map[string]int{}
	for _, file := range manifestFiles(t, dir) {
		e := exp[file]
		if e == nil {
			t.Errorf("EXPECTED.md has no section for %s", file)
			continue
		}
		for _, h := range e.hosts {
			if _, err := netip.ParseAddr(h.ip); err != nil {
				t.Errorf("%s: host %q: %v", file, h.ip, err)
			}
			count["macs"] += len(h.macs)
			for _, l := range slices.Concat(h.server, h.client, h.peer) {
				fromWireshark(t, l)
				count["roles"]++
			}
		}
		for _, l := range e.logins {
			count["login "+l.protocol]++
		}
		for _, s := range e.sessions {
			fromWireshark(t, s.protocol)
			if s.end.Before(s.start) || !s.client.IsValid() || !s.server.IsValid() {
				t.Errorf("%s: malformed session %+v", file, s)
			}
			count["sessions"]++
		}
		count["ssh banners"] += len(e.sshBanners)
		count["rfb versions"] += len(e.rfbVersions)
		if e.snmp != nil {
			if !e.snmp.hasVersionLine || !e.snmp.hasCommunityLine || len(e.snmp.versions) == 0 {
				t.Errorf("%s: SNMP section without versions or community line: %+v", file, e.snmp)
			}
			count["snmp"]++
		}
		for _, id := range e.idents {
			count["identity "+id.method]++
		}
		count["opcua policies"] += len(e.opcuaPolicies)
		count["opcua endpoints"] += len(e.opcuaEndpoints)
	}
	want := []string{"macs", "roles", "sessions", "ssh banners", "rfb versions", "snmp", "opcua policies", "opcua endpoints",
		"login Telnet", "login FTP", "login HTTP Basic", "login SNMP", "login RDP cookie"}
	for _, m := range identityMethods {
		want = append(want, "identity "+m)
	}
	for _, k := range want {
		if count[k] == 0 {
			t.Errorf("EXPECTED.md: no %s parsed from any capture", k)
		}
	}
	t.Logf("parsed: %v", count)
}
