package agent

import (
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/configs/oui"
)

// BuildInventory merges the observations of one scan into assets and places
// each in or out of the zone. An asset is a unicast address that sent at
// least one packet: an address only ever sent to (a subnet broadcast, a
// device that is switched off) is not evidence of a device. It is pure: the
// store merges the result with what earlier scans saw.
func BuildInventory(zone *otaudit.Zone, obs []otaudit.Observation) []otaudit.Asset {
	byIP := map[netip.Addr]*otaudit.Asset{}
	for i := range obs {
		o := &obs[i]
		if o.Kind != otaudit.KindHost || o.Host.Packets == 0 {
			continue
		}
		ip := o.Host.IP.Unmap()
		if isInventoryAddress(ip) && byIP[ip] == nil {
			byIP[ip] = &otaudit.Asset{Key: otaudit.AssetKey(ip), IP: ip}
		}
	}
	// heardOnLink are identities announced on the link by a MAC the
	// capture never saw with an address; placed after the addresses.
	var heardOnLink []*otaudit.Observation
	get := func(ip netip.Addr, o *otaudit.Observation) *otaudit.Asset {
		a := byIP[ip.Unmap()]
		if a != nil {
			seen(a, o)
		}
		return a
	}
	for i := range obs {
		o := &obs[i]
		switch o.Kind {
		case otaudit.KindHost:
			h := o.Host
			if a := get(h.IP, o); a != nil && h.MAC != "" && !isGroupMAC(h.MAC) {
				if !slices.Contains(a.MACs, h.MAC) {
					a.MACs = append(a.MACs, h.MAC)
				}
				if a.MACVendor == "" {
					a.MACVendor = h.MACVendor
				}
			}
		case otaudit.KindFlow:
			f := o.Flow
			svc := otaudit.Service{Protocol: f.Protocol, Transport: f.Transport, Port: f.ServerPort}
			if a := get(f.Server, o); a != nil && f.ServerAnswered {
				a.Services = addService(a.Services, svc)
			}
			if a := get(f.Client, o); a != nil {
				a.Uses = addService(a.Uses, svc)
			}
		case otaudit.KindIdentity:
			if a := get(o.Identity.IP, o); a != nil {
				applyIdentity(a, o.Identity)
			} else if !o.Identity.IP.IsValid() && o.Identity.MAC != "" {
				heardOnLink = append(heardOnLink, o)
			}
		case otaudit.KindOperation:
			get(o.Operation.Server, o)
			get(o.Operation.Client, o)
		case otaudit.KindCredential:
			get(o.Credential.Server, o)
			get(o.Credential.Client, o)
		case otaudit.KindRemoteSession:
			get(o.RemoteSession.Server, o)
			get(o.RemoteSession.Client, o)
		case otaudit.KindSecureChannel:
			get(o.SecureChannel.Server, o)
			get(o.SecureChannel.Client, o)
		case otaudit.KindNameLookup:
			get(o.NameLookup.Client, o)
		}
	}

	// A MAC that carries several addresses is a router's (or a proxy's):
	// it says nothing about the vendor of the addresses behind it.
	ipsPerMAC := map[string]int{}
	for _, a := range byIP {
		for _, m := range a.MACs {
			ipsPerMAC[m]++
		}
	}
	byMAC := placeLinkIdentities(byIP, heardOnLink, ipsPerMAC)
	assets := make([]otaudit.Asset, 0, len(byIP)+len(byMAC))
	for _, a := range byMAC {
		sort.Strings(a.Sources)
		// A link-local announcement (LLDP, CDP, DCP) never crosses a
		// router: the device is on the captured segment, in the zone.
		a.Zone = zone.Name
		applyRegister(zone, a)
		assets = append(assets, *a)
	}
	for _, a := range byIP {
		if len(a.MACs) > 0 && ipsPerMAC[a.MACs[0]] > 1 {
			a.MACVendor = ""
		}
		sort.Strings(a.MACs)
		sortServices(a.Services)
		sortServices(a.Uses)
		sort.Strings(a.Sources)
		if zone.Contains(a.IP) {
			a.Zone = zone.Name
		}
		applyRegister(zone, a)
		if a.Role == "" && a.IsController() {
			a.Role = "controller"
		}
		assets = append(assets, *a)
	}
	// Addresses in order, then the devices known only by MAC.
	sort.Slice(assets, func(i, j int) bool {
		a, b := assets[i], assets[j]
		if a.IP.IsValid() != b.IP.IsValid() {
			return a.IP.IsValid()
		}
		if a.IP != b.IP {
			return a.IP.Less(b.IP)
		}
		return a.Key < b.Key
	})
	return assets
}

// applyRegister marks a as registered when the zone's register names it,
// and takes its role and, if the device gave none, its name from there.
func applyRegister(zone *otaudit.Zone, a *otaudit.Asset) {
	if reg, ok := zone.Lookup(a.IP, a.MACs); ok {
		a.Registered = true
		a.Role = reg.Role
		if a.Name == "" {
			a.Name = reg.Name
		}
	}
}

// placeLinkIdentities files identities announced on the link by MAC: under
// the one address asset that MAC belongs to, else under an asset of their
// own keyed by the MAC (a switch that only speaks LLDP, a PROFINET device
// still waiting for its address). A MAC behind several addresses is a
// router's and names none of them.
func placeLinkIdentities(byIP map[netip.Addr]*otaudit.Asset, heard []*otaudit.Observation, ipsPerMAC map[string]int) map[string]*otaudit.Asset {
	if len(heard) == 0 {
		return nil
	}
	owner := map[string]*otaudit.Asset{}
	for _, a := range byIP {
		for _, m := range a.MACs {
			if ipsPerMAC[m] == 1 {
				owner[m] = a
			}
		}
	}
	byMAC := map[string]*otaudit.Asset{}
	for _, o := range heard {
		mac := strings.ToLower(o.Identity.MAC)
		if isGroupMAC(mac) {
			continue
		}
		a := owner[mac]
		if a == nil && ipsPerMAC[mac] == 0 {
			if a = byMAC[mac]; a == nil {
				a = &otaudit.Asset{Key: otaudit.MACAssetKey(mac), MACs: []string{mac}, MACVendor: oui.LookupString(mac)}
				byMAC[mac] = a
			}
		}
		if a == nil {
			continue
		}
		seen(a, o)
		applyIdentity(a, o.Identity)
	}
	return byMAC
}

func seen(a *otaudit.Asset, o *otaudit.Observation) {
	if !o.FirstSeen.IsZero() && (a.FirstSeen.IsZero() || o.FirstSeen.Before(a.FirstSeen)) {
		a.FirstSeen = o.FirstSeen
	}
	if o.LastSeen.After(a.LastSeen) {
		a.LastSeen = o.LastSeen
	}
	if o.Source != "" && !slices.Contains(a.Sources, o.Source) {
		a.Sources = append(a.Sources, o.Source)
	}
}

// applyIdentity lets what a device says about itself win over the OUI guess.
func applyIdentity(a *otaudit.Asset, id *otaudit.DeviceIdentity) {
	set := func(dst *string, v string) {
		if v = strings.TrimSpace(v); v != "" {
			*dst = v
		}
	}
	set(&a.Vendor, id.Vendor)
	set(&a.Model, id.Model)
	set(&a.ProductCode, id.ProductCode)
	set(&a.Firmware, id.Firmware)
	set(&a.Serial, id.Serial)
	set(&a.Name, id.Name)
}

func addService(list []otaudit.Service, s otaudit.Service) []otaudit.Service {
	if s.Protocol == "" {
		return list
	}
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

func sortServices(s []otaudit.Service) {
	sort.Slice(s, func(i, j int) bool {
		if s[i].Protocol != s[j].Protocol {
			return s[i].Protocol < s[j].Protocol
		}
		if s[i].Transport != s[j].Transport {
			return s[i].Transport < s[j].Transport
		}
		return s[i].Port < s[j].Port
	})
}

// isInventoryAddress keeps addresses that can be a device: unicast, not
// unspecified, not the limited broadcast.
func isInventoryAddress(ip netip.Addr) bool {
	if !ip.IsValid() || ip.IsUnspecified() || ip.IsMulticast() {
		return false
	}
	if ip.Is4() && ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return false
	}
	return true
}

// isGroupMAC reports a broadcast or multicast MAC (I/G bit set).
func isGroupMAC(mac string) bool {
	if len(mac) < 2 {
		return true
	}
	var b byte
	for _, c := range mac[:2] {
		b <<= 4
		switch {
		case c >= '0' && c <= '9':
			b |= byte(c - '0')
		case c >= 'a' && c <= 'f':
			b |= byte(c-'a') + 10
		case c >= 'A' && c <= 'F':
			b |= byte(c-'A') + 10
		}
	}
	return b&1 == 1
}

// timeRange is the span of the scan's evidence.
func timeRange(obs []otaudit.Observation) (first, last time.Time) {
	for _, o := range obs {
		if !o.FirstSeen.IsZero() && (first.IsZero() || o.FirstSeen.Before(first)) {
			first = o.FirstSeen
		}
		if o.LastSeen.After(last) {
			last = o.LastSeen
		}
	}
	return first, last
}
