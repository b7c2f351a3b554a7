package checks

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/otaudit/otaudit"
)

// OPC UA access-control checks fed by the active OPC UA collector: the
// endpoints a server describes (GetEndpoints) and the outcome of bounded,
// read-only login probes (reference #5, #6, #7, #21).

// scopeOPCUAProbed are the servers inside the zone that the OPC UA
// collector described or probed.
func scopeOPCUAProbed(in *Input) applicability {
	servers := map[string]bool{}
	for _, o := range in.opcuaEndpoints() {
		if s := o.Endpoint.Server; in.inside(s) {
			servers[otaudit.AssetKey(s.Unmap())] = true
		}
	}
	for _, o := range in.opcuaProbes() {
		if s := o.LoginProbe.Server; in.inside(s) {
			servers[otaudit.AssetKey(s.Unmap())] = true
		}
	}
	return applicability{assets: sortedKeys(servers), notApplicable: "the OPC UA collector described no server inside the zone"}
}

// opcuaUsedAcrossBoundary returns the passive evidence (secure channels,
// flows) of clients outside the zone using the OPC UA server inside it:
// modifier M1 for checks about what an endpoint exposes.
func (in *Input) opcuaUsedAcrossBoundary(server netip.Addr) []otaudit.Observation {
	var out []otaudit.Observation
	for _, o := range in.ix().channels {
		if c := o.SecureChannel; c.Protocol == "opcua" && c.Server.Unmap() == server.Unmap() && in.crosses(c.Client, c.Server) {
			out = append(out, o)
		}
	}
	x := in.ix()
	for _, i := range x.flowsOf[server.Unmap()] {
		o := x.flows[i]
		if f := o.Flow; f.Protocol == "opcua" && f.Server.Unmap() == server.Unmap() && f.ServerAnswered && in.crosses(f.Client, f.Server) {
			out = append(out, o)
		}
	}
	return out
}

func hasTokenType(ep *otaudit.Endpoint, typ string) bool {
	for _, t := range ep.UserTokens {
		if strings.EqualFold(t.Type, typ) {
			return true
		}
	}
	return false
}

// evalOPCUAAnonymousAccess (#5): an endpoint offers the Anonymous token,
// unless an anonymous login probe of the same server was refused (the
// reference's "and, if probing is enabled, the session is Good"); an
// accepted anonymous probe fails on its own. Critical when the anonymous
// session could also write or call methods (#21).
func evalOPCUAAnonymousAccess(in *Input) []otaudit.Finding {
	type server struct {
		offered, accepted, refused, writes bool
		obs                                []otaudit.Observation
		urls                               map[string]bool
	}
	servers := map[netip.Addr]*server{}
	get := func(a netip.Addr) *server {
		a = a.Unmap()
		if servers[a] == nil {
			servers[a] = &server{urls: map[string]bool{}}
		}
		return servers[a]
	}
	for _, o := range in.opcuaEndpoints() {
		ep := o.Endpoint
		if !in.inside(ep.Server) || !hasTokenType(ep, "Anonymous") {
			continue
		}
		s := get(ep.Server)
		s.offered = true
		s.urls[ep.URL] = true
		s.obs = append(s.obs, o)
	}
	for _, o := range in.opcuaProbes() {
		p := o.LoginProbe
		if p.Method != "anonymous" || !in.inside(p.Server) {
			continue
		}
		s := get(p.Server)
		s.obs = append(s.obs, o)
		if !p.Accepted {
			s.refused = true
			continue
		}
		s.accepted = true
		s.writes = s.writes || p.WritableNodes > 0 || p.ExecutableMethods > 0
	}
	g := newGrouped()
	for a, s := range servers {
		if !s.accepted && (!s.offered || s.refused) {
			continue
		}
		x := g.get(a, "")
		x.obs = s.obs
		x.tags["accepted"], x.tags["writes"] = s.accepted, s.writes
		for u := range s.urls {
			x.tags["url:"+u] = true
		}
	}
	var hits []hit
	g.each(func(x *group) {
		h := hit{asset: x.asset, evidence: x.obs}
		if urls := tagValues(x.tags, "url:"); len(urls) > 0 {
			h.summary = fmt.Sprintf("OPC UA server %s offers the Anonymous user token on %s", x.asset, listSome(urls, 2))
		} else {
			h.summary = fmt.Sprintf("OPC UA server %s", x.asset)
		}
		if x.tags["accepted"] {
			h.summary += "; an anonymous session was activated"
		}
		if x.tags["writes"] {
			h.severity = otaudit.SeverityCritical
			h.summary += " and could write variables or call methods"
		}
		h.summary += "."
		hits = append(hits, h)
	})
	return in.findings("AC-OPCUA-ANONYMOUS-ACCESS", hits)
}

// evalOPCUADefaultCredentials (#6): a password probe with a known default
// was accepted.
func evalOPCUADefaultCredentials(in *Input) []otaudit.Finding {
	g := newGrouped()
	for _, o := range in.opcuaProbes() {
		p := o.LoginProbe
		if p.Method != "password" || !p.KnownDefault || !p.Accepted || !in.inside(p.Server) {
			continue
		}
		g.add(p.Server, p.User, o)
	}
	var hits []hit
	g.each(func(x *group) {
		s := fmt.Sprintf("OPC UA server %s accepted the vendor-default password of user %q.", x.asset, x.key)
		hits = append(hits, hit{asset: x.asset, key: x.key, summary: s, evidence: x.obs})
	})
	return in.findings("AC-OPCUA-DEFAULT-CREDENTIALS", hits)
}

// evalOPCUAUserTokenUnprotected (#7): an endpoint without message security
// offers a UserName token whose own policy is None or inherits the
// endpoint's, so the password would cross the network readable. M1 when
// clients outside the zone use the server.
func evalOPCUAUserTokenUnprotected(in *Input) []otaudit.Finding {
	g := newGrouped()
	for _, o := range in.opcuaEndpoints() {
		ep := o.Endpoint
		if !in.inside(ep.Server) || !(isPolicyNone(ep.SecurityPolicy) || strings.EqualFold(ep.SecurityMode, "None")) {
			continue
		}
		for _, t := range ep.UserTokens {
			if strings.EqualFold(t.Type, "UserName") && isPolicyNone(t.SecurityPolicy) {
				g.add(ep.Server, ep.URL, o)
				break
			}
		}
	}
	var hits []hit
	g.each(func(x *group) {
		h := hit{asset: x.asset, key: x.key, evidence: x.obs}
		h.summary = fmt.Sprintf("OPC UA endpoint %s of %s has no message security and offers a UserName token without its own encryption: passwords would travel in clear text",
			x.key, x.asset)
		if across := in.opcuaUsedAcrossBoundary(x.asset); len(across) > 0 {
			h.crossed = true
			h.evidence = append(h.evidence, across...)
			h.summary += "; clients outside the zone use the server"
		}
		h.summary += "."
		hits = append(hits, h)
	})
	return in.findings("AC-OPCUA-USERTOKEN-UNPROTECTED", hits)
}

// evalOPCUAAnonymousWrite (#21): an anonymous session's bounded read-only
// browse found variables it may write or methods it may call (attribute
// reads only: the collector never writes or calls).
func evalOPCUAAnonymousWrite(in *Input) []otaudit.Finding {
	g := newGrouped()
	for _, o := range in.opcuaProbes() {
		p := o.LoginProbe
		if p.Method != "anonymous" || !p.Accepted || (p.WritableNodes <= 0 && p.ExecutableMethods <= 0) || !in.inside(p.Server) {
			continue
		}
		x := g.add(p.Server, "", o)
		x.setCountTag("writable", max(x.countTag("writable"), int64(p.WritableNodes)))
		x.setCountTag("methods", max(x.countTag("methods"), int64(p.ExecutableMethods)))
		x.setCountTag("sampled", max(x.countTag("sampled"), int64(p.Sampled)))
	}
	var hits []hit
	g.each(func(x *group) {
		s := fmt.Sprintf("An anonymous OPC UA session on %s may write %d and execute %d of %d sampled nodes and methods.",
			x.asset, x.countTag("writable"), x.countTag("methods"), x.countTag("sampled"))
		hits = append(hits, hit{asset: x.asset, summary: s, evidence: x.obs})
	})
	return in.findings("AC-OPCUA-ANONYMOUS-WRITE", hits)
}
