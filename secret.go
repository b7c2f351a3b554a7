package otaudit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Secret holds a password or community string from the configuration. It
// never prints, logs or marshals its value: use Reveal at the one place the
// value goes on the wire.
type Secret struct{ value string }

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{value: s} }

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return s.value }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.value == "" }

const redacted = "[redacted]"

func (s Secret) String() string   { return redacted }
func (s Secret) GoString() string { return redacted }

// MarshalText makes every encoder (JSON, YAML, slog) write the placeholder.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// UnmarshalText lets a configuration file set the value.
func (s *Secret) UnmarshalText(b []byte) error { s.value = string(b); return nil }

// CredentialJudge turns a secret seen on the wire into what may be kept: a
// keyed fingerprint (so reuse across devices shows, but the secret cannot be
// recovered) and whether it is a known vendor default.
type CredentialJudge struct {
	// Key is the store's own fingerprint key.
	Key []byte
	// Defaults maps a protocol ("snmp", or "" for any login) to its known
	// default secrets.
	Defaults map[string][]string
}

// Judge fingerprints secret and checks it against the defaults for
// protocol and the protocol-independent list. The fingerprint does not
// depend on the protocol, so one password reused for Telnet and FTP shows.
func (j CredentialJudge) Judge(protocol string, secret []byte) (fingerprint string, knownDefault bool) {
	m := hmac.New(sha256.New, j.Key)
	m.Write(secret)
	fingerprint = "hmac-sha256:" + hex.EncodeToString(m.Sum(nil)[:16])
	for _, list := range [][]string{j.Defaults[protocol], j.Defaults[""]} {
		for _, d := range list {
			if hmac.Equal([]byte(d), secret) {
				return fingerprint, true
			}
		}
	}
	return fingerprint, false
}

// RedactUserInfo hides anything after a colon in "user:password" strings,
// for log lines that might otherwise carry a captured secret.
func RedactUserInfo(s string) string {
	if i := strings.IndexByte(s, ':'); i >= 0 {
		return s[:i] + ":" + redacted
	}
	return s
}
