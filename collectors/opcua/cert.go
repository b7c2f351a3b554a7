package opcua

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"time"

	"github.com/otaudit/otaudit"
)

// parseCertificate turns a DER server certificate from an endpoint
// description into what the checks judge. Expired, self-signed, SHA-1 or
// short-key certificates are recorded as they are: judging them is the
// checks' job, and a device with a bad certificate is exactly what the
// audit is for. A certificate crypto/x509 cannot parse is an error.
func parseCertificate(der []byte) (*otaudit.Certificate, error) {
	if len(der) == 0 {
		return nil, errors.New("no certificate")
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse server certificate: %w", err)
	}
	sum := sha256.Sum256(der)
	return &otaudit.Certificate{
		Subject:            c.Subject.String(),
		Issuer:             c.Issuer.String(),
		NotBefore:          c.NotBefore.UTC(),
		NotAfter:           c.NotAfter.UTC(),
		SelfSigned:         selfSigned(c),
		KeyBits:            keyBits(c),
		SignatureAlgorithm: c.SignatureAlgorithm.String(),
		SHA256:             hex.EncodeToString(sum[:]),
	}, nil
}

// selfSigned: the issuer is the subject and the certificate's own key
// verifies its signature. A name match alone would also call a
// certificate issued by a same-named CA self-signed.
func selfSigned(c *x509.Certificate) bool {
	if !bytes.Equal(c.RawIssuer, c.RawSubject) {
		return false
	}
	// CheckSignatureFrom also insists on CA basic constraints, which
	// device certificates rarely have; CheckSignature checks the
	// signature alone. SHA-1 signatures are refused by crypto/x509's
	// default policy, so a SHA-1 self-signed certificate falls back to the
	// name match (its key identifiers, when present, must agree).
	err := c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature)
	if err == nil {
		return true
	}
	var insecure x509.InsecureAlgorithmError
	if errors.As(err, &insecure) {
		return len(c.AuthorityKeyId) == 0 || bytes.Equal(c.AuthorityKeyId, c.SubjectKeyId)
	}
	return false
}

// keyBits is the size of the certificate's public key.
func keyBits(c *x509.Certificate) int {
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		return k.N.BitLen()
	case *ecdsa.PublicKey:
		return k.Curve.Params().BitSize
	case ed25519.PublicKey:
		return 256
	}
	return 0
}

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
