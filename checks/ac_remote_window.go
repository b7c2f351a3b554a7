package checks

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/otaudit/otaudit"
)

// scopeMaintenanceWindows: a zone that declares no maintenance window has
// no approval to compare against; that is not a pass (NOT_ASSESSED).
func scopeMaintenanceWindows(in *Input) applicability {
	if len(in.Zone.MaintenanceWindows) == 0 {
		return applicability{notAssessed: fmt.Sprintf("zone %s declares no maintenance windows (schedule.maintenance_windows)", in.Zone.Name)}
	}
	return scopeZoneAssets(in)
}

// isRemoteAccess decides whether a session into the zone is remote access
// that needs approval: in a bounded zone, a session from outside it or
// through one of its jump hosts (whose sessions are remote access by
// definition); in an unbounded zone, where outside cannot be told from
// inside, every session.
func (in *Input) isRemoteAccess(r *otaudit.RemoteSession) bool {
	if !in.inside(r.Server) {
		return false
	}
	if !in.Zone.Bounded() {
		return true
	}
	return !in.inside(r.Client) || in.Zone.IsJumpHost(r.Client)
}

// evalRAOutsideWindow (#29): a remote session into the zone started outside
// every declared maintenance window (read in UTC, as the zone model
// defines them). Change tickets, the reference's other source of approval,
// are not an input yet.
func evalRAOutsideWindow(in *Input) []otaudit.Finding {
	if len(in.Zone.MaintenanceWindows) == 0 {
		return nil
	}
	g := in.sessionGroups(func(r *otaudit.RemoteSession) (netip.Addr, netip.Addr, bool) {
		start := r.Start
		return r.Server, r.Client, in.isRemoteAccess(r) && !start.IsZero() && !in.Zone.InMaintenanceWindow(start)
	})
	// Keep the start times for the summary.
	starts := map[string][]string{}
	for _, k := range g.order {
		x := g.by[k]
		for _, o := range x.obs {
			starts[k] = append(starts[k], o.RemoteSession.Start.UTC().Format("Mon 2006-01-02 15:04Z"))
		}
	}
	var hits []hit
	g.each(func(x *group) {
		protocol, peer, longest := sessionWords(x)
		k := x.asset.String() + "\x00" + x.key
		s := fmt.Sprintf("%s opened %s to %s outside zone %s's maintenance windows (started %s; longest %s).",
			peer, sessionsOf(x.count, label(protocol)), x.asset, in.Zone.Name,
			listSome(sortedKeys(toSet(starts[k])), 3), longest)
		hits = append(hits, hit{asset: x.asset, key: x.key, summary: s, evidence: x.obs, crossed: x.crossed})
	})
	return in.findings("AC-RA-OUTSIDE-APPROVED-WINDOW", hits)
}

// sharedAccountClients is how many distinct clients must log in with one
// account before it counts as shared (reference #14, N = 3).
const sharedAccountClients = 3

// scopeAccountServers are the servers inside the zone that received a
// login with a user name.
func scopeAccountServers(in *Input) applicability {
	servers := map[string]bool{}
	for _, o := range in.ix().creds {
		if c := o.Credential; c.User != "" && in.inside(c.Server) {
			servers[otaudit.AssetKey(c.Server.Unmap())] = true
		}
	}
	return applicability{assets: sortedKeys(servers), notApplicable: "no login with a user name was seen to a server inside the zone"}
}

// evalSharedAccount (#14): one account (user name on one server: device
// accounts are local, so "admin" on two PLCs is two accounts) logged in
// from at least sharedAccountClients client hosts, jump hosts not counted
// (everyone comes from them). Failed logins do not count. The reference's
// alternative trigger, generic names such as admin or operator, is left
// out: it would fire on every default account the clear-text checks
// already report, and a generic name used by one person is not shared.
func evalSharedAccount(in *Input) []otaudit.Finding {
	g := newGrouped()
	for _, o := range in.ix().creds {
		c := o.Credential
		if c.User == "" || c.Outcome == "failure" || !in.inside(c.Server) || in.Zone.IsJumpHost(c.Client) {
			continue
		}
		x := g.add(c.Server, strings.ToLower(c.User), o)
		x.tags["client:"+c.Client.String()] = true
		x.tags["protocol:"+c.Protocol] = true
		x.count += obsCount(o)
	}
	var hits []hit
	g.each(func(x *group) {
		clients := tagValues(x.tags, "client:")
		if len(clients) < sharedAccountClients {
			return
		}
		s := fmt.Sprintf("Account %q on %s logged in from %d client hosts (%s) over %s, %s: its actions cannot be attributed to a person.",
			x.key, x.asset, len(clients), listSome(clients, 5), strings.Join(labels(tagValues(x.tags, "protocol:")), ", "), times(x.count))
		hits = append(hits, hit{asset: x.asset, key: x.key, summary: s, evidence: x.obs})
	})
	return in.findings("AC-SHARED-ACCOUNT-MANY-USERS", hits)
}
