package pcap

import (
	"cmp"
	"encoding/binary"
	"hash/maphash"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/otaudit/otaudit"
)

// span is the time and frame range an aggregate covers.
type span struct {
	first, last time.Time
	firstFrame  int64
	count       int64
}

func (s *span) add(f *frameInfo) {
	if s.count == 0 || f.ts.Before(s.first) {
		s.first = f.ts
	}
	if s.count == 0 || f.ts.After(s.last) {
		s.last = f.ts
	}
	if s.count == 0 || f.index < s.firstFrame {
		s.firstFrame = f.index
	}
	s.count++
}

// --- operations -----------------------------------------------------------

type opKey struct {
	proto    string
	cli, srv netip.Addr
	unit, fn int
}

type opAgg struct {
	op otaudit.Operation
	span
}

// operation returns the aggregate for (proto, client, server, unit, fn),
// creating it with name and class; nil when the table is full.
func (a *analysis) operation(proto string, cli, srv netip.Addr, unit, fn int, name string, class otaudit.OperationClass) *opAgg {
	k := opKey{proto: proto, cli: cli, srv: srv, unit: unit, fn: fn}
	slot := &a.opCache[(addrSlot(cli)^addrSlot(srv)<<1^uint(fn)<<4^uint(unit))&(aggCacheSize-1)]
	o := slot.o
	if o == nil || slot.k != k {
		o = a.ops[k]
		if o != nil {
			slot.k, slot.o = k, o
		}
	}
	if o == nil {
		if len(a.ops) >= a.maxFlows {
			a.stats.Evictions++
			return nil
		}
		o = &opAgg{op: otaudit.Operation{Protocol: proto, Client: cli, Server: srv, Unit: unit, Function: fn, Name: name, Class: class}}
		a.ops[k] = o
	}
	return o
}

// --- identities -----------------------------------------------------------

type identKey struct {
	ip     netip.Addr
	method string
	mac    string // only for identities without an IP (DeviceIdentity.MAC)
}

type identAgg struct {
	id otaudit.DeviceIdentity
	span
}

// identity merges what a device said about itself: fields already known
// are kept, new ones filled in (a device answers in several parts).
func (a *analysis) identity(id otaudit.DeviceIdentity, f *frameInfo) {
	k := identKey{ip: id.IP, method: id.Method}
	g := a.lookupIdent(k)
	if g == nil {
		if len(a.idents) >= a.maxFlows {
			a.stats.Evictions++
			return
		}
		g = &identAgg{id: otaudit.DeviceIdentity{IP: id.IP, Method: id.Method}}
		a.idents[k] = g
	}
	fill := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	fill(&g.id.Vendor, id.Vendor)
	fill(&g.id.ProductCode, id.ProductCode)
	fill(&g.id.Model, id.Model)
	fill(&g.id.Name, id.Name)
	fill(&g.id.Firmware, id.Firmware)
	fill(&g.id.Serial, id.Serial)
	g.add(f)
}

// lookupIdent is a.idents[k], through identCache.
func (a *analysis) lookupIdent(k identKey) *identAgg {
	i := addrSlot(k.ip) ^ uint(len(k.method))<<5 ^ uint(len(k.mac))
	if g := a.identCache.get(i, k); g != nil {
		return g
	}
	g := a.idents[k]
	if g != nil {
		a.identCache.put(i, k, g)
	}
	return g
}

// --- credentials ----------------------------------------------------------

type credKey struct {
	proto, user, fp string
	cli, srv        netip.Addr
	detail          string
}

type credAgg struct {
	cred             otaudit.Credential
	success, failure bool
	span
}

// credential judges secret (the caller zeroes its copy afterwards) and
// aggregates the attempt. outcome is "success", "failure" or "".
func (a *analysis) credential(proto string, cli, srv netip.Addr, user string, secret []byte, outcome, detail string, f *frameInfo) {
	fp, def := a.judgeCached(proto, secret)
	a.judgedCredential(proto, cli, srv, user, fp, def, outcome, detail, f)
}

// judgedSecret is a cached verdict of the CredentialJudge.
type judgedSecret struct {
	fp  string
	def bool
}

// judgeCacheKey names a secret without holding it: a hash with a seed
// drawn for this analysis (so nobody can aim for a collision) and its
// length.
type judgeCacheKey struct {
	proto string
	sum   uint64
	n     int
}

// judgeCacheSize is the number of verdicts cached (a power of two); a
// verdict takes the slot of its hash.
const judgeCacheSize = 256

type judgeCacheEntry struct {
	k   judgeCacheKey
	v   judgedSecret
	set bool
}

// judgeCached is a.judge.Judge for a secret that comes back in every
// message (an SNMP community), where an HMAC per packet was a visible share
// of the analysis.
func (a *analysis) judgeCached(proto string, secret []byte) (string, bool) {
	k := judgeCacheKey{proto: proto, sum: maphash.Bytes(a.judgeSeed, secret), n: len(secret)}
	e := &a.judged[k.sum%judgeCacheSize]
	if e.set && e.k == k {
		return e.v.fp, e.v.def
	}
	fp, def := a.judge.Judge(proto, secret)
	*e = judgeCacheEntry{k: k, v: judgedSecret{fp: fp, def: def}, set: true}
	return fp, def
}

// judgedCredential aggregates an attempt whose secret was already judged
// (dissectors that learn the outcome later keep only the fingerprint).
func (a *analysis) judgedCredential(proto string, cli, srv netip.Addr, user, fp string, def bool, outcome, detail string, f *frameInfo) {
	k := credKey{proto: proto, user: user, fp: fp, cli: cli, srv: srv, detail: detail}
	// The fingerprint's last byte tells the communities of one manager
	// and device apart (a fingerprint is hex, or empty).
	slot := addrSlot(cli) ^ addrSlot(srv)<<1 ^ uint(len(user))<<3 ^ uint(len(detail))<<5
	if len(fp) > 0 {
		slot ^= uint(fp[len(fp)-1]) << 2
	}
	g := a.credCache.get(slot, k)
	if g == nil {
		if g = a.creds[k]; g != nil {
			a.credCache.put(slot, k, g)
		}
	}
	if g == nil {
		if len(a.creds) >= a.maxFlows {
			a.stats.Evictions++
			return
		}
		g = &credAgg{cred: otaudit.Credential{Protocol: proto, Client: cli, Server: srv, User: user, Fingerprint: fp, KnownDefault: def, Detail: detail}}
		a.creds[k] = g
	}
	switch outcome {
	case "success":
		g.success = true
	case "failure":
		g.failure = true
	}
	g.add(f)
}

// --- secure channels ------------------------------------------------------

type chanKey struct {
	proto, policy, endpoint string
	cli, srv                netip.Addr
}

type chanAgg struct {
	ch otaudit.SecureChannel
	span
}

func (a *analysis) secureChannel(ch otaudit.SecureChannel, f *frameInfo) {
	k := chanKey{proto: ch.Protocol, policy: ch.Policy, endpoint: ch.Endpoint, cli: ch.Client, srv: ch.Server}
	slot := addrSlot(ch.Client) ^ addrSlot(ch.Server)<<1 ^ uint(len(ch.Policy))<<3
	g := a.chanCache.get(slot, k)
	if g == nil {
		if g = a.chans[k]; g != nil {
			a.chanCache.put(slot, k, g)
		}
	}
	if g == nil {
		if len(a.chans) >= a.maxFlows {
			a.stats.Evictions++
			return
		}
		g = &chanAgg{ch: ch}
		a.chans[k] = g
	}
	if ch.ServerCertificate != nil {
		// A certificate renewed during the capture: the one in use now.
		g.ch.ServerCertificate = ch.ServerCertificate
	}
	g.add(f)
}

// --- remote sessions ------------------------------------------------------

// remoteProtocols are the protocols a connection of which is an
// interactive remote-access session.
var remoteProtocols = map[string]bool{
	"rdp": true, "vnc": true, "ssh": true, "telnet": true, "teamviewer": true, "anydesk": true,
	"splashtop": true, "screenconnect": true, "logmein": true, "rustdesk": true, "chrome-remote-desktop": true,
	"ike": true, "openvpn": true, "wireguard": true,
}

// isRemoteProtocol is remoteProtocols[proto] without hashing the name,
// for every connection that folds.
func isRemoteProtocol(proto string) bool {
	switch proto {
	case "rdp", "vnc", "ssh", "telnet", "teamviewer", "anydesk", "ike", "openvpn", "wireguard",
		"splashtop", "screenconnect", "logmein", "rustdesk", "chrome-remote-desktop":
		return true
	}
	return false
}

type sessionAgg struct {
	s          otaudit.RemoteSession
	firstFrame int64
	packets    int64
}

// addSession records c as a remote session if it is one, and returns its
// index in a.sessions (-1 when it is none or the table is full).
func (a *analysis) addSession(c *conn) int {
	if !isRemoteProtocol(c.protocol) {
		return -1
	}
	if len(a.sessions) >= a.maxFlows {
		a.stats.Evictions++
		return -1
	}
	enc := c.encrypted >= 0 // unknown counts as encrypted unless the protocol says otherwise
	switch c.protocol {
	case "telnet":
		enc = false
	case "ike", "openvpn", "wireguard":
		if c.detail == "" {
			return -1 // the port matched but no datagram had the VPN's header (vpn.go)
		}
	case "vnc":
		// RFB is only encrypted when a TLS-style security type was chosen;
		// without seeing one we do not claim it.
		enc = c.encrypted > 0
	}
	a.sessions = append(a.sessions, sessionAgg{
		s: otaudit.RemoteSession{
			Protocol: c.protocol, Client: c.cli, Server: c.srv, ServerPort: c.sport,
			Start: c.first, End: c.last,
			BytesToServer: c.bytes[toServer], BytesToClient: c.bytes[toClient],
			OpenAtEnd: c.t == l4TCP && !c.closed,
			Encrypted: enc, Detail: c.detail,
		},
		firstFrame: c.firstFrame,
		packets:    c.packets,
	})
	return len(a.sessions) - 1
}

// --- result ---------------------------------------------------------------

// result folds what is still open and returns the observations in a
// deterministic order: by kind, then by the fields that identify them.
func (a *analysis) result() *Result {
	a.finishLayer2()
	open := make([]*conn, 0, len(a.conns))
	for _, c := range a.conns {
		open = append(open, c)
	}
	slices.SortFunc(open, func(x, y *conn) int { return cmp.Compare(x.firstFrame, y.firstFrame) })
	for _, c := range open {
		a.finish(c)
	}
	a.conns, a.recent = map[connKey]*conn{}, connCache{}
	if a.stats.DecodeErrors > maxListedErrors {
		a.warnf("%d decode errors in total (the first %d are listed above)", a.stats.DecodeErrors, maxListedErrors)
	}
	src := "pcap:" + a.name
	// Sized up front: growing by appends would briefly hold two copies of
	// the largest slice of the run, at the moment memory peaks. Each kind
	// is appended in its rank and sorted on its own, in place: a sort
	// record per observation, with its keys copied, cost as much memory
	// as the observations themselves. The observations point into the
	// aggregates instead of copies of them: the tables are not used again.
	out := make([]otaudit.Observation, 0, len(a.hosts)+len(a.targets)+a.flows.len()+len(a.ops)+len(a.idents)+len(a.creds)+len(a.chans)+len(a.lookups)+len(a.sessions))
	base := func(kind otaudit.ObservationKind, sp span) otaudit.Observation {
		return otaudit.Observation{Kind: kind, Source: src, FirstSeen: sp.first, LastSeen: sp.last, Count: sp.count, FirstFrame: sp.firstFrame}
	}
	sortFrom := func(start int, cmp func(x, y *otaudit.Observation) int) {
		slices.SortFunc(out[start:], func(x, y otaudit.Observation) int {
			if c := cmp(&x, &y); c != 0 {
				return c
			}
			return compareInt(x.FirstFrame, y.FirstFrame)
		})
	}

	// Hosts: one per (IP, MAC) for senders; addresses only ever seen as a
	// destination get one MAC-less sighting with zero packets.
	senders := make(map[netip.Addr]bool, len(a.hosts))
	hosts := make([]otaudit.HostSighting, 0, len(a.hosts)+len(a.targets))
	for k, h := range a.hosts {
		senders[k.ip] = true
		hs := otaudit.HostSighting{IP: k.ip, VLAN: h.vlan, Packets: h.packets, Bytes: h.bytes}
		if k.hasMAC {
			hs.MAC = macString(k.mac)
			hs.MACVendor = vendorOf(k.mac)
		}
		hosts = append(hosts, hs)
		o := base(otaudit.KindHost, span{first: h.first, last: h.last, firstFrame: h.firstFrame, count: h.packets})
		o.Host = &hosts[len(hosts)-1]
		out = append(out, o)
	}
	for ip, s := range a.targets {
		if senders[ip] {
			continue
		}
		hosts = append(hosts, otaudit.HostSighting{IP: ip})
		o := base(otaudit.KindHost, span{first: s.first, last: s.last, firstFrame: s.firstFrame})
		o.Host = &hosts[len(hosts)-1]
		out = append(out, o)
	}
	sortFrom(0, func(x, y *otaudit.Observation) int {
		if c := x.Host.IP.Compare(y.Host.IP); c != 0 {
			return c
		}
		return strings.Compare(x.Host.MAC, y.Host.MAC)
	})

	// Flows, the most numerous, are sorted as pointers rather than as
	// observations (a swap moved 176 bytes), each with its two addresses
	// packed into one number when both are IPv4 (IPv4 addresses compare
	// as big-endian numbers): most comparisons end there, without
	// following the pointers into 60k aggregates.
	type flowRef struct {
		ends  uint64 // client<<32 | server, when both are IPv4
		both4 bool
		f     *flowAgg
	}
	refs := make([]flowRef, a.flows.len())
	for i := range refs {
		f := a.flows.at(int32(i))
		refs[i].f = f
		if c, s := f.flow.Client, f.flow.Server; c.Is4() && s.Is4() {
			cb, sb := c.As4(), s.As4()
			refs[i].ends, refs[i].both4 = uint64(binary.BigEndian.Uint32(cb[:]))<<32|uint64(binary.BigEndian.Uint32(sb[:])), true
		}
	}
	slices.SortFunc(refs, func(x, y flowRef) int {
		if x.both4 && y.both4 && x.ends != y.ends {
			return cmp.Compare(x.ends, y.ends)
		}
		return compareFlows(x.f, y.f)
	})
	flows := make([]*flowAgg, len(refs))
	for i := range refs {
		flows[i] = refs[i].f
	}
	refs = nil
	for _, f := range flows {
		o := base(otaudit.KindFlow, span{first: f.first, last: f.last, firstFrame: f.firstFrame, count: f.flow.Packets})
		o.Flow = &f.flow
		out = append(out, o)
	}

	start := len(out)
	for _, g := range a.ops {
		o := base(otaudit.KindOperation, g.span)
		o.Operation = &g.op
		out = append(out, o)
	}
	sortFrom(start, func(x, y *otaudit.Observation) int {
		p, q := x.Operation, y.Operation
		return cmpOr(p.Client.Compare(q.Client), p.Server.Compare(q.Server), strings.Compare(p.Protocol, q.Protocol),
			compareInt(p.Unit, q.Unit), compareInt(p.Function, q.Function))
	})

	start = len(out)
	for _, g := range a.idents {
		o := base(otaudit.KindIdentity, g.span)
		o.Identity = &g.id
		out = append(out, o)
	}
	sortFrom(start, func(x, y *otaudit.Observation) int {
		p, q := x.Identity, y.Identity
		return cmpOr(p.IP.Compare(q.IP), strings.Compare(p.Method, q.Method), strings.Compare(p.MAC, q.MAC))
	})

	start = len(out)
	for _, g := range a.creds {
		o := base(otaudit.KindCredential, g.span)
		switch {
		case g.success:
			g.cred.Outcome = "success"
		case g.failure:
			g.cred.Outcome = "failure"
		}
		o.Credential = &g.cred
		out = append(out, o)
	}
	sortFrom(start, func(x, y *otaudit.Observation) int {
		p, q := x.Credential, y.Credential
		return cmpOr(p.Client.Compare(q.Client), p.Server.Compare(q.Server), strings.Compare(p.Protocol, q.Protocol),
			compareJoined([]string{p.User, p.Fingerprint, p.Detail}, []string{q.User, q.Fingerprint, q.Detail}))
	})

	start = len(out)
	for _, g := range a.chans {
		o := base(otaudit.KindSecureChannel, g.span)
		o.SecureChannel = &g.ch
		out = append(out, o)
	}
	sortFrom(start, func(x, y *otaudit.Observation) int {
		p, q := x.SecureChannel, y.SecureChannel
		return cmpOr(p.Client.Compare(q.Client), p.Server.Compare(q.Server), strings.Compare(p.Protocol, q.Protocol),
			compareJoined([]string{p.Policy, p.Endpoint}, []string{q.Policy, q.Endpoint}))
	})

	start = len(out)
	for _, g := range a.lookups {
		o := base(otaudit.KindNameLookup, g.span)
		slices.SortFunc(g.l.Answers, netip.Addr.Compare)
		o.NameLookup = &g.l
		out = append(out, o)
	}
	sortFrom(start, func(x, y *otaudit.Observation) int {
		p, q := x.NameLookup, y.NameLookup
		return cmpOr(p.Client.Compare(q.Client), p.Server.Compare(q.Server), strings.Compare(p.Name, q.Name))
	})

	start = len(out)
	for i := range a.sessions {
		g := &a.sessions[i]
		o := base(otaudit.KindRemoteSession, span{first: g.s.Start, last: g.s.End, firstFrame: g.firstFrame, count: g.packets})
		o.RemoteSession = &g.s
		out = append(out, o)
	}
	sortFrom(start, func(x, y *otaudit.Observation) int {
		p, q := x.RemoteSession, y.RemoteSession
		return cmpOr(p.Client.Compare(q.Client), p.Server.Compare(q.Server), strings.Compare(p.Protocol, q.Protocol),
			compareInt(p.ServerPort, q.ServerPort))
	})
	return &Result{Source: src, Observations: out, Stats: a.stats}
}

// compareFlows orders flows by client, server, transport, port and
// protocol, then by first frame. The comparisons stop at the first
// difference (cmpOr evaluates them all): most pairs differ in their
// client.
func compareFlows(x, y *flowAgg) int {
	p, q := &x.flow, &y.flow
	if c := p.Client.Compare(q.Client); c != 0 {
		return c
	}
	if c := p.Server.Compare(q.Server); c != 0 {
		return c
	}
	if c := strings.Compare(string(p.Transport), string(q.Transport)); c != 0 {
		return c
	}
	if c := cmp.Compare(p.ServerPort, q.ServerPort); c != 0 {
		return c
	}
	if c := strings.Compare(p.Protocol, q.Protocol); c != 0 {
		return c
	}
	return cmp.Compare(x.firstFrame, y.firstFrame)
}

// cmpOr is cmp.Or: the first non-zero comparison.
func cmpOr(cs ...int) int { return cmp.Or(cs...) }

func compareInt[T cmp.Ordered](x, y T) int { return cmp.Compare(x, y) }

// compareJoined compares the strings of x and of y as if each list were
// joined with NUL separators (the order the observations always had),
// without building the joined strings.
func compareJoined(x, y []string) int {
	var i, j, oi, oj int
	for {
		cx, okx := joinedByte(x, &i, &oi)
		cy, oky := joinedByte(y, &j, &oj)
		switch {
		case !okx && !oky:
			return 0
		case !okx:
			return -1
		case !oky:
			return 1
		case cx != cy:
			return cmp.Compare(cx, cy)
		}
	}
}

// joinedByte returns the next byte of the NUL-joined list from part
// *part, offset *off, and advances; false at the end.
func joinedByte(list []string, part, off *int) (byte, bool) {
	for *part < len(list) {
		s := list[*part]
		switch {
		case *off < len(s):
			c := s[*off]
			*off++
			return c, true
		case *off == len(s) && *part < len(list)-1:
			*off++
			return 0, true
		default:
			*part++
			*off = 0
		}
	}
	return 0, false
}
