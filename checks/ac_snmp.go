package checks

import (
	"fmt"
	"strings"

	"github.com/otaudit/otaudit"
)

// SNMP checks fed by the active SNMP collector (reference #1, #2, #4, #42).
// The collector only reads: write access is what the agent's VACM tables
// say a community may do, never the result of a SET.

func isV1V2c(a *otaudit.SNMPAccess) bool { return isSNMPv1v2c(a.Version) }

func isV3(a *otaudit.SNMPAccess) bool { return strings.EqualFold(strings.TrimSpace(a.Version), "v3") }

// scopeSNMPProbed lists the agents inside the zone that the SNMP collector
// asked with a matching version.
func scopeSNMPProbed(what string, match func(*otaudit.SNMPAccess) bool) func(in *Input) applicability {
	return func(in *Input) applicability {
		agents := map[string]bool{}
		for _, o := range in.snmpAccesses() {
			if s := o.SNMPAccess; match(s) && in.inside(s.Target) {
				agents[otaudit.AssetKey(s.Target.Unmap())] = true
			}
		}
		return applicability{assets: sortedKeys(agents), notApplicable: "the SNMP collector asked no agent inside the zone with " + what}
	}
}

var (
	scopeSNMPCommunityProbed = scopeSNMPProbed("a v1/v2c community", isV1V2c)
	scopeSNMPv3Probed        = scopeSNMPProbed("SNMPv3", isV3)
)

// evalDefaultSNMPCommunity (#1): an agent accepted a v1/v2c read with a
// community from the default list. Critical when a default community also
// has write access (#2 with a default), as the reference says.
func evalDefaultSNMPCommunity(in *Input) []otaudit.Finding {
	g := newGrouped()
	for _, o := range in.snmpAccesses() {
		s := o.SNMPAccess
		if !isV1V2c(s) || !s.Accepted || !s.KnownDefault || !in.inside(s.Target) {
			continue
		}
		x := g.add(s.Target, "", o)
		x.tags["version:"+strings.ToLower(s.Version)] = true
		if s.Fingerprint != "" {
			x.tags["fp:"+s.Fingerprint] = true
		}
		if s.Access == "write" {
			x.tags["write"] = true
		}
	}
	var hits []hit
	g.each(func(x *group) {
		h := hit{asset: x.asset, evidence: x.obs}
		h.summary = fmt.Sprintf("SNMP agent %s answered a read with a default community (%s, %d distinct defaults)",
			x.asset, strings.Join(tagValues(x.tags, "version:"), "/"), max(1, len(tagValues(x.tags, "fp:"))))
		if x.tags["write"] {
			h.severity = otaudit.SeverityCritical
			h.summary += "; a default community also has write access"
		}
		h.summary += "."
		hits = append(hits, h)
	})
	return in.findings("AC-DEFAULT-SNMP-COMMUNITY", hits)
}

// evalSNMPWriteCommunity (#2): a v1/v2c community the agent accepted has
// write access according to the agent's own access tables. The passive
// half of the reference check (a SetRequest answered with noError on the
// wire) cannot be seen yet: the capture analysis records the SNMP version
// and community, not the PDU type and error status. Until it does, the
// catalog lists only the snmp collector for this check, so a passive scan
// leaves it NOT_ASSESSED instead of passing it.
func evalSNMPWriteCommunity(in *Input) []otaudit.Finding {
	g := newGrouped()
	for _, o := range in.snmpAccesses() {
		s := o.SNMPAccess
		if !isV1V2c(s) || !s.Accepted || s.Access != "write" || !in.inside(s.Target) {
			continue
		}
		x := g.add(s.Target, cmpOr(s.Fingerprint, "unknown community"), o)
		x.tags["version:"+strings.ToLower(s.Version)] = true
		if s.KnownDefault {
			x.tags["default"] = true
		}
	}
	var hits []hit
	g.each(func(x *group) {
		which := "a site community"
		if x.tags["default"] {
			which = "a known default community"
		}
		s := fmt.Sprintf("SNMP agent %s gives write access to %s (SNMP %s, fingerprint %s): anyone who reads it on the wire can reconfigure the device.",
			x.asset, which, strings.Join(tagValues(x.tags, "version:"), "/"), shortFingerprint(x.key))
		hits = append(hits, hit{asset: x.asset, key: x.key, summary: s, evidence: x.obs})
	})
	return in.findings("AC-SNMP-WRITE-COMMUNITY", hits)
}

// evalSNMPv3WeakLevel (#4): the agent accepted an SNMPv3 request at
// noAuthNoPriv. Only the active collector can show it: on the wire every
// SNMPv3 exchange starts with a noAuthNoPriv engine-ID discovery, so a
// passive noAuthNoPriv message proves nothing about what the agent accepts.
func evalSNMPv3WeakLevel(in *Input) []otaudit.Finding {
	g := newGrouped()
	for _, o := range in.snmpAccesses() {
		s := o.SNMPAccess
		if !isV3(s) || !s.Accepted || !strings.EqualFold(s.SecurityLevel, "noAuthNoPriv") || !in.inside(s.Target) {
			continue
		}
		x := g.add(s.Target, s.User, o)
		x.tags["access:"+cmpOr(s.Access, "unknown")] = true
	}
	var hits []hit
	g.each(func(x *group) {
		s := fmt.Sprintf("SNMPv3 agent %s accepted user %q at noAuthNoPriv (access %s): an unauthenticated management interface.",
			x.asset, x.key, strings.Join(tagValues(x.tags, "access:"), "/"))
		hits = append(hits, hit{asset: x.asset, key: x.key, summary: s, evidence: x.obs})
	})
	return in.findings("AC-SNMPV3-WEAK-SECURITY-LEVEL", hits)
}

// scopeSNMPv3Agents are the agents inside the zone known to speak SNMPv3:
// probed with v3, or seen in a v3 exchange on the wire.
func scopeSNMPv3Agents(in *Input) applicability {
	agents := toSet(scopeSNMPv3Probed(in).assets)
	for _, o := range in.ix().channels {
		if c := o.SecureChannel; c.Protocol == "snmp" && strings.HasPrefix(c.Policy, "v3") && in.inside(c.Server) {
			agents[otaudit.AssetKey(c.Server.Unmap())] = true
		}
	}
	return applicability{assets: sortedKeys(agents), notApplicable: "no SNMPv3 agent seen inside the zone"}
}

// weakSNMPAuth and weakSNMPPriv are the algorithms reference #42 calls weak,
// plus SHA-1 (gosnmp's "SHA", HMAC-SHA-96), which issue 4 flags as weak too.
func weakSNMPAuth(p string) bool {
	switch strings.ToUpper(strings.TrimSpace(p)) {
	case "MD5", "SHA", "SHA1", "SHA-1":
		return true
	}
	return false
}
func weakSNMPPriv(p string) bool {
	p = strings.ToUpper(strings.TrimSpace(p))
	return p == "DES" || p == "3DES"
}

// evalSNMPv3NoPrivacy (#42): an agent accepted authNoPriv (medium), or a
// user works only with MD5 authentication or DES privacy (low). Passively,
// an SNMPv3 exchange at authNoPriv means a manager is configured to send
// and receive the agent's data unencrypted; a refusal would come back as a
// Report that the capture does not tell apart, so the finding is about the
// exchange being configured that way, whatever the agent answered.
func evalSNMPv3NoPrivacy(in *Input) []otaudit.Finding {
	g := newGrouped()
	for _, o := range in.snmpAccesses() {
		s := o.SNMPAccess
		if !isV3(s) || !s.Accepted || !in.inside(s.Target) {
			continue
		}
		switch {
		case strings.EqualFold(s.SecurityLevel, "authNoPriv"):
			x := g.add(s.Target, "user:"+s.User, o)
			x.tags["nopriv"] = true
		case strings.EqualFold(s.SecurityLevel, "authPriv") && (weakSNMPAuth(s.AuthProtocol) || weakSNMPPriv(s.PrivProtocol)):
			x := g.add(s.Target, "user:"+s.User, o)
			x.tags["weak:"+strings.ToUpper(s.AuthProtocol)+"/"+strings.ToUpper(s.PrivProtocol)] = true
		}
	}
	for _, o := range in.ix().channels {
		c := o.SecureChannel
		if c.Protocol != "snmp" || c.Policy != "v3 authNoPriv" || !in.inside(c.Server) {
			continue
		}
		x := g.add(c.Server, "manager:"+c.Client.String(), o)
		x.tags["nopriv"] = true
		x.crossed = x.crossed || in.crosses(c.Client, c.Server)
	}
	var hits []hit
	g.each(func(x *group) {
		h := hit{asset: x.asset, key: x.key, evidence: x.obs, crossed: x.crossed}
		kind, who, _ := strings.Cut(x.key, ":")
		switch {
		case kind == "manager":
			h.summary = fmt.Sprintf("Manager %s exchanged SNMPv3 authNoPriv messages with %s: the management data travels unencrypted", who, x.asset)
			if x.crossed {
				h.summary += " across the zone boundary"
			}
		case x.tags["nopriv"]:
			h.summary = fmt.Sprintf("SNMPv3 agent %s accepted user %q at authNoPriv: the management data travels unencrypted", x.asset, who)
		default:
			h.severity = otaudit.SeverityLow
			h.summary = fmt.Sprintf("SNMPv3 agent %s accepts user %q only with weak algorithms (auth/priv %s)",
				x.asset, who, strings.Join(tagValues(x.tags, "weak:"), ", "))
		}
		h.summary += "."
		hits = append(hits, h)
	})
	return in.findings("DC-SNMPV3-NO-PRIVACY", hits)
}
