package pcap

import (
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Parsing of the facets of EXPECTED.md that TestSharedCapturesMatchExpected
// (shared_test.go) does not read: MACs and protocol roles per host,
// cleartext logins, remote-access sessions, SNMP versions and communities,
// device identities and OPC UA security. Every value comes from the file;
// nothing here knows a capture by name.

// depthExpected is what EXPECTED.md says about one capture, beyond hosts
// and Modbus counts.
type depthExpected struct {
	hosts    []expectedHost
	logins   []expectedLogin
	sessions []expectedSession
	// sshBanners maps "ip:port" to the SSH banner that endpoint sent.
	sshBanners map[string]string
	// rfbVersions maps an IP to the RFB protocol version it sent.
	rfbVersions map[string]string
	snmp        *expectedSNMP
	idents      []expectedIdentity
	// opcuaEndpoints and opcuaPolicies are the HEL endpoint URLs and the
	// SecurityPolicyUris seen; nil when the file has no OPC UA section.
	opcuaEndpoints, opcuaPolicies []string
	hasOPCUA                      bool
}

// expectedHost is one row of a "### Hosts" table.
type expectedHost struct {
	ip    string
	bcast bool
	// macs are the Ethernet sources of frames sent from ip; withVendor
	// those among them Wireshark's manuf database names.
	macs, withVendor []string
	// server, client and peer are Wireshark protocol labels.
	server, client, peer []string
}

// expectedLogin is one line of "### Cleartext login protocols".
type expectedLogin struct {
	protocol       string // Wireshark label: "Telnet", "FTP", "HTTP Basic", "SNMP", "RDP cookie"
	client, server string
	users          []string
	// Telnet: whether the server prompted for a login and a password.
	loginPrompt, passwordPrompt bool
	// SNMP: packets carrying a community and how many distinct ones.
	packets, distinct int
	// FTP: sessions where PASS was sent and 230 replies.
	passSent, loginOK int
}

// expectedSession is one row of a "### Remote-access sessions" table.
type expectedSession struct {
	protocol       string // Wireshark label, " (port-based)" removed
	portBased      bool
	client, server netip.AddrPort
	start, end     time.Time
	packets        int
	synSeen        bool
}

// expectedSNMP is the "### SNMP" section.
type expectedSNMP struct {
	versions                                  map[string]int // "v1", "v2c", "v3" → packets
	distinct, other, packetsWithCommunity     int
	publicSeen, privateSeen, usmUserPresent   bool
	hasCommunityLine, hasVersionLine, hasUser bool
}

// expectedIdentity is a device self-description EXPECTED.md lists: its
// otaudit method, where it should be filed (an IP, or the MAC that sent
// it when the message names no usable address) and the fields to compare,
// named after otaudit.DeviceIdentity's JSON fields.
type expectedIdentity struct {
	method string
	ip     string // "" when the message gives no usable address
	mac    string
	fields map[string]string
	// description is the LLDP system description or CDP software version,
	// which otaudit mines for model, order number and firmware.
	description string
}

var (
	macRe       = regexp.MustCompile(`[0-9a-f]{2}(?::[0-9a-f]{2}){5}`)
	macVendorRe = regexp.MustCompile(`([0-9a-f]{2}(?::[0-9a-f]{2}){5})( \()?`)
	kvRe        = regexp.MustCompile(`(\w[\w ]*?)=('[^']*'|\[[^\]]*\]|[^,]*)`)
	backtickRe  = regexp.MustCompile("`([^`]*)`")
	quotedRe    = regexp.MustCompile(`'([^']*)'`)
	versionsRe  = regexp.MustCompile(`'(v1|v2c|v3)': (\d+)`)
	szlRe       = regexp.MustCompile("^- SZL 0x001C identity from ([^:]+): automation-system name `([^`]*)`, module name `([^`]*)`, plant tag `([^`]*)`, serial `([^`]*)`, CPU type `([^`]*)`")
	mlfbRe      = regexp.MustCompile("^- SZL 0x0011 module identification, order number \\(MlfB\\): `([^`]*)`")
	lirRe       = regexp.MustCompile("^- \\*\\*ListIdentity reply\\*\\* from ([^:]+): vendor 0x([0-9a-f]+), device type (\\d+), product code (\\d+), revision (\\d+), serial (0x[0-9a-f]+), product name `([^`]*)`")
	lldpRe      = regexp.MustCompile("^- from ([0-9a-f:]{17}): chassis `([^`]*)`, port `([^`]*)`, system name `([^`]*)`, description `([^`]*)`, mgmt IPv4 `([^`]*)`")
	cdpRe       = regexp.MustCompile("^- from ([0-9a-f:]{17}): device id `([^`]*)`, platform `([^`]*)`, port `([^`]*)`, address `([^`]*)`, software `([^`]*)`")
	iamRe       = regexp.MustCompile(`(\S*) device-instance=(\d+) vendor=(\d+)`)
	rdpCookieRe = regexp.MustCompile("^- RDP routing cookie \\(cleartext user name\\) (\\S+) -> ([^:]+): `Cookie: mstshash=([^`]*)`")
)

// parseExpectedDepth reads the per-file sections of EXPECTED.md.
func parseExpectedDepth(t testing.TB, dir string) map[string]*depthExpected {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "EXPECTED.md"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*depthExpected{}
	var cur *depthExpected
	section := ""
	var mlfbOwner *expectedIdentity // the SZL identity an MlfB line belongs to
	for n, line := range strings.Split(string(b), "\n") {
		fail := func(what string) { t.Fatalf("EXPECTED.md line %d: %s: %q", n+1, what, line) }
		if strings.HasPrefix(line, "## ") {
			name := strings.Fields(strings.TrimPrefix(line, "## "))
			cur, section, mlfbOwner = nil, "", nil
			if len(name) > 0 && (strings.HasSuffix(name[0], ".pcap") || strings.HasSuffix(name[0], ".pcapng")) {
				cur = &depthExpected{sshBanners: map[string]string{}, rfbVersions: map[string]string{}}
				out[name[0]] = cur
			}
			continue
		}
		if cur == nil {
			continue
		}
		if strings.HasPrefix(line, "### ") {
			section = strings.TrimPrefix(line, "### ")
			if section == "SNMP" {
				cur.snmp = &expectedSNMP{versions: map[string]int{}}
			}
			if section == "OPC UA binary" {
				cur.hasOPCUA = true
			}
			continue
		}
		tableRow := strings.HasPrefix(line, "| ") && !strings.HasPrefix(line, "|---")
		switch {
		case strings.HasPrefix(section, "Hosts") && tableRow && !strings.HasPrefix(line, "| IP |"):
			c := cells(line)
			if len(c) != 5 {
				fail("hosts row without 5 cells")
			}
			h := expectedHost{ip: strings.TrimSuffix(c[0], " (bcast/mcast)"), bcast: strings.HasSuffix(c[0], " (bcast/mcast)")}
			for _, m := range macVendorRe.FindAllStringSubmatch(c[1], -1) {
				h.macs = append(h.macs, m[1])
				if m[2] != "" {
					h.withVendor = append(h.withVendor, m[1])
				}
			}
			h.server, h.client, h.peer = labels(c[2]), labels(c[3]), labels(c[4])
			cur.hosts = append(cur.hosts, h)

		case section == "Cleartext login protocols" && strings.HasPrefix(line, "- "):
			if line == "- none" {
				continue
			}
			if m := rdpCookieRe.FindStringSubmatch(line); m != nil {
				cur.logins = append(cur.logins, expectedLogin{protocol: "RDP cookie", client: m[1], server: m[2], users: []string{m[3]}})
				continue
			}
			kv := map[string]string{}
			for _, m := range kvRe.FindAllStringSubmatch(strings.TrimPrefix(line, "- "), -1) {
				kv[strings.TrimSpace(m[1])] = strings.TrimSpace(m[2])
			}
			l := expectedLogin{client: kv["client"], server: kv["server"]}
			for _, u := range quotedRe.FindAllStringSubmatch(kv["usernames"], -1) {
				l.users = append(l.users, u[1])
			}
			switch p := kv["protocol"]; {
			case p == "Telnet":
				l.protocol = "Telnet"
				l.loginPrompt, l.passwordPrompt = kv["login_prompt_seen"] == "True", kv["password_prompt_seen"] == "True"
			case p == "FTP":
				l.protocol = "FTP"
				l.passSent, l.loginOK = atoi(kv["sessions with PASS sent"]), atoi(kv["230 login OK replies"])
			case strings.HasPrefix(p, "HTTP Authorization: Basic"):
				l.protocol = "HTTP Basic"
			case strings.HasPrefix(p, "SNMP"):
				l.protocol = "SNMP"
				l.packets, l.distinct = atoi(kv["packets"]), atoi(kv["distinct_communities"])
			default:
				fail("unknown cleartext login line")
			}
			cur.logins = append(cur.logins, l)

		case section == "Remote-access sessions" && tableRow && !strings.HasPrefix(line, "| type |"):
			c := cells(line)
			if len(c) != 8 {
				fail("session row without 8 cells")
			}
			s := expectedSession{protocol: strings.TrimSuffix(c[0], " (port-based)"), portBased: strings.HasSuffix(c[0], " (port-based)"),
				packets: atoi(c[6]), synSeen: c[7] == "yes"}
			var err1, err2, err3, err4 error
			s.client, err1 = netip.ParseAddrPort(c[1])
			s.server, err2 = netip.ParseAddrPort(c[2])
			s.start, err3 = time.Parse("2006-01-02 15:04:05.999999 MST", c[3])
			s.end, err4 = time.Parse("2006-01-02 15:04:05.999999 MST", c[4])
			if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
				fail("unparsable session row")
			}
			cur.sessions = append(cur.sessions, s)
		case section == "Remote-access sessions" && strings.HasPrefix(line, "- SSH banners: "):
			for _, m := range backtickRe.FindAllStringSubmatch(line, -1) {
				ep, banner, ok := strings.Cut(m[1], " ")
				if !ok {
					fail("SSH banner without endpoint")
				}
				cur.sshBanners[ep] = banner
			}

		case section == "Remote-access sessions" && strings.HasPrefix(line, "- VNC/RFB versions: "):
			for _, m := range backtickRe.FindAllStringSubmatch(line, -1) {
				f := strings.Fields(m[1]) // "ip server=004.001 client="
				for _, kv := range f[1:] {
					if _, v, _ := strings.Cut(kv, "="); v != "" {
						cur.rfbVersions[f[0]] = v
					}
				}
			}

		case section == "SNMP":
			s := cur.snmp
			switch {
			case strings.HasPrefix(line, "- versions (packets): "):
				s.hasVersionLine = true
				for _, m := range versionsRe.FindAllStringSubmatch(line, -1) {
					s.versions[m[1]] = atoi(m[2])
				}
			case strings.HasPrefix(line, "- community strings: "):
				s.hasCommunityLine = true
				f := strings.Split(strings.TrimPrefix(line, "- community strings: "), "; ")
				if len(f) != 5 {
					fail("community line without 5 parts")
				}
				s.distinct = atoi(strings.Fields(f[0])[0])
				s.publicSeen = strings.HasSuffix(f[1], ": yes")
				s.privateSeen = strings.HasSuffix(f[2], ": yes")
				s.other = atoi(f[3][strings.LastIndex(f[3], " ")+1:])
				s.packetsWithCommunity = atoi(f[4][strings.LastIndex(f[4], " ")+1:])
			case strings.HasPrefix(line, "- SNMPv3 USM user name present: "):
				s.hasUser = true
				s.usmUserPresent = strings.HasPrefix(strings.TrimPrefix(line, "- SNMPv3 USM user name present: "), "yes")
			}

		case section == "S7comm":
			if m := szlRe.FindStringSubmatch(line); m != nil {
				cur.idents = append(cur.idents, expectedIdentity{method: "s7-szl", ip: m[1],
					fields: nonEmpty(map[string]string{"name": m[3], "serial": m[5], "model": m[6]})})
				mlfbOwner = &cur.idents[len(cur.idents)-1]
			} else if m := mlfbRe.FindStringSubmatch(line); m != nil {
				if mlfbOwner == nil {
					fail("MlfB line before any SZL 0x001C line")
				}
				mlfbOwner.fields["product_code"] = m[1]
			}
		case strings.HasPrefix(section, "EtherNet/IP"):
			if m := lirRe.FindStringSubmatch(line); m != nil {
				vendor, _ := strconv.ParseUint(m[2], 16, 16)
				rev := atoi(m[5])
				cur.idents = append(cur.idents, expectedIdentity{method: "enip-listidentity", ip: m[1], fields: nonEmpty(map[string]string{
					"vendor_id": strconv.FormatUint(vendor, 10), "product_code": m[4],
					// Wireshark reads the two revision bytes big-endian
					// (major, minor) and prints the number: 1027 = 4.3.
					"firmware": strconv.Itoa(rev>>8) + "." + strconv.Itoa(rev&0xff),
					"serial":   m[6], "model": m[7],
				})})
			}
		case section == "LLDP":
			if m := lldpRe.FindStringSubmatch(line); m != nil {
				chassis := strings.TrimSuffix(m[2], " (decoded from hex)")
				id := expectedIdentity{method: "lldp", mac: m[1], ip: usableIP(m[6]), description: m[5],
					fields: nonEmpty(map[string]string{"name": m[4]})}
				// A PROFINET device names itself in the chassis ID (its
				// NameOfStation) and sends no system name.
				if m[4] == "" && chassis != "" && !macRe.MatchString(chassis) && !strings.Contains(chassis, " ") {
					id.fields["name"] = chassis
				}
				if len(id.fields) == 0 && id.description == "" {
					continue // nothing but addresses: no identity to expect
				}
				cur.idents = append(cur.idents, id)
			}
		case section == "CDP":
			if m := cdpRe.FindStringSubmatch(line); m != nil {
				cur.idents = append(cur.idents, expectedIdentity{method: "cdp", mac: m[1], ip: usableIP(m[5]), description: m[6],
					fields: nonEmpty(map[string]string{"name": m[2], "model": m[3]})})
			}
		case strings.HasPrefix(section, "PROFINET DCP") && tableRow && !strings.HasPrefix(line, "| src MAC |"):
			c := cells(line)
			if len(c) != 10 {
				fail("DCP row without 10 cells")
			}
			// Only answers (service type 1) describe their sender; an
			// Identify request carrying a name asks who has it.
			if c[3] != "1" || c[4] == "-" {
				continue
			}
			id := expectedIdentity{method: "profinet-dcp", mac: c[0], ip: usableIP(dash(c[5])),
				fields: nonEmpty(map[string]string{"name": c[4], "model": dash(c[8])})}
			if c[6] != "-" && c[7] != "-" {
				id.fields["product_code"] = "vendor " + c[6] + " device " + c[7]
			}
			cur.idents = append(cur.idents, id)
		case section == "BACnet" && strings.HasPrefix(line, "- **I-Am devices"):
			for _, m := range iamRe.FindAllStringSubmatch(line, -1) {
				if m[1] == "" {
					continue // an I-Am tshark saw without an IP source (forwarded); the same device is listed with one
				}
				cur.idents = append(cur.idents, expectedIdentity{method: "bacnet-iam", ip: m[1],
					fields: map[string]string{"name": "device " + m[2], "vendor_id": m[3]}})
			}
		case section == "OPC UA binary":
			switch {
			case strings.HasPrefix(line, "- endpoint URLs in HEL: "):
				for _, m := range backtickRe.FindAllStringSubmatch(line, -1) {
					cur.opcuaEndpoints = append(cur.opcuaEndpoints, m[1])
				}
			case strings.HasPrefix(line, "- security policies: "):
				for _, m := range backtickRe.FindAllStringSubmatch(line, -1) {
					cur.opcuaPolicies = append(cur.opcuaPolicies, m[1])
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("EXPECTED.md has no per-capture sections")
	}
	return out
}

// cells splits a markdown table row into trimmed cells.
func cells(line string) []string {
	parts := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// labels splits a protocol cell ("CIP, EtherNet/IP" or "-").
func labels(cell string) []string {
	if cell == "-" || cell == "" {
		return nil
	}
	var out []string
	for _, l := range strings.Split(cell, ",") {
		out = append(out, strings.TrimSpace(l))
	}
	return out
}

func atoi(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return -1
	}
	return n
}

func dash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

func nonEmpty(m map[string]string) map[string]string {
	for k, v := range m {
		if v == "" {
			delete(m, k)
		}
	}
	return m
}

// usableIP keeps an address a device can be reached at (not empty,
// 0.0.0.0, multicast or broadcast), the same rule otaudit applies before
// filing an announced identity under it.
func usableIP(s string) string {
	a, err := netip.ParseAddr(s)
	if err != nil || !usable(a) {
		return ""
	}
	return a.String()
}
