package pcap

import (
	"crypto/x509"
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/gopcua/opcua/ua"
	"github.com/gopcua/opcua/uacp"
	"github.com/gopcua/opcua/uasc"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/collectors/certinfo/certtest"
)

// The OPC UA chunks of these tests are encoded by gopcua, the stack the
// active collector talks to real servers with.

func uaHello(t testing.TB, endpoint string) []byte {
	t.Helper()
	body, err := (&uacp.Hello{ReceiveBufSize: 65535, SendBufSize: 65535, EndpointURL: endpoint}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	return uaChunk("HELF", nil, body)
}

// uaOPN is an OpenSecureChannel chunk: channel id, asymmetric security
// header, then opaque bytes standing for the (encrypted) rest.
func uaOPN(t testing.TB, policy string, senderCert []byte, rest int) []byte {
	t.Helper()
	h, err := (&uasc.AsymmetricSecurityHeader{SecurityPolicyURI: policy, SenderCertificate: senderCert}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	return uaChunk("OPNF", []byte{1, 0, 0, 0}, slices.Concat(h, make([]byte, rest)))
}

func uaChunk(kind string, channel, body []byte) []byte {
	b := slices.Concat([]byte(kind), make([]byte, 4), channel, body)
	binary.LittleEndian.PutUint32(b[4:8], uint32(len(b)))
	return b
}

func TestOPCUAStream(t *testing.T) {
	now := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	spec := certtest.Spec{Bits: 2048, SigAlg: x509.SHA256WithRSA, From: now.AddDate(-1, 0, 0), To: now.AddDate(1, 0, 0), Subject: "PLC-7"}
	selfSigned, _, _ := certtest.Make(t, spec, nil, nil)
	caDER, ca, caKey := certtest.Make(t, certtest.Spec{Bits: 2048, SigAlg: x509.SHA256WithRSA, From: spec.From, To: spec.To, Subject: "Plant CA"}, nil, nil)
	issued, _, _ := certtest.Make(t, spec, ca, caKey)
	const endpoint = "opc.tcp://plc-7:4840/ua"
	basic := ua.SecurityPolicyURIBasic256Sha256

	type want struct {
		policy    string
		protected bool
		subject   string // of the server certificate, "" for none
		self      bool
	}
	tests := []struct {
		name   string
		client [][]byte // client chunks, sent one segment each
		server [][]byte // server chunks; each split into parts segments
		parts  int
		want   []want
		errs   []string // decode errors expected (substrings)
	}{
		{name: "policy None: no certificate",
			client: [][]byte{uaHello(t, endpoint), uaOPN(t, ua.SecurityPolicyURINone, nil, 32)},
			server: [][]byte{uaOPN(t, ua.SecurityPolicyURINone, nil, 32)},
			want:   []want{{policy: ua.SecurityPolicyURINone}}},
		{name: "Basic256Sha256, self-signed server certificate",
			client: [][]byte{uaHello(t, endpoint), uaOPN(t, basic, selfSigned, 256)},
			server: [][]byte{uaOPN(t, basic, selfSigned, 256)},
			want:   []want{{policy: basic, protected: true, subject: "CN=PLC-7,O=Plant", self: true}}},
		{name: "certificate chain: the server's own certificate first",
			client: [][]byte{uaHello(t, endpoint), uaOPN(t, basic, selfSigned, 256)},
			server: [][]byte{uaOPN(t, basic, slices.Concat(issued, caDER), 256)},
			want:   []want{{policy: basic, protected: true, subject: "CN=PLC-7,O=Plant"}}},
		{name: "server OPN split over three segments",
			client: [][]byte{uaHello(t, endpoint), uaOPN(t, basic, selfSigned, 256)},
			server: [][]byte{uaOPN(t, basic, selfSigned, 256)}, parts: 3,
			want: []want{{policy: basic, protected: true, subject: "CN=PLC-7,O=Plant", self: true}}},
		{name: "signing policy without a certificate",
			client: [][]byte{uaHello(t, endpoint), uaOPN(t, basic, selfSigned, 256)},
			server: [][]byte{uaOPN(t, basic, nil, 256)},
			want:   []want{{policy: basic, protected: true}},
			errs:   []string{"opcua: OpenSecureChannel under a security policy without a sender certificate"}},
		{name: "certificate bytes that are not a certificate",
			client: [][]byte{uaHello(t, endpoint), uaOPN(t, basic, selfSigned, 256)},
			server: [][]byte{uaOPN(t, basic, []byte{0x30, 0x03, 1, 2, 3}, 256)},
			want:   []want{{policy: basic, protected: true}},
			errs:   []string{"opcua: server certificate: parse certificate"}},
		{name: "not UA-TCP",
			client: [][]byte{{0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3, 4, 5, 6, 7}},
			errs:   []string{"opcua: not a UA-TCP chunk header"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTCPSession(t, "10.0.0.1", 40000, "10.0.0.7", 4840)
			for _, c := range tc.client {
				s.client(c)
			}
			for _, c := range tc.server {
				for _, part := range splitInto(c, max(tc.parts, 1)) {
					s.server(part)
				}
			}
			r, err := analyzeBytes(t, "ua.pcap", capture(t, s.frames...))
			if err != nil {
				t.Fatal(err)
			}
			var got []want
			for _, o := range observations(r, otaudit.KindSecureChannel) {
				ch := o.SecureChannel
				if ch.Endpoint != endpoint || ch.Client.String() != "10.0.0.1" || ch.Server.String() != "10.0.0.7" {
					t.Errorf("channel %+v: endpoint or ends wrong", ch)
				}
				w := want{policy: ch.Policy, protected: ch.Protected}
				if c := ch.ServerCertificate; c != nil {
					w.subject, w.self = c.Subject, c.SelfSigned
					if c.KeyBits != 2048 || !c.NotAfter.Equal(spec.To) || len(c.SHA256) != 64 {
						t.Errorf("certificate %+v", c)
					}
				}
				got = append(got, w)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("channels %+v, want %+v", got, tc.want)
			}
			wantDecodeErrors(t, r, tc.errs)
		})
	}
}

// splitInto cuts b into n parts of about equal length.
func splitInto(b []byte, n int) [][]byte {
	var out [][]byte
	for i := range n {
		out = append(out, b[i*len(b)/n:(i+1)*len(b)/n])
	}
	return out
}

// FuzzOPCUAStream: arbitrary bytes each way on an OPC UA connection never
// panic, and a server certificate is only reported on a channel whose
// policy protects it.
func FuzzOPCUAStream(f *testing.F) {
	now := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	der, _, _ := certtest.Make(f, certtest.Spec{Bits: 1024, SigAlg: x509.SHA256WithRSA, From: now, To: now.AddDate(1, 0, 0), Subject: "seed"}, nil, nil)
	f.Add(uaHello(f, "opc.tcp://x:4840"), uaOPN(f, ua.SecurityPolicyURINone, nil, 8))
	f.Add(slices.Concat(uaHello(f, "opc.tcp://x:4840"), uaOPN(f, ua.SecurityPolicyURIBasic256Sha256, der, 8)), uaOPN(f, ua.SecurityPolicyURIBasic256Sha256, der, 64))
	f.Add([]byte("OPNF\xff\xff\xff\x7f\x00\x00\x00\x00\xff\xff\xff\xff"), []byte("OPNF\x20\x00\x00\x00\x01\x00\x00\x00\x04\x00\x00\x00abcd\xff\xff\xff\x7f"))
	f.Fuzz(func(t *testing.T, client, server []byte) {
		r := analyzeExchange(t, 4840, client, server, false)
		for _, o := range observations(r, otaudit.KindSecureChannel) {
			if o.SecureChannel.ServerCertificate != nil && !o.SecureChannel.Protected {
				t.Fatalf("certificate on an unprotected channel: %+v", o.SecureChannel)
			}
		}
	})
}
