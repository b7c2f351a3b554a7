package checks

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/otaudit/otaudit"
)

// OPC UA message security and certificate checks (reference #37-#41),
// from the endpoints the active collector read and, for the deprecated
// policies and the certificates, from secure channels seen on the wire.

// scopeOPCUAAnyServers are the OPC UA servers inside the zone described by
// the active collector or seen passively.
func scopeOPCUAAnyServers(in *Input) applicability {
	servers := toSet(scopeOPCUAProbed(in).assets)
	for k := range toSet(scopeOPCUAServers(in).assets) {
		servers[k] = true
	}
	return applicability{assets: sortedKeys(servers), notApplicable: "no OPC UA server inside the zone"}
}

// scopeOPCUACertificates are the servers inside the zone that presented a
// certificate: in an endpoint description, or signing a secure channel.
// A capture alone that showed none has not looked at the certificates (a
// server may only have been used without security): NOT_ASSESSED, unless
// the active collector read the endpoints.
func scopeOPCUACertificates(in *Input) applicability {
	servers := map[string]bool{}
	in.eachServerCertificate(func(server netip.Addr, _ *otaudit.Certificate, _ string, _ otaudit.Observation) {
		servers[otaudit.AssetKey(server.Unmap())] = true
	})
	if len(servers) == 0 && !in.Collected["opcua"] {
		return applicability{notAssessed: "no OPC UA server certificate was read: the active OPC UA collector did not run, and no secure channel in the capture was signed with one"}
	}
	return applicability{assets: sortedKeys(servers), notApplicable: "no OPC UA server inside the zone presented a certificate"}
}

// eachServerCertificate calls fn for each certificate an OPC UA server
// inside the zone presented, with the endpoint URL it came with and its
// observation: the endpoint descriptions the active collector read, and
// the secure channels seen on the wire whose server signed with one.
func (in *Input) eachServerCertificate(fn func(server netip.Addr, c *otaudit.Certificate, url string, o otaudit.Observation)) {
	for _, o := range in.opcuaEndpoints() {
		if ep := o.Endpoint; ep.Certificate != nil && in.inside(ep.Server) {
			fn(ep.Server, ep.Certificate, ep.URL, o)
		}
	}
	for _, o := range in.ix().channels {
		if ch := o.SecureChannel; ch.Protocol == "opcua" && ch.ServerCertificate != nil && in.inside(ch.Server) {
			fn(ch.Server, ch.ServerCertificate, ch.Endpoint, o)
		}
	}
}

// evalOPCUASignOnly (#37): the strongest mode a server offers is Sign. M1
// (medium, SR 4.1 RE1) when clients outside the zone use the server.
func evalOPCUASignOnly(in *Input) []otaudit.Finding {
	type modes struct {
		sign, encrypt bool
		obs           []otaudit.Observation
	}
	servers := map[netip.Addr]*modes{}
	for _, o := range in.opcuaEndpoints() {
		ep := o.Endpoint
		if !in.inside(ep.Server) {
			continue
		}
		a := ep.Server.Unmap()
		if servers[a] == nil {
			servers[a] = &modes{}
		}
		switch strings.ToLower(ep.SecurityMode) {
		case "sign":
			servers[a].sign = true
			servers[a].obs = append(servers[a].obs, o)
		case "signandencrypt":
			servers[a].encrypt = true
		}
	}
	g := newGrouped()
	for a, m := range servers {
		if m.sign && !m.encrypt {
			g.get(a, "").obs = m.obs
		}
	}
	var hits []hit
	g.each(func(x *group) {
		h := hit{asset: x.asset, evidence: x.obs}
		h.summary = fmt.Sprintf("OPC UA server %s offers Sign but no SignAndEncrypt endpoint: process data is protected against change but readable", x.asset)
		if across := in.opcuaUsedAcrossBoundary(x.asset); len(across) > 0 {
			h.crossed = true
			h.evidence = append(h.evidence, across...)
			h.summary += ", and clients outside the zone use it"
		}
		h.summary += "."
		hits = append(hits, h)
	})
	return in.findings("DC-OPCUA-MESSAGEMODE-SIGN-ONLY", hits)
}

// deprecatedPolicy reports whether a SecurityPolicyUri is one of the SHA-1
// policies (Basic128Rsa15, Basic256; not Basic256Sha256).
func deprecatedPolicy(uri string) bool {
	switch policyName(uri) {
	case "Basic128Rsa15", "Basic256":
		return true
	}
	return false
}

// sha256Policy reports whether a policy is one of the current SHA-256 ones.
func sha256Policy(uri string) bool {
	switch policyName(uri) {
	case "Basic256Sha256", "Aes128_Sha256_RsaOaep", "Aes256_Sha256_RsaPss":
		return true
	}
	return false
}

// evalOPCUADeprecatedPolicy (#38): a server offers (endpoint) or uses
// (secure channel on the wire) Basic128Rsa15 or Basic256. High when the
// server's endpoints were read and none offers a SHA-256 policy; from the
// wire alone the offer is unknown, so it stays medium unless a SHA-256
// channel was seen.
func evalOPCUADeprecatedPolicy(in *Input) []otaudit.Finding {
	g := newGrouped()
	described := map[netip.Addr]bool{}
	modern := map[netip.Addr]bool{}
	for _, o := range in.opcuaEndpoints() {
		ep := o.Endpoint
		if !in.inside(ep.Server) {
			continue
		}
		a := ep.Server.Unmap()
		described[a] = true
		if sha256Policy(ep.SecurityPolicy) {
			modern[a] = true
		}
		if deprecatedPolicy(ep.SecurityPolicy) {
			x := g.add(a, "", o)
			x.tags["policy:"+policyName(ep.SecurityPolicy)] = true
			x.tags["offered"] = true
		}
	}
	for _, o := range in.ix().channels {
		c := o.SecureChannel
		if c.Protocol != "opcua" || !in.inside(c.Server) {
			continue
		}
		a := c.Server.Unmap()
		if sha256Policy(c.Policy) {
			modern[a] = true
		}
		if deprecatedPolicy(c.Policy) {
			x := g.add(a, "", o)
			x.tags["policy:"+policyName(c.Policy)] = true
			x.tags["client:"+c.Client.String()] = true
		}
	}
	var hits []hit
	g.each(func(x *group) {
		h := hit{asset: x.asset, evidence: x.obs}
		policies := strings.Join(tagValues(x.tags, "policy:"), " and ")
		switch clients := tagValues(x.tags, "client:"); {
		case x.tags["offered"] && len(clients) > 0:
			h.summary = fmt.Sprintf("OPC UA server %s offers %s (SHA-1) and %d clients use it (%s)", x.asset, policies, len(clients), listSome(clients, 3))
		case x.tags["offered"]:
			h.summary = fmt.Sprintf("OPC UA server %s offers %s (SHA-1)", x.asset, policies)
		default:
			h.summary = fmt.Sprintf("Clients (%s) opened secure channels with OPC UA server %s using %s (SHA-1)", listSome(clients, 3), x.asset, policies)
		}
		switch {
		case described[x.asset] && !modern[x.asset]:
			h.severity = otaudit.SeverityHigh
			h.summary += "; it offers no SHA-256 policy"
		case !described[x.asset] && !modern[x.asset]:
			h.summary += "; its endpoints were not read, so whether it offers a SHA-256 policy is unknown"
		}
		h.summary += "."
		hits = append(hits, h)
	})
	return in.findings("DC-OPCUA-DEPRECATED-POLICY", hits)
}

// serverCertificates groups the certificates the zone's OPC UA servers
// presented, one group per server and certificate, keeping the endpoints
// and channels that presented each.
func (in *Input) serverCertificates(match func(c *otaudit.Certificate) bool) *grouped {
	g := newGrouped()
	in.eachServerCertificate(func(server netip.Addr, c *otaudit.Certificate, url string, o otaudit.Observation) {
		if match(c) {
			x := g.add(server, certKey(c), o)
			if url != "" {
				x.tags["url:"+url] = true
			}
		}
	})
	return g
}

// certKey identifies a certificate: its SHA-256 thumbprint, else subject
// and expiry.
func certKey(c *otaudit.Certificate) string {
	if c.SHA256 != "" {
		return "sha256:" + c.SHA256
	}
	return fmt.Sprintf("%s|%s", c.Subject, c.NotAfter.UTC().Format("2006-01-02T15:04:05Z"))
}

// certPlaces says where a group's certificate was presented: "on" its
// endpoint URLs, or on the wire when no URL came with it (a secure channel
// whose Hello the capture missed).
func certPlaces(x *group) string {
	if urls := tagValues(x.tags, "url:"); len(urls) > 0 {
		return "on " + listSome(urls, 2)
	}
	return "in a secure channel seen on the wire"
}

// firstCert is the certificate of a serverCertificates group.
func firstCert(x *group) *otaudit.Certificate {
	if o := x.obs[0]; o.Endpoint != nil {
		return o.Endpoint.Certificate
	}
	return x.obs[0].SecureChannel.ServerCertificate
}

// evalOPCUACertExpired (#39): the server certificate is expired or not yet
// valid at the evaluation time (Input.Now, else the latest evidence time,
// so that an old capture is judged as of when it was taken). The identity
// part of the reference check (SAN URI and host against the application
// description) needs fields the endpoint evidence does not carry yet.
func evalOPCUACertExpired(in *Input) []otaudit.Finding {
	now := in.evaluationTime()
	if now.IsZero() {
		return nil
	}
	g := in.serverCertificates(func(c *otaudit.Certificate) bool {
		return (!c.NotAfter.IsZero() && c.NotAfter.Before(now)) || c.NotBefore.After(now)
	})
	var hits []hit
	g.each(func(x *group) {
		c := firstCert(x)
		state := fmt.Sprintf("expired on %s", c.NotAfter.UTC().Format("2006-01-02"))
		if c.NotBefore.After(now) {
			state = fmt.Sprintf("not valid before %s", c.NotBefore.UTC().Format("2006-01-02"))
		}
		s := fmt.Sprintf("OPC UA server %s presents certificate %q (issuer %q) that was %s at %s, %s.",
			x.asset, c.Subject, c.Issuer, state, now.UTC().Format("2006-01-02 15:04Z"), certPlaces(x))
		hits = append(hits, hit{asset: x.asset, key: x.key, summary: s, evidence: x.obs})
	})
	return in.findings("DC-OPCUA-CERT-EXPIRED-OR-INVALID", hits)
}

// evalOPCUACertSelfSigned (#40): a self-signed application certificate. The
// agent has no input for the site's trust list yet, so every self-signed
// certificate is reported at the base severity (low) and none disproves
// SR 1.8: whether a managed trust list governs it is unknown.
func evalOPCUACertSelfSigned(in *Input) []otaudit.Finding {
	g := in.serverCertificates(func(c *otaudit.Certificate) bool { return c.SelfSigned })
	var hits []hit
	g.each(func(x *group) {
		c := firstCert(x)
		s := fmt.Sprintf("OPC UA server %s presents the self-signed certificate %q %s; no trust list was given to tell whether it is managed.",
			x.asset, c.Subject, certPlaces(x))
		hits = append(hits, hit{asset: x.asset, key: x.key, summary: s, evidence: x.obs})
	})
	return in.findings("DC-OPCUA-CERT-SELF-SIGNED", hits)
}

// certWeakness says what is weak about a certificate, or "". The key type
// is not in the evidence; it is read from the signature algorithm, which
// names the subject's own key for the self-signed certificates OPC UA
// servers mostly use: ECDSA keys need 256 bits, all others (RSA) 2048.
func certWeakness(c *otaudit.Certificate) string {
	var weak []string
	alg := strings.ToUpper(c.SignatureAlgorithm)
	minBits := 2048
	if strings.Contains(alg, "ECDSA") {
		minBits = 256
	}
	if c.KeyBits > 0 && c.KeyBits < minBits {
		weak = append(weak, fmt.Sprintf("%d-bit key (minimum %d)", c.KeyBits, minBits))
	}
	if strings.Contains(alg, "SHA1") || strings.Contains(alg, "SHA-1") || strings.Contains(alg, "MD5") || strings.Contains(alg, "MD2") {
		weak = append(weak, "signature "+c.SignatureAlgorithm)
	}
	return strings.Join(weak, " and ")
}

// evalOPCUACertWeakCrypto (#41): RSA below 2048 bits (EC below 256), or a
// SHA-1/MD5 signature.
func evalOPCUACertWeakCrypto(in *Input) []otaudit.Finding {
	g := in.serverCertificates(func(c *otaudit.Certificate) bool { return certWeakness(c) != "" })
	var hits []hit
	g.each(func(x *group) {
		c := firstCert(x)
		s := fmt.Sprintf("OPC UA server %s presents certificate %q with a %s, %s.",
			x.asset, c.Subject, certWeakness(c), certPlaces(x))
		hits = append(hits, hit{asset: x.asset, key: x.key, summary: s, evidence: x.obs})
	})
	return in.findings("DC-OPCUA-CERT-WEAK-CRYPTO", hits)
}
