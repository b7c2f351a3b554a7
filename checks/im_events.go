package checks

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/otaudit/otaudit"
)

// bruteforceFailures is how many failed logins from one client to one
// server count as guessing (reference #57's N; a placeholder per §5.7).
const bruteforceFailures = 5

// evalLoginBruteforce flags servers inside the zone with at least
// bruteforceFailures failed logins from one client.
func evalLoginBruteforce(in *Input) []otaudit.Finding {
	g := newGrouped()
	for _, o := range in.ix().creds {
		c := o.Credential
		if c.Outcome != "failure" || !in.inside(c.Server) {
			continue
		}
		x := g.add(c.Server, c.Client.String(), o)
		x.count += obsCount(o)
		x.tags["protocol:"+c.Protocol] = true
		if c.User != "" {
			x.tags["user:"+c.User] = true
		}
	}
	var hits []hit
	g.each(func(x *group) {
		if x.count < bruteforceFailures {
			return
		}
		users := tagValues(x.tags, "user:")
		s := fmt.Sprintf("%s failed to log in to %s %s over %s (%d user names: %s).",
			x.key, x.asset, times(x.count), strings.Join(labels(tagValues(x.tags, "protocol:")), ", "),
			len(users), listSome(quoteAll(users), 5))
		hits = append(hits, hit{asset: x.asset, key: x.key, summary: s, evidence: x.obs})
	})
	return in.findings("IM-LOGIN-BRUTEFORCE", hits)
}

// Scan thresholds (reference #56's N and M; placeholders per §5.7): a port
// scan touches scanPorts ports of one host, a sweep scanHosts hosts on one
// port, with most attempts unanswered.
const (
	scanPorts = 20
	scanHosts = 16
)

// evalReconScan flags clients that scan ports of one host or sweep one
// port across many hosts, most attempts going unanswered. The finding is
// about the scanning host. Hosts with the register role "scanner" are
// exempt.
func evalReconScan(in *Input) []otaudit.Finding {
	type tally struct {
		targets    map[string]bool
		unanswered int
		obs        []otaudit.Observation
	}
	ports := map[string]*tally{} // client|server → ports
	hosts := map[string]*tally{} // client|transport/port → servers
	bump := func(m map[string]*tally, key, target string, o otaudit.Observation, answered bool) {
		t := m[key]
		if t == nil {
			t = &tally{targets: map[string]bool{}}
			m[key] = t
		}
		t.targets[target] = true
		if !answered {
			t.unanswered++
		}
		t.obs = append(t.obs, o)
	}
	for _, o := range in.ix().flows {
		f := o.Flow
		if in.isGroupAddress(f.Server) || !(in.inside(f.Server) || in.inside(f.Client)) {
			continue
		}
		if a, ok := in.asset(f.Client); ok && strings.EqualFold(a.Role, "scanner") {
			continue
		}
		port := fmt.Sprintf("%s/%d", f.Transport, f.ServerPort)
		bump(ports, f.Client.String()+"|"+f.Server.String(), port, o, f.ServerAnswered)
		bump(hosts, f.Client.String()+"|"+port, f.Server.String(), o, f.ServerAnswered)
	}
	g := newGrouped()
	consider := func(m map[string]*tally, threshold int, kind string) {
		for key, t := range m {
			if len(t.targets) < threshold || 2*t.unanswered < len(t.obs) {
				continue
			}
			client, target := splitKey(key)
			addr, err := netip.ParseAddr(client)
			if err != nil {
				continue
			}
			x := g.get(addr, kind+"|"+target)
			x.obs = append(x.obs, t.obs...)
			x.count = int64(len(t.targets))
		}
	}
	consider(ports, scanPorts, "portscan")
	consider(hosts, scanHosts, "sweep")
	var hits []hit
	g.each(func(x *group) {
		kind, target := splitKey(x.key)
		var s string
		if kind == "portscan" {
			s = fmt.Sprintf("%s probed %d ports of %s, most of them unanswered: a port scan.", x.asset, x.count, target)
		} else {
			s = fmt.Sprintf("%s probed %s on %d hosts, most of them unanswered: a host sweep.", x.asset, target, x.count)
		}
		hits = append(hits, hit{asset: x.asset, key: x.key, summary: s, evidence: x.obs})
	})
	return in.findings("IM-RECON-SCAN-DETECTED", hits)
}
