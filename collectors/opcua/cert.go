package opcua

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net/url"
	"time"
)

// rsaCertificate reports whether der is a certificate with an RSA key, the
// only kind the OPC UA RSA security policies (and gopcua, which would
// otherwise panic on a type assertion) can use.
func rsaCertificate(der []byte) bool {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return false
	}
	_, ok := c.PublicKey.(*rsa.PublicKey)
	return ok
}

// clientIdentity is the agent's application instance certificate, made in
// memory for the run and never written anywhere. OPC UA servers check that
// its URI SAN equals the ApplicationURI of the session's client
// description.
type clientIdentity struct {
	key            *rsa.PrivateKey
	der            []byte
	applicationURI string
}

// newClientIdentity makes a self-signed 2048-bit RSA certificate valid for
// a day around now.
func newClientIdentity(applicationURI string, now time.Time) (*clientIdentity, error) {
	u, err := url.Parse(applicationURI)
	if err != nil {
		return nil, fmt.Errorf("client application URI %q: %w", applicationURI, err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("client key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, fmt.Errorf("client certificate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "otaudit read-only audit", Organization: []string{"otaudit"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment |
			x509.KeyUsageKeyEncipherment | x509.KeyUsageDataEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{u},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	return &clientIdentity{key: key, der: der, applicationURI: applicationURI}, nil
}
