package checks

import (
	"fmt"
	"net/netip"

	"github.com/otaudit/otaudit"
)

// flowProtocol names a flow's service for conduit and allow-list matching:
// the application protocol, else transport/port.
func flowProtocol(f *otaudit.Flow) string {
	if f.Protocol != "" {
		return f.Protocol
	}
	return fmt.Sprintf("%s/%d", f.Transport, f.ServerPort)
}

// isGroupAddress: multicast and broadcast destinations are not peers.
func (in *Input) isGroupAddress(a netip.Addr) bool {
	a = a.Unmap()
	if a.IsMulticast() || a.IsUnspecified() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return true
	}
	for _, p := range in.Zone.CIDRs {
		if a.Is4() && p.Addr().Is4() && p.Bits() < 31 && a == lastAddr(p) {
			return true
		}
	}
	return false
}

// lastAddr is the directed broadcast address of an IPv4 prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// evalUndeclaredConduit flags answered flows across the boundary that no
// declared conduit allows. Unanswered flows are left out: the boundary may
// have dropped them.
func evalUndeclaredConduit(in *Input) []otaudit.Finding {
	if !in.Zone.Bounded() {
		return nil
	}
	g := newGrouped()
	for _, o := range in.ix().flows {
		f := o.Flow
		if !f.ServerAnswered || !in.crosses(f.Client, f.Server) || in.isGroupAddress(f.Server) {
			continue
		}
		inside, peer, dir := f.Server, f.Client, "inbound"
		if !in.inside(inside) {
			inside, peer, dir = f.Client, f.Server, "outbound"
		}
		proto := flowProtocol(f)
		if _, ok := in.Zone.ConduitFor(peer, proto); ok {
			continue
		}
		x := g.add(inside, proto+"|"+peer.String(), o)
		x.count += max(f.Connections, 1)
		x.tags[dir] = true
		x.tags["port:"+fmt.Sprintf("%s/%d", f.Transport, f.ServerPort)] = true
	}
	var hits []hit
	g.each(func(x *group) {
		proto, peer := splitKey(x.key)
		dirs := ""
		for _, d := range []string{"inbound", "outbound"} {
			if x.tags[d] {
				dirs += d + " "
			}
		}
		s := fmt.Sprintf("%s exchanged %s%s traffic (%s) with %s outside zone %s in %d flows; no declared conduit allows it.",
			x.asset, dirs, proto, listSome(tagValues(x.tags, "port:"), 3), peer, in.Zone.Name, x.count)
		hits = append(hits, hit{asset: x.asset, key: x.key, summary: s, evidence: x.obs, crossed: true})
	})
	return in.findings("AC-FLOW-UNDECLARED-CONDUIT", hits)
}

func splitKey(k string) (string, string) {
	for i := 0; i < len(k); i++ {
		if k[i] == '|' {
			return k[:i], k[i+1:]
		}
	}
	return k, ""
}

// scopeAllowList: without an allow-list there is nothing to judge against,
// and that must not read as a pass.
func scopeAllowList(in *Input) applicability {
	if len(in.Zone.AllowedProtocols) == 0 {
		return applicability{notAssessed: fmt.Sprintf("zone %s declares no allowed protocols", in.Zone.Name)}
	}
	return scopeZoneAssets(in)
}

// evalProtocolNotAllowed flags inside assets that serve (answered) or use a
// recognised protocol that the zone does not allow. Flows whose protocol
// was not recognised are left out: an unnamed port cannot be matched to an
// allow-list of protocol names.
func evalProtocolNotAllowed(in *Input) []otaudit.Finding {
	if len(in.Zone.AllowedProtocols) == 0 {
		return nil
	}
	g := newGrouped()
	for _, o := range in.ix().flows {
		f := o.Flow
		if f.Protocol == "" || in.Zone.AllowsProtocol(f.Protocol) {
			continue
		}
		var a netip.Addr
		role := ""
		switch {
		case f.ServerAnswered && in.inside(f.Server) && !in.isGroupAddress(f.Server):
			a, role = f.Server, "serves"
		case in.inside(f.Client):
			a, role = f.Client, "uses"
		default:
			continue
		}
		x := g.add(a, f.Protocol, o)
		x.count += max(f.Connections, 1)
		x.tags[role] = true
		x.tags["peer:"+other(f.Client, f.Server, a).String()] = true
	}
	var hits []hit
	g.each(func(x *group) {
		verb := "uses"
		if x.tags["serves"] {
			verb = "serves"
			if x.tags["uses"] {
				verb = "serves and uses"
			}
		}
		peers := tagValues(x.tags, "peer:")
		s := fmt.Sprintf("%s %s %s, which is not among zone %s's allowed protocols, with %d peers (%s) in %d flows.",
			x.asset, verb, x.key, in.Zone.Name, len(peers), listSome(peers, 3), x.count)
		hits = append(hits, hit{asset: x.asset, key: x.key, summary: s, evidence: x.obs})
	})
	return in.findings("AC-PROTOCOL-NOT-ALLOWED-IN-ZONE", hits)
}

// nonInternet are special-purpose IPv4 ranges that are not the public
// internet even though they are not RFC 1918 private.
var nonInternet = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("2001:db8::/32"),
}

// isPublic reports whether a is a public internet address.
func isPublic(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsGlobalUnicast() || a.IsPrivate() {
		return false
	}
	for _, p := range nonInternet {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// evalInternetCommunication flags inside, non-public assets that talk to
// public internet addresses outside the zone and outside every declared
// conduit peer range. Critical when the internet side initiated and the
// asset answered.
func evalInternetCommunication(in *Input) []otaudit.Finding {
	g := newGrouped()
	for _, o := range in.ix().flows {
		f := o.Flow
		for _, pair := range [][2]netip.Addr{{f.Client, f.Server}, {f.Server, f.Client}} {
			local, remote := pair[0], pair[1]
			if !in.inside(local) || isPublic(local) || !isPublic(remote) || in.Zone.InAnyConduit(remote) {
				continue
			}
			if in.Zone.Bounded() && in.inside(remote) {
				continue // the zone itself uses public addresses
			}
			dir := "outbound"
			if remote == f.Client {
				if !f.ServerAnswered {
					continue // an unanswered probe from the internet reached nothing
				}
				dir = "inbound"
			}
			x := g.add(local, dir, o)
			x.count += max(f.Connections, 1)
			x.tags["peer:"+remote.String()] = true
			x.tags["svc:"+remote.String()+" "+flowProtocol(f)] = true
		}
	}
	var hits []hit
	g.each(func(x *group) {
		peers, services := tagValues(x.tags, "peer:"), tagValues(x.tags, "svc:")
		h := hit{asset: x.asset, key: x.key, evidence: x.obs, crossed: true}
		if x.key == "inbound" {
			h.severity = otaudit.SeverityCritical
			h.summary = fmt.Sprintf("%s answered connections initiated from %d public internet addresses (%s) in %d flows.",
				x.asset, len(peers), listSome(services, 3), x.count)
		} else {
			h.summary = fmt.Sprintf("%s contacted %d public internet addresses (%s) in %d flows.",
				x.asset, len(peers), listSome(services, 3), x.count)
		}
		hits = append(hits, h)
	})
	return in.findings("AC-OT-INTERNET-COMMUNICATION", hits)
}
