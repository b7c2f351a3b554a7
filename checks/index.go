package checks

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/otaudit/otaudit"
)

// index is the Input sorted for the evaluators: observations by kind,
// assets by address. It is built once per evaluation.
type index struct {
	assets   map[netip.Addr]*otaudit.Asset
	flows    []otaudit.Observation
	ops      []otaudit.Observation
	creds    []otaudit.Observation
	sessions []otaudit.Observation
	idents   []otaudit.Observation
	channels []otaudit.Observation
	lookups  []otaudit.Observation
	hosts    []otaudit.Observation

	// Per-address views (indices into the slices above), so that per-asset
	// evidence is not a scan of every observation.
	flowsOf  map[netip.Addr][]int
	opsOf    map[netip.Addr][]int
	hostsOf  map[netip.Addr][]int
	identsOf map[netip.Addr][]int
}

func addTo(m map[netip.Addr][]int, i int, addrs ...netip.Addr) {
	for k, a := range addrs {
		a = a.Unmap()
		if k > 0 && a == addrs[0].Unmap() {
			continue
		}
		m[a] = append(m[a], i)
	}
}

func (in *Input) ix() *index {
	if in.idx != nil {
		return in.idx
	}
	x := &index{
		assets:  make(map[netip.Addr]*otaudit.Asset, len(in.Assets)),
		flowsOf: map[netip.Addr][]int{}, opsOf: map[netip.Addr][]int{},
		hostsOf: map[netip.Addr][]int{}, identsOf: map[netip.Addr][]int{},
	}
	for i := range in.Assets {
		a := &in.Assets[i]
		if a.IP.IsValid() {
			x.assets[a.IP.Unmap()] = a
		}
	}
	for _, o := range in.Observations {
		switch {
		case o.Kind == otaudit.KindFlow && o.Flow != nil:
			addTo(x.flowsOf, len(x.flows), o.Flow.Client, o.Flow.Server)
			x.flows = append(x.flows, o)
		case o.Kind == otaudit.KindOperation && o.Operation != nil:
			addTo(x.opsOf, len(x.ops), o.Operation.Client, o.Operation.Server)
			x.ops = append(x.ops, o)
		case o.Kind == otaudit.KindCredential && o.Credential != nil:
			x.creds = append(x.creds, o)
		case o.Kind == otaudit.KindRemoteSession && o.RemoteSession != nil:
			x.sessions = append(x.sessions, o)
		case o.Kind == otaudit.KindIdentity && o.Identity != nil:
			addTo(x.identsOf, len(x.idents), o.Identity.IP)
			x.idents = append(x.idents, o)
		case o.Kind == otaudit.KindSecureChannel && o.SecureChannel != nil:
			x.channels = append(x.channels, o)
		case o.Kind == otaudit.KindNameLookup && o.NameLookup != nil:
			x.lookups = append(x.lookups, o)
		case o.Kind == otaudit.KindHost && o.Host != nil:
			addTo(x.hostsOf, len(x.hosts), o.Host.IP)
			x.hosts = append(x.hosts, o)
		}
	}
	in.idx = x
	return x
}

// asset returns the inventory entry for a, if any.
func (in *Input) asset(a netip.Addr) (*otaudit.Asset, bool) {
	x, ok := in.ix().assets[a.Unmap()]
	return x, ok
}

// inside reports whether a is inside the zone: by the merged inventory
// when the address is known there, else by the zone's CIDRs.
func (in *Input) inside(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	if x, ok := in.asset(a); ok {
		return x.Zone != ""
	}
	return in.Zone.Contains(a.Unmap())
}

// crosses reports whether a conversation between a and b crosses the
// boundary of a bounded zone.
func (in *Input) crosses(a, b netip.Addr) bool {
	return in.Zone.Bounded() && in.inside(a) != in.inside(b)
}

// insideAssets are the zone's assets with a usable address.
func (in *Input) insideAssets() []*otaudit.Asset {
	var out []*otaudit.Asset
	for i := range in.Assets {
		a := &in.Assets[i]
		if a.Zone != "" && a.IP.IsValid() {
			out = append(out, a)
		}
	}
	return out
}

// linkOnlyAssets are the zone's devices known only by their MAC: they
// announced themselves on the captured link (LLDP, CDP, DCP, DHCP) and
// never sent from an address. Only the checks that need no address look
// at them (an unknown device is unknown whatever its address).
func (in *Input) linkOnlyAssets() []*otaudit.Asset {
	var out []*otaudit.Asset
	for i := range in.Assets {
		a := &in.Assets[i]
		if a.Zone != "" && !a.IP.IsValid() && len(a.MACs) > 0 {
			out = append(out, a)
		}
	}
	return out
}

// assetKeys turns assets into the scope of a check.
func assetKeys(as []*otaudit.Asset) []string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		out = append(out, otaudit.AssetKey(a.IP))
	}
	return out
}

// controllers are the zone's field devices.
func (in *Input) controllers() []*otaudit.Asset {
	var out []*otaudit.Asset
	for _, a := range in.insideAssets() {
		if a.IsController() {
			out = append(out, a)
		}
	}
	return out
}

// grouped collects hits keyed by (asset, key) so that several observations
// of the same fact become one finding.
type grouped struct {
	order []string
	by    map[string]*group
}

type group struct {
	asset netip.Addr
	key   string
	obs   []otaudit.Observation
	// tags carry evaluator-specific facts across observations.
	crossed bool
	tags    map[string]bool
	nums    map[string]int64
	count   int64
}

func newGrouped() *grouped { return &grouped{by: map[string]*group{}} }

func (g *grouped) add(asset netip.Addr, key string, o otaudit.Observation) *group {
	x := g.get(asset, key)
	x.obs = append(x.obs, o)
	return x
}

// get returns the group of (asset, key), creating it empty.
func (g *grouped) get(asset netip.Addr, key string) *group {
	asset = asset.Unmap()
	k := asset.String() + "\x00" + key
	x, ok := g.by[k]
	if !ok {
		x = &group{asset: asset, key: key, tags: map[string]bool{}}
		g.by[k] = x
		g.order = append(g.order, k)
	}
	return x
}

// each visits the groups in a deterministic order (asset, then key).
func (g *grouped) each(fn func(*group)) {
	keys := slices.Clone(g.order)
	slices.SortFunc(keys, func(a, b string) int {
		ga, gb := g.by[a], g.by[b]
		return cmp.Or(ga.asset.Compare(gb.asset), cmp.Compare(ga.key, gb.key))
	})
	for _, k := range keys {
		fn(g.by[k])
	}
}

// sortedKeys returns the set's members sorted.
func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// listSome renders up to n items and says how many more there are.
func listSome(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ", "), len(items)-n)
}

// times renders a count for a summary: "once", "3 times".
func times(n int64) string {
	if n == 1 {
		return "once"
	}
	return fmt.Sprintf("%d times", n)
}

// obsCount is the number of events an observation stands for (at least 1).
func obsCount(o otaudit.Observation) int64 { return max(o.Count, 1) }
