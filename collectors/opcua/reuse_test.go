package opcua

import (
	"crypto/x509"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/collectors/active"
)

// strongCert is a server certificate that can protect a password under
// Basic256Sha256, so that the fake's user-name token is tried.
func strongCert(t *testing.T) []byte {
	t.Helper()
	now := time.Now().UTC()
	der, _, _ := makeCert(t, certSpec{Bits: 2048, SigAlg: x509.SHA256WithRSA, From: now.Add(-time.Hour), To: now.Add(time.Hour), Subject: "strong"}, nil, nil)
	return der
}

// passwordProbes are the run's user-name LoginProbes, in order.
func passwordProbes(r runResult) []*otaudit.LoginProbe {
	var out []*otaudit.LoginProbe
	for _, o := range r.of(otaudit.KindLoginProbe) {
		if o.LoginProbe.Method == "password" {
			out = append(out, o.LoginProbe)
		}
	}
	return out
}

// TestOneChannelPerPort: on a server whose endpoint is None/None, the
// discovery channel carries everything — the GetEndpoints on the
// advertised URL, the anonymous session and every login — and is closed
// once, at the end: one connection, one Hello, one OpenSecureChannel.
func TestOneChannelPerPort(t *testing.T) {
	f := startFakeServer(t, strongCert(t))
	l := testLimits()
	l.CredentialGuessing, l.MaxAttemptsPerDevice = true, 3
	p := New(Config{Ports: []uint16{f.port}, Logins: Logins(nil), Logger: testLogger(t)})
	res := runProber(t, p, loopback, l)
	if len(res.report.Errors) != 0 {
		t.Fatalf("device errors: %+v", res.report.Errors)
	}
	assertLedgerWithinPlan(t, res)

	session := []string{"CreateSession", "ActivateSession"}
	want := append([]string{"GetEndpoints", "FindServers", "GetEndpoints"}, session...)
	want = append(want, "Read", "Browse", "Read", "CloseSession")
	for range 3 {
		want = append(want, "CreateSession", "ActivateSession", "CloseSession")
	}
	conns := f.connections()
	if len(conns) != 1 {
		t.Fatalf("the server saw %d connections, want 1: %q", len(conns), conns)
	}
	if !slices.Equal(conns[0], want) {
		t.Errorf("requests on the one channel:\n got %q\nwant %q", conns[0], want)
	}
	k := res.kinds()
	if res.connects() != 1 || k[kindHello] != 1 || k[kindOpenSecureChannel] != 1 || k[kindCloseSecureChannel] != 1 {
		t.Errorf("ledger: %d connect, %d hello, %d open, %d close secure channel; want one each",
			res.connects(), k[kindHello], k[kindOpenSecureChannel], k[kindCloseSecureChannel])
	}
	if last := res.ledger[len(res.ledger)-1]; last.Kind != kindCloseSecureChannel {
		t.Errorf("last request %s %q: the channel is closed after the last login", last.Kind, last.Detail)
	}
	logins := passwordProbes(res)
	if len(logins) != 3 {
		t.Fatalf("%d logins, want 3 (MaxAttemptsPerDevice)", len(logins))
	}
	for _, lp := range logins {
		if lp.Accepted || !strings.Contains(lp.Detail, "BadUserAccessDenied") {
			t.Errorf("login %+v: want refused with Bad_UserAccessDenied", lp)
		}
	}
	// The ledger names each session's requests after the login they are for.
	for _, e := range res.ledger {
		if e.Kind == kindActivateSession && !strings.Contains(e.Detail, "anonymous") && !strings.Contains(e.Detail, "login user") {
			t.Errorf("activate-session with detail %q", e.Detail)
		}
	}
}

// TestAnonymousOnDiscoveryChannel: with guessing off, the anonymous session
// runs on the None discovery channel, after its GetEndpoints.
func TestAnonymousOnDiscoveryChannel(t *testing.T) {
	f := startFakeServer(t, strongCert(t))
	p := New(Config{Ports: []uint16{f.port}, Logins: Logins(nil), Logger: testLogger(t)})
	res := runProber(t, p, loopback, testLimits())
	assertLedgerWithinPlan(t, res)
	conns := f.connections()
	if len(conns) != 1 || !slices.Contains(conns[0], "GetEndpoints") || !slices.Contains(conns[0], "ActivateSession") {
		t.Fatalf("connections %q: want discovery and the anonymous session on one", conns)
	}
	var anon *otaudit.LoginProbe
	for _, o := range res.of(otaudit.KindLoginProbe) {
		anon = o.LoginProbe
	}
	if anon == nil || !anon.Accepted || anon.Sampled != 3 || anon.WritableNodes != 1 {
		t.Errorf("anonymous probe %+v", anon)
	}
}

// TestLoginsReconnectAfterDrop: a server that ends the channel after every
// refused login gets a new channel for the next attempt, within the plan,
// until the logins' channels are used up; each attempt is still one
// LoginProbe with the server's answer.
func TestLoginsReconnectAfterDrop(t *testing.T) {
	f := startFakeServerWith(t, strongCert(t), fakeBehaviour{dropAfterDenied: true})
	l := testLimits()
	l.CredentialGuessing, l.MaxAttemptsPerDevice = true, 5
	p := New(Config{Ports: []uint16{f.port}, Logins: Logins(nil), Logger: testLogger(t)})
	res := runProber(t, p, loopback, l)
	if len(res.report.Errors) != 0 {
		t.Fatalf("device errors: %+v", res.report.Errors)
	}
	assertLedgerWithinPlan(t, res)
	// The first attempt on the discovery channel, then one per new
	// channel, loginChannels of them; then the attempts stop.
	wantAttempts := 1 + loginChannels
	logins := passwordProbes(res)
	if len(logins) != wantAttempts {
		t.Errorf("%d login attempts, want %d", len(logins), wantAttempts)
	}
	for _, lp := range logins {
		if lp.Accepted || !strings.Contains(lp.Detail, "BadUserAccessDenied") {
			t.Errorf("login %+v: want refused with Bad_UserAccessDenied", lp)
		}
	}
	if n := len(f.connections()); n != wantAttempts {
		t.Errorf("the server saw %d connections, want %d", n, wantAttempts)
	}
	if res.connects() != wantAttempts {
		t.Errorf("ledger has %d tcp connect, want %d", res.connects(), wantAttempts)
	}
}

// TestSessionAskedAgainAfterDrop: a server that ends the held channel
// when the first login's CreateSession arrives (no password sent yet) gets
// that CreateSession again on a new channel; the attempt is not lost.
func TestSessionAskedAgainAfterDrop(t *testing.T) {
	f := startFakeServerWith(t, strongCert(t), fakeBehaviour{dropOnSession: 2})
	l := testLimits()
	l.CredentialGuessing, l.MaxAttemptsPerDevice = true, 2
	p := New(Config{Ports: []uint16{f.port}, Logins: Logins(nil), Logger: testLogger(t)})
	res := runProber(t, p, loopback, l)
	if len(res.report.Errors) != 0 {
		t.Fatalf("device errors: %+v", res.report.Errors)
	}
	assertLedgerWithinPlan(t, res)
	logins := passwordProbes(res)
	if len(logins) != 2 {
		t.Fatalf("%d login attempts, want 2", len(logins))
	}
	for _, lp := range logins {
		if !strings.Contains(lp.Detail, "BadUserAccessDenied") {
			t.Errorf("login %+v: want the server's answer, not the dropped channel", lp)
		}
	}
	conns := f.connections()
	if len(conns) != 2 {
		t.Fatalf("the server saw %d connections, want 2: %q", len(conns), conns)
	}
	if got := conns[1][0]; got != "CreateSession" {
		t.Errorf("the new channel starts with %s, want the CreateSession asked again", got)
	}
	if k := res.kinds(); k[kindCreateSession] != 1+2+sessionRetries {
		t.Errorf("%d create-session, want %d: anonymous, two logins, one asked again", k[kindCreateSession], 1+2+sessionRetries)
	}
}

// TestAdvertisedOtherPort: an endpoint URL on another port of the address
// gets a channel of its own, which then carries the anonymous session on
// that endpoint; the discovery channel is closed before it opens.
func TestAdvertisedOtherPort(t *testing.T) {
	other := startFakeServer(t, strongCert(t))
	f := startFakeServerWith(t, strongCert(t), fakeBehaviour{endpointURL: other.url()})
	p := New(Config{Ports: []uint16{f.port}, Logger: testLogger(t)})
	res := runProber(t, p, loopback, testLimits())
	if len(res.report.Errors) != 0 {
		t.Fatalf("device errors: %+v", res.report.Errors)
	}
	assertLedgerWithinPlan(t, res)
	if c := f.connections(); len(c) != 1 || !slices.Equal(c[0], []string{"GetEndpoints", "FindServers"}) {
		t.Errorf("discovery port: %q, want one connection with GetEndpoints and FindServers", c)
	}
	want := []string{"GetEndpoints", "CreateSession", "ActivateSession", "Read", "Browse", "Read", "CloseSession"}
	if c := other.connections(); len(c) != 1 || !slices.Equal(c[0], want) {
		t.Errorf("advertised port: %q, want one connection with %q", c, want)
	}
	// One connection at a time: the discovery channel was closed before
	// the other port's was opened.
	var closes, connects []int
	for i, e := range res.ledger {
		switch {
		case e.Kind == kindCloseSecureChannel:
			closes = append(closes, i)
		case e.Kind == "connect":
			connects = append(connects, i)
		}
	}
	if len(closes) != 2 || len(connects) != 2 || closes[0] > connects[1] {
		t.Errorf("ledger connects at %v, closes at %v: want the first channel closed before the second opens", connects, closes)
	}
}

// TestPlanLoginChannelsBounded: the logins' channels in the plan do not
// grow with the number of logins — they share one, plus one if the device
// ends it — and each login still has its own session requests.
func TestPlanLoginChannelsBounded(t *testing.T) {
	logins := make([]Login, 9)
	for i := range logins {
		logins[i] = Login{User: fmt.Sprintf("user%d", i), Password: otaudit.NewSecret("x"), KnownDefault: true}
	}
	p := New(Config{Logins: logins})
	tg := active.Target{Addr: netip.MustParseAddr("10.99.0.12")}
	count := func(plan []active.PlannedRequest, kind string) int {
		n := 0
		for _, r := range plan {
			if r.Kind == kind {
				n += r.MaxAttempts
			}
		}
		return n
	}
	plan := func(attempts int) []active.PlannedRequest {
		l := active.DefaultLimits()
		l.CredentialGuessing, l.MaxAttemptsPerDevice = attempts > 0, attempts
		return p.Plan(tg, l)
	}
	off, three, nine := plan(0), plan(3), plan(9)
	if c3, c9 := count(three, "connect"), count(nine, "connect"); c3 != c9 || c9-count(off, "connect") != loginChannels {
		t.Errorf("connects: %d without logins, %d with 3, %d with 9: want %d more with logins, whatever their number",
			count(off, "connect"), c3, c9, loginChannels)
	}
	if got := count(nine, kindActivateSession) - count(off, kindActivateSession); got != 9 {
		t.Errorf("9 logins add %d activate-session, want 9", got)
	}
	if got := count(off, kindCreateSession); got != 1+sessionRetries {
		t.Errorf("without logins: %d create-session, want the anonymous one and %d asked again", got, sessionRetries)
	}
	for _, r := range nine {
		if r.Kind == kindHello && strings.Contains(r.Detail, "login user") {
			t.Errorf("a channel per login in the plan: %q", r.Detail)
		}
	}
}
