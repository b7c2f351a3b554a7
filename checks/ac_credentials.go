package checks

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/otaudit/otaudit"
)

// protocolLabels are the names used in summaries.
var protocolLabels = map[string]string{
	"telnet": "Telnet", "ftp": "FTP", "http-basic": "HTTP Basic authentication", "snmp": "SNMP",
	"http": "HTTP", "tftp": "TFTP", "rdp": "RDP", "vnc": "VNC", "ssh": "SSH",
	"teamviewer": "TeamViewer", "anydesk": "AnyDesk", "modbus": "Modbus", "opcua": "OPC UA",
}

func label(protocol string) string {
	if l, ok := protocolLabels[protocol]; ok {
		return l
	}
	return protocol
}

func evalCleartextTelnet(in *Input) []otaudit.Finding {
	return in.findings("AC-CLEARTEXT-LOGIN-TELNET", cleartextLogins(in, "telnet", true))
}

func evalCleartextFTP(in *Input) []otaudit.Finding {
	return in.findings("AC-CLEARTEXT-LOGIN-FTP", cleartextLogins(in, "ftp", false))
}

func evalCleartextHTTPBasic(in *Input) []otaudit.Finding {
	return in.findings("AC-CLEARTEXT-LOGIN-HTTP-BASIC", cleartextLogins(in, "http-basic", false))
}

// cleartextLogins finds credentials of protocol sent in clear to a server
// inside the zone, one finding per server, client and user. With sessions,
// a remote session of the same protocol counts even when no login exchange
// was recognised in it.
func cleartextLogins(in *Input, protocol string, sessions bool) []hit {
	g := newGrouped()
	loggedIn := map[[2]netip.Addr]bool{}
	for _, o := range in.ix().creds {
		c := o.Credential
		if c.Protocol != protocol || !in.inside(c.Server) {
			continue
		}
		x := g.add(c.Server, c.Client.String()+"|"+c.User, o)
		x.count += obsCount(o)
		x.crossed = x.crossed || in.crosses(c.Client, c.Server)
		x.tags["outcome:"+cmpOr(c.Outcome, "unseen")] = true
		x.tags["user:"+c.User] = true
		loggedIn[[2]netip.Addr{c.Server, c.Client}] = true
	}
	if sessions {
		for _, o := range in.ix().sessions {
			r := o.RemoteSession
			if r.Protocol != protocol || !in.inside(r.Server) {
				continue
			}
			key := r.Client.String() + "|"
			if loggedIn[[2]netip.Addr{r.Server, r.Client}] {
				// Attach the session to the login it carried.
				for _, k := range g.order {
					if x := g.by[k]; x.asset == r.Server && strings.HasPrefix(x.key, r.Client.String()+"|") {
						x.obs = append(x.obs, o)
						break
					}
				}
				continue
			}
			x := g.add(r.Server, key, o)
			x.count++ // one observation is one session; its Count is packets
			x.crossed = x.crossed || in.crosses(r.Client, r.Server)
			x.tags["session"] = true
		}
	}
	var hits []hit
	g.each(func(x *group) {
		client, user, _ := strings.Cut(x.key, "|")
		where := ""
		if x.crossed {
			where = " across the zone boundary"
		}
		var s string
		if x.tags["session"] {
			s = fmt.Sprintf("%s opened %s to %s%s; no login exchange was recognised, but %s carries any login in clear text.",
				client, sessionsOf(x.count, label(protocol)), x.asset, where, label(protocol))
		} else {
			s = fmt.Sprintf("%s sent the password of user %q to %s over %s in clear text %s%s (outcome: %s); anyone on the path can read it.",
				client, user, x.asset, label(protocol), times(x.count), where, strings.Join(tagValues(x.tags, "outcome:"), ", "))
		}
		hits = append(hits, hit{asset: x.asset, key: x.key, summary: s, evidence: x.obs, crossed: x.crossed})
	})
	return hits
}

// tagValues returns the sorted values of tags with prefix.
func tagValues(tags map[string]bool, prefix string) []string {
	var out []string
	for _, t := range sortedKeys(tags) {
		if v, ok := strings.CutPrefix(t, prefix); ok {
			out = append(out, v)
		}
	}
	return out
}

func cmpOr(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

// isSNMPv1v2c reports whether an SNMP version or policy string names the
// community-based versions.
func isSNMPv1v2c(v string) bool {
	v = strings.ToLower(strings.TrimSpace(v))
	return v == "v1" || v == "v2c" || v == "v2" || v == "1" || v == "2c" || strings.HasPrefix(v, "snmpv1") || strings.HasPrefix(v, "snmpv2")
}

// evalCleartextSNMP flags agents inside the zone that were sent community
// strings in clear text, one finding per agent and client.
func evalCleartextSNMP(in *Input) []otaudit.Finding {
	g := newGrouped()
	for _, o := range in.ix().creds {
		c := o.Credential
		if c.Protocol != "snmp" || !in.inside(c.Server) || (c.Detail != "" && !isSNMPv1v2c(c.Detail)) {
			continue
		}
		x := g.add(c.Server, c.Client.String(), o)
		x.count += obsCount(o)
		x.crossed = x.crossed || in.crosses(c.Client, c.Server)
		if c.Fingerprint != "" {
			x.tags["fp:"+c.Fingerprint] = true
		}
		if c.Detail != "" {
			x.tags["version:"+c.Detail] = true
		}
		if c.KnownDefault {
			x.tags["default"] = true
		}
	}
	var hits []hit
	g.each(func(x *group) {
		h := hit{asset: x.asset, key: x.key, evidence: x.obs, crossed: x.crossed}
		extra := ""
		if x.tags["default"] {
			h.severity = otaudit.SeverityHigh
			extra = ", at least one of them a known default"
		}
		h.summary = fmt.Sprintf("%s sent SNMP %s community strings to %s in clear text %s (%d distinct communities%s).",
			x.key, cmpOr(strings.Join(tagValues(x.tags, "version:"), "/"), "v1/v2c"), x.asset, times(x.count),
			max(1, len(tagValues(x.tags, "fp:"))), extra)
		hits = append(hits, h)
	})
	return in.findings("AC-CLEARTEXT-LOGIN-SNMP", hits)
}

// evalDefaultCredential flags servers inside the zone that were sent a
// known vendor default, unless the login was seen to fail.
func evalDefaultCredential(in *Input) []otaudit.Finding {
	g := newGrouped()
	for _, o := range in.ix().creds {
		c := o.Credential
		if !c.KnownDefault || c.Outcome == "failure" || !in.inside(c.Server) {
			continue
		}
		x := g.add(c.Server, c.Protocol+"|"+c.User, o)
		x.count += obsCount(o)
		x.crossed = x.crossed || in.crosses(c.Client, c.Server)
		x.tags["client:"+c.Client.String()] = true
		x.tags["outcome:"+cmpOr(c.Outcome, "unseen")] = true
	}
	var hits []hit
	g.each(func(x *group) {
		protocol, user, _ := strings.Cut(x.key, "|")
		what := fmt.Sprintf("the vendor-default %s credential of user %q", label(protocol), user)
		if protocol == "snmp" {
			what = "a default SNMP community"
		}
		s := fmt.Sprintf("%s was sent %s %s by %s (outcome: %s).", x.asset, what, times(x.count),
			listSome(tagValues(x.tags, "client:"), 3), strings.Join(tagValues(x.tags, "outcome:"), ", "))
		hits = append(hits, hit{asset: x.asset, key: x.key, summary: s, evidence: x.obs, crossed: x.crossed})
	})
	return in.findings("AC-DEFAULT-CREDENTIAL-OBSERVED", hits)
}

// sharedCredentialDevices is how many devices must accept one secret before
// it counts as shared (reference #13, N = 3).
const sharedCredentialDevices = 3

// evalSharedCredential flags every device inside the zone that accepts a
// secret (by fingerprint) that at least sharedCredentialDevices devices
// accept.
func evalSharedCredential(in *Input) []otaudit.Finding {
	servers := map[string]map[netip.Addr]bool{}
	for _, o := range in.ix().creds {
		c := o.Credential
		if c.Fingerprint == "" || c.Outcome == "failure" || !in.inside(c.Server) {
			continue
		}
		if servers[c.Fingerprint] == nil {
			servers[c.Fingerprint] = map[netip.Addr]bool{}
		}
		servers[c.Fingerprint][c.Server] = true
	}
	g := newGrouped()
	for _, o := range in.ix().creds {
		c := o.Credential
		if c.Fingerprint == "" || c.Outcome == "failure" || len(servers[c.Fingerprint]) < sharedCredentialDevices || !in.inside(c.Server) {
			continue
		}
		x := g.add(c.Server, c.Fingerprint, o)
		x.tags["protocol:"+c.Protocol] = true
		if c.User != "" {
			x.tags["user:"+c.User] = true
		}
	}
	var hits []hit
	g.each(func(x *group) {
		var devices []string
		for a := range servers[x.key] {
			devices = append(devices, a.String())
		}
		devices = sortedKeys(toSet(devices))
		users := ""
		if u := tagValues(x.tags, "user:"); len(u) > 0 {
			users = fmt.Sprintf(" for user %s", strings.Join(quoteAll(u), ", "))
		}
		s := fmt.Sprintf("%s accepts the same secret (fingerprint %s) over %s%s as %d devices in total: %s.",
			x.asset, shortFingerprint(x.key), strings.Join(tagValues(x.tags, "protocol:"), ", "), users, len(devices), listSome(devices, 5))
		hits = append(hits, hit{asset: x.asset, key: x.key, summary: s, evidence: x.obs})
	})
	return in.findings("AC-SHARED-CREDENTIAL-MANY-DEVICES", hits)
}

func shortFingerprint(fp string) string {
	if len(fp) > 28 {
		return fp[:28] + "…"
	}
	return fp
}

func quoteAll(xs []string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = fmt.Sprintf("%q", x)
	}
	return out
}

// scopeSNMPAgents are the zone's assets that answer SNMP.
func scopeSNMPAgents(in *Input) applicability {
	agents := map[string]bool{}
	for _, a := range in.insideAssets() {
		if a.Serves("snmp") {
			agents[otaudit.AssetKey(a.IP)] = true
		}
	}
	for _, o := range in.ix().flows {
		if f := o.Flow; f.Protocol == "snmp" && f.ServerAnswered && in.inside(f.Server) {
			agents[otaudit.AssetKey(f.Server)] = true
		}
	}
	for _, o := range in.ix().channels {
		if s := o.SecureChannel; s.Protocol == "snmp" && in.inside(s.Server) {
			agents[otaudit.AssetKey(s.Server)] = true
		}
	}
	return applicability{assets: sortedKeys(agents), notApplicable: "no SNMP agent seen inside the zone"}
}

// evalSNMPv1v2c is the passive part of reference #3: an agent inside the
// zone was seen speaking SNMPv1 or v2c.
func evalSNMPv1v2c(in *Input) []otaudit.Finding {
	g := newGrouped()
	note := func(server, client netip.Addr, version string, o otaudit.Observation) {
		x := g.add(server, "", o)
		x.count += obsCount(o)
		x.crossed = x.crossed || in.crosses(client, server)
		x.tags["version:"+strings.ToLower(version)] = true
		x.tags["client:"+client.String()] = true
	}
	for _, o := range in.ix().channels {
		if s := o.SecureChannel; s.Protocol == "snmp" && isSNMPv1v2c(s.Policy) && in.inside(s.Server) {
			note(s.Server, s.Client, s.Policy, o)
		}
	}
	for _, o := range in.ix().creds {
		if c := o.Credential; c.Protocol == "snmp" && isSNMPv1v2c(c.Detail) && in.inside(c.Server) {
			note(c.Server, c.Client, c.Detail, o)
		}
	}
	var hits []hit
	g.each(func(x *group) {
		clients := tagValues(x.tags, "client:")
		s := fmt.Sprintf("%s answers SNMP %s (community in clear text): seen %s with %d managers (%s).",
			x.asset, strings.Join(tagValues(x.tags, "version:"), "/"), times(x.count), len(clients), listSome(clients, 3))
		hits = append(hits, hit{asset: x.asset, summary: s, evidence: x.obs, crossed: x.crossed})
	})
	return in.findings("AC-SNMP-V1V2C-ENABLED", hits)
}
