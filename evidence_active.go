package otaudit

import (
	"net/netip"
	"time"
)

// Kinds of evidence only an active collector can produce: what a device
// accepts when asked (read-only), and how its endpoints are secured.
const (
	// KindSNMPAccess: an SNMP agent answered (or refused) a read with a
	// community or a v3 security level.
	KindSNMPAccess ObservationKind = "snmp_access"
	// KindEndpoint: a service endpoint and how it is secured (OPC UA
	// GetEndpoints: policy, mode, user tokens, certificate).
	KindEndpoint ObservationKind = "endpoint"
	// KindLoginProbe: the outcome of a bounded, read-only login attempt
	// (anonymous or a default credential) and what the session could do.
	KindLoginProbe ObservationKind = "login_probe"
)

// SNMPAccess is one SNMP read an agent accepted or refused.
type SNMPAccess struct {
	Target  netip.Addr `json:"target"`
	Version string     `json:"version"` // "v1", "v2c", "v3"
	// Fingerprint of the community (v1/v2c) under the store's key.
	Fingerprint  string `json:"fingerprint,omitempty"`
	KnownDefault bool   `json:"known_default"`
	Accepted     bool   `json:"accepted"`
	// Access is "read", "write" (inferred from readable VACM tables or a
	// SetRequest seen answered on the wire; never tested with a SET) or
	// "unknown".
	Access string `json:"access,omitempty"`
	// SecurityLevel is the v3 level: noAuthNoPriv, authNoPriv, authPriv.
	SecurityLevel string `json:"security_level,omitempty"`
	User          string `json:"user,omitempty"`
	AuthProtocol  string `json:"auth_protocol,omitempty"` // MD5, SHA, SHA-256, …
	PrivProtocol  string `json:"priv_protocol,omitempty"` // DES, AES, …
	EngineID      string `json:"engine_id,omitempty"`
}

// Endpoint is a service endpoint as the server describes it.
type Endpoint struct {
	Protocol string     `json:"protocol"` // "opcua"
	Server   netip.Addr `json:"server"`
	URL      string     `json:"url"`
	// SecurityPolicy is the full policy URI; SecurityMode is None, Sign or
	// SignAndEncrypt.
	SecurityPolicy string       `json:"security_policy"`
	SecurityMode   string       `json:"security_mode"`
	UserTokens     []UserToken  `json:"user_tokens,omitempty"`
	Certificate    *Certificate `json:"certificate,omitempty"`
}

// UserToken is one way an endpoint lets a user identify.
type UserToken struct {
	PolicyID string `json:"policy_id,omitempty"`
	// Type is Anonymous, UserName, Certificate or IssuedToken.
	Type string `json:"type"`
	// SecurityPolicy protects the token; empty inherits the endpoint's.
	SecurityPolicy string `json:"security_policy,omitempty"`
}

// Certificate is what the agent needs to judge a server certificate.
type Certificate struct {
	Subject            string    `json:"subject"`
	Issuer             string    `json:"issuer"`
	NotBefore          time.Time `json:"not_before"`
	NotAfter           time.Time `json:"not_after"`
	SelfSigned         bool      `json:"self_signed"`
	KeyBits            int       `json:"key_bits"`
	SignatureAlgorithm string    `json:"signature_algorithm"` // e.g. SHA1-RSA
	SHA256             string    `json:"sha256"`
}

// LoginProbe is the outcome of one bounded login attempt by an active
// collector. Secrets are never kept: only the user name and whether the
// password was a known default.
type LoginProbe struct {
	Protocol string     `json:"protocol"`
	Server   netip.Addr `json:"server"`
	Endpoint string     `json:"endpoint,omitempty"`
	// Method is "anonymous" or "password".
	Method       string `json:"method"`
	User         string `json:"user,omitempty"`
	KnownDefault bool   `json:"known_default"`
	Accepted     bool   `json:"accepted"`
	// Sampled variables and methods of a bounded read-only browse, and how
	// many of them the session could write or execute (attribute reads
	// only: never a write or a call).
	Sampled           int    `json:"sampled,omitempty"`
	WritableNodes     int    `json:"writable_nodes,omitempty"`
	ExecutableMethods int    `json:"executable_methods,omitempty"`
	Detail            string `json:"detail,omitempty"`
}
