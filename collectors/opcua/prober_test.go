package opcua

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopcua/opcua/ua"
	"github.com/gopcua/opcua/uacp"
	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/collectors/active"
	"github.com/otaudit/otaudit/configs"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// hostile starts a TCP server on 127.0.0.1:0 that runs behave on each
// connection and returns its port.
func hostile(t *testing.T, behave func(net.Conn)) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); close(done) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				behave(c)
			}()
		}
	}()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

// TestHostileServers: each misbehaving server ends as a per-device error
// with evidence, within bounded time, with no panic and nothing sent
// beyond the plan.
func TestHostileServers(t *testing.T) {
	readHello := func(c net.Conn) bool {
		buf := make([]byte, maxClientChunk)
		_, err := readChunk(c, buf)
		return err == nil
	}
	cases := []struct {
		name   string
		behave func(net.Conn)
		want   string // in the device error
	}{
		{"garbage after hello", func(c net.Conn) {
			if readHello(c) {
				c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n<html>garbage</html>"))
				io.Copy(io.Discard, c)
			}
		}, "hello"},
		{"oversized ack", func(c net.Conn) {
			if readHello(c) {
				c.Write([]byte{'A', 'C', 'K', 'F', 0xff, 0xff, 0xff, 0x7f})
				io.Copy(io.Discard, c)
			}
		}, "hello"},
		{"drop mid-handshake", func(c net.Conn) {
			c.Read(make([]byte, 10))
		}, "hello"},
		{"silent", func(c net.Conn) {
			io.Copy(io.Discard, c)
		}, "hello"},
		{"error answer", func(c net.Conn) {
			if readHello(c) {
				e := &uacp.Error{ErrorCode: uint32(ua.StatusBadTCPEndpointURLInvalid), Reason: "go away"}
				b, _ := ua.Encode(e)
				c.Write(chunk("ERRF", b))
			}
		}, "hello"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			port := hostile(t, c.behave)
			l := testLimits()
			l.Timeout = 300 * time.Millisecond
			p := New(Config{Ports: []uint16{port}, Logger: testLogger(t)})
			res := runProber(t, p, loopback, l)
			if len(res.report.Errors) != 1 {
				t.Fatalf("device errors = %+v, want one", res.report.Errors)
			}
			if e := res.report.Errors[0]; e.Prober != "opcua" || !strings.Contains(e.Err, c.want) {
				t.Errorf("device error %q does not say what failed (%q)", e.Err, c.want)
			}
			if n := len(res.of(otaudit.KindEndpoint)); n != 0 {
				t.Errorf("%d endpoints from a server that never described one", n)
			}
			assertLedgerWithinPlan(t, res)
		})
	}
}

// TestConnectionRefused: nothing listening is a device error, not a hang;
// the connect itself is a request (a SYN left), and nothing else is sent.
func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	p := New(Config{Ports: []uint16{port}})
	res := runProber(t, p, loopback, testLimits())
	if len(res.report.Errors) != 1 || !strings.Contains(res.report.Errors[0].Err, "connect") {
		t.Fatalf("device errors = %+v", res.report.Errors)
	}
	if len(res.ledger) != 1 || res.ledger[0].Protocol != "tcp" || res.ledger[0].Kind != "connect" {
		t.Errorf("ledger %v: want only the refused tcp connect", res.ledger)
	}
}

// TestPlanBounds: the plan grows with logins only when guessing is on,
// covers every allowed kind the collector uses, and skips ports discovery
// found closed.
func TestPlanBounds(t *testing.T) {
	p := New(Config{Logins: Logins(nil)})
	tg := active.Target{Addr: netip.MustParseAddr("10.99.0.12")}
	l := active.DefaultLimits()
	l.CredentialGuessing = false
	off := p.Plan(tg, l)
	l.CredentialGuessing, l.MaxAttemptsPerDevice = true, 2
	on := p.Plan(tg, l)
	count := func(plan []active.PlannedRequest, kind string) int {
		n := 0
		for _, r := range plan {
			if r.Kind == kind {
				n += r.MaxAttempts
			}
		}
		return n
	}
	if got := count(on, kindActivateSession) - count(off, kindActivateSession); got != 2 {
		t.Errorf("guessing on adds %d activate-session, want 2 (MaxAttemptsPerDevice)", got)
	}
	// Each channel is one TCP connection, planned as such.
	if c, h := count(on, "connect"), count(on, kindHello); c != h || c == 0 {
		t.Errorf("plan has %d tcp connect for %d hello: want one connection per channel", c, h)
	}
	for _, r := range on {
		if !active.Allowed[r.Protocol][r.Kind] {
			t.Errorf("planned %s %q is not allowed", r.Protocol, r.Kind)
		}
		if (r.Protocol == "tcp") != (r.Kind == "connect") {
			t.Errorf("planned %s %q: connections are tcp, everything else opcua", r.Protocol, r.Kind)
		}
		if strings.Contains(r.Detail, "admin\" (known default)") == false && strings.Contains(r.Detail, "password") {
			t.Errorf("plan detail %q mentions a password", r.Detail)
		}
	}
	if got := p.Plan(active.Target{Addr: tg.Addr, OpenTCP: map[uint16]bool{22: true}}, l); len(got) != 0 {
		t.Errorf("plan for a target without 4840 open has %d lines", len(got))
	}
	if got := New(Config{Ports: []uint16{4841, 4840, 4841}}).Plan(tg, l); count(got, kindGetEndpoints) != 2*count(off, kindGetEndpoints) {
		t.Errorf("two ports should double the discovery requests")
	}
}

// TestLoginsOrderAndSecrets: configured users come first, defaults after,
// no pair twice, and a login's plan detail never carries the password.
func TestLoginsOrderAndSecrets(t *testing.T) {
	site := []configs.OPCUAUser{{Username: "plantops", Password: otaudit.NewSecret("S3cret!x")}, {Username: "admin", Password: otaudit.NewSecret("admin")}}
	ls := Logins(site)
	if len(ls) < 3 || ls[0].User != "plantops" || ls[0].KnownDefault {
		t.Fatalf("Logins = %+v", ls)
	}
	n := 0
	for _, l := range ls {
		if l.User == "admin" && l.Password.Reveal() == "admin" {
			n++
		}
		if strings.Contains(l.detail(4840), l.Password.Reveal()) && l.Password.Reveal() != l.User {
			t.Errorf("detail %q carries the password", l.detail(4840))
		}
	}
	if n != 1 {
		t.Errorf("admin/admin appears %d times", n)
	}
}

// TestLockoutLike: a wrong password goes on; lockout-looking answers stop.
func TestLockoutLike(t *testing.T) {
	if lockoutLike(ua.StatusBadUserAccessDenied) || lockoutLike(errors.Join(errors.New("activate"), ua.StatusBadUserAccessDenied)) {
		t.Errorf("Bad_UserAccessDenied must not stop the attempts")
	}
	for _, err := range []error{ua.StatusBadTooManySessions, ua.StatusBadSecurityChecksFailed, context.DeadlineExceeded, io.EOF} {
		if !lockoutLike(err) {
			t.Errorf("%v should stop the attempts", err)
		}
	}
}
