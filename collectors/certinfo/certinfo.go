// Package certinfo describes X.509 certificates for the checks: subject,
// issuer, validity, whether self-signed, key size, signature algorithm and
// thumbprint. The active OPC UA collector reads them from endpoint
// descriptions, the passive collector from OpenSecureChannel messages and
// TLS handshakes on the wire; all describe them here, alike. What must not
// live here: any judgement of a certificate (that is the checks').
package certinfo

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/otaudit/otaudit"
)

// Describe turns a DER certificate into what the checks judge. Expired,
// self-signed, SHA-1 or short-key certificates are recorded as they are:
// judging them is the checks' job, and a device with a bad certificate is
// exactly what the audit is for. A certificate crypto/x509 cannot parse is
// an error.
func Describe(der []byte) (*otaudit.Certificate, error) {
	c, err := Parse(der)
	if err != nil {
		return nil, err
	}
	return DescribeParsed(c), nil
}

// Parse parses a DER certificate, for a caller that looks at more of it
// than Describe keeps before describing it with DescribeParsed.
func Parse(der []byte) (*x509.Certificate, error) {
	if len(der) == 0 {
		return nil, errors.New("no certificate")
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	return c, nil
}

// DescribeParsed is Describe for a certificate already parsed.
func DescribeParsed(c *x509.Certificate) *otaudit.Certificate {
	sum := sha256.Sum256(c.Raw)
	return &otaudit.Certificate{
		Subject:            c.Subject.String(),
		Issuer:             c.Issuer.String(),
		NotBefore:          c.NotBefore.UTC(),
		NotAfter:           c.NotAfter.UTC(),
		SelfSigned:         selfSigned(c),
		KeyBits:            keyBits(c),
		SignatureAlgorithm: c.SignatureAlgorithm.String(),
		SHA256:             hex.EncodeToString(sum[:]),
	}
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

// First returns the first DER element of b: OPC UA lets a sender append
// its CA certificates after its own in one byte string.
func First(b []byte) ([]byte, error) {
	var raw asn1.RawValue
	if _, err := asn1.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("certificate chain: %w", err)
	}
	return raw.FullBytes, nil
}
