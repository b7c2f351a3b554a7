// Package certtest makes X.509 certificates for tests.
package certtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"
)

// Spec says what certificate Make makes.
type Spec struct {
	Bits    int
	SigAlg  x509.SignatureAlgorithm
	From    time.Time
	To      time.Time
	Subject string
}

// Make makes an RSA certificate: self-signed (and a CA) when issuer is
// nil, else issued by issuer with issuerKey. It returns the DER, the
// parsed certificate and the key.
func Make(t testing.TB, spec Spec, issuer *x509.Certificate, issuerKey *rsa.PrivateKey) ([]byte, *x509.Certificate, *rsa.PrivateKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, spec.Bits)
	if err != nil {
		t.Fatalf("key %d bits: %v", spec.Bits, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(42),
		Subject:               pkix.Name{CommonName: spec.Subject, Organization: []string{"Plant"}},
		NotBefore:             spec.From,
		NotAfter:              spec.To,
		SignatureAlgorithm:    spec.SigAlg,
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
		t.Fatalf("create %s: %v", spec.Subject, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return der, c, key
}
