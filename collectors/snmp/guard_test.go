package snmp

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/otaudit/otaudit/collectors/active"
)

// listenUDP is a silent agent that hands every datagram it receives to the
// test.
func listenUDP(t *testing.T) (*net.UDPConn, <-chan []byte) {
	t.Helper()
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte, 16)
	go func() {
		defer close(got)
		buf := make([]byte, 65536)
		for {
			n, _, err := pc.ReadFromUDP(buf)
			if err != nil {
				return
			}
			got <- append([]byte(nil), buf[:n]...)
		}
	}()
	t.Cleanup(func() { pc.Close() })
	return pc, got
}

// guardedClient is a gosnmp client whose connection goes through the guard,
// as the collector builds it.
func guardedClient(t *testing.T, pc *net.UDPConn, configure func(*gosnmp.GoSNMP)) *gosnmp.GoSNMP {
	t.Helper()
	a := pc.LocalAddr().(*net.UDPAddr)
	g := &gosnmp.GoSNMP{Target: "127.0.0.1", Port: uint16(a.Port), Transport: "udp", Version: gosnmp.Version2c,
		Community: "public", Timeout: 50 * time.Millisecond, Retries: 0, MaxOids: gosnmp.MaxOids}
	if configure != nil {
		configure(g)
	}
	if err := g.Connect(); err != nil {
		t.Fatal(err)
	}
	g.Conn = &guardConn{Conn: g.Conn, priv: func() (gosnmp.SnmpV3PrivProtocol, []byte) {
		usm, ok := g.SecurityParameters.(*gosnmp.UsmSecurityParameters)
		if !ok || g.MsgFlags&gosnmp.AuthPriv != gosnmp.AuthPriv {
			return gosnmp.NoPriv, nil
		}
		return usm.PrivacyProtocol, usm.PrivacyKey
	}}
	t.Cleanup(func() { g.Conn.Close() })
	return g
}

// A SetRequest forced through the guarded connection is refused before a
// byte is written; the Get sent right after is the first datagram the
// agent sees (loopback UDP keeps order), so the Set never left.
func TestGuardRefusesSetRequest(t *testing.T) {
	cases := []struct {
		name      string
		configure func(*gosnmp.GoSNMP)
	}{
		{"v1", func(g *gosnmp.GoSNMP) { g.Version = gosnmp.Version1 }},
		{"v2c", nil},
		{"v3 noAuthNoPriv", v3(gosnmp.NoAuthNoPriv, gosnmp.NoAuth, gosnmp.NoPriv)},
		{"v3 authNoPriv SHA", v3(gosnmp.AuthNoPriv, gosnmp.SHA, gosnmp.NoPriv)},
		{"v3 authPriv SHA/AES (encrypted: the guard decrypts)", v3(gosnmp.AuthPriv, gosnmp.SHA, gosnmp.AES)},
		{"v3 authPriv MD5/DES (encrypted: the guard decrypts)", v3(gosnmp.AuthPriv, gosnmp.MD5, gosnmp.DES)},
		{"v3 authPriv SHA256/AES256", v3(gosnmp.AuthPriv, gosnmp.SHA256, gosnmp.AES256)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pc, got := listenUDP(t)
			g := guardedClient(t, pc, tc.configure)
			_, err := g.Set([]gosnmp.SnmpPDU{{Name: ".1.3.6.1.4.1.4329.6.3.2.1.1.0", Type: gosnmp.OctetString, Value: []byte("x")}})
			if !errors.Is(err, active.ErrNotAllowed) {
				t.Fatalf("Set through the guard: err %v, want active.ErrNotAllowed", err)
			}
			_, _ = g.Get([]string{oidSysDescr}) // times out: the listener never answers
			first := <-got
			tag, err := outgoingPDUTag(first, g.Conn.(*guardConn).priv)
			if err != nil || tag != tagGetRequest {
				t.Fatalf("first datagram the agent received: tag 0x%02x, %v; want the GetRequest (the Set must not have been sent)", tag, err)
			}
			if n := g.Conn.(*guardConn).sent["get"]; n != 1 {
				t.Errorf("guard counted %d gets, want 1", n)
			}
		})
	}
}

// v3 configures a client as the collector does after its own discovery:
// engine known, keys localized, so gosnmp sends no discovery of its own.
func v3(level gosnmp.SnmpV3MsgFlags, auth gosnmp.SnmpV3AuthProtocol, priv gosnmp.SnmpV3PrivProtocol) func(*gosnmp.GoSNMP) {
	return func(g *gosnmp.GoSNMP) {
		usm := &gosnmp.UsmSecurityParameters{UserName: "otpriv", AuthoritativeEngineID: "\x80\x00\x10\xe9\x03\x00\x08\x74\x0a\x0b\x0c",
			AuthoritativeEngineBoots: 4, AuthoritativeEngineTime: 1000}
		if auth != gosnmp.NoAuth {
			usm.AuthenticationProtocol, usm.AuthenticationPassphrase = auth, "authpass123"
		}
		if priv != gosnmp.NoPriv {
			usm.PrivacyProtocol, usm.PrivacyPassphrase = priv, "privpass123"
		}
		if err := usm.InitSecurityKeys(); err != nil {
			panic(err)
		}
		g.Version, g.SecurityModel, g.MsgFlags, g.SecurityParameters = gosnmp.Version3, gosnmp.UserSecurityModel, level, usm
	}
}

func TestOutgoingPDUTagRejectsWhatItCannotRead(t *testing.T) {
	for _, b := range [][]byte{nil, {0x30}, {0x30, 0x03, 0x02, 0x01, 0x07}, {0x04, 0x00}, {0x30, 0x84, 0xff, 0xff, 0xff, 0xff}} {
		if _, err := outgoingPDUTag(b, nil); err == nil {
			t.Errorf("% x: decoded, want an error", b)
		}
	}
	g := &guardConn{}
	if _, err := g.Write([]byte{0x30, 0x00}); !errors.Is(err, active.ErrNotAllowed) {
		t.Errorf("undecodable message: err %v, want ErrNotAllowed", err)
	}
}
