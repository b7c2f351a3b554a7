package checks

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/otaudit/otaudit"
)

// scopeBoundedOTZone: external remote access needs a boundary and an OT
// zone (reference #23: Purdue ≤ 3).
func scopeBoundedOTZone(in *Input) applicability {
	if in.Zone.PurdueLevel > 3 {
		return applicability{notApplicable: fmt.Sprintf("zone %s is at Purdue level %d, not an OT zone", in.Zone.Name, in.Zone.PurdueLevel)}
	}
	return scopeBoundedZone(in)
}

// sessionHits groups remote sessions per inside asset and protocol|peer.
type sessionFilter func(r *otaudit.RemoteSession) (inside, peer netip.Addr, ok bool)

func (in *Input) sessionGroups(filter sessionFilter) *grouped {
	g := newGrouped()
	for _, o := range in.ix().sessions {
		r := o.RemoteSession
		inside, peer, ok := filter(r)
		if !ok {
			continue
		}
		x := g.add(inside, r.Protocol+"|"+peer.String(), o)
		x.count++ // one observation is one session; its Count is packets
		x.crossed = x.crossed || in.crosses(r.Client, r.Server)
		if d := r.Duration(); d > time.Duration(x.countTag("longest")) {
			x.setCountTag("longest", int64(d))
		}
		if r.OpenAtEnd {
			x.tags["open"] = true
		}
	}
	return g
}

// countTag stores a number in a group (tags are booleans; durations and
// other figures live in nums).
func (x *group) countTag(name string) int64 {
	if x.nums == nil {
		return 0
	}
	return x.nums[name]
}

func (x *group) setCountTag(name string, v int64) {
	if x.nums == nil {
		x.nums = map[string]int64{}
	}
	x.nums[name] = v
}

func sessionWords(x *group) (protocol, peer string, longest time.Duration) {
	protocol, peer, _ = strings.Cut(x.key, "|")
	return protocol, peer, time.Duration(x.countTag("longest")).Round(time.Second)
}

// sessionsOf says "1 RDP session" or "3 unencrypted Telnet sessions".
func sessionsOf(n int64, what string) string {
	if n == 1 {
		return "1 " + what + " session"
	}
	return fmt.Sprintf("%d %s sessions", n, what)
}

func evalRAExternalDirect(in *Input) []otaudit.Finding {
	if !in.Zone.Bounded() || in.Zone.PurdueLevel > 3 {
		return nil
	}
	g := in.sessionGroups(func(r *otaudit.RemoteSession) (netip.Addr, netip.Addr, bool) {
		if !in.inside(r.Server) || in.inside(r.Client) || in.Zone.IsJumpHost(r.Client) {
			return netip.Addr{}, netip.Addr{}, false
		}
		if _, ok := in.Zone.ConduitFor(r.Client, r.Protocol); ok {
			return netip.Addr{}, netip.Addr{}, false
		}
		return r.Server, r.Client, true
	})
	var hits []hit
	g.each(func(x *group) {
		protocol, peer, longest := sessionWords(x)
		s := fmt.Sprintf("%s, outside zone %s, not a jump host and in no conduit that allows %s, opened %s directly to %s (longest %s).",
			peer, in.Zone.Name, protocol, sessionsOf(x.count, label(protocol)), x.asset, longest)
		hits = append(hits, hit{asset: x.asset, key: x.key, summary: s, evidence: x.obs, crossed: true})
	})
	return in.findings("AC-RA-EXTERNAL-DIRECT", hits)
}

// evalRANotViaJumpHost flags remote sessions across the boundary, in
// either direction, where neither end is a jump host and no conduit allows
// the protocol to the outside peer. An inbound session from unknown space
// is also AC-RA-EXTERNAL-DIRECT: both statements hold.
func evalRANotViaJumpHost(in *Input) []otaudit.Finding {
	if !in.Zone.Bounded() {
		return nil
	}
	g := in.sessionGroups(func(r *otaudit.RemoteSession) (netip.Addr, netip.Addr, bool) {
		if !in.crosses(r.Client, r.Server) || in.Zone.IsJumpHost(r.Client) || in.Zone.IsJumpHost(r.Server) {
			return netip.Addr{}, netip.Addr{}, false
		}
		inside, peer := r.Server, r.Client
		if !in.inside(inside) {
			inside, peer = r.Client, r.Server
		}
		if _, ok := in.Zone.ConduitFor(peer, r.Protocol); ok {
			return netip.Addr{}, netip.Addr{}, false
		}
		return inside, peer, true
	})
	var hits []hit
	g.each(func(x *group) {
		protocol, peer, longest := sessionWords(x)
		why := "not through one of its jump hosts"
		if len(in.Zone.JumpHosts) == 0 {
			why = fmt.Sprintf("and zone %s declares no jump hosts", in.Zone.Name)
		}
		s := fmt.Sprintf("%s between %s and %s crossed the boundary of zone %s %s (longest %s).",
			sessionsOf(x.count, label(protocol)), x.asset, peer, in.Zone.Name, why, longest)
		hits = append(hits, hit{asset: x.asset, key: x.key, summary: s, evidence: x.obs, crossed: true})
	})
	return in.findings("AC-RA-NOT-VIA-JUMPHOST", hits)
}

func evalRAUnencrypted(in *Input) []otaudit.Finding {
	g := in.sessionGroups(func(r *otaudit.RemoteSession) (netip.Addr, netip.Addr, bool) {
		return r.Server, r.Client, !r.Encrypted && in.inside(r.Server)
	})
	var hits []hit
	g.each(func(x *group) {
		protocol, peer, longest := sessionWords(x)
		where := ""
		if x.crossed {
			where = " from outside the zone"
		}
		s := fmt.Sprintf("%s opened %s to %s%s (longest %s); screen, keystrokes and credentials are readable on the path.",
			peer, sessionsOf(x.count, "unencrypted "+label(protocol)), x.asset, where, longest)
		hits = append(hits, hit{asset: x.asset, key: x.key, summary: s, evidence: x.obs, crossed: x.crossed})
	})
	return in.findings("AC-RA-UNENCRYPTED", hits)
}

// defaultMaxRemoteSession is reference #26's default limit.
const defaultMaxRemoteSession = 480 * time.Minute

func evalRASessionExceedsMax(in *Input) []otaudit.Finding {
	limit := defaultMaxRemoteSession
	if in.Zone.MaxRemoteSessionMinutes > 0 {
		limit = time.Duration(in.Zone.MaxRemoteSessionMinutes) * time.Minute
	}
	g := in.sessionGroups(func(r *otaudit.RemoteSession) (netip.Addr, netip.Addr, bool) {
		asset, peer, ok := in.sessionHost(r)
		return asset, peer, ok && r.Duration() > limit
	})
	var hits []hit
	g.each(func(x *group) {
		protocol, peer, longest := sessionWords(x)
		open := ""
		if x.tags["open"] {
			open = ", still open when the capture ended"
		}
		s := fmt.Sprintf("%s kept %s to %s open longer than the %s allowed in zone %s (longest %s%s).",
			peer, sessionsOf(x.count, label(protocol)), x.asset, limit, in.Zone.Name, longest, open)
		hits = append(hits, hit{asset: x.asset, key: x.key, summary: s, evidence: x.obs, crossed: x.crossed})
	})
	return in.findings("AC-RA-SESSION-EXCEEDS-MAX", hits)
}

// sessionHost is the zone's end of a remote session and its peer: the
// server, or, for a remote tool, whose sessions also run from the host out
// to the vendor's relay, the client when the server is no zone host.
func (in *Input) sessionHost(r *otaudit.RemoteSession) (host, peer netip.Addr, ok bool) {
	if !otaudit.IsRemoteTool(r.Protocol) {
		return r.Server, r.Client, in.inside(r.Server)
	}
	switch {
	case in.toolHost(r.Server):
		return r.Server, r.Client, true
	case in.toolHost(r.Client):
		return r.Client, r.Server, true
	}
	return netip.Addr{}, netip.Addr{}, false
}

// toolHost says check #27 may call a host running a tool. A zone
// that declares no ranges has everything seen inside; a public address
// there is the tool's relay or rendezvous server, not one of the zone's.
func (in *Input) toolHost(a netip.Addr) bool {
	return in.inside(a) && !a.IsMulticast() && (in.Zone.Bounded() || !isPublic(a))
}

// toolApproved: a zone approves a remote tool (otaudit.IsRemoteTool) by
// listing it in its allowed protocols.
func (in *Input) toolApproved(tool string) bool {
	return len(in.Zone.AllowedProtocols) > 0 && in.Zone.AllowsProtocol(tool)
}

func evalRAUnapprovedTool(in *Input) []otaudit.Finding {
	g := newGrouped()
	for _, o := range in.ix().flows {
		f := o.Flow
		if !otaudit.IsRemoteTool(f.Protocol) || in.toolApproved(f.Protocol) {
			continue
		}
		for _, a := range []netip.Addr{f.Client, f.Server} {
			if in.toolHost(a) {
				x := g.add(a, f.Protocol, o)
				x.count += max(f.Connections, 1)
				x.tags["peer:"+other(f.Client, f.Server, a).String()] = true
			}
		}
	}
	for _, o := range in.ix().sessions {
		r := o.RemoteSession
		if !otaudit.IsRemoteTool(r.Protocol) || in.toolApproved(r.Protocol) || !in.toolHost(r.Server) {
			continue
		}
		x := g.add(r.Server, r.Protocol, o)
		x.tags["inbound"] = true
		x.tags["peer:"+r.Client.String()] = true
	}
	// A host resolving the tool's servers has it installed, also where
	// the firewall stops the connections that would follow.
	for _, o := range in.ix().lookups {
		l := o.NameLookup
		if !otaudit.IsRemoteTool(l.Tool) || in.toolApproved(l.Tool) || !in.toolHost(l.Client) {
			continue
		}
		x := g.add(l.Client, l.Tool, o)
		x.tags["lookup:"+l.Name] = true
	}
	var hits []hit
	g.each(func(x *group) {
		h := hit{asset: x.asset, key: x.key, evidence: x.obs}
		peers := tagValues(x.tags, "peer:")
		h.summary = fmt.Sprintf("%s uses %s, which zone %s does not approve", x.asset, label(x.key), in.Zone.Name)
		if len(peers) > 0 {
			h.summary += fmt.Sprintf(", with %d peers (%s)", len(peers), listSome(peers, 3))
		}
		if names := tagValues(x.tags, "lookup:"); len(names) > 0 {
			h.summary += fmt.Sprintf("; it looked up %s", listSome(names, 2))
		}
		if x.tags["inbound"] {
			h.severity = otaudit.SeverityCritical
			h.summary += "; an inbound session to it was established"
		}
		h.summary += "."
		hits = append(hits, h)
	})
	return in.findings("AC-RA-UNAPPROVED-TOOL", hits)
}

// other returns the end of a conversation that is not a.
func other(client, server, a netip.Addr) netip.Addr {
	if a == client {
		return server
	}
	return client
}

// vpnProtocols terminate tunnels (reference #28).
var vpnProtocols = map[string]bool{
	"ike": true, "ipsec": true, "openvpn": true, "wireguard": true, "pptp": true, "l2tp": true,
}

// vpnRoles may terminate VPNs.
var vpnRoles = map[string]bool{"ra_gateway": true, "jump_host": true, "firewall": true, "vpn_gateway": true}

func evalRARogueVPN(in *Input) []otaudit.Finding {
	g := newGrouped()
	for _, o := range in.ix().flows {
		f := o.Flow
		if !vpnProtocols[f.Protocol] {
			continue
		}
		for _, a := range []netip.Addr{f.Client, f.Server} {
			if !in.inside(a) || a.IsMulticast() || in.Zone.IsJumpHost(a) {
				continue
			}
			if x, ok := in.asset(a); ok && vpnRoles[strings.ToLower(x.Role)] {
				continue
			}
			peer := other(f.Client, f.Server, a)
			if in.inside(peer) && in.Zone.Bounded() {
				continue // a tunnel inside the zone does not bypass its boundary
			}
			x := g.add(a, f.Protocol, o)
			x.count += max(f.Connections, 1)
			x.tags["peer:"+peer.String()] = true
		}
	}
	var hits []hit
	g.each(func(x *group) {
		peers := tagValues(x.tags, "peer:")
		s := fmt.Sprintf("%s, which is not a declared remote-access gateway, has %s VPN traffic with %s (%d flows).",
			x.asset, x.key, listSome(peers, 3), x.count)
		hits = append(hits, hit{asset: x.asset, key: x.key, summary: s, evidence: x.obs})
	})
	return in.findings("AC-RA-ROGUE-VPN-ENDPOINT", hits)
}
