package opcua

import (
	"crypto/rsa"
	"crypto/x509"
	"testing"
	"time"

	"github.com/otaudit/otaudit/collectors/certinfo/certtest"
)

type certSpec = certtest.Spec

func makeCert(t *testing.T, spec certSpec, issuer *x509.Certificate, issuerKey *rsa.PrivateKey) ([]byte, *x509.Certificate, *rsa.PrivateKey) {
	return certtest.Make(t, spec, issuer, issuerKey)
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
