package pcap

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/otaudit/otaudit"
)

// knownSecrets are the passwords and communities the public captures carry
// (published test data). They let the tests prove the right secret was
// recovered (by fingerprint) and that it appears nowhere in clear.
var knownSecrets = map[string][]string{
	"telnet_multi_session_tacacs.pcap":  {"capture", "barrymanilow", "user"},
	"ftp_anonymous_login_download.pcap": {"NcFTP@"},
	"http_basic_auth.pcap":              {"fail2"},
	"http_basic_auth_extra_space.pcap":  {"1234"},
}

type wantCred struct {
	proto, client, user, secret, outcome string
	knownDefault                         bool
}

var wantCredentials = map[string][]wantCred{
	"telnet_multi_session_tacacs.pcap": {
		{"telnet", "192.168.1.140", "test", "capture", "success", false},
		{"telnet", "10.100.18.5", "admin", "barrymanilow", "success", false},
		{"telnet", "192.168.0.2", "fake", "user", "success", false},
	},
	"ftp_anonymous_login_download.pcap": {{"ftp", "192.168.1.212", "anonymous", "NcFTP@", "success", false}},
	"http_basic_auth.pcap":              {{"http-basic", "192.168.0.4", "test", "fail2", "failure", false}},
	"http_basic_auth_extra_space.pcap":  {{"http-basic", "172.24.133.205", "test", "1234", "success", false}},
	"snmp_v2c_walk_public.pcap":         {{"snmp", "138.68.14.240", "", "public", "", true}},
	"snmp_v1_trap_public.pcap":          {{"snmp", "192.168.0.2", "", "public", "", true}},
}

func TestSharedCapturesCredentials(t *testing.T) {
	dir := sharedPcaps(t)
	for file, wants := range wantCredentials {
		t.Run(file, func(t *testing.T) {
			r := analyzeShared(t, dir, file)
			var creds []*otaudit.Credential
			for _, o := range r.Observations {
				if o.Kind == otaudit.KindCredential {
					creds = append(creds, o.Credential)
				}
			}
			for _, w := range wants {
				fp, _ := testJudge.Judge(w.proto, []byte(w.secret))
				found := false
				for _, c := range creds {
					if c.Protocol == w.proto && c.Client.String() == w.client && c.User == w.user && c.Fingerprint == fp {
						found = true
						if c.Outcome != w.outcome || c.KnownDefault != w.knownDefault {
							t.Errorf("%s %s user %q: outcome %q default %v, want %q %v", w.proto, w.client, w.user, c.Outcome, c.KnownDefault, w.outcome, w.knownDefault)
						}
					}
				}
				if !found {
					t.Errorf("no %s credential from %s for user %q with the expected fingerprint; got %+v", w.proto, w.client, w.user, creds)
				}
			}
			values := jsonStrings(t, r)
			for _, s := range knownSecrets[file] {
				for _, v := range values {
					if strings.Contains(v, s) {
						t.Errorf("secret %q appears in clear in the result: %q", s, v)
					}
				}
			}
		})
	}
}

type wantSession struct {
	proto, client, server string
	port                  uint16
	encrypted             bool
	detail                string // substring
}

var wantSessions = map[string][]wantSession{
	"rdp_session_mstshash_cookie.pcap": {
		{"rdp", "172.21.128.16", "10.226.24.52", 3389, false, `mstshash=FTBCO\A70`},
		{"rdp", "172.21.128.16", "10.226.24.52", 3389, false, `mstshash=FTBCO\A70`},
	},
	"vnc_session_port6900.pcapng": {
		{"vnc", "95.237.48.208", "192.168.2.110", 6900, false, "RFB 004.001"},
		{"vnc", "95.237.48.208", "192.168.2.110", 6900, false, "RFB 004.001"},
	},
	"ssh_session.pcapng": {
		{"ssh", "127.0.0.1", "127.0.0.1", 8000, true, "SSH-2.0-APACHE-SSHD-2.5.0"}, // nDPI finds it too; tshark does not (port 8000)
		{"ssh", "172.16.238.1", "172.16.238.168", 22, true, "server SSH-2.0-OpenSSH_5.3"},
	},
	"ssh_single_connection.pcap": {{"ssh", "192.150.186.169", "131.159.14.23", 22, true, "SSH-1.99-OpenSSH_3.9p1"}},
	"teamviewer_session.pcap":    {{"teamviewer", "10.0.2.15", "162.250.2.170", 5938, true, ""}},
	// AnyDesk over TLS on 80 and 443 is told by its certificates (AnyNet
	// Relay under AnyNet Root CA; "AnyDesk Client"): nDPI's reference
	// classifies the same two connections TLS.AnyDesk, tshark by port only.
	"anydesk_sessions.pcapng": {
		{"anydesk", "192.168.1.128", "195.181.174.176", 443, true, "CN=AnyNet Relay,O=philandro Software GmbH"},
		{"anydesk", "192.168.1.178", "192.168.1.187", 7070, true, "TLS 1.2 TLS_RSA_WITH_AES_256_GCM_SHA384, server certificate CN=AnyDesk Client"},
		{"anydesk", "192.168.1.187", "192.168.1.178", 7070, true, "TLS 1.2 TLS_DHE_RSA_WITH_AES_256_GCM_SHA384, server certificate CN=AnyDesk Client"},
		{"anydesk", "192.168.149.129", "51.83.238.219", 80, true, "CN=AnyNet Relay,O=philandro Software GmbH"},
	},
}

func TestSharedCapturesSessions(t *testing.T) {
	dir := sharedPcaps(t)
	for file, wants := range wantSessions {
		t.Run(file, func(t *testing.T) {
			r := analyzeShared(t, dir, file)
			var got []*otaudit.RemoteSession
			for _, o := range r.Observations {
				if o.Kind == otaudit.KindRemoteSession {
					got = append(got, o.RemoteSession)
				}
			}
			if len(got) != len(wants) {
				t.Fatalf("%d sessions, want %d: %+v", len(got), len(wants), got)
			}
			for i, w := range wants {
				g := got[i]
				if g.Protocol != w.proto || g.Client.String() != w.client || g.Server.String() != w.server || g.ServerPort != w.port ||
					g.Encrypted != w.encrypted || !strings.Contains(g.Detail, w.detail) {
					t.Errorf("session %d = %+v, want %+v", i, *g, w)
				}
				if g.End.Before(g.Start) || g.BytesToServer+g.BytesToClient == 0 {
					t.Errorf("session %d has no span or no bytes: %+v", i, *g)
				}
			}
		})
	}
	// Telnet sessions: the eight connections tshark lists.
	r := analyzeShared(t, dir, "telnet_multi_session_tacacs.pcap")
	n := 0
	for _, o := range r.Observations {
		if o.Kind == otaudit.KindRemoteSession && o.RemoteSession.Protocol == "telnet" {
			n++
			if o.RemoteSession.Encrypted {
				t.Error("telnet session marked encrypted")
			}
		}
	}
	if n != 8 {
		t.Errorf("telnet sessions = %d, want 8", n)
	}
}

func TestSharedCapturesSecureChannels(t *testing.T) {
	dir := sharedPcaps(t)
	want := map[string][]string{
		"opcua_handshake_sessions.pcapng": {
			"opcua 192.168.11.33 -> 192.168.11.34 policy=http://opcfoundation.org/UA/SecurityPolicy#None endpoint=opc.tcp://192.168.11.34:4840 protected=false",
		},
		"opcua_encrypted_basic256sha256.pcapng": {
			"opcua 127.0.0.1 -> 127.0.0.1 policy=http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256 endpoint=opc.tcp://localhost:4840/freeopcua/server/ protected=true",
			"opcua 127.0.0.1 -> 127.0.0.1 policy=http://opcfoundation.org/UA/SecurityPolicy#None endpoint=opc.tcp://localhost:4840/freeopcua/server/ protected=false",
		},
		"snmp_v3_get_next.pcap":     {"snmp 127.0.0.1 -> 127.0.0.1 policy=v3 noAuthNoPriv endpoint=- protected=false"},
		"snmp_v2c_walk_public.pcap": {"snmp 138.68.14.240 -> 138.68.10.203 policy=v2c endpoint=- protected=false"},
		"snmp_v1_trap_public.pcap":  {"snmp 192.168.0.2 -> 192.168.0.1 policy=v1 endpoint=- protected=false"},
	}
	// The server's OpenSecureChannel response under Basic256Sha256 carries
	// its certificate (tshark: opcua.security.scert in frame 33).
	r := analyzeShared(t, dir, "opcua_encrypted_basic256sha256.pcapng")
	certs := 0
	for _, o := range observations(r, otaudit.KindSecureChannel) {
		ch := o.SecureChannel
		c := ch.ServerCertificate
		if c == nil {
			continue
		}
		certs++
		if !strings.HasSuffix(ch.Policy, "#Basic256Sha256") || c.Subject != "CN=python-opcua.example.org" || c.Issuer != c.Subject || !c.SelfSigned ||
			c.KeyBits != 2048 || c.NotBefore.Format(time.DateOnly) != "2016-01-04" || c.NotAfter.Format(time.DateOnly) != "2025-09-23" {
			t.Errorf("server certificate on %s: %+v", ch.Policy, c)
		}
	}
	if certs != 1 {
		t.Errorf("%d channels with a server certificate in the encrypted OPC UA capture, want 1", certs)
	}
	for file, w := range want {
		t.Run(file, func(t *testing.T) {
			got := summarize(file, analyzeShared(t, dir, file)).SecureChannels
			for _, line := range w {
				if !strings.Contains(strings.Join(got, "\n"), line) {
					t.Errorf("missing secure channel %q; got %q", line, got)
				}
			}
		})
	}
}

// jsonStrings returns every string value (not key) of r marshalled to JSON.
func jsonStrings(t *testing.T, r *Result) []string {
	t.Helper()
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(js, &v); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			out = append(out, x)
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}
