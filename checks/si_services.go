package checks

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/otaudit/otaudit"
)

// insecureMgmt are the clear-text management services of reference #52.
var insecureMgmt = map[string]bool{"telnet": true, "ftp": true, "http": true, "tftp": true}

// evalInsecureMgmtService flags field devices inside the zone that answer a
// clear-text management service; M1 when a client outside the zone used it.
func evalInsecureMgmtService(in *Input) []otaudit.Finding {
	g := newGrouped()
	for _, o := range in.ix().flows {
		f := o.Flow
		if !insecureMgmt[f.Protocol] || !f.ServerAnswered || !in.inside(f.Server) {
			continue
		}
		if a, ok := in.asset(f.Server); !ok || !a.IsController() {
			continue
		}
		x := g.add(f.Server, f.Protocol, o)
		x.count += max(f.Connections, 1)
		x.crossed = x.crossed || in.crosses(f.Client, f.Server)
		x.tags["client:"+f.Client.String()] = true
		x.tags[fmt.Sprintf("port:%s/%d", f.Transport, f.ServerPort)] = true
	}
	var hits []hit
	g.each(func(x *group) {
		a, _ := in.asset(x.asset)
		clients := tagValues(x.tags, "client:")
		s := fmt.Sprintf("Field device %s (%s) serves unencrypted %s on %s to %d clients (%s) in %d connections",
			x.asset, cmpOr(a.Role, "controller"), label(x.key), strings.Join(tagValues(x.tags, "port:"), ", "),
			len(clients), listSome(clients, 3), x.count)
		if x.crossed {
			s += ", including clients outside the zone"
		}
		hits = append(hits, hit{asset: x.asset, key: x.key, summary: s + ".", evidence: x.obs, crossed: x.crossed})
	})
	return in.findings("SI-INSECURE-MGMT-SERVICE-FIELD-DEVICE", hits)
}

// unneededOnControllers are services a controller's role never needs
// (reference #53: file sharing, discovery and legacy diagnostics).
// announced are the ones a device emits to a group address rather than
// serves.
var (
	unneededOnControllers = map[string]bool{
		"smb": true, "netbios": true, "netbios-ns": true, "netbios-dgm": true, "netbios-ssn": true,
		"ssdp": true, "upnp": true, "mdns": true, "llmnr": true,
		"echo": true, "chargen": true, "discard": true, "daytime": true,
	}
	announced = map[string]bool{"ssdp": true, "mdns": true, "llmnr": true, "netbios": true, "netbios-ns": true, "netbios-dgm": true}
)

func evalUnnecessaryService(in *Input) []otaudit.Finding {
	g := newGrouped()
	note := func(a netip.Addr, o otaudit.Observation, how string) {
		x := g.add(a, o.Flow.Protocol, o)
		x.count += max(o.Flow.Connections, 1)
		x.tags[how] = true
	}
	for _, o := range in.ix().flows {
		f := o.Flow
		if !unneededOnControllers[f.Protocol] {
			continue
		}
		if s, ok := in.asset(f.Server); ok && f.ServerAnswered && s.Zone != "" && s.IsController() {
			note(f.Server, o, "serves")
		}
		if c, ok := in.asset(f.Client); ok && announced[f.Protocol] && c.Zone != "" && c.IsController() {
			note(f.Client, o, "announces")
		}
	}
	var hits []hit
	g.each(func(x *group) {
		a, _ := in.asset(x.asset)
		how := strings.Join(tagValuesExact(x.tags, "serves", "announces"), " and ")
		s := fmt.Sprintf("Field device %s (%s) %s %s, which its role does not need (%d flows).",
			x.asset, cmpOr(a.Role, "controller"), how, x.key, x.count)
		hits = append(hits, hit{asset: x.asset, key: x.key, summary: s, evidence: x.obs})
	})
	return in.findings("SI-UNNECESSARY-SERVICE", hits)
}

// tagValuesExact returns those of names that are set, in the given order.
func tagValuesExact(tags map[string]bool, names ...string) []string {
	var out []string
	for _, n := range names {
		if tags[n] {
			out = append(out, n)
		}
	}
	return out
}

// evalCleartextControlAcrossBoundary flags control protocols without
// integrity protection crossing the boundary of a bounded zone. The
// severity rises when the zone's or the conduit's SL-T(SI) is 3 or more.
func evalCleartextControlAcrossBoundary(in *Input) []otaudit.Finding {
	if !in.Zone.Bounded() {
		return nil
	}
	g := newGrouped()
	conduits := map[string]otaudit.Conduit{}
	for _, o := range in.ix().flows {
		f := o.Flow
		if !otaudit.IsCleartextControlProtocol(f.Protocol) || !in.crosses(f.Client, f.Server) || in.isGroupAddress(f.Server) {
			continue
		}
		if f.Protocol == "dnp3" && in.dnp3SecureAuth(f.Client, f.Server) {
			continue // critical requests are authenticated (SAv5)
		}
		inside, peer := f.Server, f.Client
		if !in.inside(inside) {
			inside, peer = f.Client, f.Server
		}
		key := f.Protocol + "|" + peer.String()
		x := g.add(inside, key, o)
		x.count += max(f.Connections, 1)
		if c, ok := in.Zone.ConduitFor(peer, f.Protocol); ok {
			conduits[inside.String()+"\x00"+key] = c
		}
	}
	var hits []hit
	g.each(func(x *group) {
		proto, peer := splitKey(x.key)
		h := hit{asset: x.asset, key: x.key, evidence: x.obs, crossed: true}
		via := "no declared conduit"
		if c, ok := conduits[x.asset.String()+"\x00"+x.key]; ok {
			via = fmt.Sprintf("conduit %q", c.Name)
			h.slTargets = []otaudit.SLVector{c.SLTarget}
		}
		h.summary = fmt.Sprintf("%s traffic between %s and %s, outside zone %s (%s), crossed the boundary without integrity protection in %d flows.",
			label(proto), x.asset, peer, in.Zone.Name, via, x.count)
		hits = append(hits, h)
	})
	return in.findings("SI-CLEARTEXT-CONTROL-ACROSS-BOUNDARY", hits)
}

// dnp3SecureAuth reports whether the DNP3 master and outstation a and b
// (either way round) exchanged Secure Authentication messages: function
// codes 32 and 33 (Authentication Request) or 131 (Authentication
// Response), IEEE 1815-2012 clause 7. A pair that uses it has its critical
// requests authenticated, which is the integrity the check asks for; its
// session keys are exchanged with function 32 at every start and renewed
// every few minutes, so a capture of any length shows them.
func (in *Input) dnp3SecureAuth(a, b netip.Addr) bool {
	x := in.ix()
	a, b = a.Unmap(), b.Unmap()
	for _, i := range x.opsOf[a] {
		op := x.ops[i].Operation
		c, s := op.Client.Unmap(), op.Server.Unmap()
		if op.Protocol != "dnp3" || !(c == a && s == b || c == b && s == a) {
			continue
		}
		switch op.Function {
		case 32, 33, 131:
			return true
		}
	}
	return false
}
