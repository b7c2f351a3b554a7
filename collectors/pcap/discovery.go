package pcap

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/collectors/pcap/discovery"
)

// Adapter for the device self-announcements parsed in package discovery
// (LLDP, CDP, PROFINET DCP, DHCP) and for ARP address conflicts.
//
// Announcements are layer-2 facts: a device speaks with a MAC and may or
// may not say which IP it uses. When it does (an LLDP or CDP management
// address, a DCP IP block, a DHCP address), the identity is filed under
// that IP at once and the address is recorded as a host sighting with the
// frame's MAC. When it does not, the announcement waits, keyed by MAC,
// until the end of the capture, where the only IPv4 address that MAC sent
// from (if there is exactly one) claims it; otherwise it is dropped, since
// every identity in the inventory belongs to an IP.

// layer2State is the adapter's part of the analysis; its zero value is
// ready to use.
type layer2State struct {
	// arpOwner is the first MAC that claimed each IP in an ARP sender
	// field; arpConflict marks (IP, MAC) pairs already counted.
	arpOwner    map[netip.Addr][6]byte
	arpConflict map[arpClaimKey]bool
	// pending identities and DCP writes wait for the MAC → IP resolution.
	pending map[pendingKey]*pendingIdent
	dcpOps  map[dcpOpKey]*dcpOp
	// announcedIP is the first address each MAC announced for itself
	// (LLDP, CDP, DCP); it beats the host table in the resolution.
	announcedIP map[[6]byte]netip.Addr
}

func (s *layer2State) announce(mac [6]byte, ip netip.Addr, limit int) {
	if s.announcedIP == nil {
		s.announcedIP = map[[6]byte]netip.Addr{}
	}
	if _, ok := s.announcedIP[mac]; !ok && len(s.announcedIP) < limit {
		s.announcedIP[mac] = ip
	}
}

// isStationName accepts a chassis ID as a device name when it is one
// printable token, as PROFINET station names are (not a MAC, which
// ParseLLDP renders with colons, nor the padded multi-field strings some
// CPUs send).
func isStationName(s string) bool {
	return s != "" && len(s) <= 64 && !strings.ContainsAny(s, " :")
}

type arpClaimKey struct {
	ip  netip.Addr
	mac [6]byte
}

type pendingKey struct {
	mac    [6]byte
	method string
}

type pendingIdent struct {
	id otaudit.DeviceIdentity
	span
}

type dcpOpKey struct {
	client, server [6]byte
	fn             int
}

type dcpOp struct {
	name string
	op   otaudit.Operation // Requests, Responses, Exceptions
	span
}

// arpClaim counts an ARP sender claiming ip with mac when another MAC
// claimed it first. Both host sightings are kept by the caller.
func (a *analysis) arpClaim(ip netip.Addr, mac [6]byte) {
	s := &a.l2
	if s.arpOwner == nil {
		s.arpOwner = map[netip.Addr][6]byte{}
		s.arpConflict = map[arpClaimKey]bool{}
	}
	owner, ok := s.arpOwner[ip]
	if !ok {
		if len(s.arpOwner) >= a.maxFlows {
			a.stats.Evictions++
			return
		}
		s.arpOwner[ip] = mac
		return
	}
	k := arpClaimKey{ip: ip, mac: mac}
	if owner == mac || s.arpConflict[k] || len(s.arpConflict) >= a.maxFlows {
		return
	}
	s.arpConflict[k] = true
	a.stats.ARPConflicts++
}

// layer2Frame reads one LLDP, CDP or PROFINET frame.
func (a *analysis) layer2Frame(p *packet) {
	f := frameInfo{index: p.frame, ts: p.ts}
	switch p.l2type {
	case etherLLDP:
		l, err := discovery.ParseLLDP(p.l2payload)
		if err != nil {
			a.decodeError(p.frame, err.Error())
			return
		}
		d := discovery.ParseDescription(l.SystemDesc)
		name := l.SystemName
		if name == "" && isStationName(l.ChassisID) {
			// PROFINET devices put their NameOfStation in the chassis ID
			// and send no system name.
			name = l.ChassisID
		}
		id := otaudit.DeviceIdentity{Method: "lldp", Name: name, Vendor: d.Vendor, Model: d.Model,
			ProductCode: d.ProductCode, Firmware: d.Firmware, Serial: d.Serial}
		a.announced(p, id, firstUsable(l.Management), &f)
	case etherLLC:
		if !discovery.IsCDP(p.l2payload) {
			return
		}
		c, err := discovery.ParseCDP(p.l2payload[8:])
		if err != nil {
			a.decodeError(p.frame, err.Error())
			return
		}
		d := discovery.ParseDescription(c.Software)
		id := otaudit.DeviceIdentity{Method: "cdp", Name: c.DeviceID, Vendor: d.Vendor, Model: c.Platform, Firmware: d.Firmware}
		a.announced(p, id, firstUsable(c.Addresses), &f)
	case etherPROFINET:
		if len(p.l2payload) < 2 || p.l2payload[0] != 0xfe || p.l2payload[1] < 0xfc {
			return // cyclic real-time data, alarms, PTCP: not DCP
		}
		d, err := discovery.ParseDCP(p.l2payload)
		if err != nil {
			a.decodeError(p.frame, err.Error())
			return
		}
		a.dcp(p, d, &f)
	}
}

// dcp files a DCP message: identities from responses (and Hello), writes
// from Set requests.
func (a *analysis) dcp(p *packet, d discovery.DCP, f *frameInfo) {
	switch {
	case d.Service == discovery.DCPServiceSet && d.ServiceType == discovery.DCPRequest && d.FrameID == discovery.DCPGetSet:
		a.dcpSet(p.srcMAC, p.dstMAC, d, f, false)
	case d.Service == discovery.DCPServiceSet && d.FrameID == discovery.DCPGetSet:
		// The answer travels from the device back to the client.
		a.dcpSet(p.dstMAC, p.srcMAC, d, f, true)
	case !d.IsRequest() || d.FrameID == discovery.DCPHello:
		if d.NameOfStation == "" && !d.HasIDs && !d.IP.IsValid() {
			return
		}
		id := otaudit.DeviceIdentity{Method: "profinet-dcp", Name: d.NameOfStation, Model: d.Vendor}
		if d.HasIDs {
			id.ProductCode = fmt.Sprintf("vendor 0x%04x device 0x%04x", d.VendorID, d.DeviceID)
			id.Vendor = profinetVendors[d.VendorID]
		}
		var ip netip.Addr
		if usable(d.IP) {
			ip = d.IP
		}
		a.announced(p, id, ip, f)
	}
}

// profinetVendors names the PROFINET vendor IDs seen in the shared
// captures whose owner is certain; others keep only the number.
var profinetVendors = map[uint16]string{
	0x002a: "Siemens",
}

// dcpSet aggregates a DCP Set request (a write: it renames a device or
// changes its IP) or its answer. The Operation is keyed by the MACs and
// gets its IPs at the end of the capture.
func (a *analysis) dcpSet(client, server [6]byte, d discovery.DCP, f *frameInfo, response bool) {
	s := &a.l2
	if s.dcpOps == nil {
		s.dcpOps = map[dcpOpKey]*dcpOp{}
	}
	k := dcpOpKey{client: client, server: server, fn: discovery.DCPServiceSet}
	o := s.dcpOps[k]
	if o == nil {
		if response {
			return // an answer to a request we did not see
		}
		if len(s.dcpOps) >= a.maxFlows {
			a.stats.Evictions++
			return
		}
		o = &dcpOp{name: "Set" + dcpWhat(d)}
		s.dcpOps[k] = o
	}
	switch {
	case !response:
		o.op.Requests++
		o.add(f)
	case d.ServiceType == discovery.DCPResponseSuccess:
		o.op.Responses++
	default:
		o.op.Exceptions++
	}
}

// dcpWhat names what a Set request changes.
func dcpWhat(d discovery.DCP) string {
	var what []string
	for _, o := range d.Options {
		switch o {
		case 0x0102:
			what = append(what, "IP")
		case 0x0202:
			what = append(what, "NameOfStation")
		case 0x0503:
			what = append(what, "reset to factory")
		case 0x0504:
			what = append(what, "signal")
		}
	}
	if len(what) == 0 {
		return ""
	}
	return " " + strings.Join(what, ", ")
}

// announced files an identity the frame's sender gave about itself: under
// ip (which also becomes a host sighting with the frame's MAC) when known,
// else by MAC until the end of the capture.
func (a *analysis) announced(p *packet, id otaudit.DeviceIdentity, ip netip.Addr, f *frameInfo) {
	if ip.IsValid() {
		if p.hasMAC {
			a.sawSource(ip, p.srcMAC, true, p.vlan, p.frame, p.ts, p.length)
			a.l2.announce(p.srcMAC, ip, a.maxFlows)
		}
		if id != (otaudit.DeviceIdentity{Method: id.Method}) {
			id.IP = ip
			a.identity(id, f)
		}
		return
	}
	if !p.hasMAC {
		return
	}
	a.pendingIdentity(p.srcMAC, id, f)
}

func (a *analysis) pendingIdentity(mac [6]byte, id otaudit.DeviceIdentity, f *frameInfo) {
	s := &a.l2
	if s.pending == nil {
		s.pending = map[pendingKey]*pendingIdent{}
	}
	k := pendingKey{mac: mac, method: id.Method}
	g := s.pending[k]
	if g == nil {
		if len(s.pending) >= a.maxFlows {
			a.stats.Evictions++
			return
		}
		g = &pendingIdent{id: otaudit.DeviceIdentity{Method: id.Method}}
		s.pending[k] = g
	}
	fillIdentity(&g.id, id)
	g.add(f)
}

func fillIdentity(dst *otaudit.DeviceIdentity, src otaudit.DeviceIdentity) {
	fill := func(d *string, v string) {
		if *d == "" {
			*d = v
		}
	}
	fill(&dst.Vendor, src.Vendor)
	fill(&dst.ProductCode, src.ProductCode)
	fill(&dst.Model, src.Model)
	fill(&dst.Name, src.Name)
	fill(&dst.Firmware, src.Firmware)
	fill(&dst.Serial, src.Serial)
}

// dhcpDatagram reads a DHCP message: the client's hostname and vendor
// class, filed under the address it asked for, was given or already had.
func dhcpDatagram(a *analysis, c *conn, d dir, b []byte, f *frameInfo) {
	m, err := discovery.ParseDHCP(b)
	if err != nil {
		a.decodeError(f.index, err.Error())
		return
	}
	if !m.HasMAC {
		return
	}
	id := otaudit.DeviceIdentity{Method: "dhcp", Name: m.Hostname, Model: m.VendorClass}
	var ip netip.Addr
	switch {
	case m.Op == 2 && m.MsgType == discovery.DHCPAck && usable(m.YourIP):
		ip = m.YourIP
	case m.Op == 1 && usable(m.ClientIP):
		ip = m.ClientIP
	case m.Op == 1 && usable(m.RequestedIP) && m.MsgType == discovery.DHCPRequest:
		ip = m.RequestedIP
	}
	if id.Name == "" && id.Model == "" && !ip.IsValid() {
		return
	}
	a.pendingIdentity(m.ClientMAC, id, f)
	if ip.IsValid() {
		// The address is the client's from now on: remember it for the
		// resolution, with an empty identity carrying nothing but the IP.
		a.l2.pending[pendingKey{mac: m.ClientMAC, method: "dhcp"}].id.IP = ip
	}
}

// usable is a unicast address a device can be reached at.
func usable(ip netip.Addr) bool {
	return ip.IsValid() && !ip.IsUnspecified() && !ip.IsMulticast() && ip != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

func firstUsable(ips []netip.Addr) netip.Addr {
	for _, ip := range ips {
		if usable(ip) {
			return ip
		}
	}
	return netip.Addr{}
}

// finishLayer2 runs once at the end of the capture: pending announcements
// and DCP writes get their IPs, and the decoder's fragment counts are
// copied to the Stats.
func (a *analysis) finishLayer2() {
	a.stats.FragmentsReassembled = a.dec.frags.reassembled
	a.stats.FragmentEvictions = a.dec.frags.evicted
	s := &a.l2
	if len(s.pending) == 0 && len(s.dcpOps) == 0 {
		return
	}
	ipOf := a.macAddresses()
	for mac, ip := range s.announcedIP {
		ipOf[mac] = ip
	}
	keys := make([]pendingKey, 0, len(s.pending))
	for k := range s.pending {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y pendingKey) int {
		if c := slices.Compare(x.mac[:], y.mac[:]); c != 0 {
			return c
		}
		return strings.Compare(x.method, y.method)
	})
	for _, k := range keys {
		g := s.pending[k]
		if !g.id.IP.IsValid() {
			g.id.IP = ipOf[k.mac]
		}
		if !g.id.IP.IsValid() {
			// A device the capture never showed with an address (a switch
			// that only speaks LLDP, a PROFINET device waiting for its
			// IP): kept under its MAC for the inventory.
			g.id.MAC = macString(k.mac)
		}
		if g.id == (otaudit.DeviceIdentity{IP: g.id.IP, Method: g.id.Method, MAC: g.id.MAC}) {
			continue // nothing said beyond the address
		}
		a.mergedIdentity(g.id, g.span)
	}
	s.pending = nil
	for k, o := range s.dcpOps {
		cli, srv := ipOf[k.client], ipOf[k.server]
		g := a.operation("profinet-dcp", cli, srv, 0, k.fn, o.name, otaudit.OpWrite)
		if g == nil {
			continue
		}
		g.op.Requests += o.op.Requests
		g.op.Responses += o.op.Responses
		g.op.Exceptions += o.op.Exceptions
		mergeSpan(&g.span, o.span)
	}
	s.dcpOps = nil
}

// mergedIdentity files an identity with the span it was seen over.
func (a *analysis) mergedIdentity(id otaudit.DeviceIdentity, sp span) {
	k := identKey{ip: id.IP, method: id.Method, mac: id.MAC}
	g := a.idents[k]
	if g == nil {
		if len(a.idents) >= a.maxFlows {
			a.stats.Evictions++
			return
		}
		g = &identAgg{id: otaudit.DeviceIdentity{IP: id.IP, Method: id.Method, MAC: id.MAC}}
		a.idents[k] = g
	}
	fillIdentity(&g.id, id)
	mergeSpan(&g.span, sp)
}

func mergeSpan(dst *span, src span) {
	if src.count == 0 {
		return
	}
	if dst.count == 0 {
		*dst = src
		return
	}
	if src.first.Before(dst.first) {
		dst.first = src.first
	}
	if src.last.After(dst.last) {
		dst.last = src.last
	}
	dst.firstFrame = min(dst.firstFrame, src.firstFrame)
	dst.count += src.count
}

// macAddresses maps each MAC to the one address it sent from: the only
// usable IPv4 address, else the only usable address at all. A MAC behind
// several addresses (a router, a multi-homed host) maps to none.
func (a *analysis) macAddresses() map[[6]byte]netip.Addr {
	type seen struct{ v4, any []netip.Addr }
	by := map[[6]byte]*seen{}
	for k := range a.hosts {
		if !k.hasMAC || !usable(k.ip) {
			continue
		}
		s := by[k.mac]
		if s == nil {
			s = &seen{}
			by[k.mac] = s
		}
		s.any = append(s.any, k.ip)
		if k.ip.Is4() || k.ip.Is4In6() {
			s.v4 = append(s.v4, k.ip)
		}
	}
	out := make(map[[6]byte]netip.Addr, len(by))
	for mac, s := range by {
		switch {
		case len(s.v4) == 1:
			out[mac] = s.v4[0]
		case len(s.v4) == 0 && len(s.any) == 1:
			out[mac] = s.any[0]
		}
	}
	return out
}
