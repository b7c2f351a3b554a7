package opcua

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"
)

type certSpec struct {
	bits    int
	sigAlg  x509.SignatureAlgorithm
	from    time.Time
	to      time.Time
	subject string
}

func makeCert(t *testing.T, spec certSpec, issuer *x509.Certificate, issuerKey *rsa.PrivateKey) ([]byte, *x509.Certificate, *rsa.PrivateKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, spec.bits)
	if err != nil {
		t.Fatalf("key %d bits: %v", spec.bits, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(42),
		Subject:               pkix.Name{CommonName: spec.subject, Organization: []string{"Plant"}},
		NotBefore:             spec.from,
		NotAfter:              spec.to,
		SignatureAlgorithm:    spec.sigAlg,
		BasicConstraintsValid: true,
		IsCA:                  issuer == nil,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	parent, signer := tmpl, key
	if issuer != nil {
		parent, signer = issuer, issuerKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatalf("create %s: %v", spec.subject, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return der, c, key
}

func TestParseCertificate(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	good := certSpec{bits: 2048, sigAlg: x509.SHA256WithRSA, from: now.Add(-time.Hour), to: now.Add(365 * 24 * time.Hour), subject: "PLC1"}

	_, ca, caKey := makeCert(t, certSpec{bits: 2048, sigAlg: x509.SHA256WithRSA, from: good.from, to: good.to, subject: "Plant CA"}, nil, nil)

	cases := []struct {
		name       string
		spec       certSpec
		byCA       bool
		selfSigned bool
		bits       int
		sig        string
		expired    bool
	}{
		{"self-signed SHA-256 2048", good, false, true, 2048, "SHA256-RSA", false},
		{"issued by a CA", good, true, false, 2048, "SHA256-RSA", false},
		{"expired", certSpec{2048, x509.SHA256WithRSA, now.Add(-48 * time.Hour), now.Add(-24 * time.Hour), "OLD"}, false, true, 2048, "SHA256-RSA", true},
		{"SHA-1 signature", certSpec{2048, x509.SHA1WithRSA, good.from, good.to, "SHA1"}, false, true, 2048, "SHA1-RSA", false},
		{"1024-bit key", certSpec{1024, x509.SHA256WithRSA, good.from, good.to, "SHORT"}, false, true, 1024, "SHA256-RSA", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var der []byte
			if c.byCA {
				der, _, _ = makeCert(t, c.spec, ca, caKey)
			} else {
				der, _, _ = makeCert(t, c.spec, nil, nil)
			}
			got, err := parseCertificate(der)
			if err != nil {
				t.Fatalf("parseCertificate: %v", err)
			}
			if got.SelfSigned != c.selfSigned {
				t.Errorf("SelfSigned = %v, want %v", got.SelfSigned, c.selfSigned)
			}
			if got.KeyBits != c.bits {
				t.Errorf("KeyBits = %d, want %d", got.KeyBits, c.bits)
			}
			if got.SignatureAlgorithm != c.sig {
				t.Errorf("SignatureAlgorithm = %q, want %q", got.SignatureAlgorithm, c.sig)
			}
			if expired := got.NotAfter.Before(now); expired != c.expired {
				t.Errorf("NotAfter %v: expired %v, want %v", got.NotAfter, expired, c.expired)
			}
			if !got.NotBefore.Equal(c.spec.from) || !got.NotAfter.Equal(c.spec.to) {
				t.Errorf("validity %v–%v, want %v–%v", got.NotBefore, got.NotAfter, c.spec.from, c.spec.to)
			}
			if want := "CN=" + c.spec.subject + ",O=Plant"; got.Subject != want {
				t.Errorf("Subject = %q, want %q", got.Subject, want)
			}
			if c.byCA && got.Issuer != "CN=Plant CA,O=Plant" {
				t.Errorf("Issuer = %q", got.Issuer)
			}
			if len(got.SHA256) != 64 {
				t.Errorf("SHA256 = %q", got.SHA256)
			}
		})
	}
}

func TestParseCertificateRejectsGarbage(t *testing.T) {
	for _, der := range [][]byte{nil, {}, []byte("not a certificate"), {0x30, 0x82, 0xff, 0xff}} {
		if c, err := parseCertificate(der); err == nil {
			t.Errorf("parseCertificate(%x) = %+v, want an error", der, c)
		}
	}
}

// TestClientIdentity: the agent's certificate carries the application URI
// as its URI SAN, which OPC UA servers insist on, and an RSA key.
func TestClientIdentity(t *testing.T) {
	id, err := newClientIdentity("urn:otaudit:test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(id.der)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.URIs) != 1 || c.URIs[0].String() != "urn:otaudit:test" {
		t.Errorf("URI SANs = %v", c.URIs)
	}
	if !rsaCertificate(id.der) || id.key.N.BitLen() != 2048 {
		t.Errorf("client key is not RSA-2048")
	}
	if _, err := newClientIdentity("%zz", time.Now()); err == nil {
		t.Errorf("bad application URI accepted")
	}
}
