package checks

import (
	"fmt"
	"strings"

	"github.com/otaudit/otaudit"
)

// scopeOPCUAServers are the zone's assets that serve OPC UA.
func scopeOPCUAServers(in *Input) applicability {
	servers := map[string]bool{}
	for _, a := range in.insideAssets() {
		if a.Serves("opcua") {
			servers[otaudit.AssetKey(a.IP)] = true
		}
	}
	for _, o := range in.ix().channels {
		if s := o.SecureChannel; s.Protocol == "opcua" && in.inside(s.Server) {
			servers[otaudit.AssetKey(s.Server.Unmap())] = true
		}
	}
	for _, o := range in.ix().flows {
		if f := o.Flow; f.Protocol == "opcua" && f.ServerAnswered && in.inside(f.Server) {
			servers[otaudit.AssetKey(f.Server.Unmap())] = true
		}
	}
	return applicability{assets: sortedKeys(servers), notApplicable: "no OPC UA server inside the zone"}
}

// isPolicyNone reports whether an OPC UA SecurityPolicyUri is #None.
func isPolicyNone(policy string) bool {
	return policy == "" || strings.EqualFold(policy, "None") || strings.HasSuffix(policy, "#None")
}

// evalOPCUAPolicyNone flags OPC UA servers inside the zone with a secure
// channel (observed passively or offered as an endpoint) that is neither
// signed nor encrypted. Critical when no protected channel was seen for
// the server and a client outside the zone used the unprotected one.
func evalOPCUAPolicyNone(in *Input) []otaudit.Finding {
	g := newGrouped()
	protected := map[string]bool{}
	for _, o := range in.ix().channels {
		s := o.SecureChannel
		if s.Protocol != "opcua" || !in.inside(s.Server) {
			continue
		}
		if s.Protected && !isPolicyNone(s.Policy) {
			protected[s.Server.Unmap().String()] = true
			continue
		}
		x := g.add(s.Server, "", o)
		x.count += obsCount(o)
		x.crossed = x.crossed || in.crosses(s.Client, s.Server)
		if s.Client.IsValid() {
			x.tags["client:"+s.Client.String()] = true
		}
		if s.Endpoint != "" {
			x.tags["endpoint:"+s.Endpoint] = true
		}
	}
	var hits []hit
	g.each(func(x *group) {
		h := hit{asset: x.asset, evidence: x.obs, crossed: x.crossed}
		clients := tagValues(x.tags, "client:")
		h.summary = fmt.Sprintf("OPC UA server %s used SecurityPolicy None (neither signed nor encrypted) %s", x.asset, times(x.count))
		if len(clients) > 0 {
			h.summary += fmt.Sprintf(" with %d clients (%s)", len(clients), listSome(clients, 3))
		}
		if eps := tagValues(x.tags, "endpoint:"); len(eps) > 0 {
			h.summary += " on " + listSome(eps, 2)
		}
		switch {
		case !protected[x.asset.String()] && x.crossed:
			h.severity = otaudit.SeverityCritical
			h.summary += "; no protected channel was seen and clients outside the zone use it"
		case protected[x.asset.String()]:
			h.summary += "; it also has protected channels, so None allows a downgrade"
		}
		h.summary += "."
		hits = append(hits, h)
	})
	return in.findings("DC-OPCUA-SECURITYPOLICY-NONE", hits)
}
