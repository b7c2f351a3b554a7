package pcap

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/otaudit/otaudit"
)

func TestIsWireGuardExactSizes(t *testing.T) {
	msg := func(typ byte, n int) []byte {
		b := make([]byte, n)
		b[0] = typ
		return b
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"initiation", msg(1, 148), true},
		{"initiation one byte short", msg(1, 147), false},
		{"response", msg(2, 92), true},
		{"cookie reply", msg(3, 64), true},
		{"keepalive transport", msg(4, 32), true},
		{"transport with data", msg(4, 32+64), true},
		{"transport not a multiple of 16", msg(4, 40), false},
		{"reserved not zero", append([]byte{1, 0, 1, 0}, make([]byte, 144)...), false},
		{"type 5", msg(5, 148), false},
	} {
		if got := isWireGuard(tc.b); got != tc.want {
			t.Errorf("%s: isWireGuard = %v", tc.name, got)
		}
	}
}

func TestIsIKE(t *testing.T) {
	h := make([]byte, 28)
	binary.BigEndian.PutUint64(h, 0x1122334455667788)
	h[17] = 0x20 // IKEv2
	h[18] = 34   // IKE_SA_INIT
	binary.BigEndian.PutUint32(h[24:], 28)
	if v, ok := isIKE(h); !ok || v != 2 {
		t.Errorf("IKEv2 header: %d %v", v, ok)
	}
	binary.BigEndian.PutUint32(h[24:], 29)
	if _, ok := isIKE(h); ok {
		t.Error("length not matching the datagram accepted")
	}
}

func TestDigestUsername(t *testing.T) {
	v := []byte(`username="operator", realm="plc", nonce="abc", uri="/", response="0123"`)
	if got := digestUsername(v); got != "operator" {
		t.Errorf("user %q", got)
	}
	if got := digestUsername([]byte(`realm="x"`)); got != "" {
		t.Errorf("user %q without username", got)
	}
}

func TestHTTPDigestKeepsUserOnly(t *testing.T) {
	a := newAnalysis("t", testJudge, discardLogger(), 16)
	h := &httpStream{}
	c := &conn{}
	f := frameInfo{index: 1}
	req := []byte("GET / HTTP/1.1\r\nHost: plc\r\nAuthorization: Digest username=\"eng\", realm=\"r\", response=\"5ecret\"\r\n\r\n")
	h.data(a, c, toServer, req, &f)
	h.data(a, c, toClient, []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), &f)
	if len(a.creds) != 1 {
		t.Fatalf("%d credentials", len(a.creds))
	}
	for _, g := range a.creds {
		if g.cred.Protocol != "http-digest" || g.cred.User != "eng" || g.cred.Fingerprint != "" || !g.success {
			t.Errorf("credential %+v success=%v", g.cred, g.success)
		}
		if bytes.Contains([]byte(g.cred.Detail+g.cred.User), []byte("5ecret")) {
			t.Error("digest response kept")
		}
	}
}

func TestSNMPOperationsSharedCaptures(t *testing.T) {
	dir := sharedPcaps(t)
	type opc struct{ req, resp int64 }
	for file, want := range map[string]map[string]opc{
		// EXPECTED.md: 200 requests and 200 responses; tshark decodes 7
		// v1 traps (frames 8-12 use PDU tags no SNMP version defines).
		"snmp_v2c_walk_public.pcap": {"GetNextRequest": {200, 200}},
		"snmp_v1_trap_public.pcap":  {"Trap (v1)": {7, 0}},
	} {
		r := analyzeShared(t, dir, file)
		got := map[string]opc{}
		for _, o := range r.Observations {
			if o.Kind == otaudit.KindOperation && o.Operation.Protocol == "snmp" {
				v := got[o.Operation.Name]
				v.req += o.Operation.Requests
				v.resp += o.Operation.Responses
				got[o.Operation.Name] = v
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s: operations %v, want %v", file, got, want)
		}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("%s: %s = %+v, want %+v", file, k, got[k], w)
			}
		}
	}
	r := analyzeShared(t, dir, "snmp_v2c_walk_public.pcap")
	found := false
	for _, o := range r.Observations {
		if o.Kind == otaudit.KindIdentity && o.Identity.Method == "snmp-passive" {
			found = o.Identity.IP.String() == "138.68.10.203" && o.Identity.Name == "ubuntu-512mb-sfo2-01" &&
				o.Identity.ProductCode == ".1.3.6.1.4.1.8072.3.2.10"
		}
	}
	if !found {
		t.Error("no sysName/sysObjectID identity for the agent 138.68.10.203")
	}
}

// The TeamViewer capture has a UDP conversation tshark's heuristic calls
// WireGuard; it is not on 51820 and its sizes are not WireGuard's.
func TestNoVPNSessionInTeamViewerCapture(t *testing.T) {
	dir := sharedPcaps(t)
	r := analyzeShared(t, dir, "teamviewer_session.pcap")
	for _, o := range r.Observations {
		if o.Kind == otaudit.KindRemoteSession {
			switch o.RemoteSession.Protocol {
			case "wireguard", "ike", "openvpn":
				t.Errorf("VPN session reported: %+v", o.RemoteSession)
			}
		}
	}
}
