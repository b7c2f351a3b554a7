package checks

import (
	"fmt"
	"strings"

	"github.com/otaudit/otaudit"
)

// The drift checks compare the scan with the zone's approved baseline
// (Input.Baseline). Without one they are NOT_ASSESSED: the catalog's
// "needs: baseline" covers Collected["baseline"], and the scopes below
// cover a caller that claims a baseline but passes none.

func noBaseline(in *Input) applicability {
	return applicability{notAssessed: fmt.Sprintf("zone %s has no baseline: run `otaudit baseline set`", in.Zone.Name)}
}

// baselineAssets indexes the baseline's assets by key.
func (in *Input) baselineAssets() map[string]*otaudit.BaselineAsset {
	out := make(map[string]*otaudit.BaselineAsset, len(in.Baseline.Assets))
	for i := range in.Baseline.Assets {
		out[in.Baseline.Assets[i].Key] = &in.Baseline.Assets[i]
	}
	return out
}

// scopeBaselinedAssets are the zone's assets that the baseline records.
func scopeBaselinedAssets(in *Input) applicability {
	if in.Baseline == nil {
		return noBaseline(in)
	}
	approved := in.baselineAssets()
	var keys []string
	for _, a := range in.unicastAssets() {
		if approved[otaudit.AssetKey(a.IP)] != nil {
			keys = append(keys, otaudit.AssetKey(a.IP))
		}
	}
	return applicability{assets: keys, notApplicable: "no asset of the baseline was seen"}
}

func scopeBaselineZone(in *Input) applicability {
	if in.Baseline == nil {
		return noBaseline(in)
	}
	return scopeUnicastAssets(in)
}

// baselineLabel says which baseline a finding was measured against.
func (in *Input) baselineLabel() string {
	b := in.Baseline
	s := fmt.Sprintf("the baseline of zone %s (scan %d", in.Zone.Name, b.ScanID)
	if !b.Created.IsZero() {
		s += ", set " + b.Created.UTC().Format("2006-01-02")
	}
	if b.ApprovedBy != "" {
		s += " by " + b.ApprovedBy
	}
	return s + ")"
}

// evalFirmwareChanged flags baselined assets whose firmware or model now
// differs from the baseline. Values missing on either side are not a
// change: the scan may simply not have seen an identification reply.
func evalFirmwareChanged(in *Input) []otaudit.Finding {
	if in.Baseline == nil {
		return nil
	}
	approved := in.baselineAssets()
	var hits []hit
	for _, a := range in.unicastAssets() {
		was := approved[otaudit.AssetKey(a.IP)]
		if was == nil {
			continue
		}
		var diffs []string
		if changed(was.Firmware, a.Firmware) {
			diffs = append(diffs, fmt.Sprintf("firmware %q where the baseline has %q", a.Firmware, was.Firmware))
		}
		if changed(was.Model, a.Model) {
			diffs = append(diffs, fmt.Sprintf("model %q where the baseline has %q", a.Model, was.Model))
		}
		if len(diffs) == 0 {
			continue
		}
		var evidence []otaudit.Observation
		x := in.ix()
		for _, i := range x.identsOf[a.IP.Unmap()] {
			evidence = append(evidence, x.idents[i])
		}
		if len(evidence) == 0 {
			evidence = in.assetEvidence(a.IP)
		}
		s := fmt.Sprintf("%s reports %s, per %s; confirm an approved change exists.",
			describeAsset(a), strings.Join(diffs, " and "), in.baselineLabel())
		hits = append(hits, hit{asset: a.IP, summary: s, evidence: evidence})
	}
	return in.findings("AM-FIRMWARE-CHANGED", hits)
}

// controlPeers lists the controllers asset a talks an industrial control
// protocol to, as a client: flows to a controller's control service, and
// operations it sent.
func (in *Input) controlPeers(a *otaudit.Asset) []string {
	ip := a.IP.Unmap()
	seen := map[string]bool{}
	x := in.ix()
	for _, i := range x.flowsOf[ip] {
		f := x.flows[i].Flow
		if f.Client.Unmap() != ip || !otaudit.IsControlProtocol(f.Protocol) {
			continue
		}
		if srv, ok := in.asset(f.Server); ok && srv.IsController() {
			seen[fmt.Sprintf("%s to %s", f.Protocol, f.Server.Unmap())] = true
		}
	}
	for _, i := range x.opsOf[ip] {
		if p := x.ops[i].Operation; p.Client.Unmap() == ip && p.Requests > 0 {
			seen[fmt.Sprintf("%s to %s", p.Protocol, p.Server.Unmap())] = true
		}
	}
	return sortedKeys(seen)
}

// evalNewDeviceSinceBaseline flags the zone's unicast assets that the
// baseline does not record: high when the newcomer speaks a control
// protocol to controllers, else the catalog's medium.
func evalNewDeviceSinceBaseline(in *Input) []otaudit.Finding {
	if in.Baseline == nil {
		return nil
	}
	approved := in.baselineAssets()
	var hits []hit
	for _, a := range in.unicastAssets() {
		if approved[otaudit.AssetKey(a.IP)] != nil {
			continue
		}
		h := hit{asset: a.IP, evidence: in.assetEvidence(a.IP)}
		h.summary = fmt.Sprintf("%s is not in %s", describeAsset(a), in.baselineLabel())
		if peers := in.controlPeers(a); len(peers) > 0 {
			h.severity = otaudit.SeverityHigh
			h.summary += "; it speaks " + listSome(peers, 3)
		}
		if !a.FirstSeen.IsZero() {
			h.summary += "; first seen " + a.FirstSeen.UTC().Format("2006-01-02 15:04:05Z")
		}
		h.summary += "."
		hits = append(hits, h)
	}
	return in.findings("AM-NEW-DEVICE-SINCE-BASELINE", hits)
}
