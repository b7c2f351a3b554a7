package pcap

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/collectors/certinfo/certtest"
)

// The handshakes of these tests are recorded from Go's crypto/tls, client
// and server talking over a pipe: real TLS 1.2 and 1.3 bytes, with the
// certificates the test made.

// tlsWrite is one Write of either end, in the order they happened.
type tlsWrite struct {
	toServer bool
	b        []byte
}

type tlsRecorder struct {
	mu  sync.Mutex
	log []tlsWrite
}

type recordingConn struct {
	net.Conn
	r        *tlsRecorder
	toServer bool
}

func (c recordingConn) Write(b []byte) (int, error) {
	c.r.mu.Lock()
	c.r.log = append(c.r.log, tlsWrite{c.toServer, slices.Clone(b)})
	c.r.mu.Unlock()
	return c.Conn.Write(b)
}

// recordTLS runs a handshake and one message each way between a crypto/tls
// client and server, and returns every Write in order.
func recordTLS(t testing.TB, chain [][]byte, key any, clientCfg *tls.Config, maxVersion uint16) []tlsWrite {
	t.Helper()
	a, b := net.Pipe()
	rec := &tlsRecorder{}
	server := tls.Server(recordingConn{b, rec, false}, &tls.Config{
		Certificates: []tls.Certificate{{Certificate: chain, PrivateKey: key}},
		MaxVersion:   maxVersion,
	})
	client := tls.Client(recordingConn{a, rec, true}, clientCfg)
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 64)
		_, err := io.ReadFull(server, buf[:5])
		if err == nil {
			_, err = server.Write([]byte("pong!"))
		}
		done <- err
	}()
	if _, err := client.Write([]byte("ping!")); err != nil {
		t.Fatalf("tls client: %v", err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(client, buf); err != nil {
		t.Fatalf("tls client read: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("tls server: %v", err)
	}
	a.Close()
	b.Close()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.log)
}

func TestTLSHandshakes(t *testing.T) {
	past := time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)
	expired := certtest.Spec{Bits: 2048, SigAlg: x509.SHA256WithRSA, From: past, To: past.AddDate(5, 0, 0), Subject: "plc-web.plant.local"}
	selfDER, _, selfKey := certtest.Make(t, expired, nil, nil)
	now := time.Now()
	caDER, ca, caKey := certtest.Make(t, certtest.Spec{Bits: 2048, SigAlg: x509.SHA256WithRSA, From: now.Add(-time.Hour), To: now.AddDate(1, 0, 0), Subject: "Plant Issuing CA"}, nil, nil)
	leafDER, _, leafKey := certtest.Make(t, certtest.Spec{Bits: 2048, SigAlg: x509.SHA256WithRSA, From: now.Add(-time.Hour), To: now.AddDate(1, 0, 0), Subject: "historian.plant.local"}, ca, caKey)
	anyDER, _, anyKey := certtest.Make(t, certtest.Spec{Bits: 2048, SigAlg: x509.SHA256WithRSA, From: now.Add(-time.Hour), To: now.AddDate(1, 0, 0), Subject: "AnyDesk Client"}, nil, nil)

	tls12 := func(name string) *tls.Config {
		return &tls.Config{InsecureSkipVerify: true, ServerName: name, MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}}
	}
	tests := []struct {
		name       string
		port       uint16
		chain      [][]byte
		key        any
		cfg        *tls.Config
		maxVersion uint16
		segment    int // cut every Write into segments of this size (0: whole)
		proto      string
		policy     string
		server     string // SNI
		certDER    []byte // the server certificate expected (nil: none)
		selfSigned bool
		session    string // remote session detail substring ("" for none)
	}{
		{"TLS 1.2 web server of a PLC, self-signed and expired", 443, [][]byte{selfDER}, selfKey, tls12("plc-web.plant.local"), 0, 0,
			"https", "TLS 1.2 TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "plc-web.plant.local", selfDER, true, ""},
		{"TLS 1.2 on Modbus/TCP Security's port, every record cut into 7-byte segments", 802, [][]byte{selfDER}, selfKey, tls12("plc.plant.local"), 0, 7,
			"tls", "TLS 1.2 TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "plc.plant.local", selfDER, true, ""},
		{"TLS 1.2 with a chain: the leaf is the server's", 443, [][]byte{leafDER, caDER}, leafKey, tls12("historian.plant.local"), 0, 1400,
			"https", "TLS 1.2 TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "historian.plant.local", leafDER, false, ""},
		{"TLS 1.3: the certificate is encrypted", 8443, [][]byte{selfDER}, selfKey,
			&tls.Config{InsecureSkipVerify: true, ServerName: "scada.plant.local", MinVersion: tls.VersionTLS13}, 0, 0,
			"tls", "TLS 1.3 TLS_AES_128_GCM_SHA256", "scada.plant.local", nil, false, ""},
		{"AnyDesk on 443, told by its certificate", 443, [][]byte{anyDER}, anyKey, tls12(""), 0, 0,
			"anydesk", "TLS 1.2 TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "", anyDER, true, "CN=AnyDesk Client"},
		{"Splashtop's relay, told by the server name", 443, [][]byte{selfDER}, selfKey, tls12("st-relay-03.Splashtop.com"), 0, 0,
			"splashtop", "TLS 1.2 TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "st-relay-03.Splashtop.com", selfDER, true, "TLS 1.2"},
		{"AnyDesk on its own port", 7070, [][]byte{anyDER}, anyKey, tls12(""), tls.VersionTLS12, 0,
			"anydesk", "TLS 1.2 TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "", anyDER, true, "TLS 1.2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTCPSession(t, "10.0.0.1", 40000, "10.0.0.9", tc.port)
			for _, w := range recordTLS(t, tc.chain, tc.key, tc.cfg, tc.maxVersion) {
				parts := [][]byte{w.b}
				if tc.segment > 0 {
					parts = slices.Collect(slices.Chunk(w.b, tc.segment))
				}
				for _, p := range parts {
					if w.toServer {
						s.client(p)
					} else {
						s.server(p)
					}
				}
			}
			r, err := analyzeBytes(t, "tls.pcap", capture(t, s.fin().frames...))
			if err != nil {
				t.Fatal(err)
			}
			if r.Stats.DecodeErrors != 0 {
				t.Errorf("%d decode errors: %q", r.Stats.DecodeErrors, r.Stats.Warnings)
			}
			chans := observations(r, otaudit.KindSecureChannel)
			if len(chans) != 1 {
				t.Fatalf("%d secure channels, want 1: %+v", len(chans), chans)
			}
			ch := chans[0].SecureChannel
			if ch.Protocol != tc.proto || ch.Policy != tc.policy || ch.Endpoint != tc.server || !ch.Protected ||
				ch.Client.String() != "10.0.0.1" || ch.Server.String() != "10.0.0.9" {
				t.Errorf("channel %s %s→%s policy %q endpoint %q protected %v, want %s policy %q endpoint %q",
					ch.Protocol, ch.Client, ch.Server, ch.Policy, ch.Endpoint, ch.Protected, tc.proto, tc.policy, tc.server)
			}
			switch c := ch.ServerCertificate; {
			case tc.certDER == nil && c != nil:
				t.Errorf("a certificate from an encrypted handshake: %+v", c)
			case tc.certDER != nil && c == nil:
				t.Errorf("no server certificate")
			case c != nil:
				sum := sha256.Sum256(tc.certDER)
				if c.SHA256 != hex.EncodeToString(sum[:]) || c.SelfSigned != tc.selfSigned || c.KeyBits != 2048 {
					t.Errorf("certificate %+v, want SHA-256 %x, self-signed %v", c, sum, tc.selfSigned)
				}
				if bytes.Equal(tc.certDER, selfDER) && !c.NotAfter.Equal(expired.To) {
					t.Errorf("expired certificate's NotAfter %v, want %v", c.NotAfter, expired.To)
				}
			}
			flows := observations(r, otaudit.KindFlow)
			if len(flows) != 1 || flows[0].Flow.Protocol != tc.proto {
				t.Errorf("flows %+v, want one %s", flows, tc.proto)
			}
			sessions := observations(r, otaudit.KindRemoteSession)
			switch {
			case tc.session == "" && len(sessions) != 0:
				t.Errorf("remote sessions %+v, want none", sessions)
			case tc.session != "" && (len(sessions) != 1 || !sessions[0].RemoteSession.Encrypted ||
				!strings.Contains(sessions[0].RemoteSession.Detail, tc.session)):
				t.Errorf("remote sessions %+v, want one encrypted AnyDesk session saying %q", sessions, tc.session)
			}
		})
	}
}

func TestRemoteToolByServerName(t *testing.T) {
	for name, want := range map[string]string{
		"relay-1a2b3c4d.net.anydesk.com":   "anydesk",
		"ANYDESK.COM.":                     "anydesk",
		"notanydesk.com":                   "",
		"anydesk.com.example.org":          "",
		"router15.teamviewer.com":          "teamviewer",
		"remotedesktop-pa.googleapis.com":  "chrome-remote-desktop",
		"googleapis.com":                   "",
		"3f2a-198-51-100-7.ngrok-free.app": "ngrok",
		"plc-web.plant.local":              "",
		"":                                 "",
		".":                                "",
	} {
		if got := remoteToolByServerName(name); got != want {
			t.Errorf("remoteToolByServerName(%q) = %q, want %q", name, got, want)
		}
	}
	for domain, tool := range remoteToolDomains {
		if !otaudit.IsRemoteTool(tool) {
			t.Errorf("%s names %q, which the checks do not know as a remote tool", domain, tool)
		}
		// Tunnels carry anything: a flow to one is not a session.
		interactive := tool != "ngrok" && tool != "cloudflare-tunnel"
		if isRemoteProtocol(tool) != interactive {
			t.Errorf("%s: %q is a remote-access session protocol: %v, want %v", domain, tool, isRemoteProtocol(tool), interactive)
		}
	}
}

// TestCarriesTLSAgreesWithDissectors: the names carriesTLS lists (for
// reuse and detection) are exactly those whose dissector is TLS's.
func TestCarriesTLSAgreesWithDissectors(t *testing.T) {
	for name, mk := range tcpDissectors {
		_, isTLS := mk().(*tlsStream)
		if carriesTLS(name) != isTLS {
			t.Errorf("carriesTLS(%q) = %v, its dissector is %T", name, carriesTLS(name), mk())
		}
	}
}

func TestTLSBadInput(t *testing.T) {
	past := time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)
	der, _, key := certtest.Make(t, certtest.Spec{Bits: 2048, SigAlg: x509.SHA256WithRSA, From: past, To: past.AddDate(5, 0, 0), Subject: "x"}, nil, nil)
	talk := recordTLS(t, [][]byte{der}, key, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}, 0)
	var clientHello, serverFlight []byte
	for _, w := range talk {
		if w.toServer && clientHello == nil {
			clientHello = w.b
		}
		if !w.toServer && serverFlight == nil {
			serverFlight = w.b
		}
	}
	lying := slices.Clone(serverFlight)
	lying[6] = 0x7f // the ServerHello's 24-bit length: 8 MB, more than any record or than is kept

	tests := []struct {
		name           string
		client, server []byte
		channels       int
		errs           []string
		proto          string // the flow's protocol
	}{
		{"garbage on 443", []byte("\x00\x01\x02 no TLS here"), []byte("\x15\x03\x03"), 0,
			[]string{"tls: not a TLS record"}, "https"},
		{"an SSL 2.0-compatible ClientHello is no error", []byte("\x80\x2e\x01\x03\x01\x00\x15\x00\x00\x00\x10\x07\x00\xc0\x05\x00\x80\x03\x00\x80\x01\x00\x80\x06\x00\x40\x04\x00\x80\x02\x00\x80" +
			"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"), serverFlight, 1, nil, "https"},
		{"plain HTTP on 443 is HTTP", []byte("GET / HTTP/1.1\r\n\r\n"), []byte("HTTP/1.1 400 Bad Request\r\n\r\n"), 0, nil, "http"},
		{"a ClientHello nobody answers", clientHello, nil, 0, nil, "https"},
		{"a ServerHello whose length lies", clientHello, lying, 0, nil, "https"},
		{"a handshake record cut short by the capture's end", clientHello, serverFlight[:40], 0, nil, "https"},
		{"a ClientHello with garbage inside a valid record", []byte("\x16\x03\x01\x00\x08\x01\x00\x00\x04\xff\xff\xff\xff"), serverFlight, 1,
			[]string{"tls: malformed ClientHello"}, "https"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := analyzeExchange(t, 443, tc.client, tc.server, false)
			if n := len(observations(r, otaudit.KindSecureChannel)); n != tc.channels {
				t.Errorf("%d secure channels, want %d", n, tc.channels)
			}
			if flows := observations(r, otaudit.KindFlow); len(flows) != 1 || flows[0].Flow.Protocol != tc.proto {
				t.Errorf("flows %+v, want one %s", flows, tc.proto)
			}
			wantDecodeErrors(t, r, tc.errs)
		})
	}
}

// FuzzTLSStream: arbitrary bytes each way on port 443 never panic, and
// every channel reported names a version and is protected.
func FuzzTLSStream(f *testing.F) {
	now := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	der, _, key := certtest.Make(f, certtest.Spec{Bits: 1024, SigAlg: x509.SHA256WithRSA, From: now, To: now.AddDate(1, 0, 0), Subject: "seed"}, nil, nil)
	for _, maxVersion := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		var client, server []byte
		for _, w := range recordTLS(f, [][]byte{der}, key, &tls.Config{InsecureSkipVerify: true, ServerName: "seed"}, maxVersion) {
			if w.toServer {
				client = append(client, w.b...)
			} else {
				server = append(server, w.b...)
			}
		}
		f.Add(client, server)
	}
	f.Add([]byte("\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00"), []byte("\x16\x03\x03\xff\xff\x02\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, client, server []byte) {
		r := analyzeExchange(t, 443, client, server, false)
		for _, o := range observations(r, otaudit.KindSecureChannel) {
			if ch := o.SecureChannel; !ch.Protected || !strings.HasPrefix(ch.Policy, "TLS ") && !strings.HasPrefix(ch.Policy, "SSL") && !strings.HasPrefix(ch.Policy, "0x") {
				t.Fatalf("channel %+v", ch)
			}
		}
	})
}
