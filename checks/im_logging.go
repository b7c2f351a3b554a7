package checks

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/otaudit/otaudit"
)

// Logging and time checks (reference #58, #59). Both judge absence, so
// both only look at assets that sent traffic during the capture (an
// address only ever seen as a destination may not exist), and both depend
// on the capture being long enough to contain the periodic traffic they
// look for; the summaries give the observed span.

// logCollectorRole is the register role of the zone's log collectors.
const logCollectorRole = "log_collector"

// logCollectors returns the addresses of the register's log collectors: an
// entry's IP, or for a MAC-only entry the assets seen with that MAC.
func (in *Input) logCollectors() map[netip.Addr]bool {
	out := map[netip.Addr]bool{}
	for _, r := range in.Zone.Register {
		if !strings.EqualFold(r.Role, logCollectorRole) {
			continue
		}
		if r.IP.IsValid() {
			out[r.IP.Unmap()] = true
			continue
		}
		for i := range in.Assets {
			if a := &in.Assets[i]; a.IP.IsValid() && containsFold(a.MACs, r.MAC) {
				out[a.IP.Unmap()] = true
			}
		}
	}
	return out
}

// sentTraffic reports whether a sent anything: a host sighting with
// packets, a flow it opened, or an answer it gave.
func (in *Input) sentTraffic(a netip.Addr) bool {
	x := in.ix()
	a = a.Unmap()
	for _, i := range x.hostsOf[a] {
		if x.hosts[i].Host.Packets > 0 {
			return true
		}
	}
	for _, i := range x.flowsOf[a] {
		f := x.flows[i].Flow
		if f.Client.Unmap() == a || (f.Server.Unmap() == a && f.ServerAnswered) {
			return true
		}
	}
	return false
}

// activeAssets are the zone's unicast assets that sent traffic.
func (in *Input) activeAssets() []*otaudit.Asset {
	var out []*otaudit.Asset
	for _, a := range in.unicastAssets() {
		if in.sentTraffic(a.IP) {
			out = append(out, a)
		}
	}
	return out
}

// scopeLogSources: without a log collector in the register there is
// nothing to forward to, which says nothing about the zone (NOT_ASSESSED).
func scopeLogSources(in *Input) applicability {
	collectors := in.logCollectors()
	if len(collectors) == 0 {
		return applicability{notAssessed: fmt.Sprintf("zone %s's asset register names no %s", in.Zone.Name, logCollectorRole)}
	}
	if why := in.tooShort(minLogForwardingWindow, "log forwarding"); why != "" {
		return applicability{notAssessed: why}
	}
	var keys []string
	for _, a := range in.activeAssets() {
		if !collectors[a.IP] {
			keys = append(keys, otaudit.AssetKey(a.IP))
		}
	}
	return applicability{assets: keys, notApplicable: "no asset inside the zone sent traffic"}
}

// isLogForwarding reports whether a flow carries logs: syslog (udp/514,
// tcp/601, tcp/6514), SNMP traps (udp/162) or Windows event forwarding
// (WinRM, tcp/5985-5986).
func isLogForwarding(f *otaudit.Flow) bool {
	switch f.Protocol {
	case "syslog", "syslog-tls", "snmp-trap", "wef", "winrm":
		return true
	}
	switch {
	case f.Transport == otaudit.UDP && (f.ServerPort == 514 || f.ServerPort == 162):
		return true
	case f.Transport == otaudit.TCP && (f.ServerPort == 601 || f.ServerPort == 6514 || f.ServerPort == 5985 || f.ServerPort == 5986):
		return true
	}
	return false
}

// Observation windows below which absence proves nothing (reference #58:
// 24 h; #59's W, a placeholder per §5.7, set to a few of NTP's longest
// poll interval of 1024 s).
const (
	minLogForwardingWindow = 24 * time.Hour
	minTimeSyncWindow      = time.Hour
)

// observedSpan is the time the observations cover, first to last.
func (in *Input) observedSpan() time.Duration {
	var first, last time.Time
	for _, o := range in.Observations {
		if !o.FirstSeen.IsZero() && (first.IsZero() || o.FirstSeen.Before(first)) {
			first = o.FirstSeen
		}
		if o.LastSeen.After(last) {
			last = o.LastSeen
		}
	}
	if first.IsZero() || !last.After(first) {
		return 0
	}
	return last.Sub(first)
}

// tooShort makes an absence check NOT_ASSESSED when the observations cover
// less than min.
func (in *Input) tooShort(min time.Duration, what string) string {
	if span := in.observedSpan(); span < min {
		return fmt.Sprintf("the observations cover %s; judging the absence of %s needs at least %s", span.Round(time.Second), what, min)
	}
	return ""
}

// evalNoLogForwarding (#58): an asset inside the zone sent nothing to any
// of the register's log collectors over syslog, SNMP traps or event
// forwarding during the capture.
func evalNoLogForwarding(in *Input) []otaudit.Finding {
	collectors := in.logCollectors()
	if len(collectors) == 0 {
		return nil
	}
	forwards := map[netip.Addr]bool{}
	for _, o := range in.ix().flows {
		if f := o.Flow; isLogForwarding(f) && collectors[f.Server.Unmap()] {
			forwards[f.Client.Unmap()] = true
		}
	}
	var names []string
	for a := range collectors {
		names = append(names, a.String())
	}
	names = sortedKeys(toSet(names))
	span := in.observedSpan().Round(time.Second)
	var hits []hit
	for _, a := range in.activeAssets() {
		if collectors[a.IP] || forwards[a.IP] {
			continue
		}
		s := fmt.Sprintf("%s sent no syslog, SNMP trap or event-forwarding traffic to the zone's log collector (%s) during the %s observed.",
			a.IP, listSome(names, 3), span)
		hits = append(hits, hit{asset: a.IP, summary: s, evidence: in.assetEvidence(a.IP)})
	}
	return in.findings("IM-NO-LOG-FORWARDING", hits)
}

func scopeTimeSync(in *Input) applicability {
	if why := in.tooShort(minTimeSyncWindow, "NTP or PTP traffic"); why != "" {
		return applicability{notAssessed: why}
	}
	return applicability{assets: assetKeys(in.activeAssets()), notApplicable: "no asset inside the zone sent traffic"}
}

// isTimeSync reports whether a flow is NTP (udp/123) or PTP (udp/319-320,
// usually to the PTP multicast group).
func isTimeSync(f *otaudit.Flow) bool {
	switch f.Protocol {
	case "ntp", "ptp", "sntp":
		return true
	}
	return f.Transport == otaudit.UDP && (f.ServerPort == 123 || f.ServerPort == 319 || f.ServerPort == 320)
}

// evalNoTimeSync (#59): an asset inside the zone took part in no NTP or PTP
// exchange during the capture. The clock-skew parts of the reference check
// (OPC UA server time, SNMP) need evidence the active collectors do not
// deliver yet, so the catalog lists only pcap for it.
func evalNoTimeSync(in *Input) []otaudit.Finding {
	synced := map[netip.Addr]bool{}
	for _, o := range in.ix().flows {
		if f := o.Flow; isTimeSync(f) {
			synced[f.Client.Unmap()] = true
			if f.ServerAnswered {
				synced[f.Server.Unmap()] = true
			}
		}
	}
	span := in.observedSpan().Round(time.Second)
	var hits []hit
	for _, a := range in.activeAssets() {
		if synced[a.IP] {
			continue
		}
		s := fmt.Sprintf("%s (%s) exchanged no NTP or PTP traffic during the %s observed; its clock is not known to be synchronised.",
			a.IP, cmpOr(a.Role, "unknown role"), span)
		hits = append(hits, hit{asset: a.IP, summary: s, evidence: in.assetEvidence(a.IP)})
	}
	return in.findings("IM-NO-TIME-SYNC", hits)
}
