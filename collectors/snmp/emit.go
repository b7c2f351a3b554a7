package snmp

import (
	"github.com/gosnmp/gosnmp"

	"github.com/otaudit/otaudit"
)

const maxMACs = 8

// levelName spells a USM security level as RFC 3411 does.
func levelName(l gosnmp.SnmpV3MsgFlags) string {
	switch l & gosnmp.AuthPriv {
	case gosnmp.AuthPriv:
		return "authPriv"
	case gosnmp.AuthNoPriv:
		return "authNoPriv"
	}
	return "noAuthNoPriv"
}

// emit turns the probe's results into observations: the SNMP service
// when an agent answered (so the inventory lists it), one SNMPAccess per
// credential tried, one SecureChannel per accepted version/level, the
// identities, and the interfaces' MACs as host sightings.
func (p *probe) emit(emit func(otaudit.Observation)) {
	end := p.c.now()
	ip := p.addr.Addr()
	obs := func(kind otaudit.ObservationKind, count int64) otaudit.Observation {
		return otaudit.Observation{Kind: kind, Source: source, FirstSeen: p.start, LastSeen: end, Count: count}
	}
	if p.answered {
		// Any answer counts, a v3 Report included: an agent runs there,
		// whatever it thinks of our credentials.
		n := max(p.responses, 1) // an unusable answer is still one
		o := obs(otaudit.KindFlow, n)
		o.Flow = &otaudit.Flow{Client: p.agent, Server: ip, Transport: otaudit.UDP, ServerPort: p.addr.Port(),
			Protocol: protocol, ServerAnswered: true, Packets: n}
		emit(o)
	}
	channels := map[string]bool{}
	for _, a := range p.accesses {
		sa := a.obs
		o := obs(otaudit.KindSNMPAccess, 0)
		if sa.Accepted {
			o.Count = 1
		}
		o.SNMPAccess = &sa
		emit(o)
		if !sa.Accepted {
			continue
		}
		policy, protected := sa.Version, false
		if sa.Version == "v3" {
			policy = "v3 " + sa.SecurityLevel
			protected = sa.SecurityLevel != "noAuthNoPriv"
		}
		if channels[policy] {
			continue
		}
		channels[policy] = true
		sc := obs(otaudit.KindSecureChannel, 1)
		sc.SecureChannel = &otaudit.SecureChannel{Protocol: protocol, Client: p.agent, Server: ip, Policy: policy, Protected: protected}
		emit(sc)
	}
	if p.engine != nil {
		// The unauthenticated discovery is itself a read the agent refused
		// with a Report; it carries the engine ID (identity without any
		// credential), which DeviceIdentity has no field for.
		o := obs(otaudit.KindSNMPAccess, 0)
		o.SNMPAccess = &otaudit.SNMPAccess{Target: ip, Version: "v3", SecurityLevel: "noAuthNoPriv", EngineID: engineIDString(p.engine.id)}
		emit(o)
	}
	if p.system != nil {
		if di, ok := systemIdentity(ip, p.system); ok {
			o := obs(otaudit.KindIdentity, 1)
			o.Identity = &di
			emit(o)
		}
	}
	if di, ok := entityIdentity(ip, p.entity, p.system[oidSysName]); ok {
		o := obs(otaudit.KindIdentity, 1)
		o.Identity = &di
		emit(o)
	}
	// MACs of interfaces that are up, bounded: a switch has one per port,
	// and the asset needs only to be recognisable by them.
	seen := map[string]bool{}
	for _, i := range p.ifaces {
		if i.mac == "" || i.status != "up" || seen[i.mac] || len(seen) >= maxMACs {
			continue
		}
		seen[i.mac] = true
		o := obs(otaudit.KindHost, 0)
		o.Host = &otaudit.HostSighting{IP: ip, MAC: i.mac}
		emit(o)
	}
}
