package checks

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otaudit/otaudit"
)

// evalCase is one positive or negative fixture for one check.
type evalCase struct {
	name  string
	check string
	fx    fixture
	// want lists the expected findings as asset|key; nil means the check
	// must not fail.
	want      []string
	severity  otaudit.Severity // of the first finding, when want is set
	summary   []string         // substrings of the first finding's summary
	wantState otaudit.CheckState
}

func ews(z otaudit.Zone, cidr string) otaudit.Zone {
	z.EngineeringHosts = []netip.Prefix{netip.MustParsePrefix(cidr)}
	return z
}

// withZone modifies a copy of z; the slices are copied so that one case
// cannot change another's zone.
func withZone(z otaudit.Zone, fn func(*otaudit.Zone)) otaudit.Zone {
	z.Conduits = slices.Clone(z.Conduits)
	z.Register = slices.Clone(z.Register)
	fn(&z)
	return z
}

// evaluatorCases are the positive and negative fixtures of the evaluators
// of the first catalog release; TestEveryEvaluatorHasBothCases walks them
// with the newer tables.
func evaluatorCases() []evalCase {
	cell := cellZone()
	plc := map[string]string{"10.1.0.5": "PLC"}
	return []evalCase{
		// AC-MODBUS-WRITE-UNAUTHORIZED-SOURCE
		{name: "modbus write from non-EWS inside", check: "AC-MODBUS-WRITE-UNAUTHORIZED-SOURCE",
			fx: fixture{zone: ews(cell, "10.1.0.10/32"), obs: []otaudit.Observation{
				flow("10.1.0.66", "10.1.0.5", "modbus", 502, true),
				op("modbus", "10.1.0.66", "10.1.0.5", otaudit.OpWrite, 16, "Write Multiple Registers", 12),
				op("modbus", "10.1.0.66", "10.1.0.5", otaudit.OpWrite, 5, "Write Single Coil", 2),
			}},
			want: []string{"ip:10.1.0.5|10.1.0.66"}, severity: otaudit.SeverityHigh,
			summary: []string{"10.1.0.66 sent 14 Modbus write requests", "Write Multiple Registers ×12", "not one of zone cell-1's engineering workstations"}},
		{name: "modbus write from outside is critical", check: "AC-MODBUS-WRITE-UNAUTHORIZED-SOURCE",
			fx: fixture{zone: ews(cell, "10.1.0.10/32"), obs: []otaudit.Observation{
				op("modbus", "172.16.9.4", "10.1.0.5", otaudit.OpWrite, 6, "Write Single Register", 3),
			}},
			want: []string{"ip:10.1.0.5|172.16.9.4"}, severity: otaudit.SeverityCritical, summary: []string{"outside the zone"}},
		{name: "modbus write into a safety zone is critical", check: "AC-MODBUS-WRITE-UNAUTHORIZED-SOURCE",
			fx: fixture{zone: withZone(cell, func(z *otaudit.Zone) { z.Safety = true }), obs: []otaudit.Observation{
				op("modbus", "10.1.0.66", "10.1.0.5", otaudit.OpWrite, 6, "Write Single Register", 3),
			}},
			want: []string{"ip:10.1.0.5|10.1.0.66"}, severity: otaudit.SeverityCritical,
			summary: []string{"zone cell-1 declares no engineering workstations"}},
		{name: "modbus write from EWS and reads from anyone pass", check: "AC-MODBUS-WRITE-UNAUTHORIZED-SOURCE",
			fx: fixture{zone: ews(cell, "10.1.0.10/32"), obs: []otaudit.Observation{
				op("modbus", "10.1.0.10", "10.1.0.5", otaudit.OpWrite, 16, "Write Multiple Registers", 12),
				op("modbus", "10.1.0.66", "10.1.0.5", otaudit.OpRead, 3, "Read Holding Registers", 500),
				op("modbus", "10.1.0.66", "10.1.0.5", otaudit.OpWrite, 16, "Write Multiple Registers", 0),
			}},
			wantState: otaudit.CheckPassed},
		// AC-ICS-WRITE / PROGRAM-DOWNLOAD / MODE-CHANGE / ENGINEERING
		{name: "s7 write from non-EWS", check: "AC-ICS-WRITE-UNAUTHORIZED-SOURCE",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				op("s7comm", "10.1.0.66", "10.1.0.5", otaudit.OpWrite, 5, "Write Var", 4),
			}},
			want: []string{"ip:10.1.0.5|s7comm|10.1.0.66"}, severity: otaudit.SeverityHigh},
		{name: "modbus write is not an ICS-write finding", check: "AC-ICS-WRITE-UNAUTHORIZED-SOURCE",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				op("modbus", "10.1.0.66", "10.1.0.5", otaudit.OpWrite, 6, "Write Single Register", 4),
			}},
			wantState: otaudit.CheckPassed},
		{name: "program download from non-EWS", check: "AC-PLC-PROGRAM-DOWNLOAD",
			fx: fixture{zone: ews(cell, "10.1.0.10/32"), obs: []otaudit.Observation{
				op("s7comm", "10.1.0.66", "10.1.0.5", otaudit.OpProgramDownload, 0x1b, "Download block", 9),
			}},
			want: []string{"ip:10.1.0.5|s7comm|10.1.0.66"}, severity: otaudit.SeverityCritical, summary: []string{"program download"}},
		{name: "program download from EWS", check: "AC-PLC-PROGRAM-DOWNLOAD",
			fx: fixture{zone: ews(cell, "10.1.0.10/32"), obs: []otaudit.Observation{
				op("s7comm", "10.1.0.10", "10.1.0.5", otaudit.OpProgramDownload, 0x1b, "Download block", 9),
			}},
			wantState: otaudit.CheckPassed},
		{name: "cpu stop from non-EWS", check: "AC-PLC-MODE-CHANGE",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				op("s7comm", "10.1.0.66", "10.1.0.5", otaudit.OpModeChange, 0x29, "PLC Stop", 1),
			}},
			want: []string{"ip:10.1.0.5|s7comm|10.1.0.66"}, severity: otaudit.SeverityCritical},
		{name: "no mode change", check: "AC-PLC-MODE-CHANGE",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				op("s7comm", "10.1.0.66", "10.1.0.5", otaudit.OpRead, 4, "Read Var", 100),
			}},
			wantState: otaudit.CheckPassed},
		{name: "program upload from non-EWS", check: "AC-ENGINEERING-SESSION-FROM-NON-EWS",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				op("s7comm", "10.1.0.66", "10.1.0.5", otaudit.OpProgramUpload, 0x1d, "Start upload", 3),
			}},
			want: []string{"ip:10.1.0.5|s7comm|10.1.0.66"}, severity: otaudit.SeverityHigh},
		{name: "program upload from EWS", check: "AC-ENGINEERING-SESSION-FROM-NON-EWS",
			fx: fixture{zone: ews(cell, "10.1.0.0/28"), obs: []otaudit.Observation{
				op("s7comm", "10.1.0.10", "10.1.0.5", otaudit.OpProgramUpload, 0x1d, "Start upload", 3),
			}},
			wantState: otaudit.CheckPassed},
		// Clear-text logins
		{name: "telnet login", check: "AC-CLEARTEXT-LOGIN-TELNET",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				cred("telnet", "10.1.0.9", "10.1.0.5", "admin", "hmac-sha256:aa", false, "success"),
				session("telnet", "10.1.0.9", "10.1.0.5", 23, 5*time.Minute, false),
			}},
			want: []string{"ip:10.1.0.5|10.1.0.9|admin"}, severity: otaudit.SeverityHigh,
			summary: []string{`password of user "admin"`, "Telnet", "outcome: success"}},
		{name: "telnet session without recognised login, from outside", check: "AC-CLEARTEXT-LOGIN-TELNET",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				session("telnet", "172.16.9.4", "10.1.0.5", 23, 5*time.Minute, false),
			}},
			want: []string{"ip:10.1.0.5|172.16.9.4|"}, severity: otaudit.SeverityCritical, summary: []string{"no login exchange was recognised"}},
		{name: "ssh is not telnet", check: "AC-CLEARTEXT-LOGIN-TELNET",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				session("ssh", "10.1.0.9", "10.1.0.5", 22, 5*time.Minute, true),
				cred("ftp", "10.1.0.9", "10.1.0.5", "admin", "hmac-sha256:aa", false, "success"),
			}},
			wantState: otaudit.CheckPassed},
		{name: "ftp login", check: "AC-CLEARTEXT-LOGIN-FTP",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				cred("ftp", "10.1.0.9", "10.1.0.5", "anonymous", "hmac-sha256:bb", false, "success"),
			}},
			want: []string{"ip:10.1.0.5|10.1.0.9|anonymous"}, severity: otaudit.SeverityHigh},
		{name: "ftp login to a server outside the zone", check: "AC-CLEARTEXT-LOGIN-FTP",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				flow("10.1.0.9", "10.1.0.5", "modbus", 502, true),
				cred("ftp", "10.1.0.9", "172.16.9.4", "anonymous", "hmac-sha256:bb", false, "success"),
			}},
			wantState: otaudit.CheckPassed},
		{name: "http basic login", check: "AC-CLEARTEXT-LOGIN-HTTP-BASIC",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				cred("http-basic", "10.1.0.9", "10.1.0.5", "test", "hmac-sha256:cc", false, ""),
				cred("http-basic", "10.1.0.9", "10.1.0.5", "test", "hmac-sha256:cc", false, "failure"),
			}},
			want: []string{"ip:10.1.0.5|10.1.0.9|test"}, severity: otaudit.SeverityHigh, summary: []string{"failure, unseen"}},
		{name: "no http basic", check: "AC-CLEARTEXT-LOGIN-HTTP-BASIC",
			fx:        fixture{zone: cell, obs: []otaudit.Observation{flow("10.1.0.9", "10.1.0.5", "https", 443, true)}},
			wantState: otaudit.CheckPassed},
		{name: "snmp community in clear, default raises to high", check: "AC-CLEARTEXT-LOGIN-SNMP",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				snmpCred("10.1.0.2", "10.1.0.5", "v2c", "hmac-sha256:pub", true),
				snmpCred("10.1.0.2", "10.1.0.5", "v2c", "hmac-sha256:oth", false),
			}},
			want: []string{"ip:10.1.0.5|10.1.0.2"}, severity: otaudit.SeverityHigh, summary: []string{"2 distinct communities", "known default"}},
		{name: "snmpv3 carries no community", check: "AC-CLEARTEXT-LOGIN-SNMP",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				snmpCred("10.1.0.2", "10.1.0.5", "v3", "hmac-sha256:usr", false),
			}},
			wantState: otaudit.CheckPassed},
		// Default and shared credentials
		{name: "default credential", check: "AC-DEFAULT-CREDENTIAL-OBSERVED",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				cred("telnet", "10.1.0.9", "10.1.0.5", "admin", "hmac-sha256:dd", true, "success"),
			}},
			want: []string{"ip:10.1.0.5|telnet|admin"}, severity: otaudit.SeverityCritical, summary: []string{"vendor-default Telnet credential"}},
		{name: "default snmp community", check: "AC-DEFAULT-CREDENTIAL-OBSERVED",
			fx:   fixture{zone: cell, obs: []otaudit.Observation{snmpCred("10.1.0.2", "10.1.0.5", "v1", "hmac-sha256:pub", true)}},
			want: []string{"ip:10.1.0.5|snmp|"}, severity: otaudit.SeverityCritical, summary: []string{"default SNMP community"}},
		{name: "rejected default and non-default pass", check: "AC-DEFAULT-CREDENTIAL-OBSERVED",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				cred("telnet", "10.1.0.9", "10.1.0.5", "admin", "hmac-sha256:dd", true, "failure"),
				cred("telnet", "10.1.0.9", "10.1.0.5", "admin", "hmac-sha256:ee", false, "success"),
			}},
			wantState: otaudit.CheckPassed},
		{name: "one secret on three devices", check: "AC-SHARED-CREDENTIAL-MANY-DEVICES",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				cred("telnet", "10.1.0.9", "10.1.0.5", "admin", "hmac-sha256:ff", false, "success"),
				cred("ftp", "10.1.0.9", "10.1.0.6", "admin", "hmac-sha256:ff", false, "success"),
				cred("telnet", "10.1.0.9", "10.1.0.7", "root", "hmac-sha256:ff", false, ""),
			}},
			want:     []string{"ip:10.1.0.5|hmac-sha256:ff", "ip:10.1.0.6|hmac-sha256:ff", "ip:10.1.0.7|hmac-sha256:ff"},
			severity: otaudit.SeverityHigh, summary: []string{"3 devices in total"}},
		{name: "one secret on two devices", check: "AC-SHARED-CREDENTIAL-MANY-DEVICES",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				cred("telnet", "10.1.0.9", "10.1.0.5", "admin", "hmac-sha256:ff", false, "success"),
				cred("telnet", "10.1.0.9", "10.1.0.6", "admin", "hmac-sha256:ff", false, "success"),
				cred("telnet", "10.1.0.9", "10.1.0.7", "admin", "hmac-sha256:ff", false, "failure"),
			}},
			wantState: otaudit.CheckPassed},
		// AC-SNMP-V1V2C-ENABLED
		{name: "snmp v2c agent, SL-T(IAC)=2 raises to high", check: "AC-SNMP-V1V2C-ENABLED",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				flow("10.1.0.2", "10.1.0.5", "snmp", 161, true),
				channel("snmp", "10.1.0.2", "10.1.0.5", "v2c", false),
			}},
			want: []string{"ip:10.1.0.5|"}, severity: otaudit.SeverityHigh, summary: []string{"answers SNMP v2c"}},
		{name: "snmp v3 agent", check: "AC-SNMP-V1V2C-ENABLED",
			fx: fixture{zone: withZone(cell, func(z *otaudit.Zone) { z.SLTarget = otaudit.SLVector{} }), obs: []otaudit.Observation{
				flow("10.1.0.2", "10.1.0.5", "snmp", 161, true),
				channel("snmp", "10.1.0.2", "10.1.0.5", "v3 authPriv", true),
			}},
			wantState: otaudit.CheckPassed},
		// Remote access
		{name: "rdp from undeclared space", check: "AC-RA-EXTERNAL-DIRECT",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				session("rdp", "172.16.9.4", "10.1.0.20", 3389, time.Hour, true),
			}},
			want: []string{"ip:10.1.0.20|rdp|172.16.9.4"}, severity: otaudit.SeverityCritical, summary: []string{"not a jump host"}},
		{name: "rdp from jump host, from an allowing conduit, and inside", check: "AC-RA-EXTERNAL-DIRECT",
			fx: fixture{zone: withZone(cell, func(z *otaudit.Zone) {
				z.JumpHosts = []netip.Prefix{netip.MustParsePrefix("172.16.9.100/32")}
				z.Conduits = append(z.Conduits, otaudit.Conduit{Name: "vendor", PeerCIDRs: []netip.Prefix{netip.MustParsePrefix("10.3.0.0/24")}, Protocols: []string{"ssh"}})
			}), obs: []otaudit.Observation{
				session("rdp", "172.16.9.100", "10.1.0.20", 3389, time.Hour, true),
				session("ssh", "10.3.0.7", "10.1.0.20", 22, time.Hour, true),
				session("vnc", "10.1.0.9", "10.1.0.20", 5900, time.Hour, true),
			}},
			wantState: otaudit.CheckPassed},
		{name: "external direct is not applicable without a boundary", check: "AC-RA-EXTERNAL-DIRECT",
			fx:        fixture{zone: openZone(), obs: []otaudit.Observation{session("rdp", "172.16.9.4", "10.1.0.20", 3389, time.Hour, true)}},
			wantState: otaudit.CheckNotApplicable},
		{name: "rdp across the boundary without jump host", check: "AC-RA-NOT-VIA-JUMPHOST",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				session("rdp", "10.2.0.7", "10.1.0.20", 3389, time.Hour, true),
			}},
			want: []string{"ip:10.1.0.20|rdp|10.2.0.7"}, severity: otaudit.SeverityHigh, summary: []string{"declares no jump hosts"}},
		{name: "rdp via jump host", check: "AC-RA-NOT-VIA-JUMPHOST",
			fx: fixture{zone: withZone(cell, func(z *otaudit.Zone) {
				z.JumpHosts = []netip.Prefix{netip.MustParsePrefix("10.2.0.100/32")}
			}), obs: []otaudit.Observation{
				session("rdp", "10.2.0.100", "10.1.0.20", 3389, time.Hour, true),
				session("rdp", "10.1.0.9", "10.1.0.20", 3389, time.Hour, true),
			}},
			wantState: otaudit.CheckPassed},
		{name: "vnc without encryption from outside", check: "AC-RA-UNENCRYPTED",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				session("vnc", "172.16.9.4", "10.1.0.20", 5900, 20*time.Minute, false),
			}},
			want: []string{"ip:10.1.0.20|vnc|172.16.9.4"}, severity: otaudit.SeverityCritical, summary: []string{"unencrypted VNC", "from outside the zone"}},
		{name: "ssh is encrypted", check: "AC-RA-UNENCRYPTED",
			fx:        fixture{zone: cell, obs: []otaudit.Observation{session("ssh", "10.1.0.9", "10.1.0.20", 22, 20*time.Minute, true)}},
			wantState: otaudit.CheckPassed},
		{name: "session longer than the zone's maximum", check: "AC-RA-SESSION-EXCEEDS-MAX",
			fx: fixture{zone: withZone(cell, func(z *otaudit.Zone) { z.MaxRemoteSessionMinutes = 60 }), obs: []otaudit.Observation{
				session("rdp", "10.1.0.9", "10.1.0.20", 3389, 3*time.Hour, true),
			}},
			want: []string{"ip:10.1.0.20|rdp|10.1.0.9"}, severity: otaudit.SeverityMedium, summary: []string{"longest 3h0m0s"}},
		{name: "a remote tool's session out to its relay counts for the host", check: "AC-RA-SESSION-EXCEEDS-MAX",
			fx:   fixture{zone: cell, obs: []otaudit.Observation{session("anydesk", "10.1.0.20", "8.8.4.4", 443, 9*time.Hour, true)}},
			want: []string{"ip:10.1.0.20|anydesk|8.8.4.4"}, severity: otaudit.SeverityMedium, summary: []string{"longest 9h0m0s"}},
		{name: "session within the default 480 minutes", check: "AC-RA-SESSION-EXCEEDS-MAX",
			fx:        fixture{zone: cell, obs: []otaudit.Observation{session("rdp", "10.1.0.9", "10.1.0.20", 3389, 7*time.Hour, true)}},
			wantState: otaudit.CheckPassed},
		{name: "teamviewer with an inbound session", check: "AC-RA-UNAPPROVED-TOOL",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				flow("10.1.0.20", "8.8.4.4", "teamviewer", 5938, true),
				session("teamviewer", "8.8.4.4", "10.1.0.20", 5938, time.Hour, true),
			}},
			want: []string{"ip:10.1.0.20|teamviewer"}, severity: otaudit.SeverityCritical, summary: []string{"inbound session"}},
		{name: "a tunnelling service, outbound only (found by its TLS server name)", check: "AC-RA-UNAPPROVED-TOOL",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				flow("10.1.0.20", "8.8.4.4", "ngrok", 443, true),
				flow("10.1.0.20", "8.8.4.4", "https", 443, true),
			}},
			want: []string{"ip:10.1.0.20|ngrok"}, severity: otaudit.SeverityHigh, summary: []string{"uses ngrok", "1 peers (8.8.4.4)"}},
		{name: "a tool seen only in DNS: its relay looked up from inside", check: "AC-RA-UNAPPROVED-TOOL",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				lookup("10.1.0.21", "10.1.0.1", "relay-3185a847.net.anydesk.com", "anydesk"),
				lookup("8.8.4.4", "10.1.0.1", "relay-1.net.anydesk.com", "anydesk"), // a client outside the zone
			}},
			want: []string{"ip:10.1.0.21|anydesk"}, severity: otaudit.SeverityHigh,
			summary: []string{"10.1.0.21 uses AnyDesk, which zone", "looked up relay-3185a847.net.anydesk.com"}},
		{name: "a zone without ranges: the tool's public relay is not one of its hosts", check: "AC-RA-UNAPPROVED-TOOL",
			fx: fixture{zone: withZone(cell, func(z *otaudit.Zone) { z.CIDRs = nil }), obs: []otaudit.Observation{
				flow("192.168.1.128", "195.181.174.176", "anydesk", 443, true),
				session("anydesk", "192.168.1.128", "195.181.174.176", 443, time.Minute, true),
			}},
			want: []string{"ip:192.168.1.128|anydesk"}, severity: otaudit.SeverityHigh, summary: []string{"1 peers (195.181.174.176)"}},
		{name: "a looked-up tool the zone approves", check: "AC-RA-UNAPPROVED-TOOL",
			fx: fixture{zone: withZone(cell, func(z *otaudit.Zone) { z.AllowedProtocols = []string{"anydesk"} }), obs: []otaudit.Observation{
				host("10.1.0.21", "00:0e:8c:00:00:21", "Siemens AG"),
				lookup("10.1.0.21", "10.1.0.1", "relay-3185a847.net.anydesk.com", "anydesk"),
			}},
			wantState: otaudit.CheckPassed},
		{name: "teamviewer approved by the zone", check: "AC-RA-UNAPPROVED-TOOL",
			fx: fixture{zone: withZone(cell, func(z *otaudit.Zone) { z.AllowedProtocols = []string{"modbus", "TeamViewer"} }), obs: []otaudit.Observation{
				flow("10.1.0.20", "8.8.4.4", "teamviewer", 5938, true),
			}},
			wantState: otaudit.CheckPassed},
		{name: "openvpn on a PLC", check: "AC-RA-ROGUE-VPN-ENDPOINT",
			fx: fixture{zone: cell, roles: plc, obs: []otaudit.Observation{
				flow("10.1.0.5", "8.8.4.4", "openvpn", 1194, true),
			}},
			want: []string{"ip:10.1.0.5|openvpn"}, severity: otaudit.SeverityHigh},
		{name: "ike on the remote-access gateway", check: "AC-RA-ROGUE-VPN-ENDPOINT",
			fx: fixture{zone: cell, roles: map[string]string{"10.1.0.1": "ra_gateway"}, obs: []otaudit.Observation{
				flow("8.8.4.4", "10.1.0.1", "ike", 500, true),
			}},
			wantState: otaudit.CheckPassed},
		// Network access
		{name: "undeclared cross-zone flow", check: "AC-FLOW-UNDECLARED-CONDUIT",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				flow("10.2.0.7", "10.1.0.5", "s7comm", 102, true),
			}},
			want: []string{"ip:10.1.0.5|s7comm|10.2.0.7"}, severity: otaudit.SeverityHigh, summary: []string{"inbound s7comm"}},
		{name: "declared conduit and unanswered probe", check: "AC-FLOW-UNDECLARED-CONDUIT",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				flow("10.2.0.7", "10.1.0.5", "modbus", 502, true),
				flow("172.16.9.4", "10.1.0.5", "http", 80, false),
			}},
			wantState: otaudit.CheckPassed},
		{name: "protocol outside the allow-list", check: "AC-PROTOCOL-NOT-ALLOWED-IN-ZONE",
			fx: fixture{zone: withZone(cell, func(z *otaudit.Zone) { z.AllowedProtocols = []string{"modbus"} }), obs: []otaudit.Observation{
				flow("10.1.0.9", "10.1.0.5", "modbus", 502, true),
				flow("10.1.0.9", "10.1.0.5", "http", 80, true),
			}},
			want: []string{"ip:10.1.0.5|http"}, severity: otaudit.SeverityMedium, summary: []string{"serves http"}},
		{name: "only allowed protocols", check: "AC-PROTOCOL-NOT-ALLOWED-IN-ZONE",
			fx: fixture{zone: withZone(cell, func(z *otaudit.Zone) { z.AllowedProtocols = []string{"modbus"} }), obs: []otaudit.Observation{
				flow("10.1.0.9", "10.1.0.5", "modbus", 502, true),
			}},
			wantState: otaudit.CheckPassed},
		{name: "no allow-list is not assessed", check: "AC-PROTOCOL-NOT-ALLOWED-IN-ZONE",
			fx:        fixture{zone: cell, obs: []otaudit.Observation{flow("10.1.0.9", "10.1.0.5", "http", 80, true)}},
			wantState: otaudit.CheckNotAssessed},
		{name: "inbound from the internet", check: "AC-OT-INTERNET-COMMUNICATION",
			fx: fixture{zone: openZone(), obs: []otaudit.Observation{
				flow("1.1.1.1", "10.1.0.5", "http", 80, true),
				flow("10.1.0.5", "8.8.8.8", "dns", 53, true),
			}},
			want: []string{"ip:10.1.0.5|inbound", "ip:10.1.0.5|outbound"}, severity: otaudit.SeverityCritical, summary: []string{"1.1.1.1 http"}},
		{name: "private and declared peers only", check: "AC-OT-INTERNET-COMMUNICATION",
			fx: fixture{zone: withZone(cell, func(z *otaudit.Zone) {
				z.Conduits = append(z.Conduits, otaudit.Conduit{Name: "cloud", PeerCIDRs: []netip.Prefix{netip.MustParsePrefix("8.8.8.0/24")}, Protocols: []string{"https"}})
			}), obs: []otaudit.Observation{
				flow("10.1.0.5", "172.16.9.4", "http", 80, true),
				flow("10.1.0.5", "8.8.8.8", "https", 443, true),
				flow("1.1.1.1", "10.1.0.5", "http", 80, false),
			}},
			wantState: otaudit.CheckPassed},
		// DC
		{name: "opc ua None from outside, no protected channel", check: "DC-OPCUA-SECURITYPOLICY-NONE",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				channel("opcua", "10.2.0.7", "10.1.0.30", "http://opcfoundation.org/UA/SecurityPolicy#None", false),
			}},
			want: []string{"ip:10.1.0.30|"}, severity: otaudit.SeverityCritical, summary: []string{"SecurityPolicy None"}},
		{name: "opc ua None next to a protected channel is high", check: "DC-OPCUA-SECURITYPOLICY-NONE",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				channel("opcua", "10.2.0.7", "10.1.0.30", "http://opcfoundation.org/UA/SecurityPolicy#None", false),
				channel("opcua", "10.1.0.9", "10.1.0.30", "http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256", true),
			}},
			want: []string{"ip:10.1.0.30|"}, severity: otaudit.SeverityHigh, summary: []string{"downgrade"}},
		{name: "opc ua Basic256Sha256 only", check: "DC-OPCUA-SECURITYPOLICY-NONE",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				channel("opcua", "10.1.0.9", "10.1.0.30", "http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256", true),
			}},
			wantState: otaudit.CheckPassed},
		// AM
		{name: "unknown modbus device is high", check: "AM-UNKNOWN-DEVICE",
			fx: fixture{zone: withZone(cell, func(z *otaudit.Zone) { z.Register = register("10.1.0.5"); z.PurdueLevel = 3 }), obs: []otaudit.Observation{
				host("10.1.0.77", "02:00:00:00:00:77", ""),
				flow("10.1.0.77", "10.1.0.5", "modbus", 502, true),
			}},
			want: []string{"ip:10.1.0.77|"}, severity: otaudit.SeverityHigh, summary: []string{"not in zone cell-1's asset register", "uses modbus"}},
		{name: "unknown office device at L3 is medium", check: "AM-UNKNOWN-DEVICE",
			fx: fixture{zone: withZone(cell, func(z *otaudit.Zone) { z.Register = register("10.1.0.5"); z.PurdueLevel = 3 }), obs: []otaudit.Observation{
				flow("10.1.0.78", "10.1.0.5", "http", 80, true),
			}},
			want: []string{"ip:10.1.0.78|"}, severity: otaudit.SeverityMedium},
		{name: "registered devices and multicast pass", check: "AM-UNKNOWN-DEVICE",
			fx: fixture{zone: withZone(cell, func(z *otaudit.Zone) { z.Register = register("10.1.0.5", "10.1.0.9") }), obs: []otaudit.Observation{
				flow("10.1.0.9", "10.1.0.5", "modbus", 502, true),
				flow("10.1.0.9", "10.1.0.255", "netbios-ns", 137, false),
			}},
			wantState: otaudit.CheckPassed},
		{name: "unknown device known only by MAC", check: "AM-UNKNOWN-DEVICE",
			fx: fixture{zone: withZone(cell, func(z *otaudit.Zone) {
				z.Register = append(register("10.1.0.5"), otaudit.RegisteredAsset{MAC: "00:1b:1b:02:e6:1f", Name: "cell switch"})
			}), obs: []otaudit.Observation{
				flow("10.1.0.5", "10.1.0.5", "modbus", 502, true),
				linkIdentity("00:18:ba:98:68:8f", "S1", "cisco WS-C3560-24TS"),
				linkIdentity("00:1b:1b:02:e6:1f", "X208", "SCALANCE X208"), // registered by MAC
			}},
			want: []string{"mac:00:18:ba:98:68:8f|"}, severity: otaudit.SeverityMedium,
			summary: []string{"MAC 00:18:ba:98:68:8f", `name "S1"`, "never sent from an address"}},
		{name: "no register is not assessed", check: "AM-UNKNOWN-DEVICE",
			fx:        fixture{zone: cell, obs: []otaudit.Observation{flow("10.1.0.9", "10.1.0.5", "modbus", 502, true)}},
			wantState: otaudit.CheckNotAssessed},
		{name: "device with no identity", check: "AM-NO-IDENTIFICATION",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				host("10.1.0.5", "02:00:00:00:00:05", "Schneider Electric"),
				host("10.1.0.6", "02:00:00:00:00:06", ""),
				flow("10.1.0.6", "10.1.0.5", "modbus", 502, true),
			}},
			want: []string{"ip:10.1.0.6|"}, severity: otaudit.SeverityLow, summary: []string{"has no registered OUI"}},
		{name: "identified devices", check: "AM-NO-IDENTIFICATION",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				host("10.1.0.5", "02:00:00:00:00:05", "Schneider Electric"),
				identity("10.1.0.6", "Wago", "750-881", "01.07.13"),
			}},
			wantState: otaudit.CheckPassed},
		{name: "register says Schneider, device says Siemens", check: "AM-REGISTER-MISMATCH",
			fx: fixture{zone: withZone(cell, func(z *otaudit.Zone) {
				z.Register = []otaudit.RegisteredAsset{{IP: addr("10.1.0.5"), Name: "PLC-1", Vendor: "Schneider Electric", Model: "M340", Firmware: "3.10"}}
			}), obs: []otaudit.Observation{identity("10.1.0.5", "Siemens AG", "CPU 1214C", "V4.2.1")}},
			want: []string{"ip:10.1.0.5|"}, severity: otaudit.SeverityMedium, summary: []string{`vendor "Schneider Electric", device reports "Siemens AG"`, "firmware"}},
		{name: "register matches with fuzzy vendor and firmware", check: "AM-REGISTER-MISMATCH",
			fx: fixture{zone: withZone(cell, func(z *otaudit.Zone) {
				z.Register = []otaudit.RegisteredAsset{{IP: addr("10.1.0.5"), Vendor: "Siemens", Model: "1214C", Firmware: "4.2"}}
			}), obs: []otaudit.Observation{identity("10.1.0.5", "Siemens AG", "CPU 1214C DC/DC/DC", "V4.2.1")}},
			wantState: otaudit.CheckPassed},
		{name: "two MACs for one address", check: "AM-DUPLICATE-IP",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				host("10.1.0.5", "02:00:00:00:00:05", ""),
				host("10.1.0.5", "02:00:00:00:00:66", ""),
			}},
			want: []string{"ip:10.1.0.5|"}, severity: otaudit.SeverityMedium, summary: []string{"2 MAC addresses"}},
		{name: "VRRP MAC beside the real one", check: "AM-DUPLICATE-IP",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				host("10.1.0.1", "02:00:00:00:00:01", ""),
				host("10.1.0.1", "00:00:5e:00:01:0a", ""),
			}},
			wantState: otaudit.CheckPassed},
		// SI
		{name: "PLC serves http and telnet to an outside client", check: "SI-INSECURE-MGMT-SERVICE-FIELD-DEVICE",
			fx: fixture{zone: cell, roles: plc, obs: []otaudit.Observation{
				flow("172.16.9.4", "10.1.0.5", "http", 80, true),
				flow("10.1.0.9", "10.1.0.5", "telnet", 23, true),
			}},
			want: []string{"ip:10.1.0.5|http", "ip:10.1.0.5|telnet"}, severity: otaudit.SeverityHigh, summary: []string{"including clients outside the zone"}},
		{name: "PLC serves https; http asked but not answered; HMI serves http", check: "SI-INSECURE-MGMT-SERVICE-FIELD-DEVICE",
			fx: fixture{zone: cell, roles: map[string]string{"10.1.0.5": "PLC", "10.1.0.8": "HMI"}, obs: []otaudit.Observation{
				flow("10.1.0.9", "10.1.0.5", "https", 443, true),
				flow("10.1.0.9", "10.1.0.5", "http", 80, false),
				flow("10.1.0.9", "10.1.0.8", "http", 80, true),
			}},
			wantState: otaudit.CheckPassed},
		{name: "PLC serves smb and announces llmnr", check: "SI-UNNECESSARY-SERVICE",
			fx: fixture{zone: cell, roles: plc, obs: []otaudit.Observation{
				flow("10.1.0.9", "10.1.0.5", "smb", 445, true),
				flow("10.1.0.5", "224.0.0.252", "llmnr", 5355, false),
			}},
			want: []string{"ip:10.1.0.5|llmnr", "ip:10.1.0.5|smb"}, severity: otaudit.SeverityLow},
		{name: "workstation smb is fine", check: "SI-UNNECESSARY-SERVICE",
			fx: fixture{zone: cell, roles: map[string]string{"10.1.0.5": "PLC", "10.1.0.9": "EWS"}, obs: []otaudit.Observation{
				flow("10.1.0.5", "10.1.0.9", "smb", 445, true),
			}},
			wantState: otaudit.CheckPassed},
		{name: "modbus over a conduit with SL-T(SI) 3 is high", check: "SI-CLEARTEXT-CONTROL-ACROSS-BOUNDARY",
			fx: fixture{zone: withZone(cell, func(z *otaudit.Zone) { z.Conduits[0].SLTarget = otaudit.SLVector{2, 2, 3, 1, 2, 2, 1} }), obs: []otaudit.Observation{
				flow("10.2.0.7", "10.1.0.5", "modbus", 502, true),
			}},
			want: []string{"ip:10.1.0.5|modbus|10.2.0.7"}, severity: otaudit.SeverityHigh, summary: []string{`conduit "scada-link"`}},
		{name: "modbus across the boundary at SL-T 2 is medium", check: "SI-CLEARTEXT-CONTROL-ACROSS-BOUNDARY",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				flow("10.2.0.7", "10.1.0.5", "modbus", 502, true),
			}},
			want: []string{"ip:10.1.0.5|modbus|10.2.0.7"}, severity: otaudit.SeverityMedium},
		{name: "modbus inside, opcua across", check: "SI-CLEARTEXT-CONTROL-ACROSS-BOUNDARY",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				flow("10.1.0.9", "10.1.0.5", "modbus", 502, true),
				flow("10.2.0.7", "10.1.0.30", "opcua", 4840, true),
			}},
			wantState: otaudit.CheckPassed},
		{name: "dnp3 across the boundary without Secure Authentication", check: "SI-CLEARTEXT-CONTROL-ACROSS-BOUNDARY",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				flow("10.2.0.7", "10.1.0.5", "dnp3", 20000, true),
				op("dnp3", "10.2.0.7", "10.1.0.5", otaudit.OpWrite, 5, "Direct Operate", 4),
				op("dnp3", "10.2.0.7", "10.1.0.9", otaudit.OpOther, 32, "Authentication Request", 2), // another outstation's
			}},
			want: []string{"ip:10.1.0.5|dnp3|10.2.0.7"}, severity: otaudit.SeverityMedium},
		{name: "dnp3 across the boundary with Secure Authentication", check: "SI-CLEARTEXT-CONTROL-ACROSS-BOUNDARY",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				flow("10.2.0.7", "10.1.0.5", "dnp3", 20000, true),
				op("dnp3", "10.2.0.7", "10.1.0.5", otaudit.OpWrite, 5, "Direct Operate", 4),
				op("dnp3", "10.2.0.7", "10.1.0.5", otaudit.OpOther, 32, "Authentication Request", 2),
			}},
			wantState: otaudit.CheckPassed},
		{name: "dnp3 outstation answering with Authentication Responses", check: "SI-CLEARTEXT-CONTROL-ACROSS-BOUNDARY",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				flow("10.1.0.5", "10.2.0.7", "dnp3", 20000, true), // the outstation opened the connection
				op("dnp3", "10.2.0.7", "10.1.0.5", otaudit.OpOther, 131, "Authentication Response", 3),
			}},
			wantState: otaudit.CheckPassed},
		{name: "cleartext control without a boundary", check: "SI-CLEARTEXT-CONTROL-ACROSS-BOUNDARY",
			fx:        fixture{zone: openZone(), obs: []otaudit.Observation{flow("10.2.0.7", "10.1.0.5", "modbus", 502, true)}},
			wantState: otaudit.CheckNotApplicable},
		// IM
		{name: "five failed telnet logins", check: "IM-LOGIN-BRUTEFORCE",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				withCount(cred("telnet", "10.1.0.66", "10.1.0.5", "admin", "hmac-sha256:01", false, "failure"), 3),
				withCount(cred("telnet", "10.1.0.66", "10.1.0.5", "root", "hmac-sha256:02", false, "failure"), 2),
			}},
			want: []string{"ip:10.1.0.5|10.1.0.66"}, severity: otaudit.SeverityHigh, summary: []string{"5 times", `"admin", "root"`}},
		{name: "four failed logins", check: "IM-LOGIN-BRUTEFORCE",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				withCount(cred("telnet", "10.1.0.66", "10.1.0.5", "admin", "hmac-sha256:01", false, "failure"), 4),
				withCount(cred("telnet", "10.1.0.66", "10.1.0.5", "admin", "hmac-sha256:03", false, "success"), 1),
			}},
			wantState: otaudit.CheckPassed},
		{name: "port scan", check: "IM-RECON-SCAN-DETECTED",
			fx:   fixture{zone: cell, obs: portScan("10.1.0.66", "10.1.0.5", 25)},
			want: []string{"ip:10.1.0.66|portscan|10.1.0.5"}, severity: otaudit.SeverityHigh, summary: []string{"probed 25 ports"}},
		{name: "polling many ports that answer is no scan", check: "IM-RECON-SCAN-DETECTED",
			fx:        fixture{zone: cell, obs: answered(portScan("10.1.0.66", "10.1.0.5", 25))},
			wantState: otaudit.CheckPassed},
	}
}

func TestEvaluators(t *testing.T) {
	for _, tc := range evaluatorCases() {
		t.Run(tc.check+"/"+tc.name, func(t *testing.T) {
			fs, res, _ := run(t, tc.fx, tc.check)
			var got []string
			for _, f := range fs {
				got = append(got, f.AssetKey+"|"+f.Key)
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("findings = %q, want %q", got, tc.want)
			}
			if tc.want == nil {
				want := tc.wantState
				if res.State != want {
					t.Fatalf("state = %s, want %s", res.State, want)
				}
				return
			}
			if res.State != otaudit.CheckFailed || res.Failing == 0 || res.InScope < res.Failing {
				t.Errorf("result = %+v, want FAIL with 0 < failing <= in scope", res)
			}
			f := fs[0]
			if f.Severity != tc.severity {
				t.Errorf("severity = %s, want %s (%s)", f.Severity, tc.severity, f.Summary)
			}
			for _, s := range tc.summary {
				if !strings.Contains(f.Summary, s) {
					t.Errorf("summary %q lacks %q", f.Summary, s)
				}
			}
			checkFindingShape(t, f, tc.fx.zone.Name)
		})
	}
}

// checkFindingShape asserts what every finding must carry.
func checkFindingShape(t *testing.T, f otaudit.Finding, zone string) {
	t.Helper()
	spec, _ := Lookup(f.CheckID)
	if f.ID != otaudit.FindingID(f.CheckID, f.AssetKey, f.Key) {
		t.Errorf("ID %s is not FindingID(check, asset, key)", f.ID)
	}
	if f.Title != spec.Title || f.Objective != spec.Objective || f.SubObjective != spec.SubObjective || f.Remediation != spec.Remediation {
		t.Errorf("finding does not carry the catalog's title/objective/remediation: %+v", f)
	}
	if f.Zone != zone || f.Status != otaudit.StatusOpen || f.Summary == "" ||
		!strings.HasPrefix(f.AssetKey, "ip:") && !strings.HasPrefix(f.AssetKey, "mac:") {
		t.Errorf("zone/status/summary/asset wrong: %+v", f)
	}
	if len(f.Evidence) == 0 || len(f.Refs.SR) != len(spec.Refs.SR) {
		t.Fatalf("finding lacks evidence or refs: %+v", f)
	}
	first, last := f.Evidence[0].FirstSeen, f.Evidence[0].LastSeen
	for _, e := range f.Evidence {
		if e.Source == "" || e.Kind == "" || e.Detail == "" || e.FirstFrame == 0 {
			t.Errorf("evidence incomplete: %+v", e)
		}
		if e.FirstSeen.Before(first) {
			first = e.FirstSeen
		}
		if e.LastSeen.After(last) {
			last = e.LastSeen
		}
	}
	if !f.FirstSeen.Equal(first) || !f.LastSeen.Equal(last) {
		t.Errorf("first/last seen %s/%s, evidence spans %s/%s", f.FirstSeen, f.LastSeen, first, last)
	}
}

func withCount(o otaudit.Observation, n int64) otaudit.Observation { o.Count = n; return o }

func portScan(client, server string, ports int) []otaudit.Observation {
	var out []otaudit.Observation
	for p := range ports {
		out = append(out, flow(client, server, "", uint16(1000+p), false))
	}
	return out
}

func answered(os []otaudit.Observation) []otaudit.Observation {
	for i := range os {
		f := *os[i].Flow
		f.ServerAnswered = true
		os[i].Flow = &f
	}
	return os
}

// A remote-session observation is one session whatever its packet count.
func TestRemoteSessionsCountSessionsNotPackets(t *testing.T) {
	s1 := session("rdp", "192.168.50.23", "10.1.0.20", 3389, 31*time.Second, true)
	s2 := session("rdp", "192.168.50.23", "10.1.0.20", 3389, 5*time.Second, true)
	s1.Count, s2.Count = 353, 40
	fs, _, _ := run(t, fixture{zone: cellZone(), obs: []otaudit.Observation{s1, s2}}, "AC-RA-EXTERNAL-DIRECT")
	if len(fs) != 1 || !strings.Contains(fs[0].Summary, "2 RDP sessions") {
		t.Fatalf("want one finding about 2 RDP sessions, got %+v", fs)
	}
}
