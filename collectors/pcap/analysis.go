package pcap

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/configs/oui"
)

const (
	ctxCheckEvery   = 4096 // packets between context checks
	maxListedErrors = 5    // decode errors named one by one in Warnings
)

// analysis is the state of one capture being read.
type analysis struct {
	name     string
	judge    otaudit.CredentialJudge
	log      *slog.Logger
	maxFlows int
	stats    Stats
	// wheel finds quiet conversations (idle.go).
	wheel idleWheel

	dec *decoder
	pkt packet
	// frame describes the current packet to the dissectors (conn.go).
	frame frameInfo
	// judged caches CredentialJudge verdicts (aggregate.go).
	judged    [judgeCacheSize]judgeCacheEntry
	judgeSeed maphash.Seed

	hostCache   [aggCacheSize]hostCacheEntry
	targetCache [aggCacheSize]targetCacheEntry
	opCache     [aggCacheSize]opCacheEntry
	// The same for identities, credentials and secure channels, which an
	// SNMP poll looks up with every datagram (their keys hold strings).
	identCache smallCache[identKey, identAgg]
	credCache  smallCache[credKey, credAgg]
	chanCache  smallCache[chanKey, chanAgg]

	hosts   map[hostKey]*hostAgg
	targets map[netip.Addr]*seenAgg // every destination address
	conns   map[connKey]*conn
	// recent caches the connections of recent transport packets (conn.go):
	// the lookup in conns is the analysis's dearest.
	recent connCache
	// spareConns are folded connections kept for reuse, spareHTTP and
	// spareTLS their HTTP and TLS dissectors (conn.go).
	spareConns []*conn
	spareHTTP  []*httpStream
	spareTLS   []*tlsStream
	// liveDetectedUDP counts the UDP conversations in the table whose
	// protocol came from their payload (conn.detectedUDP).
	liveDetectedUDP int
	closed          closedSet // folded connections' late segments (conn.go)
	flows           flowTable
	// extraProtos extends portNames for flow keys (conn.go).
	extraProtos []string
	ops         map[opKey]*opAgg
	idents      map[identKey]*identAgg
	creds       map[credKey]*credAgg
	chans       map[chanKey]*chanAgg
	lookups     map[lookupKey]*lookupAgg // DNS questions for remote tools (dns.go)
	// sessions are appended as connections fold; bounded by maxFlows.
	sessions []sessionAgg

	unsupportedLinks map[linkType]int64
	linkSet          bool

	l2 layer2State // discovery protocols and ARP conflicts (discovery.go)
}

func newAnalysis(name string, judge otaudit.CredentialJudge, logger *slog.Logger, maxFlows int) *analysis {
	return &analysis{
		name: name, judge: judge, log: logger, maxFlows: maxFlows,
		dec:              newDecoder(),
		hosts:            map[hostKey]*hostAgg{},
		targets:          map[netip.Addr]*seenAgg{},
		conns:            map[connKey]*conn{},
		ops:              map[opKey]*opAgg{},
		idents:           map[identKey]*identAgg{},
		creds:            map[credKey]*credAgg{},
		chans:            map[chanKey]*chanAgg{},
		lookups:          map[lookupKey]*lookupAgg{},
		unsupportedLinks: map[linkType]int64{},
		judgeSeed:        maphash.MakeSeed(),
	}
}

func (a *analysis) warnf(format string, args ...any) {
	msg := "pcap " + a.name + ": " + fmt.Sprintf(format, args...)
	a.stats.Warnings = append(a.stats.Warnings, msg)
	a.log.Warn(msg)
}

// decodeError counts malformed input; the first few are named in Warnings.
// msg must never contain payload bytes (they could be a secret).
func (a *analysis) decodeError(frame int64, msg string) {
	a.stats.DecodeErrors++
	if a.stats.DecodeErrors <= maxListedErrors {
		a.warnf("packet %d: %s", frame, msg)
	}
}

func (a *analysis) run(ctx context.Context, src packetSource) error {
	var rec record
	for {
		if a.stats.Packets%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				a.warnf("analysis cancelled after %d packets", a.stats.Packets)
				return err
			}
		}
		if err := src.next(&rec); err != nil {
			if errors.Is(err, errTruncated) {
				off := src.offset()
				a.stats.Truncated, a.stats.TruncatedAt = true, off
				if a.stats.Packets == 0 {
					return &FormatError{File: a.name, Reason: fmt.Sprintf("capture truncated at byte %d before any packet was read", off), Offset: off}
				}
				a.warnf("capture truncated at byte %d after %d packets; analysed what was read", off, a.stats.Packets)
				return nil
			}
			break // io.EOF
		}
		data, ts, link := rec.data, rec.ts, rec.link
		a.stats.Packets++
		a.stats.Bytes += int64(len(data))
		if a.stats.Packets == 1 || ts.Before(a.stats.FirstPacket) {
			a.stats.FirstPacket = ts
		}
		if ts.After(a.stats.LastPacket) {
			a.stats.LastPacket = ts
		}
		if !a.linkSet {
			a.stats.LinkType, a.linkSet = linkName(link), true
		}
		if !supportedLink(link) {
			if a.unsupportedLinks[link] == 0 {
				a.warnf("packet %d: unsupported link type %d (%s); such packets are skipped", a.stats.Packets, int(link), linkName(link))
			}
			a.unsupportedLinks[link]++
			continue
		}
		a.packet(link, data, a.stats.Packets, ts, rec.length)

		a.expireIdle(ts)
	}
	if a.stats.Packets > 0 && len(a.unsupportedLinks) > 0 {
		var n int64
		for _, c := range a.unsupportedLinks {
			n += c
		}
		if n == a.stats.Packets {
			l := firstKey(a.unsupportedLinks)
			return &FormatError{File: a.name, Reason: fmt.Sprintf("unsupported link type %d (%s)", int(l), linkName(l)), Offset: -1}
		}
	}
	return nil
}

func firstKey(m map[linkType]int64) linkType {
	var best linkType = 1<<16 - 1
	for k := range m {
		best = min(best, k)
	}
	return best
}

// packet analyses one frame.
func (a *analysis) packet(link linkType, data []byte, index int64, ts time.Time, wireLen int) {
	p := &a.pkt
	// Cleared in place, then filled: the composite literal was built on
	// the stack and copied over, its wide loads stalling on the narrow
	// stores just made.
	*p = packet{}
	p.frame, p.ts, p.length = index, ts, wireLen
	if err := a.dec.decode(link, data, p); err != nil {
		a.decodeError(index, "malformed frame: "+err.Error())
	}
	if p.arp && p.arpIP.IsValid() && !p.arpIP.IsUnspecified() {
		a.sawSource(p.arpIP, p.arpMAC, true, p.vlan, index, ts, wireLen)
		a.arpClaim(p.arpIP, p.arpMAC)
	}
	if p.l2 {
		a.layer2Frame(p)
	}
	if !p.hasIP {
		return
	}
	if p.transport != l4None {
		a.transportPacket(p) // which counts the hosts (sawConn, sawPacket)
		return
	}
	a.sawPacket(p)
}

// hostKey: one host observation per (IP, MAC) pair.
type hostKey struct {
	ip     netip.Addr
	mac    [6]byte
	hasMAC bool
}

type hostAgg struct {
	vlan        uint16
	packets     int64
	bytes       int64
	first, last time.Time
	firstFrame  int64
}

type seenAgg struct {
	first, last time.Time
	firstFrame  int64
}

// Direct-mapped caches in front of the host, target and operation maps.
// Each packet looks up two hosts and often an operation, out of a few
// thousand; hashing a key of addresses (and strings) was a visible share of
// the analysis. Entries of those maps are never removed, so a cached
// pointer stays the map's value for that key.
const aggCacheSize = 1024 // a power of two

type hostCacheEntry struct {
	k hostKey
	h *hostAgg
}

type targetCacheEntry struct {
	ip netip.Addr
	s  *seenAgg
}

type opCacheEntry struct {
	k opKey
	o *opAgg
}

// smallCache is a direct-mapped cache of aggregates by key, for maps whose
// entries are never removed (as the ones above).
type smallCache[K comparable, V any] [smallCacheSize]struct {
	k K
	v *V
}

const smallCacheSize = 256 // a power of two

// get returns the aggregate cached for k in slot i, or nil.
func (c *smallCache[K, V]) get(i uint, k K) *V {
	e := &c[i&(smallCacheSize-1)]
	if e.v != nil && e.k == k {
		return e.v
	}
	return nil
}

func (c *smallCache[K, V]) put(i uint, k K, v *V) {
	e := &c[i&(smallCacheSize-1)]
	e.k, e.v = k, v
}

// addrSlot mixes an address's last 4 bytes (where hosts of one site
// differ; all of an IPv4 address) into a cache index whose low bits depend
// on all of them: hosts 10.1.1.5 and 10.1.2.5 must not share the slots of
// a 256- or 1024-entry cache, as they did when the third byte was only
// shifted in above the mask.
func addrSlot(ip netip.Addr) uint {
	return uint((uint64(low32(ip)) * 0x9e3779b97f4a7c15) >> 40)
}

// sawPacket counts p to its sender's host and its destination.
func (a *analysis) sawPacket(p *packet) {
	a.sawSource(p.src, p.srcMAC, p.hasMAC, p.vlan, p.frame, p.ts, p.length)
	a.sawTarget(p.dst, p.frame, p.ts)
}

// sawConn is sawPacket for a packet of c going in direction d, through
// the aggregates c keeps for each direction: the ends of a conversation do
// not change, and looking them up for every packet was a sixth of the
// analysis. The sender's host is the one of the MAC it was cached for;
// another MAC (a second router, a failover) is looked up and cached.
func (a *analysis) sawConn(c *conn, d dir, p *packet) {
	if h := c.sender[d]; h != nil && c.senderMAC[d] == p.srcMAC && c.senderHasMAC[d] == p.hasMAC {
		if p.vlan != 0 {
			h.vlan = p.vlan
		}
		h.packets++
		h.bytes += int64(p.length)
		h.last = p.ts
	} else {
		c.sender[d] = a.sawSource(p.src, p.srcMAC, p.hasMAC, p.vlan, p.frame, p.ts, p.length)
		c.senderMAC[d], c.senderHasMAC[d] = p.srcMAC, p.hasMAC
	}
	if s := c.receiver[d]; s != nil {
		s.last = p.ts
	} else {
		c.receiver[d] = a.sawTarget(p.dst, p.frame, p.ts)
	}
}

// sawSource counts a packet of n bytes to the host (ip, mac) and returns
// its aggregate (nil when the table is full).
func (a *analysis) sawSource(ip netip.Addr, mac [6]byte, hasMAC bool, vlan uint16, index int64, ts time.Time, n int) *hostAgg {
	k := hostKey{ip: ip, mac: mac, hasMAC: hasMAC}
	slot := &a.hostCache[(addrSlot(ip)^uint(mac[5])<<2)&(aggCacheSize-1)]
	h := slot.h
	if h == nil || slot.k != k {
		h = a.hosts[k]
		if h != nil {
			slot.k, slot.h = k, h
		}
	}
	if h == nil {
		if len(a.hosts) >= a.maxFlows {
			a.stats.Evictions++
			return nil
		}
		h = &hostAgg{first: ts, last: ts, firstFrame: index}
		a.hosts[k] = h
	}
	if vlan != 0 {
		h.vlan = vlan
	}
	h.packets++
	h.bytes += int64(n)
	h.last = ts
	return h
}

// sawTarget records ip as a destination and returns its aggregate (nil
// when the table is full).
func (a *analysis) sawTarget(ip netip.Addr, index int64, ts time.Time) *seenAgg {
	slot := &a.targetCache[addrSlot(ip)&(aggCacheSize-1)]
	s := slot.s
	if s == nil || slot.ip != ip {
		s = a.targets[ip]
		if s != nil {
			slot.ip, slot.s = ip, s
		}
	}
	if s == nil {
		if len(a.targets) >= a.maxFlows {
			a.stats.Evictions++
			return nil
		}
		s = &seenAgg{first: ts, last: ts, firstFrame: index}
		a.targets[ip] = s
		return s
	}
	s.last = ts
	return s
}

func macString(m [6]byte) string { return net.HardwareAddr(m[:]).String() }

func vendorOf(m [6]byte) string { return oui.Lookup(net.HardwareAddr(m[:])) }

// printable keeps the visible ASCII of a protocol string (banners, cookies,
// identification objects) so odd bytes cannot corrupt logs or exports.
func printable(b []byte, limit int) string {
	var sb strings.Builder
	for _, c := range b {
		if sb.Len() >= limit {
			break
		}
		if c >= 0x20 && c < 0x7f {
			sb.WriteByte(c)
		}
	}
	return strings.TrimSpace(sb.String())
}
