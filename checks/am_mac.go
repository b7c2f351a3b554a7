package checks

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/otaudit/otaudit"
)

// maxAddressesPerMAC: a host rarely owns more than a handful of addresses;
// a MAC sourcing more is a layer-3 device forwarding for a subnet.
const maxAddressesPerMAC = 4

// forwardingRoles are register roles of devices that route: their MAC
// legitimately carries the addresses of every host behind them.
var forwardingRoles = map[string]bool{
	"router": true, "firewall": true, "l3switch": true, "l3-switch": true,
	"vpn_gateway": true, "ra_gateway": true,
}

// scopeMACAssets are the zone's unicast assets seen with a MAC.
func scopeMACAssets(in *Input) applicability {
	var keys []string
	for _, a := range in.unicastAssets() {
		if len(a.MACs) > 0 {
			keys = append(keys, otaudit.AssetKey(a.IP))
		}
	}
	return applicability{assets: keys, notApplicable: "no asset inside the zone was seen with a MAC address"}
}

// subnetOf is the /24 (IPv4) or /64 (IPv6) an address is in.
func subnetOf(a netip.Addr) netip.Prefix {
	bits := 64
	if a.Is4() {
		bits = 24
	}
	p, _ := a.Prefix(bits)
	return p
}

func isUnicastMAC(mac string) bool {
	if len(mac) < 2 || mac == "00:00:00:00:00:00" {
		return false
	}
	var first byte
	if _, err := fmt.Sscanf(mac[:2], "%02x", &first); err != nil {
		return false
	}
	return first&1 == 0
}

// evalDuplicateMAC (#51) flags one MAC sourcing addresses in several
// subnets inside the zone: secondary addresses bridging logical subnets on
// one wire, a cloned or spoofed MAC. The hard part is routed traffic: a
// router's MAC is the source of every packet it forwards, so it "has" the
// address of every host behind it. The rule therefore flags a MAC only
// when all of these hold:
//
//   - its unicast, non-link-local addresses fall in at least two /24s
//     (/64s for IPv6), one address in each: several addresses of one
//     remote subnet behind one MAC are hosts behind a router;
//   - every one of them is inside the zone and none is a public internet
//     address: a MAC carrying addresses from outside is the boundary
//     router's or a NAT gateway's (crossing the boundary is what the
//     conduit and bridge checks judge);
//   - it sourced at most maxAddressesPerMAC addresses (a gateway forwards
//     for many);
//   - none of its addresses was also seen with a MAC of its own, or is
//     registered with another MAC (then this MAC only relayed it);
//   - no register entry for any of its addresses has a routing role
//     (router, firewall, l3switch, vpn_gateway, ra_gateway), so an operator
//     silences a legitimate router by registering it.
//
// A router forwarding one or two inside hosts of another inside subnet,
// not registered and never seen with those hosts' own MACs, still matches;
// the finding says so and how to silence it.
func evalDuplicateMAC(in *Input) []otaudit.Finding {
	type sighting struct {
		ips   map[netip.Addr]bool
		vlans map[uint16]bool
		obs   []otaudit.Observation
	}
	byMAC := map[string]*sighting{}
	macsOf := map[netip.Addr]map[string]bool{}
	for _, o := range in.ix().hosts {
		h := o.Host
		ip := h.IP.Unmap()
		mac := strings.ToLower(h.MAC)
		if mac == "" || !ip.IsValid() || ip.IsUnspecified() || ip.IsLoopback() || ip.IsLinkLocalUnicast() || in.isGroupAddress(ip) {
			continue
		}
		if macsOf[ip] == nil {
			macsOf[ip] = map[string]bool{}
		}
		macsOf[ip][mac] = true
		if isVirtualRouterMAC(mac) || !isUnicastMAC(mac) {
			continue
		}
		s := byMAC[mac]
		if s == nil {
			s = &sighting{ips: map[netip.Addr]bool{}, vlans: map[uint16]bool{}}
			byMAC[mac] = s
		}
		s.ips[ip] = true
		if h.VLAN != 0 {
			s.vlans[h.VLAN] = true
		}
		s.obs = append(s.obs, o)
	}
	g := newGrouped()
	for mac, s := range byMAC {
		if len(s.ips) < 2 || len(s.ips) > maxAddressesPerMAC {
			continue
		}
		subnets := map[netip.Prefix]int{}
		relayed := false
		for ip := range s.ips {
			subnets[subnetOf(ip)]++
			if subnets[subnetOf(ip)] > 1 || isPublic(ip) || !in.inside(ip) || len(macsOf[ip]) > 1 {
				relayed = true
			}
			if r, ok := in.Zone.Lookup(ip, nil); ok && (forwardingRoles[strings.ToLower(r.Role)] || (r.MAC != "" && !strings.EqualFold(r.MAC, mac))) {
				relayed = true
			}
		}
		if relayed || len(subnets) < 2 {
			continue
		}
		ips := make([]netip.Addr, 0, len(s.ips))
		for ip := range s.ips {
			ips = append(ips, ip)
		}
		slices.SortFunc(ips, netip.Addr.Compare)
		x := g.get(ips[0], mac)
		x.obs = s.obs
		for _, ip := range ips {
			x.tags["ip:"+ip.String()] = true
		}
		for v := range s.vlans {
			x.tags[fmt.Sprintf("vlan:%d", v)] = true
		}
		x.count = int64(len(subnets))
	}
	var hits []hit
	g.each(func(x *group) {
		s := fmt.Sprintf("MAC %s was the source of %s, in %d different subnets", x.key, strings.Join(tagValues(x.tags, "ip:"), ", "), x.count)
		if v := tagValues(x.tags, "vlan:"); len(v) > 1 {
			s += " and VLANs " + strings.Join(v, ", ")
		}
		s += ": one device with addresses in several subnets, or a cloned MAC. If it is a router, register it with role router."
		hits = append(hits, hit{asset: x.asset, key: x.key, summary: s, evidence: x.obs})
	})
	return in.findings("AM-DUPLICATE-MAC", hits)
}
