//go:build integration

package integration_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/ua"
	"github.com/gosnmp/gosnmp"
	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/collectors/certinfo"
	"github.com/otaudit/otaudit/collectors/pcap"
)

// writePlantCapture writes a small capture of other hosts talking (an HMI
// polling the PLC over Modbus, a manager reading the switch over SNMP) for
// a passive scan to read.
func writePlantCapture(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	hmi := &pcapBuilder{t: t, w: w, now: time.Unix(1_700_000_000, 0), seqs: map[uint16]uint32{}, agent: net.ParseIP("10.99.0.50").To4()}
	hmi.tcp("10.99.0.10", 50010, 502, true, nil)
	for i := uint16(0); i < 5; i++ {
		hmi.tcp("10.99.0.10", 50010, 502, false, mbap(i, 1, 3, 0, 0, 0, 4))
	}
	hmi.udp("10.99.0.11", 161, snmpMsg(t, gosnmp.Version2c, gosnmp.GetRequest))
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestPassiveScanSendsNothing: analysing a capture puts no packet on the
// wire, watched on the agent's own interface.
func TestPassiveScanSendsNothing(t *testing.T) {
	needZone(t)
	otauditBin(t)
	dir := t.TempDir()
	pcap := filepath.Join(dir, "plant.pcap")
	writePlantCapture(t, pcap)

	c := startCapture(t, "eth0")
	res := runOtaudit(t, 2*time.Minute, "--db", filepath.Join(dir, "otaudit.db"), "--json", "scan", "--pcap", pcap)
	a, err := analyzeCapture(c.stop(t), agentAddr)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 && res.ExitCode != 3 {
		t.Fatalf("passive scan: %v", res)
	}
	var out struct {
		Assets int `json:"assets"`
	}
	if err := json.Unmarshal(res.Stdout, &out); err != nil {
		t.Fatalf("scan JSON: %v", err)
	}
	if out.Assets == 0 {
		t.Error("the passive scan found no asset: it did not read the capture")
	}
	if !a.MarkerSeen {
		t.Fatal("the capture did not see the test's own marker: it watched nothing")
	}
	if a.FromAgent != 0 {
		t.Errorf("a passive scan sent %d frames from %s: %v", a.FromAgent, agentAddr, a.Requests)
	}
	t.Logf("passive scan in %v: %d assets, %d frames on eth0, none from the agent", res.Wall.Round(time.Millisecond), out.Assets, a.Frames)
}

// TestPassiveOPCUACertificate: a client opens a Basic256Sha256
// SignAndEncrypt channel to the real node-opcua server (an anonymous
// session, nothing read or written) while tcpdump records it; the passive
// analysis of that capture must describe the server certificate the
// server's OpenSecureChannel response carried exactly as the server's own
// endpoint description gives it (same SHA-256, subject, self-signed).
func TestPassiveOPCUACertificate(t *testing.T) {
	needZone(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addr := "opc.tcp://" + zoneHostPort(t, opcAddr, 4840)
	eps, err := opcua.GetEndpoints(ctx, addr)
	if err != nil {
		t.Fatalf("GetEndpoints %s: %v", addr, err)
	}
	var ep *ua.EndpointDescription
	for _, e := range eps {
		if e.SecurityPolicyURI == policyB256Sha256 && e.SecurityMode == ua.MessageSecurityModeSignAndEncrypt {
			ep = e
		}
	}
	if ep == nil {
		t.Fatalf("%s offers no Basic256Sha256 SignAndEncrypt endpoint", addr)
	}
	want, err := certinfo.Describe(ep.ServerCertificate)
	if err != nil {
		t.Fatal(err)
	}
	const appURI = "urn:otaudit:integration:passive"
	certDER, key := clientCertificate(t, appURI)

	c := startCapture(t, "eth0")
	client, err := opcua.NewClient(ep.EndpointURL,
		opcua.Certificate(certDER), opcua.PrivateKey(key), opcua.ApplicationURI(appURI),
		opcua.SecurityFromEndpoint(ep, ua.UserTokenTypeAnonymous), opcua.AuthAnonymous(), opcua.AutoReconnect(false))
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Connect(ctx); err != nil {
		t.Fatalf("Basic256Sha256 session to %s: %v", addr, err)
	}
	_ = client.Close(context.Background())
	path := c.stop(t)

	r, err := pcap.AnalyzeFile(ctx, path, pcap.Options{Judge: otaudit.CredentialJudge{Key: []byte("k")}})
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, o := range r.Observations {
		ch := o.SecureChannel
		if o.Kind != otaudit.KindSecureChannel || ch.Protocol != "opcua" || ch.Policy != policyB256Sha256 {
			continue
		}
		if ch.Server != opcAddr || ch.ServerCertificate == nil {
			t.Errorf("Basic256Sha256 channel %s → %s: certificate %v", ch.Client, ch.Server, ch.ServerCertificate)
			continue
		}
		found++
		if got := ch.ServerCertificate; got.SHA256 != want.SHA256 || got.Subject != want.Subject || got.SelfSigned != want.SelfSigned || !got.NotAfter.Equal(want.NotAfter) {
			t.Errorf("certificate on the wire %+v, endpoint description %+v", got, want)
		}
	}
	if found == 0 {
		t.Fatalf("no Basic256Sha256 channel with a certificate in the capture (%d packets)", r.Stats.Packets)
	}
	t.Logf("certificate %s (%s, self-signed %v) read from the wire as the endpoint describes it", want.Subject, want.SHA256[:16], want.SelfSigned)
}

// TestPassiveTLSCertificate: TLS 1.2 and TLS 1.3 handshakes with OpenSSL's
// s_server (the PLC's "web server" on 8443, a port no name is known for)
// while tcpdump records them; the passive analysis must name each channel
// by the version and cipher suite the server chose and the server name the
// client asked for, and describe the TLS 1.2 server certificate exactly as
// the client received it (TLS 1.3 sends it encrypted: none).
func TestPassiveTLSCertificate(t *testing.T) {
	needZone(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addr := zoneHostPort(t, plcAddr, 8443)
	const serverName = "plc-web.otz"

	c := startCapture(t, "eth0")
	var states []tls.ConnectionState
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		d := tls.Dialer{Config: &tls.Config{ServerName: serverName, InsecureSkipVerify: true, MinVersion: v, MaxVersion: v}}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			t.Fatalf("%s handshake with %s: %v", tls.VersionName(v), addr, err)
		}
		states = append(states, conn.(*tls.Conn).ConnectionState())
		_ = conn.Close()
	}
	path := c.stop(t)
	want, err := certinfo.Describe(states[0].PeerCertificates[0].Raw)
	if err != nil {
		t.Fatal(err)
	}

	r, err := pcap.AnalyzeFile(ctx, path, pcap.Options{Judge: otaudit.CredentialJudge{Key: []byte("k")}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*otaudit.SecureChannel{}
	for _, o := range r.Observations {
		if ch := o.SecureChannel; o.Kind == otaudit.KindSecureChannel && ch.Server == plcAddr && ch.Client == agentAddr {
			got[ch.Policy] = ch
		}
	}
	for _, st := range states {
		policy := tls.VersionName(st.Version) + " " + tls.CipherSuiteName(st.CipherSuite)
		ch := got[policy]
		switch {
		case ch == nil:
			t.Errorf("no channel %q in the capture (%d packets; channels %v)", policy, r.Stats.Packets, got)
		case ch.Protocol != "tls" || ch.Endpoint != serverName || !ch.Protected:
			t.Errorf("channel %q: protocol %q endpoint %q protected %v, want tls %s true", policy, ch.Protocol, ch.Endpoint, ch.Protected, serverName)
		case st.Version == tls.VersionTLS13 && ch.ServerCertificate != nil:
			t.Errorf("TLS 1.3 channel with a certificate read from the wire: %+v", ch.ServerCertificate)
		case st.Version == tls.VersionTLS12 && (ch.ServerCertificate == nil || ch.ServerCertificate.SHA256 != want.SHA256 ||
			ch.ServerCertificate.Subject != want.Subject || !ch.ServerCertificate.SelfSigned):
			t.Errorf("TLS 1.2 certificate on the wire %+v, the client received %+v", ch.ServerCertificate, want)
		}
	}
	if len(got) != len(states) {
		t.Errorf("%d channels, want %d: %v", len(got), len(states), got)
	}
	t.Logf("OpenSSL's handshakes read from the wire: %d channels; certificate %s (%s)", len(got), want.Subject, want.SHA256[:16])
}

// clientCertificate is a throwaway self-signed RSA-2048 application
// certificate with the application URI as its URI SAN (servers check it).
func clientCertificate(t *testing.T, appURI string) ([]byte, *rsa.PrivateKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(appURI)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "otaudit integration client"},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment | x509.KeyUsageKeyEncipherment |
			x509.KeyUsageDataEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{u},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der, key
}
