package checks

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"unicode"

	"github.com/otaudit/otaudit"
)

// unicastAssets are the zone's assets with a unicast address: group
// addresses show up as flow destinations but are not devices.
func (in *Input) unicastAssets() []*otaudit.Asset {
	var out []*otaudit.Asset
	for _, a := range in.insideAssets() {
		if !in.isGroupAddress(a.IP) && !a.IP.IsLoopback() {
			out = append(out, a)
		}
	}
	return out
}

func scopeUnicastAssets(in *Input) applicability {
	return applicability{assets: assetKeys(in.unicastAssets()), notApplicable: "no unicast assets inside the zone"}
}

func scopeRegisteredZone(in *Input) applicability {
	if len(in.Zone.Register) == 0 {
		return applicability{notAssessed: fmt.Sprintf("zone %s has no asset register, so unknown devices cannot be told apart", in.Zone.Name)}
	}
	app := scopeUnicastAssets(in)
	for _, a := range in.linkOnlyAssets() {
		app.assets = append(app.assets, a.Key)
	}
	return app
}

// scopeRegisteredAssets are the inside assets that have a register entry.
func scopeRegisteredAssets(in *Input) applicability {
	if len(in.Zone.Register) == 0 {
		return applicability{notAssessed: fmt.Sprintf("zone %s has no asset register", in.Zone.Name)}
	}
	var keys []string
	for _, a := range in.unicastAssets() {
		if _, ok := in.Zone.Lookup(a.IP, a.MACs); ok {
			keys = append(keys, otaudit.AssetKey(a.IP))
		}
	}
	return applicability{assets: keys, notApplicable: "no registered asset was seen"}
}

// speaksControl reports whether the asset serves or uses an industrial
// control protocol, by inventory or by observed operations and flows.
func (in *Input) speaksControl(a *otaudit.Asset) (bool, []string) {
	seen := map[string]bool{}
	for _, s := range a.Services {
		if otaudit.IsControlProtocol(s.Protocol) {
			seen[fmt.Sprintf("serves %s %s/%d", s.Protocol, s.Transport, s.Port)] = true
		}
	}
	for _, s := range a.Uses {
		if otaudit.IsControlProtocol(s.Protocol) {
			seen["uses "+s.Protocol] = true
		}
	}
	x := in.ix()
	for _, i := range x.opsOf[a.IP.Unmap()] {
		p := x.ops[i].Operation
		if p.Client.Unmap() == a.IP.Unmap() {
			seen["sends "+p.Protocol+" requests"] = true
		}
		if p.Server.Unmap() == a.IP.Unmap() {
			seen["receives "+p.Protocol+" requests"] = true
		}
	}
	return len(seen) > 0, sortedKeys(seen)
}

// assetEvidence collects the observations that show an asset: its host
// sightings and identities, then its control-protocol flows.
func (in *Input) assetEvidence(ip netip.Addr) []otaudit.Observation {
	x := in.ix()
	ip = ip.Unmap()
	var out []otaudit.Observation
	for _, i := range x.hostsOf[ip] {
		out = append(out, x.hosts[i])
	}
	for _, i := range x.identsOf[ip] {
		out = append(out, x.idents[i])
	}
	for _, i := range x.flowsOf[ip] {
		if o := x.flows[i]; otaudit.IsControlProtocol(o.Flow.Protocol) || len(out) < 3 {
			out = append(out, o)
		}
	}
	// The finding keeps at most maxEvidence of these anyway.
	return earliest(out, maxEvidence)
}

// linkEvidence are the identities announced by macs without an address.
func (in *Input) linkEvidence(macs []string) []otaudit.Observation {
	var out []otaudit.Observation
	for _, o := range in.ix().idents {
		if id := o.Identity; !id.IP.IsValid() && slices.Contains(macs, strings.ToLower(id.MAC)) {
			out = append(out, o)
		}
	}
	return earliest(out, maxEvidence)
}

func describeAsset(a *otaudit.Asset) string {
	var parts []string
	if len(a.MACs) > 0 {
		parts = append(parts, "MAC "+strings.Join(a.MACs, ", "))
	}
	if v := cmpOr(a.Vendor, a.MACVendor); v != "" {
		parts = append(parts, fmt.Sprintf("vendor %q", v))
	}
	if a.Model != "" {
		parts = append(parts, fmt.Sprintf("model %q", a.Model))
	}
	if !a.IP.IsValid() {
		// Known only by what it announced on the link.
		if a.Name != "" {
			parts = append(parts, fmt.Sprintf("name %q", a.Name))
		}
		return "a device with no address seen (" + strings.Join(parts, ", ") + ")"
	}
	if len(parts) == 0 {
		return a.IP.String()
	}
	return fmt.Sprintf("%s (%s)", a.IP, strings.Join(parts, ", "))
}

// evalUnknownDevice flags inside unicast assets missing from the register.
// High when the device speaks a control protocol or the zone is at Purdue
// L0-L2, else medium (the catalog's base).
func evalUnknownDevice(in *Input) []otaudit.Finding {
	if len(in.Zone.Register) == 0 {
		return nil
	}
	var hits []hit
	for _, a := range in.unicastAssets() {
		if a.Registered {
			continue
		}
		h := hit{asset: a.IP, evidence: in.assetEvidence(a.IP)}
		control, what := in.speaksControl(a)
		h.summary = fmt.Sprintf("%s is not in zone %s's asset register", describeAsset(a), in.Zone.Name)
		switch {
		case control:
			h.severity = otaudit.SeverityHigh
			h.summary += "; it " + listSome(what, 3)
		case in.Zone.PurdueLevel >= 0 && in.Zone.PurdueLevel <= 2:
			h.severity = otaudit.SeverityHigh
			h.summary += fmt.Sprintf("; the zone is at Purdue level %d", in.Zone.PurdueLevel)
		}
		if !a.FirstSeen.IsZero() {
			h.summary += fmt.Sprintf("; first seen %s", a.FirstSeen.UTC().Format("2006-01-02 15:04:05Z"))
		}
		h.summary += "."
		hits = append(hits, h)
	}
	for _, a := range in.linkOnlyAssets() {
		if a.Registered {
			continue
		}
		hits = append(hits, hit{assetKey: a.Key, evidence: in.linkEvidence(a.MACs),
			summary: fmt.Sprintf("%s is not in zone %s's asset register; it announced itself on the link but never sent from an address.",
				describeAsset(a), in.Zone.Name)})
	}
	return in.findings("AM-UNKNOWN-DEVICE", hits)
}

// evalNoIdentification flags inside assets that gave no identity at all:
// no identification reply, no vendor or model from any source and no
// registered OUI.
func evalNoIdentification(in *Input) []otaudit.Finding {
	identified := map[netip.Addr]bool{}
	for _, o := range in.ix().idents {
		if id := o.Identity; id.Vendor != "" || id.Model != "" || id.ProductCode != "" || id.Firmware != "" {
			identified[id.IP.Unmap()] = true
		}
	}
	var hits []hit
	for _, a := range in.unicastAssets() {
		if identified[a.IP] || a.Vendor != "" || a.Model != "" || a.ProductCode != "" || a.MACVendor != "" {
			continue
		}
		mac := "no MAC seen"
		if len(a.MACs) > 0 {
			mac = "MAC " + strings.Join(a.MACs, ", ") + " has no registered OUI"
		}
		s := fmt.Sprintf("%s gave no identity through any channel that ran (%s): no vendor, model or firmware, and %s.",
			a.IP, strings.Join(sortedKeys(in.Collected), ", "), mac)
		hits = append(hits, hit{asset: a.IP, summary: s, evidence: in.assetEvidence(a.IP)})
	}
	return in.findings("AM-NO-IDENTIFICATION", hits)
}

// normalise lower-cases and keeps letters and digits only.
func normalise(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// corporateSuffixes are dropped before comparing vendor names.
var corporateSuffixes = []string{"incorporated", "inc", "gmbh", "co", "kg", "ag", "corporation", "corp", "ltd", "llc", "sa", "se", "bv", "spa", "oy", "ab", "plc", "limited", "company"}

func normaliseVendor(s string) string {
	words := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	var kept []string
	for _, w := range words {
		drop := false
		for _, suf := range corporateSuffixes {
			if w == suf {
				drop = true
				break
			}
		}
		if !drop {
			kept = append(kept, w)
		}
	}
	return strings.Join(kept, "")
}

// sameName is the fuzzy match of reference #46: one normalised name
// contains the other.
func sameName(a, b string) bool {
	return a != "" && b != "" && (strings.Contains(a, b) || strings.Contains(b, a))
}

// sameFirmware: equal after normalisation, or one is a more precise
// version of the other ("4.2" and "V4.2.1").
func sameFirmware(registered, observed string) bool {
	r := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(registered)), "v")
	o := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(observed)), "v")
	return r == o || strings.HasPrefix(o, r+".") || strings.HasPrefix(r, o+".")
}

// evalRegisterMismatch compares what a registered device says about itself
// (identification replies; the merged asset when there is none) with its
// register entry.
func evalRegisterMismatch(in *Input) []otaudit.Finding {
	if len(in.Zone.Register) == 0 {
		return nil
	}
	var hits []hit
	for _, a := range in.unicastAssets() {
		reg, ok := in.Zone.Lookup(a.IP, a.MACs)
		if !ok {
			continue
		}
		var evidence []otaudit.Observation
		vendor, model, firmware := a.Vendor, a.Model, a.Firmware
		x := in.ix()
		for _, i := range x.identsOf[a.IP.Unmap()] {
			o := x.idents[i]
			id := o.Identity
			evidence = append(evidence, o)
			vendor, model, firmware = cmpOr(id.Vendor, vendor), cmpOr(id.Model, model), cmpOr(id.Firmware, firmware)
		}
		var diffs []string
		if reg.Vendor != "" && vendor != "" && !sameName(normaliseVendor(reg.Vendor), normaliseVendor(vendor)) {
			diffs = append(diffs, fmt.Sprintf("vendor %q, device reports %q", reg.Vendor, vendor))
		}
		if reg.Model != "" && model != "" && !sameName(normalise(reg.Model), normalise(model)) {
			diffs = append(diffs, fmt.Sprintf("model %q, device reports %q", reg.Model, model))
		}
		if reg.Firmware != "" && firmware != "" && !sameFirmware(reg.Firmware, firmware) {
			diffs = append(diffs, fmt.Sprintf("firmware %q, device reports %q", reg.Firmware, firmware))
		}
		if reg.MAC != "" && len(a.MACs) > 0 && !containsFold(a.MACs, reg.MAC) {
			diffs = append(diffs, fmt.Sprintf("MAC %s, seen with %s", reg.MAC, strings.Join(a.MACs, ", ")))
			evidence = append(evidence, in.hostSightings(a.IP)...)
		}
		if reg.IP.IsValid() && reg.IP != a.IP {
			diffs = append(diffs, fmt.Sprintf("address %s, seen at %s", reg.IP, a.IP))
			evidence = append(evidence, in.hostSightings(a.IP)...)
		}
		if len(diffs) == 0 {
			continue
		}
		name := cmpOr(reg.Name, a.IP.String())
		s := fmt.Sprintf("%s (%s) differs from zone %s's register: register says %s.", a.IP, name, in.Zone.Name, strings.Join(diffs, "; "))
		hits = append(hits, hit{asset: a.IP, summary: s, evidence: evidence})
	}
	return in.findings("AM-REGISTER-MISMATCH", hits)
}

func containsFold(xs []string, s string) bool {
	for _, x := range xs {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func (in *Input) hostSightings(ip netip.Addr) []otaudit.Observation {
	x := in.ix()
	var out []otaudit.Observation
	for _, i := range x.hostsOf[ip.Unmap()] {
		out = append(out, x.hosts[i])
	}
	return out
}

// isVirtualRouterMAC: VRRP and HSRP virtual MACs are shared on purpose.
func isVirtualRouterMAC(mac string) bool {
	m := strings.ToLower(mac)
	return strings.HasPrefix(m, "00:00:5e:00:01:") || strings.HasPrefix(m, "00:00:5e:00:02:") ||
		strings.HasPrefix(m, "00:00:0c:07:ac:") || strings.HasPrefix(m, "00:00:0c:9f:f")
}

// evalDuplicateIP flags inside addresses seen as the source of traffic
// with more than one MAC, not counting virtual-router MACs.
func evalDuplicateIP(in *Input) []otaudit.Finding {
	g := newGrouped()
	for _, o := range in.ix().hosts {
		h := o.Host
		if h.MAC == "" || isVirtualRouterMAC(h.MAC) || !in.inside(h.IP) || in.isGroupAddress(h.IP) {
			continue
		}
		x := g.add(h.IP.Unmap(), "", o)
		x.tags["mac:"+strings.ToLower(h.MAC)] = true
		x.count += max(h.Packets, 1)
	}
	var hits []hit
	g.each(func(x *group) {
		macs := tagValues(x.tags, "mac:")
		if len(macs) < 2 {
			return
		}
		s := fmt.Sprintf("%s was used by %d MAC addresses (%s) in %d packets: an address conflict or ARP spoofing.",
			x.asset, len(macs), strings.Join(macs, ", "), x.count)
		hits = append(hits, hit{asset: x.asset, summary: s, evidence: x.obs})
	})
	return in.findings("AM-DUPLICATE-IP", hits)
}
