package opcua

import (
	"encoding/json"
	"net/netip"
	"os"
	"testing"
)

// TestLivePeer probes a real OPC UA server named by OTAUDIT_OPCUA_PEER
// (ip:port, e.g. the testbed's node-opcua started on 127.0.0.1) and checks
// the testbed's configuration: anonymous access over None, admin/admin
// accepted, BuildInfo read, and nothing outside the plan sent. Skipped
// when the variable is not set: the zone's integration suite covers it in
// CI.
func TestLivePeer(t *testing.T) {
	peer := os.Getenv("OTAUDIT_OPCUA_PEER")
	if peer == "" {
		t.Skip("OTAUDIT_OPCUA_PEER not set: no live OPC UA server to probe")
	}
	ap, err := netip.ParseAddrPort(peer)
	if err != nil {
		t.Fatalf("OTAUDIT_OPCUA_PEER=%q: %v", peer, err)
	}
	l := testLimits()
	l.CredentialGuessing = true
	l.MaxAttemptsPerDevice = 3
	p := New(Config{Ports: []uint16{ap.Port()}, Logins: Logins(nil), Logger: testLogger(t)})
	res := runProber(t, p, ap.Addr(), l)
	if testing.Verbose() {
		for _, o := range res.obs {
			b, _ := json.Marshal(o)
			t.Logf("%s", b)
		}
		for _, e := range res.ledger {
			t.Logf("ledger %s %s", e.Kind, e.Detail)
		}
	}
	if len(res.report.Errors) > 0 {
		t.Errorf("device errors: %+v", res.report.Errors)
	}
	assertLedgerWithinPlan(t, res)
	if n := len(res.of("endpoint")); n == 0 {
		t.Errorf("no endpoints")
	}
	var anon, admin bool
	for _, o := range res.of("login_probe") {
		lp := o.LoginProbe
		if lp.Method == "anonymous" && lp.Accepted {
			anon = true
		}
		if lp.User == "admin" && lp.Accepted && lp.KnownDefault {
			admin = true
		}
	}
	if !anon || !admin {
		t.Errorf("anonymous accepted %v, admin/admin accepted %v", anon, admin)
	}
	var build bool
	for _, o := range res.of("identity") {
		if o.Identity.Method == "opcua-buildinfo" && o.Identity.Vendor != "" {
			build = true
		}
	}
	if !build {
		t.Errorf("no BuildInfo identity")
	}
}
