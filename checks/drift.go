package checks

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/otaudit/otaudit"
)

// writeClasses are the operation classes that change what a controller
// does; a host seen sending one is a "writer" in a baseline.
var writeClasses = map[otaudit.OperationClass]bool{
	otaudit.OpWrite:           true,
	otaudit.OpProgramDownload: true,
	otaudit.OpModeChange:      true,
	otaudit.OpRestart:         true,
}

// BuildBaseline describes what one scan saw of a zone as a baseline: the
// zone's assets with their identity and the services they answered for,
// the conversations that crossed the zone boundary, the remote-access
// sessions that touched the zone and the hosts that wrote to, programmed or
// changed the mode of its controllers. assets must be the inventory built
// from obs (agent.BuildInventory), so that the baseline is exactly what
// that scan saw. The caller sets Created, ScanID, ApprovedBy and Note.
//
// The same builder makes the "current" side of Drift, so that a baseline
// and a later scan are always compared like for like.
func BuildBaseline(zone *otaudit.Zone, assets []otaudit.Asset, obs []otaudit.Observation) otaudit.Baseline {
	b := otaudit.Baseline{Zone: zone.Name, Assets: []otaudit.BaselineAsset{}}
	byIP := make(map[netip.Addr]*otaudit.Asset, len(assets))
	for i := range assets {
		a := &assets[i]
		if !a.IP.IsValid() {
			continue
		}
		byIP[a.IP.Unmap()] = a
		if a.Zone == "" {
			continue
		}
		b.Assets = append(b.Assets, otaudit.BaselineAsset{
			Key: cmp.Or(a.Key, otaudit.AssetKey(a.IP.Unmap())), IP: a.IP.Unmap(), MACs: slices.Clone(a.MACs),
			Vendor: a.Vendor, Model: a.Model, Firmware: a.Firmware, Serial: a.Serial,
			Services: slices.Clone(a.Services),
		})
	}
	inside := func(ip netip.Addr) bool {
		ip = ip.Unmap()
		if a, ok := byIP[ip]; ok {
			return a.Zone != ""
		}
		return zone.Contains(ip)
	}

	flows, remote, writers := map[otaudit.BaselinePath]bool{}, map[otaudit.BaselinePath]bool{}, map[otaudit.BaselinePath]bool{}
	for i := range obs {
		o := &obs[i]
		switch {
		case o.Kind == otaudit.KindFlow && o.Flow != nil:
			f := o.Flow
			// A TCP attempt nobody answered is a probe, not a conduit in
			// use; a one-way UDP protocol (syslog, traps) is real traffic.
			inUse := f.ServerAnswered || (f.Transport == otaudit.UDP && f.Protocol != "")
			if zone.Bounded() && inUse && inside(f.Client) != inside(f.Server) {
				flows[otaudit.BaselinePath{Client: f.Client.Unmap(), Server: f.Server.Unmap(), Protocol: f.Protocol, Port: f.ServerPort}] = true
			}
		case o.Kind == otaudit.KindRemoteSession && o.RemoteSession != nil:
			r := o.RemoteSession
			if inside(r.Client) || inside(r.Server) {
				remote[otaudit.BaselinePath{Client: r.Client.Unmap(), Server: r.Server.Unmap(), Protocol: r.Protocol, Port: r.ServerPort}] = true
			}
		case o.Kind == otaudit.KindOperation && o.Operation != nil:
			p := o.Operation
			if p.Requests > 0 && writeClasses[p.Class] && inside(p.Server) {
				writers[otaudit.BaselinePath{Client: p.Client.Unmap(), Server: p.Server.Unmap(), Protocol: p.Protocol}] = true
			}
		}
	}
	b.BoundaryFlows, b.RemotePaths, b.Writers = sortedPaths(flows), sortedPaths(remote), sortedPaths(writers)
	slices.SortFunc(b.Assets, func(x, y otaudit.BaselineAsset) int { return x.IP.Compare(y.IP) })
	return b
}

func sortedPaths(set map[otaudit.BaselinePath]bool) []otaudit.BaselinePath {
	if len(set) == 0 {
		return nil
	}
	out := make([]otaudit.BaselinePath, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	slices.SortFunc(out, comparePaths)
	return out
}

func comparePaths(a, b otaudit.BaselinePath) int {
	return cmp.Or(a.Client.Compare(b.Client), a.Server.Compare(b.Server), cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Port, b.Port))
}

// DriftKind names one way a zone moved away from its baseline.
type DriftKind string

const (
	DriftNewAsset        DriftKind = "new_asset"
	DriftMissingAsset    DriftKind = "missing_asset"
	DriftFirmwareChanged DriftKind = "firmware_changed"
	DriftModelChanged    DriftKind = "model_changed"
	DriftNewProtocol     DriftKind = "new_protocol"
	DriftNewBoundaryFlow DriftKind = "new_boundary_flow"
	DriftNewRemotePath   DriftKind = "new_remote_path"
	DriftNewWriter       DriftKind = "new_writer"
)

// DriftItem is one difference between the baseline and the current state.
type DriftItem struct {
	Kind DriftKind `json:"kind"`
	// Asset is the key of the asset concerned (the server for a path).
	Asset string `json:"asset,omitempty"`
	// Path is set for the path kinds (boundary flow, remote path, writer).
	Path *otaudit.BaselinePath `json:"path,omitempty"`
	// Was and Now are the approved and the current value where the kind
	// is a change (firmware, model) or an addition (the new protocol).
	Was     string `json:"was,omitempty"`
	Now     string `json:"now,omitempty"`
	Summary string `json:"summary"`
}

// DriftReport is everything that differs between a zone's baseline and
// its current state, in a stable order (kind, asset, path).
type DriftReport struct {
	Zone         string      `json:"zone"`
	BaselineScan uint64      `json:"baseline_scan"`
	CurrentScan  uint64      `json:"current_scan"`
	Items        []DriftItem `json:"items"`
}

// Drift compares the current state of a zone (built with BuildBaseline
// from a later scan) with its approved baseline. Assets are matched by key
// (their address): a device that moved to another address shows as one new
// and one missing asset. Firmware and model are compared only when both
// sides know them, since a passive scan that did not see an identification
// reply knows neither. A device the current scan did not see is reported
// missing: for a passive scan that only means it was silent during the
// capture. A nil baseline gives an empty report.
func Drift(b *otaudit.Baseline, current otaudit.Baseline) DriftReport {
	rep := DriftReport{Zone: current.Zone, CurrentScan: current.ScanID, Items: []DriftItem{}}
	if b == nil {
		return rep
	}
	rep.BaselineScan = b.ScanID
	if rep.Zone == "" {
		rep.Zone = b.Zone
	}
	approved := make(map[string]*otaudit.BaselineAsset, len(b.Assets))
	for i := range b.Assets {
		approved[b.Assets[i].Key] = &b.Assets[i]
	}
	now := make(map[string]bool, len(current.Assets))
	add := func(it DriftItem) { rep.Items = append(rep.Items, it) }
	for i := range current.Assets {
		c := &current.Assets[i]
		now[c.Key] = true
		was, ok := approved[c.Key]
		if !ok {
			add(DriftItem{Kind: DriftNewAsset, Asset: c.Key, Now: describeBaselineAsset(c),
				Summary: fmt.Sprintf("%s is not in the baseline of zone %s", describeBaselineAsset(c), b.Zone)})
			continue
		}
		if changed(was.Firmware, c.Firmware) {
			add(DriftItem{Kind: DriftFirmwareChanged, Asset: c.Key, Was: was.Firmware, Now: c.Firmware,
				Summary: fmt.Sprintf("%s firmware %q, baseline %q", c.IP, c.Firmware, was.Firmware)})
		}
		if changed(was.Model, c.Model) {
			add(DriftItem{Kind: DriftModelChanged, Asset: c.Key, Was: was.Model, Now: c.Model,
				Summary: fmt.Sprintf("%s model %q, baseline %q", c.IP, c.Model, was.Model)})
		}
		for _, proto := range newProtocols(was.Services, c.Services) {
			add(DriftItem{Kind: DriftNewProtocol, Asset: c.Key, Now: proto,
				Summary: fmt.Sprintf("%s now answers for %s, which it did not in the baseline", c.IP, proto)})
		}
	}
	for i := range b.Assets {
		a := &b.Assets[i]
		if !now[a.Key] {
			add(DriftItem{Kind: DriftMissingAsset, Asset: a.Key, Was: describeBaselineAsset(a),
				Summary: fmt.Sprintf("%s is in the baseline but was not seen", describeBaselineAsset(a))})
		}
	}
	newPaths := func(kind DriftKind, approved, current []otaudit.BaselinePath, what string) {
		known := make(map[otaudit.BaselinePath]bool, len(approved))
		for _, p := range approved {
			known[p] = true
		}
		for _, p := range current {
			if known[p] {
				continue
			}
			add(DriftItem{Kind: kind, Asset: otaudit.AssetKey(p.Server), Path: &p, Summary: what + " " + describePath(p)})
		}
	}
	newPaths(DriftNewBoundaryFlow, b.BoundaryFlows, current.BoundaryFlows, "new flow across the zone boundary:")
	newPaths(DriftNewRemotePath, b.RemotePaths, current.RemotePaths, "new remote-access path:")
	newPaths(DriftNewWriter, b.Writers, current.Writers, "new device writing to a controller:")

	rank := map[DriftKind]int{DriftNewAsset: 0, DriftMissingAsset: 1, DriftFirmwareChanged: 2, DriftModelChanged: 3,
		DriftNewProtocol: 4, DriftNewBoundaryFlow: 5, DriftNewRemotePath: 6, DriftNewWriter: 7}
	slices.SortStableFunc(rep.Items, func(x, y DriftItem) int {
		c := cmp.Or(cmp.Compare(rank[x.Kind], rank[y.Kind]), compareAssetKeys(x.Asset, y.Asset))
		if c != 0 || x.Path == nil || y.Path == nil {
			return c
		}
		return comparePaths(*x.Path, *y.Path)
	})
	return rep
}

// compareAssetKeys orders "ip:" keys by address, not by text.
func compareAssetKeys(a, b string) int {
	x, errX := netip.ParseAddr(strings.TrimPrefix(a, "ip:"))
	y, errY := netip.ParseAddr(strings.TrimPrefix(b, "ip:"))
	if errX == nil && errY == nil {
		return x.Compare(y)
	}
	return cmp.Compare(a, b)
}

// changed: both sides are known and they differ (ignoring case and
// surrounding blanks, which identification replies vary in).
func changed(was, now string) bool {
	was, now = strings.TrimSpace(was), strings.TrimSpace(now)
	return was != "" && now != "" && !strings.EqualFold(was, now)
}

// newProtocols lists the protocols the asset serves now and did not serve
// in the baseline, with the transport and port they appeared on.
func newProtocols(approved, current []otaudit.Service) []string {
	known := map[string]bool{}
	for _, s := range approved {
		known[s.Protocol] = true
	}
	var out []string
	seen := map[string]bool{}
	for _, s := range current {
		if s.Protocol == "" || known[s.Protocol] || seen[s.Protocol] {
			continue
		}
		seen[s.Protocol] = true
		out = append(out, fmt.Sprintf("%s (%s/%d)", s.Protocol, s.Transport, s.Port))
	}
	slices.Sort(out)
	return out
}

func describeBaselineAsset(a *otaudit.BaselineAsset) string {
	var parts []string
	if a.Vendor != "" {
		parts = append(parts, a.Vendor)
	}
	if a.Model != "" {
		parts = append(parts, a.Model)
	}
	if a.Firmware != "" {
		parts = append(parts, "firmware "+a.Firmware)
	}
	if len(parts) == 0 && len(a.MACs) > 0 {
		parts = append(parts, "MAC "+strings.Join(a.MACs, ", "))
	}
	if len(parts) == 0 {
		return a.IP.String()
	}
	return fmt.Sprintf("%s (%s)", a.IP, strings.Join(parts, " "))
}

func describePath(p otaudit.BaselinePath) string {
	proto := cmp.Or(p.Protocol, "unknown protocol")
	if p.Port != 0 {
		return fmt.Sprintf("%s → %s %s/%d", p.Client, p.Server, proto, p.Port)
	}
	return fmt.Sprintf("%s → %s %s", p.Client, p.Server, proto)
}
