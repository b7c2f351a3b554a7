package checks

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otaudit/otaudit"
)

// Active-collector fixtures: what the SNMP and OPC UA collectors report.
// They carry no capture frame (FirstFrame 0) and their own source.

func active(kind otaudit.ObservationKind, source string, o otaudit.Observation) otaudit.Observation {
	o.Kind, o.Source, o.Count = kind, source, 1
	o.FirstSeen, o.LastSeen = t0, t0.Add(2*time.Second)
	return o
}

func snmpRead(target, version string, accepted, knownDefault bool, access string) otaudit.Observation {
	return active(otaudit.KindSNMPAccess, "snmp:"+target, otaudit.Observation{SNMPAccess: &otaudit.SNMPAccess{
		Target: addr(target), Version: version, Fingerprint: "hmac-sha256:5e5e", KnownDefault: knownDefault,
		Accepted: accepted, Access: access,
	}})
}

func snmpV3(target, user, level string, accepted bool, auth, priv string) otaudit.Observation {
	return active(otaudit.KindSNMPAccess, "snmp:"+target, otaudit.Observation{SNMPAccess: &otaudit.SNMPAccess{
		Target: addr(target), Version: "v3", User: user, SecurityLevel: level, Accepted: accepted,
		AuthProtocol: auth, PrivProtocol: priv, Access: "read",
	}})
}

const uaPolicy = "http://opcfoundation.org/UA/SecurityPolicy#"

func endpoint(server, policy, mode string, tokens ...otaudit.UserToken) otaudit.Observation {
	url := "opc.tcp://" + server + ":4840/" + policy + "-" + mode
	return active(otaudit.KindEndpoint, "opcua:"+server, otaudit.Observation{Endpoint: &otaudit.Endpoint{
		Protocol: "opcua", Server: addr(server), URL: url, SecurityPolicy: uaPolicy + policy, SecurityMode: mode,
		UserTokens: tokens,
	}})
}

func uaToken(typ, policy string) otaudit.UserToken {
	t := otaudit.UserToken{Type: typ}
	if policy != "" {
		t.SecurityPolicy = uaPolicy + policy
	}
	return t
}

// channelCert is a secure channel seen on the wire whose server signed it
// with c.
func channelCert(o otaudit.Observation, c otaudit.Certificate) otaudit.Observation {
	ch := *o.SecureChannel
	ch.ServerCertificate = &c
	o.SecureChannel = &ch
	return o
}

func withCert(o otaudit.Observation, c otaudit.Certificate) otaudit.Observation {
	ep := *o.Endpoint
	ep.Certificate = &c
	o.Endpoint = &ep
	return o
}

// goodCert is valid for a year either side of t0, CA-signed, RSA 2048 SHA-256.
func goodCert() otaudit.Certificate {
	return otaudit.Certificate{Subject: "CN=plc-ua", Issuer: "CN=Site CA", NotBefore: t0.AddDate(-1, 0, 0), NotAfter: t0.AddDate(1, 0, 0),
		KeyBits: 2048, SignatureAlgorithm: "SHA256-RSA", SHA256: "ab12"}
}

func probe(server, method, user string, knownDefault, accepted bool, writable, methods int) otaudit.Observation {
	return active(otaudit.KindLoginProbe, "opcua:"+server, otaudit.Observation{LoginProbe: &otaudit.LoginProbe{
		Protocol: "opcua", Server: addr(server), Endpoint: "opc.tcp://" + server + ":4840", Method: method, User: user,
		KnownDefault: knownDefault, Accepted: accepted, Sampled: 50, WritableNodes: writable, ExecutableMethods: methods,
	}})
}

// udp makes a fixture flow UDP (flow picks TCP for unnamed protocols).
func udp(o otaudit.Observation) otaudit.Observation {
	f := *o.Flow
	f.Transport = otaudit.UDP
	o.Flow = &f
	return o
}

// lasting stretches an observation over d, so that absence checks see a
// long enough capture.
func lasting(o otaudit.Observation, d time.Duration) otaudit.Observation {
	o.LastSeen = o.FirstSeen.Add(d)
	return o
}

func at(o otaudit.Observation, start time.Time) otaudit.Observation {
	r := *o.RemoteSession
	r.Start, r.End = start, start.Add(r.Duration())
	o.RemoteSession = &r
	return o
}

// wideZone spans 10.1.0.0/16, so that it has several /24s inside.
func wideZone() otaudit.Zone {
	z := cellZone()
	z.CIDRs = []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}
	return z
}

func withRegister(z otaudit.Zone, entries ...otaudit.RegisteredAsset) otaudit.Zone {
	z.Register = entries
	return z
}

func regRole(ip, role string) otaudit.RegisteredAsset {
	return otaudit.RegisteredAsset{IP: addr(ip), Role: role}
}

// window is a weekly maintenance window in UTC.
func window(day time.Weekday, from, to time.Duration) otaudit.MaintenanceWindow {
	return otaudit.MaintenanceWindow{Days: []time.Weekday{day}, Start: from, End: to}
}

// newEvaluatorCases are the positive and negative fixtures of the
// evaluators added for issue 5. t0 (2025-03-01 08:00 UTC) is a Saturday.
func newEvaluatorCases() []evalCase {
	cell := cellZone()
	snmp := []string{"snmp"}
	opcua := []string{"opcua"}
	plc := map[string]string{"10.1.0.5": "PLC"}
	logZone := withRegister(cell, regRole("10.1.0.50", "log_collector"), regRole("10.1.0.5", "PLC"), regRole("10.1.0.9", "HMI"))
	satMorning := withZone(cell, func(z *otaudit.Zone) {
		z.MaintenanceWindows = []otaudit.MaintenanceWindow{window(time.Saturday, 2*time.Hour, 6*time.Hour)}
	})
	return []evalCase{
		// AC-DEFAULT-SNMP-COMMUNITY (#1)
		{name: "default community accepted", check: "AC-DEFAULT-SNMP-COMMUNITY",
			fx:   fixture{zone: cell, collected: snmp, obs: []otaudit.Observation{snmpRead("10.1.0.5", "v2c", true, true, "read")}},
			want: []string{"ip:10.1.0.5|"}, severity: otaudit.SeverityHigh, summary: []string{"default community", "v2c"}},
		{name: "default community with write access is critical", check: "AC-DEFAULT-SNMP-COMMUNITY",
			fx:   fixture{zone: cell, collected: snmp, obs: []otaudit.Observation{snmpRead("10.1.0.5", "v1", true, true, "write")}},
			want: []string{"ip:10.1.0.5|"}, severity: otaudit.SeverityCritical, summary: []string{"also has write access"}},
		{name: "default refused, site community accepted", check: "AC-DEFAULT-SNMP-COMMUNITY",
			fx: fixture{zone: cell, collected: snmp, obs: []otaudit.Observation{
				snmpRead("10.1.0.5", "v2c", false, true, ""), snmpRead("10.1.0.5", "v2c", true, false, "read"),
				snmpRead("172.16.9.4", "v2c", true, true, "read"), // outside the zone
			}},
			wantState: otaudit.CheckPassed},
		// AC-SNMP-WRITE-COMMUNITY (#2)
		{name: "community with write access", check: "AC-SNMP-WRITE-COMMUNITY",
			fx:   fixture{zone: cell, collected: snmp, obs: []otaudit.Observation{snmpRead("10.1.0.5", "v2c", true, false, "write")}},
			want: []string{"ip:10.1.0.5|hmac-sha256:5e5e"}, severity: otaudit.SeverityCritical, summary: []string{"write access to a site community"}},
		{name: "read-only community", check: "AC-SNMP-WRITE-COMMUNITY",
			fx:        fixture{zone: cell, collected: snmp, obs: []otaudit.Observation{snmpRead("10.1.0.5", "v2c", true, true, "read"), snmpRead("10.1.0.6", "v2c", false, true, "write")}},
			wantState: otaudit.CheckPassed},
		// AC-SNMPV3-WEAK-SECURITY-LEVEL (#4)
		{name: "noAuthNoPriv accepted", check: "AC-SNMPV3-WEAK-SECURITY-LEVEL",
			fx:   fixture{zone: cell, collected: snmp, obs: []otaudit.Observation{snmpV3("10.1.0.5", "monitor", "noAuthNoPriv", true, "", "")}},
			want: []string{"ip:10.1.0.5|monitor"}, severity: otaudit.SeverityHigh, summary: []string{`user "monitor" at noAuthNoPriv`}},
		{name: "noAuthNoPriv refused", check: "AC-SNMPV3-WEAK-SECURITY-LEVEL",
			fx: fixture{zone: cell, collected: snmp, obs: []otaudit.Observation{
				snmpV3("10.1.0.5", "monitor", "noAuthNoPriv", false, "", ""), snmpV3("10.1.0.5", "monitor", "authPriv", true, "SHA", "AES"),
			}},
			wantState: otaudit.CheckPassed},
		// DC-SNMPV3-NO-PRIVACY (#42)
		{name: "authNoPriv accepted", check: "DC-SNMPV3-NO-PRIVACY",
			fx:   fixture{zone: cell, collected: snmp, obs: []otaudit.Observation{snmpV3("10.1.0.5", "monitor", "authNoPriv", true, "SHA", "")}},
			want: []string{"ip:10.1.0.5|user:monitor"}, severity: otaudit.SeverityMedium, summary: []string{"travels unencrypted"}},
		{name: "authPriv with MD5 and DES is low", check: "DC-SNMPV3-NO-PRIVACY",
			fx:   fixture{zone: cell, collected: snmp, obs: []otaudit.Observation{snmpV3("10.1.0.5", "legacy", "authPriv", true, "MD5", "DES")}},
			want: []string{"ip:10.1.0.5|user:legacy"}, severity: otaudit.SeverityLow, summary: []string{"MD5/DES"}},
		{name: "authPriv with SHA-1 and AES is low", check: "DC-SNMPV3-NO-PRIVACY",
			fx:   fixture{zone: cell, collected: snmp, obs: []otaudit.Observation{snmpV3("10.1.0.5", "legacy", "authPriv", true, "SHA", "AES")}},
			want: []string{"ip:10.1.0.5|user:legacy"}, severity: otaudit.SeverityLow, summary: []string{"SHA/AES"}},
		{name: "authNoPriv on the wire from outside", check: "DC-SNMPV3-NO-PRIVACY",
			fx:   fixture{zone: cell, obs: []otaudit.Observation{channel("snmp", "172.16.9.4", "10.1.0.5", "v3 authNoPriv", false)}},
			want: []string{"ip:10.1.0.5|manager:172.16.9.4"}, severity: otaudit.SeverityMedium, summary: []string{"across the zone boundary"}},
		{name: "authPriv with SHA and AES", check: "DC-SNMPV3-NO-PRIVACY",
			fx: fixture{zone: cell, collected: []string{"snmp", "pcap"}, obs: []otaudit.Observation{
				snmpV3("10.1.0.5", "monitor", "authPriv", true, "SHA-256", "AES"),
				channel("snmp", "10.1.0.9", "10.1.0.5", "v3 authPriv", true),
				channel("snmp", "10.1.0.9", "10.1.0.5", "v3 noAuthNoPriv", false), // engine-ID discovery
			}},
			wantState: otaudit.CheckPassed},
		// AC-OPCUA-ANONYMOUS-ACCESS (#5)
		{name: "endpoint offers Anonymous", check: "AC-OPCUA-ANONYMOUS-ACCESS",
			fx:   fixture{zone: cell, collected: opcua, obs: []otaudit.Observation{endpoint("10.1.0.30", "Basic256Sha256", "SignAndEncrypt", uaToken("Anonymous", ""), uaToken("UserName", ""))}},
			want: []string{"ip:10.1.0.30|"}, severity: otaudit.SeverityHigh, summary: []string{"offers the Anonymous user token"}},
		{name: "anonymous session that can write is critical", check: "AC-OPCUA-ANONYMOUS-ACCESS",
			fx:   fixture{zone: cell, collected: opcua, obs: []otaudit.Observation{probe("10.1.0.30", "anonymous", "", false, true, 3, 0)}},
			want: []string{"ip:10.1.0.30|"}, severity: otaudit.SeverityCritical, summary: []string{"anonymous session was activated", "could write"}},
		{name: "Anonymous offered but the session is refused", check: "AC-OPCUA-ANONYMOUS-ACCESS",
			fx: fixture{zone: cell, collected: opcua, obs: []otaudit.Observation{
				endpoint("10.1.0.30", "Basic256Sha256", "SignAndEncrypt", uaToken("Anonymous", "")),
				probe("10.1.0.30", "anonymous", "", false, false, 0, 0),
				endpoint("10.1.0.31", "Basic256Sha256", "SignAndEncrypt", uaToken("UserName", "")),
			}},
			wantState: otaudit.CheckPassed},
		// AC-OPCUA-DEFAULT-CREDENTIALS (#6)
		{name: "default password accepted", check: "AC-OPCUA-DEFAULT-CREDENTIALS",
			fx:   fixture{zone: cell, collected: opcua, obs: []otaudit.Observation{probe("10.1.0.30", "password", "admin", true, true, 0, 0)}},
			want: []string{"ip:10.1.0.30|admin"}, severity: otaudit.SeverityCritical, summary: []string{`user "admin"`}},
		{name: "default refused, configured account accepted", check: "AC-OPCUA-DEFAULT-CREDENTIALS",
			fx: fixture{zone: cell, collected: opcua, obs: []otaudit.Observation{
				probe("10.1.0.30", "password", "admin", true, false, 0, 0), probe("10.1.0.30", "password", "operator", false, true, 0, 0),
			}},
			wantState: otaudit.CheckPassed},
		// AC-OPCUA-USERTOKEN-UNPROTECTED (#7)
		{name: "user name on an endpoint without security", check: "AC-OPCUA-USERTOKEN-UNPROTECTED",
			fx: fixture{zone: cell, collected: []string{"opcua", "pcap"}, obs: []otaudit.Observation{
				endpoint("10.1.0.30", "None", "None", uaToken("UserName", "")),
				channel("opcua", "10.2.0.7", "10.1.0.30", uaPolicy+"None", false),
			}},
			want: []string{"ip:10.1.0.30|opc.tcp://10.1.0.30:4840/None-None"}, severity: otaudit.SeverityHigh,
			summary: []string{"passwords would travel in clear text", "clients outside the zone"}},
		{name: "user name token encrypted on its own, or only on secure endpoints", check: "AC-OPCUA-USERTOKEN-UNPROTECTED",
			fx: fixture{zone: cell, collected: opcua, obs: []otaudit.Observation{
				endpoint("10.1.0.30", "None", "None", uaToken("UserName", "Basic256Sha256"), uaToken("Anonymous", "")),
				endpoint("10.1.0.30", "Basic256Sha256", "SignAndEncrypt", uaToken("UserName", "")),
			}},
			wantState: otaudit.CheckPassed},
		// AC-OPCUA-ANONYMOUS-WRITE (#21)
		{name: "anonymous session may write", check: "AC-OPCUA-ANONYMOUS-WRITE",
			fx:   fixture{zone: cell, collected: opcua, obs: []otaudit.Observation{probe("10.1.0.30", "anonymous", "", false, true, 4, 1)}},
			want: []string{"ip:10.1.0.30|"}, severity: otaudit.SeverityCritical, summary: []string{"may write 4 and execute 1 of 50"}},
		{name: "anonymous session is read-only", check: "AC-OPCUA-ANONYMOUS-WRITE",
			fx: fixture{zone: cell, collected: opcua, obs: []otaudit.Observation{
				probe("10.1.0.30", "anonymous", "", false, true, 0, 0), probe("10.1.0.31", "anonymous", "", false, false, 9, 9),
			}},
			wantState: otaudit.CheckPassed},
		// DC-OPCUA-MESSAGEMODE-SIGN-ONLY (#37)
		{name: "sign only", check: "DC-OPCUA-MESSAGEMODE-SIGN-ONLY",
			fx:   fixture{zone: cell, collected: opcua, obs: []otaudit.Observation{endpoint("10.1.0.30", "Basic256Sha256", "Sign")}},
			want: []string{"ip:10.1.0.30|"}, severity: otaudit.SeverityLow},
		{name: "sign only used from outside is medium", check: "DC-OPCUA-MESSAGEMODE-SIGN-ONLY",
			fx: fixture{zone: cell, collected: []string{"opcua", "pcap"}, obs: []otaudit.Observation{
				endpoint("10.1.0.30", "Basic256Sha256", "Sign"), flow("10.2.0.7", "10.1.0.30", "opcua", 4840, true),
			}},
			want: []string{"ip:10.1.0.30|"}, severity: otaudit.SeverityMedium, summary: []string{"clients outside the zone use it"}},
		{name: "sign and encrypt offered too", check: "DC-OPCUA-MESSAGEMODE-SIGN-ONLY",
			fx: fixture{zone: cell, collected: opcua, obs: []otaudit.Observation{
				endpoint("10.1.0.30", "Basic256Sha256", "Sign"), endpoint("10.1.0.30", "Basic256Sha256", "SignAndEncrypt"),
			}},
			wantState: otaudit.CheckPassed},
		// DC-OPCUA-DEPRECATED-POLICY (#38)
		{name: "Basic128Rsa15 offered beside Basic256Sha256", check: "DC-OPCUA-DEPRECATED-POLICY",
			fx: fixture{zone: cell, collected: opcua, obs: []otaudit.Observation{
				endpoint("10.1.0.30", "Basic128Rsa15", "SignAndEncrypt"), endpoint("10.1.0.30", "Basic256Sha256", "SignAndEncrypt"),
			}},
			want: []string{"ip:10.1.0.30|"}, severity: otaudit.SeverityMedium, summary: []string{"offers Basic128Rsa15"}},
		{name: "only Basic256 offered is high", check: "DC-OPCUA-DEPRECATED-POLICY",
			fx:   fixture{zone: cell, collected: opcua, obs: []otaudit.Observation{endpoint("10.1.0.30", "Basic256", "SignAndEncrypt")}},
			want: []string{"ip:10.1.0.30|"}, severity: otaudit.SeverityHigh, summary: []string{"offers no SHA-256 policy"}},
		{name: "deprecated channel on the wire", check: "DC-OPCUA-DEPRECATED-POLICY",
			fx:   fixture{zone: cell, obs: []otaudit.Observation{channel("opcua", "10.1.0.9", "10.1.0.30", uaPolicy+"Basic128Rsa15", true)}},
			want: []string{"ip:10.1.0.30|"}, severity: otaudit.SeverityMedium, summary: []string{"opened secure channels", "not read"}},
		{name: "only SHA-256 policies", check: "DC-OPCUA-DEPRECATED-POLICY",
			fx: fixture{zone: cell, collected: []string{"opcua", "pcap"}, obs: []otaudit.Observation{
				endpoint("10.1.0.30", "Basic256Sha256", "SignAndEncrypt"), endpoint("10.1.0.30", "None", "None"),
				channel("opcua", "10.1.0.9", "10.1.0.30", uaPolicy+"Aes256_Sha256_RsaPss", true),
			}},
			wantState: otaudit.CheckPassed},
		// DC-OPCUA-CERT-EXPIRED-OR-INVALID (#39)
		{name: "expired certificate", check: "DC-OPCUA-CERT-EXPIRED-OR-INVALID",
			fx: fixture{zone: cell, collected: opcua, obs: []otaudit.Observation{withCert(endpoint("10.1.0.30", "Basic256Sha256", "SignAndEncrypt"),
				func() otaudit.Certificate { c := goodCert(); c.NotAfter = t0.AddDate(0, 0, -3); return c }())}},
			want: []string{"ip:10.1.0.30|sha256:ab12"}, severity: otaudit.SeverityMedium, summary: []string{"expired on 2025-02-26"}},
		{name: "certificate not yet valid", check: "DC-OPCUA-CERT-EXPIRED-OR-INVALID",
			fx: fixture{zone: cell, collected: opcua, obs: []otaudit.Observation{withCert(endpoint("10.1.0.30", "Basic256Sha256", "SignAndEncrypt"),
				func() otaudit.Certificate { c := goodCert(); c.NotBefore = t0.AddDate(0, 1, 0); return c }())}},
			want: []string{"ip:10.1.0.30|sha256:ab12"}, severity: otaudit.SeverityMedium, summary: []string{"not valid before 2025-04-01"}},
		{name: "valid certificate", check: "DC-OPCUA-CERT-EXPIRED-OR-INVALID",
			fx:        fixture{zone: cell, collected: opcua, obs: []otaudit.Observation{withCert(endpoint("10.1.0.30", "Basic256Sha256", "SignAndEncrypt"), goodCert())}},
			wantState: otaudit.CheckPassed},
		// DC-OPCUA-CERT-SELF-SIGNED (#40)
		{name: "self-signed certificate", check: "DC-OPCUA-CERT-SELF-SIGNED",
			fx: fixture{zone: cell, collected: opcua, obs: []otaudit.Observation{withCert(endpoint("10.1.0.30", "Basic256Sha256", "SignAndEncrypt"),
				func() otaudit.Certificate { c := goodCert(); c.SelfSigned, c.Issuer = true, c.Subject; return c }())}},
			want: []string{"ip:10.1.0.30|sha256:ab12"}, severity: otaudit.SeverityLow, summary: []string{`self-signed certificate "CN=plc-ua"`}},
		{name: "CA-signed certificate", check: "DC-OPCUA-CERT-SELF-SIGNED",
			fx:        fixture{zone: cell, collected: opcua, obs: []otaudit.Observation{withCert(endpoint("10.1.0.30", "Basic256Sha256", "SignAndEncrypt"), goodCert())}},
			wantState: otaudit.CheckPassed},
		{name: "self-signed certificate seen on the wire only", check: "DC-OPCUA-CERT-SELF-SIGNED",
			fx: fixture{zone: cell, collected: []string{"pcap"}, obs: []otaudit.Observation{channelCert(channel("opcua", "10.1.0.9", "10.1.0.30", uaPolicy+"Basic256Sha256", true),
				func() otaudit.Certificate { c := goodCert(); c.SelfSigned, c.Issuer = true, c.Subject; return c }())}},
			want: []string{"ip:10.1.0.30|sha256:ab12"}, severity: otaudit.SeverityLow, summary: []string{`self-signed certificate "CN=plc-ua" in a secure channel seen on the wire`}},
		{name: "the same certificate read and seen: one finding", check: "DC-OPCUA-CERT-SELF-SIGNED",
			fx: fixture{zone: cell, collected: []string{"opcua", "pcap"}, obs: []otaudit.Observation{
				withCert(endpoint("10.1.0.30", "Basic256Sha256", "SignAndEncrypt"), func() otaudit.Certificate { c := goodCert(); c.SelfSigned = true; return c }()),
				channelCert(channel("opcua", "10.1.0.9", "10.1.0.30", uaPolicy+"Basic256Sha256", true), func() otaudit.Certificate { c := goodCert(); c.SelfSigned = true; return c }()),
			}},
			want: []string{"ip:10.1.0.30|sha256:ab12"}, severity: otaudit.SeverityLow, summary: []string{"on opc.tcp://10.1.0.30:4840/Basic256Sha256-SignAndEncrypt"}},
		{name: "certificate of a server outside the zone, seen on the wire", check: "DC-OPCUA-CERT-SELF-SIGNED",
			fx: fixture{zone: cell, collected: []string{"pcap"}, obs: []otaudit.Observation{channelCert(channel("opcua", "10.1.0.9", "192.0.2.30", uaPolicy+"Basic256Sha256", true),
				func() otaudit.Certificate { c := goodCert(); c.SelfSigned = true; return c }())}},
			wantState: otaudit.CheckNotAssessed},
		{name: "active collector ran, no certificate anywhere", check: "DC-OPCUA-CERT-SELF-SIGNED",
			fx:        fixture{zone: cell, collected: []string{"opcua", "pcap"}, obs: []otaudit.Observation{endpoint("10.1.0.30", "None", "None")}},
			wantState: otaudit.CheckNotApplicable},
		{name: "expired certificate seen on the wire", check: "DC-OPCUA-CERT-EXPIRED-OR-INVALID",
			fx: fixture{zone: cell, collected: []string{"pcap"}, obs: []otaudit.Observation{channelCert(channel("opcua", "10.1.0.9", "10.1.0.30", uaPolicy+"Basic256Sha256", true),
				func() otaudit.Certificate { c := goodCert(); c.NotAfter = t0.AddDate(0, 0, -3); return c }())}},
			want: []string{"ip:10.1.0.30|sha256:ab12"}, severity: otaudit.SeverityMedium, summary: []string{"expired on 2025-02-26"}},
		// DC-OPCUA-CERT-WEAK-CRYPTO (#41)
		{name: "1024-bit key seen on the wire", check: "DC-OPCUA-CERT-WEAK-CRYPTO",
			fx: fixture{zone: cell, collected: []string{"pcap"}, obs: []otaudit.Observation{channelCert(channel("opcua", "10.1.0.9", "10.1.0.30", uaPolicy+"Basic256Sha256", true),
				func() otaudit.Certificate { c := goodCert(); c.KeyBits = 1024; return c }())}},
			want: []string{"ip:10.1.0.30|sha256:ab12"}, severity: otaudit.SeverityMedium, summary: []string{"1024-bit key (minimum 2048)"}},
		{name: "1024-bit key", check: "DC-OPCUA-CERT-WEAK-CRYPTO",
			fx: fixture{zone: cell, collected: opcua, obs: []otaudit.Observation{withCert(endpoint("10.1.0.30", "Basic128Rsa15", "SignAndEncrypt"),
				func() otaudit.Certificate { c := goodCert(); c.KeyBits = 1024; return c }())}},
			want: []string{"ip:10.1.0.30|sha256:ab12"}, severity: otaudit.SeverityMedium, summary: []string{"1024-bit key (minimum 2048)"}},
		{name: "SHA-1 signature", check: "DC-OPCUA-CERT-WEAK-CRYPTO",
			fx: fixture{zone: cell, collected: opcua, obs: []otaudit.Observation{withCert(endpoint("10.1.0.30", "Basic256Sha256", "SignAndEncrypt"),
				func() otaudit.Certificate { c := goodCert(); c.SignatureAlgorithm = "SHA1-RSA"; return c }())}},
			want: []string{"ip:10.1.0.30|sha256:ab12"}, severity: otaudit.SeverityMedium, summary: []string{"signature SHA1-RSA"}},
		{name: "RSA 2048 SHA-256 and EC P-256", check: "DC-OPCUA-CERT-WEAK-CRYPTO",
			fx: fixture{zone: cell, collected: opcua, obs: []otaudit.Observation{
				withCert(endpoint("10.1.0.30", "Basic256Sha256", "SignAndEncrypt"), goodCert()),
				withCert(endpoint("10.1.0.31", "ECC_nistP256", "SignAndEncrypt"), func() otaudit.Certificate {
					c := goodCert()
					c.KeyBits, c.SignatureAlgorithm, c.SHA256 = 256, "ECDSA-SHA256", "cd34"
					return c
				}()),
			}},
			wantState: otaudit.CheckPassed},
		// DC-TFTP-CONFIG-OR-FIRMWARE-TRANSFER (#43)
		{name: "TFTP to a PLC", check: "DC-TFTP-CONFIG-OR-FIRMWARE-TRANSFER",
			fx:   fixture{zone: cell, roles: plc, obs: []otaudit.Observation{flow("10.1.0.9", "10.1.0.5", "tftp", 69, true)}},
			want: []string{"ip:10.1.0.5|10.1.0.9"}, severity: otaudit.SeverityHigh, summary: []string{"as server", "file names are not decoded"}},
		{name: "PLC fetches from a TFTP server", check: "DC-TFTP-CONFIG-OR-FIRMWARE-TRANSFER",
			fx:   fixture{zone: cell, roles: plc, obs: []otaudit.Observation{flow("10.1.0.5", "172.16.9.4", "tftp", 69, false)}},
			want: []string{"ip:10.1.0.5|172.16.9.4"}, severity: otaudit.SeverityHigh, summary: []string{"as client", "no answer seen", "across the zone boundary"}},
		{name: "TFTP between workstations", check: "DC-TFTP-CONFIG-OR-FIRMWARE-TRANSFER",
			fx: fixture{zone: cell, roles: plc, obs: []otaudit.Observation{
				flow("10.1.0.9", "10.1.0.5", "modbus", 502, true), flow("10.1.0.9", "10.1.0.10", "tftp", 69, true),
			}},
			wantState: otaudit.CheckPassed},
		// AM-DUPLICATE-MAC (#51)
		{name: "one MAC in two subnets of the zone", check: "AM-DUPLICATE-MAC",
			fx: fixture{zone: wideZone(), obs: []otaudit.Observation{
				host("10.1.0.5", "02:00:00:00:00:05", ""), host("10.1.7.5", "02:00:00:00:00:05", ""), host("10.1.0.9", "02:00:00:00:00:09", ""),
			}},
			want: []string{"ip:10.1.0.5|02:00:00:00:00:05"}, severity: otaudit.SeverityMedium, summary: []string{"10.1.0.5, 10.1.7.5, in 2 different subnets"}},
		{name: "routed traffic and same-subnet aliases", check: "AM-DUPLICATE-MAC",
			fx: fixture{zone: withRegister(wideZone(), regRole("10.1.3.1", "router")), obs: []otaudit.Observation{
				// The boundary router: its own address and a host outside the zone.
				host("10.1.0.1", "02:00:00:00:00:01", ""), host("172.16.9.4", "02:00:00:00:00:01", ""),
				// An inside router whose forwarded host was also seen with its own MAC.
				host("10.1.0.2", "02:00:00:00:00:02", ""), host("10.1.5.7", "02:00:00:00:00:02", ""), host("10.1.5.7", "02:00:00:00:00:57", ""),
				// A registered router.
				host("10.1.3.1", "02:00:00:00:00:03", ""), host("10.1.4.8", "02:00:00:00:00:03", ""),
				// A gateway forwarding for many hosts.
				host("10.1.6.1", "02:00:00:00:00:06", ""), host("10.1.8.2", "02:00:00:00:00:06", ""), host("10.1.9.3", "02:00:00:00:00:06", ""),
				host("10.1.10.4", "02:00:00:00:00:06", ""), host("10.1.11.5", "02:00:00:00:00:06", ""),
				// Two addresses in one /24, and a VRRP MAC.
				host("10.1.0.20", "02:00:00:00:00:20", ""), host("10.1.0.21", "02:00:00:00:00:20", ""),
				host("10.1.0.254", "00:00:5e:00:01:01", ""), host("10.1.2.254", "00:00:5e:00:01:01", ""),
			}},
			wantState: otaudit.CheckPassed},
		{name: "NAT gateway and a router for several hosts of one subnet", check: "AM-DUPLICATE-MAC",
			fx: fixture{zone: openZone(), obs: []otaudit.Observation{
				host("192.168.1.101", "02:00:00:00:00:01", ""), host("89.250.85.38", "02:00:00:00:00:01", ""),
				host("192.168.11.33", "02:00:00:00:00:02", ""), host("192.168.11.34", "02:00:00:00:00:02", ""),
				host("192.168.224.102", "02:00:00:00:00:02", ""),
			}},
			wantState: otaudit.CheckPassed},
		// IM-NO-LOG-FORWARDING (#58)
		{name: "PLC sends no logs", check: "IM-NO-LOG-FORWARDING",
			fx: fixture{zone: logZone, roles: plc, obs: []otaudit.Observation{
				lasting(flow("10.1.0.9", "10.1.0.5", "modbus", 502, true), 25*time.Hour), flow("10.1.0.9", "10.1.0.50", "syslog", 514, false),
			}},
			want: []string{"ip:10.1.0.5|"}, severity: otaudit.SeverityMedium, summary: []string{"log collector (10.1.0.50)"}},
		{name: "every asset forwards", check: "IM-NO-LOG-FORWARDING",
			fx: fixture{zone: logZone, roles: plc, obs: []otaudit.Observation{
				lasting(flow("10.1.0.9", "10.1.0.5", "modbus", 502, true), 25*time.Hour), flow("10.1.0.9", "10.1.0.50", "syslog", 514, false),
				flow("10.1.0.5", "10.1.0.50", "snmp-trap", 162, false), flow("10.1.0.66", "10.1.0.99", "", 5555, false),
			}},
			// 10.1.0.66 sent only to 10.1.0.99, which never answered: 10.1.0.66 is
			// in scope and fails; 10.1.0.99 sent nothing and is out of scope.
			want: []string{"ip:10.1.0.66|"}, severity: otaudit.SeverityMedium},
		{name: "all senders forward", check: "IM-NO-LOG-FORWARDING",
			fx: fixture{zone: logZone, roles: plc, obs: []otaudit.Observation{
				lasting(flow("10.1.0.9", "10.1.0.5", "modbus", 502, true), 25*time.Hour), flow("10.1.0.9", "10.1.0.50", "", 6514, true),
				flow("10.1.0.5", "10.1.0.50", "snmp-trap", 162, false),
			}},
			wantState: otaudit.CheckPassed},
		{name: "no log collector registered", check: "IM-NO-LOG-FORWARDING",
			fx:        fixture{zone: withRegister(cell, regRole("10.1.0.5", "PLC")), obs: []otaudit.Observation{flow("10.1.0.9", "10.1.0.5", "modbus", 502, true)}},
			wantState: otaudit.CheckNotAssessed},
		{name: "capture shorter than a day", check: "IM-NO-LOG-FORWARDING",
			fx:        fixture{zone: logZone, roles: plc, obs: []otaudit.Observation{lasting(flow("10.1.0.9", "10.1.0.5", "modbus", 502, true), 23*time.Hour)}},
			wantState: otaudit.CheckNotAssessed},
		// IM-NO-TIME-SYNC (#59)
		{name: "PLC without NTP", check: "IM-NO-TIME-SYNC",
			fx: fixture{zone: cell, roles: plc, obs: []otaudit.Observation{
				lasting(flow("10.1.0.9", "10.1.0.5", "modbus", 502, true), 2*time.Hour), flow("10.1.0.9", "10.1.0.1", "ntp", 123, true),
			}},
			want: []string{"ip:10.1.0.5|"}, severity: otaudit.SeverityMedium, summary: []string{"no NTP or PTP"}},
		{name: "NTP client, NTP server and PTP", check: "IM-NO-TIME-SYNC",
			fx: fixture{zone: cell, roles: plc, obs: []otaudit.Observation{
				lasting(flow("10.1.0.9", "10.1.0.5", "modbus", 502, true), 2*time.Hour), flow("10.1.0.9", "10.1.0.1", "ntp", 123, true),
				udp(flow("10.1.0.5", "224.0.1.129", "", 319, false)), // PTP by port
			}},
			wantState: otaudit.CheckPassed},
		{name: "capture shorter than an hour", check: "IM-NO-TIME-SYNC",
			fx:        fixture{zone: cell, roles: plc, obs: []otaudit.Observation{lasting(flow("10.1.0.9", "10.1.0.5", "modbus", 502, true), 50*time.Minute)}},
			wantState: otaudit.CheckNotAssessed},
		// AC-RA-OUTSIDE-APPROVED-WINDOW (#29)
		{name: "remote session on Saturday morning after the window", check: "AC-RA-OUTSIDE-APPROVED-WINDOW",
			fx:   fixture{zone: satMorning, obs: []otaudit.Observation{session("rdp", "172.16.9.4", "10.1.0.20", 3389, time.Hour, true)}},
			want: []string{"ip:10.1.0.20|rdp|172.16.9.4"}, severity: otaudit.SeverityMedium, summary: []string{"Sat 2025-03-01 08:00Z"}},
		{name: "remote session inside the window, local session outside it", check: "AC-RA-OUTSIDE-APPROVED-WINDOW",
			fx: fixture{zone: satMorning, obs: []otaudit.Observation{
				at(session("rdp", "172.16.9.4", "10.1.0.20", 3389, time.Hour, true), t0.Add(-3*time.Hour)),
				session("vnc", "10.1.0.9", "10.1.0.20", 5900, time.Hour, true),
			}},
			wantState: otaudit.CheckPassed},
		{name: "no maintenance windows declared", check: "AC-RA-OUTSIDE-APPROVED-WINDOW",
			fx:        fixture{zone: cell, obs: []otaudit.Observation{session("rdp", "172.16.9.4", "10.1.0.20", 3389, time.Hour, true)}},
			wantState: otaudit.CheckNotAssessed},
		// AC-SHARED-ACCOUNT-MANY-USERS (#14)
		{name: "engineer logs in from three hosts", check: "AC-SHARED-ACCOUNT-MANY-USERS",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				cred("ftp", "10.1.0.9", "10.1.0.5", "engineer", "hmac-sha256:e1", false, "success"),
				cred("ftp", "10.1.0.10", "10.1.0.5", "engineer", "hmac-sha256:e1", false, ""),
				cred("telnet", "10.1.0.11", "10.1.0.5", "Engineer", "hmac-sha256:e1", false, "success"),
			}},
			want: []string{"ip:10.1.0.5|engineer"}, severity: otaudit.SeverityMedium, summary: []string{"from 3 client hosts"}},
		{name: "two clients, a failure and a jump host", check: "AC-SHARED-ACCOUNT-MANY-USERS",
			fx: fixture{zone: withZone(cell, func(z *otaudit.Zone) { z.JumpHosts = []netip.Prefix{netip.MustParsePrefix("10.1.0.200/32")} }), obs: []otaudit.Observation{
				cred("ftp", "10.1.0.9", "10.1.0.5", "engineer", "hmac-sha256:e1", false, "success"),
				cred("ftp", "10.1.0.10", "10.1.0.5", "engineer", "hmac-sha256:e1", false, "success"),
				cred("ftp", "10.1.0.11", "10.1.0.5", "engineer", "hmac-sha256:e2", false, "failure"),
				cred("ftp", "10.1.0.200", "10.1.0.5", "engineer", "hmac-sha256:e1", false, "success"),
				cred("ftp", "10.1.0.12", "10.1.0.6", "engineer", "hmac-sha256:e1", false, "success"),
			}},
			wantState: otaudit.CheckPassed},
		// AC-GENERAL-PURPOSE-COMMS-IN-OT (#34)
		{name: "HMI sends e-mail", check: "AC-GENERAL-PURPOSE-COMMS-IN-OT",
			fx:   fixture{zone: cell, obs: []otaudit.Observation{flow("10.1.0.9", "172.16.9.25", "smtp", 25, true)}},
			want: []string{"ip:10.1.0.9|e-mail (SMTP)"}, severity: otaudit.SeverityMedium, summary: []string{"person-to-person"}},
		{name: "IMAP recognised by port only", check: "AC-GENERAL-PURPOSE-COMMS-IN-OT",
			fx:   fixture{zone: cell, obs: []otaudit.Observation{flow("10.1.0.9", "172.16.9.25", "", 993, false)}},
			want: []string{"ip:10.1.0.9|e-mail (IMAP)"}, severity: otaudit.SeverityMedium, summary: []string{"no answer seen"}},
		{name: "web and control traffic only", check: "AC-GENERAL-PURPOSE-COMMS-IN-OT",
			fx: fixture{zone: cell, obs: []otaudit.Observation{
				flow("10.1.0.9", "10.1.0.5", "modbus", 502, true), flow("10.1.0.9", "172.16.9.25", "https", 443, true),
				flow("172.16.9.25", "10.2.0.9", "smtp", 25, true), // not from the zone
			}},
			wantState: otaudit.CheckPassed},
	}
}

func TestNewEvaluators(t *testing.T) {
	for _, tc := range newEvaluatorCases() {
		t.Run(tc.check+"/"+tc.name, func(t *testing.T) {
			fs, res, _ := run(t, tc.fx, tc.check)
			var got []string
			for _, f := range fs {
				got = append(got, f.AssetKey+"|"+f.Key)
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("findings = %q, want %q (%s: %s)", got, tc.want, res.State, res.Reason)
			}
			if tc.want == nil {
				if res.State != tc.wantState {
					t.Fatalf("state = %s (%s), want %s", res.State, res.Reason, tc.wantState)
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
			checkAnyFindingShape(t, f, tc.fx.zone.Name)
		})
	}
}

// checkAnyFindingShape is checkFindingShape for findings that may rest on
// active evidence, which has no capture frame but must be described.
func checkAnyFindingShape(t *testing.T, f otaudit.Finding, zone string) {
	t.Helper()
	passive := true
	for _, e := range f.Evidence {
		passive = passive && strings.HasPrefix(e.Source, "pcap:")
	}
	if passive {
		checkFindingShape(t, f, zone)
		return
	}
	spec, _ := Lookup(f.CheckID)
	if f.ID != otaudit.FindingID(f.CheckID, f.AssetKey, f.Key) || f.Title != spec.Title || f.Zone != zone || f.Status != otaudit.StatusOpen {
		t.Errorf("finding header wrong: %+v", f)
	}
	if len(f.Evidence) == 0 {
		t.Fatal("finding without evidence")
	}
	for _, e := range f.Evidence {
		if e.Source == "" || e.Kind == "" || e.Server == "" || strings.Contains(e.Detail, "without detail") {
			t.Errorf("evidence not described: %+v", e)
		}
		if strings.HasPrefix(e.Source, "pcap:") && e.FirstFrame == 0 {
			t.Errorf("capture evidence without a frame: %+v", e)
		}
	}
	if f.FirstSeen.IsZero() || f.LastSeen.Before(f.FirstSeen) {
		t.Errorf("first/last seen %s/%s", f.FirstSeen, f.LastSeen)
	}
}

// testedElsewhere are evaluators whose positive and negative cases live in
// a dedicated test function rather than in the tables.
var testedElsewhere = map[string]string{
	"AM-FIRMWARE-CHANGED":          "TestFirmwareChanged",
	"AM-NEW-DEVICE-SINCE-BASELINE": "TestNewDeviceSinceBaseline",
}

// TestEveryEvaluatorHasBothCases: the catalog has at least 45 implemented
// checks, and every registered evaluator has a case that fails it and one
// that does not.
func TestEveryEvaluatorHasBothCases(t *testing.T) {
	if n := len(rules); n < 45 {
		t.Errorf("%d implemented checks, want at least 45", n)
	}
	positive, negative := map[string]int{}, map[string]int{}
	for _, tc := range slices.Concat(evaluatorCases(), newEvaluatorCases()) {
		if _, ok := rules[tc.check]; !ok {
			t.Errorf("case %q is for %s, which has no evaluator", tc.name, tc.check)
		}
		if tc.want != nil {
			positive[tc.check]++
		} else {
			negative[tc.check]++
		}
	}
	bodies := testFunctionBodies(t)
	for _, id := range Evaluators() {
		if fn, ok := testedElsewhere[id]; ok {
			body, found := bodies[fn]
			if !found || !strings.Contains(body, `"`+id+`"`) || !strings.Contains(body, "CheckFailed") || !strings.Contains(body, "CheckPassed") {
				t.Errorf("%s: %s is missing or does not assert both a failure and a pass of it", id, fn)
			}
			continue
		}
		if positive[id] == 0 || negative[id] == 0 {
			t.Errorf("%s has %d positive and %d negative cases, want at least one of each", id, positive[id], negative[id])
		}
	}
}

// testFunctionBodies returns the source of every top-level function in the
// package's test files, by name.
func testFunctionBodies(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	fset := token.NewFileSet()
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Body != nil {
				out[fn.Name.Name] = string(src[fset.Position(fn.Body.Pos()).Offset:fset.Position(fn.Body.End()).Offset])
			}
		}
	}
	return out
}

// Active checks are NOT_ASSESSED in a passive scan, never passed.
func TestActiveChecksNeedTheirCollector(t *testing.T) {
	fx := fixture{zone: cellZone(), obs: []otaudit.Observation{
		flow("10.1.0.9", "10.1.0.5", "snmp", 161, true), flow("10.1.0.9", "10.1.0.30", "opcua", 4840, true),
	}}
	rep := Evaluate(fx.input())
	state := map[string]otaudit.CheckState{}
	for _, r := range rep.Results {
		state[r.CheckID] = r.State
	}
	for _, id := range []string{"AC-DEFAULT-SNMP-COMMUNITY", "AC-SNMP-WRITE-COMMUNITY", "AC-SNMPV3-WEAK-SECURITY-LEVEL",
		"AC-OPCUA-ANONYMOUS-ACCESS", "AC-OPCUA-DEFAULT-CREDENTIALS", "AC-OPCUA-USERTOKEN-UNPROTECTED", "AC-OPCUA-ANONYMOUS-WRITE",
		"DC-OPCUA-MESSAGEMODE-SIGN-ONLY", "DC-OPCUA-CERT-EXPIRED-OR-INVALID", "DC-OPCUA-CERT-SELF-SIGNED", "DC-OPCUA-CERT-WEAK-CRYPTO"} {
		if state[id] != otaudit.CheckNotAssessed {
			t.Errorf("%s in a pcap-only scan: %s, want NOT_ASSESSED", id, state[id])
		}
	}
	// The certificate checks read the wire too, but this capture showed no
	// certificate: still NOT_ASSESSED (checked above), with the reason.
	if r := rep.Reasons["DC-OPCUA-CERT-SELF-SIGNED"]; !strings.Contains(r, "no secure channel in the capture was signed") {
		t.Errorf("DC-OPCUA-CERT-SELF-SIGNED reason %q", r)
	}
	// Checks that read the wire as well stay assessed.
	for _, id := range []string{"DC-OPCUA-DEPRECATED-POLICY", "DC-SNMPV3-NO-PRIVACY"} {
		if state[id] == otaudit.CheckNotAssessed {
			t.Errorf("%s is NOT_ASSESSED although pcap ran: %s", id, rep.Reasons[id])
		}
	}
	// And the passive checks whose other sources are not implemented are
	// NOT_ASSESSED in an active-only scan, rather than failing every device.
	fx.collected = []string{"snmp", "opcua"}
	rep = Evaluate(fx.input())
	for _, r := range rep.Results {
		switch r.CheckID {
		case "IM-NO-TIME-SYNC", "AM-DUPLICATE-MAC", "AC-RA-OUTSIDE-APPROVED-WINDOW":
			if r.State != otaudit.CheckNotAssessed {
				t.Errorf("%s in an active-only scan: %s, want NOT_ASSESSED", r.CheckID, r.State)
			}
		}
	}
}

// The boundary part of a disproof set follows the evidence: a v3
// authNoPriv exchange from outside disproves SR 4.1 RE1, one inside does not.
func TestSNMPv3NoPrivacyDisprovesOnTheBoundaryOnly(t *testing.T) {
	disproves := func(client string) []string {
		fs, _, _ := run(t, fixture{zone: cellZone(), obs: []otaudit.Observation{channel("snmp", client, "10.1.0.5", "v3 authNoPriv", false)}}, "DC-SNMPV3-NO-PRIVACY")
		if len(fs) != 1 {
			t.Fatalf("%d findings, want 1", len(fs))
		}
		var ids []string
		for _, x := range fs[0].Refs.Disproves {
			ids = append(ids, x.ID)
		}
		return ids
	}
	if got := disproves("172.16.9.4"); !slices.Equal(got, []string{"SR 4.1 RE1"}) {
		t.Errorf("from outside: disproves %v, want [SR 4.1 RE1]", got)
	}
	if got := disproves("10.1.0.9"); len(got) != 0 {
		t.Errorf("from inside: disproves %v, want nothing", got)
	}
}

// Certificate expiry is judged at Input.Now when it is set, not at the
// time of the evidence.
func TestCertificateExpiryUsesInputNow(t *testing.T) {
	fx := fixture{zone: cellZone(), collected: []string{"opcua"}, obs: []otaudit.Observation{
		withCert(endpoint("10.1.0.30", "Basic256Sha256", "SignAndEncrypt"), goodCert()),
	}}
	in := fx.input()
	in.Now = t0.AddDate(2, 0, 0)
	var got []string
	for _, f := range Evaluate(in).Findings {
		if f.CheckID == "DC-OPCUA-CERT-EXPIRED-OR-INVALID" {
			got = append(got, f.Summary)
		}
	}
	if len(got) != 1 || !strings.Contains(got[0], "expired on 2026-03-01") || !strings.Contains(got[0], "2027-03-01") {
		t.Errorf("findings two years later = %q, want one saying the certificate expired on 2026-03-01", got)
	}
}

// Active evidence is described, not left as "observation without detail",
// and carries no secret.
func TestActiveEvidenceIsDescribed(t *testing.T) {
	for _, o := range []otaudit.Observation{
		snmpRead("10.1.0.5", "v2c", true, true, "write"),
		snmpV3("10.1.0.5", "monitor", "authNoPriv", true, "SHA", ""),
		withCert(endpoint("10.1.0.30", "None", "None", uaToken("UserName", "")), goodCert()),
		probe("10.1.0.30", "password", "admin", true, true, 2, 1),
	} {
		e, ok := describeActive(o)
		if !ok || e.Server == "" || e.Source == "" || e.Kind != string(o.Kind) {
			t.Errorf("describeActive(%s) = %+v, %v", o.Kind, e, ok)
		}
		if want := map[otaudit.ObservationKind]string{
			otaudit.KindSNMPAccess: "accepted", otaudit.KindEndpoint: "policy None mode None", otaudit.KindLoginProbe: `user "admin" known default true accepted`,
		}[o.Kind]; !strings.Contains(e.Detail, want) {
			t.Errorf("%s evidence %q lacks %q", o.Kind, e.Detail, want)
		}
		if strings.Contains(strings.ToLower(e.Detail), "password:") {
			t.Errorf("evidence detail %q looks like it carries a secret", e.Detail)
		}
	}
	e, _ := describeActive(snmpRead("10.1.0.5", "v2c", true, true, "write"))
	if !strings.Contains(e.Detail, "hmac-sha256:5e5e") || !strings.Contains(e.Detail, "known default true") || !strings.Contains(e.Detail, "access write") {
		t.Errorf("SNMP evidence %q lacks fingerprint, default flag or access", e.Detail)
	}
	e, _ = describeActive(withCert(endpoint("10.1.0.30", "None", "None", uaToken("UserName", "")), goodCert()))
	if !strings.Contains(e.Detail, "policy None mode None") || !strings.Contains(e.Detail, "UserName(inherits)") || !strings.Contains(e.Detail, "2048-bit") {
		t.Errorf("endpoint evidence %q lacks policy, tokens or key size", e.Detail)
	}
	if _, ok := describeActive(flow("10.1.0.9", "10.1.0.5", "modbus", 502, true)); ok {
		t.Error("describeActive claimed a flow")
	}
}
