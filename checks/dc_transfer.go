package checks

import (
	"fmt"
	"net/netip"

	"github.com/otaudit/otaudit"
)

// isTFTP reports whether a flow is TFTP: by name, or a UDP request to
// port 69 whose payload was not recognised.
func isTFTP(f *otaudit.Flow) bool {
	return f.Protocol == "tftp" || (f.Protocol == "" && f.Transport == otaudit.UDP && f.ServerPort == 69)
}

// evalTFTPTransfer (#43): a controller inside the zone takes part in TFTP,
// as server or client, which is how configurations and firmware are moved
// to and from field devices with neither authentication nor encryption. The
// capture analysis does not decode TFTP file names yet, so the reference's
// file-name patterns (*.cfg, *.bin, …) cannot narrow it down: any TFTP
// exchange with a controller counts, and the finding says so.
func evalTFTPTransfer(in *Input) []otaudit.Finding {
	g := newGrouped()
	for _, o := range in.ix().flows {
		f := o.Flow
		if !isTFTP(f) {
			continue
		}
		for _, end := range []struct {
			a    netip.Addr
			role string
		}{{f.Server, "server"}, {f.Client, "client"}} {
			a, ok := in.asset(end.a)
			if !ok || a.Zone == "" || !a.IsController() || in.isGroupAddress(end.a) {
				continue
			}
			peer := other(f.Client, f.Server, end.a)
			x := g.add(end.a, peer.String(), o)
			x.count += max(f.Connections, 1)
			x.tags["as:"+end.role] = true
			x.crossed = x.crossed || in.crosses(f.Client, f.Server)
			if f.ServerAnswered {
				x.tags["answered"] = true
			}
		}
	}
	var hits []hit
	g.each(func(x *group) {
		a, _ := in.asset(x.asset)
		s := fmt.Sprintf("Controller %s (%s) exchanged TFTP with %s as %s in %d requests",
			x.asset, cmpOr(a.Role, "field device"), x.key, listSome(tagValues(x.tags, "as:"), 2), x.count)
		if !x.tags["answered"] {
			s += " (no answer seen)"
		}
		if x.crossed {
			s += " across the zone boundary"
		}
		s += "; TFTP moves configurations and firmware without authentication or encryption (file names are not decoded)."
		hits = append(hits, hit{asset: x.asset, key: x.key, summary: s, evidence: x.obs, crossed: x.crossed})
	})
	return in.findings("DC-TFTP-CONFIG-OR-FIRMWARE-TRANSFER", hits)
}
