package pcap

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"
	"time"

	"github.com/otaudit/otaudit"
)

// dir is the direction of data within a connection.
type dir uint8

const (
	toServer dir = 0
	toClient dir = 1
)

// connKey identifies a TCP or UDP conversation independent of direction:
// the (address, port) pairs are stored in a fixed order. Addresses are kept
// as plain 16-byte arrays (with the family alongside, so an IPv4 address
// and its IPv4-mapped IPv6 form stay apart): a pointer-free key hashes and
// compares as one block of memory and costs the garbage collector nothing,
// which matters for the busiest map of the analysis.
type connKey struct {
	a, b   [16]byte
	pa, pb uint16
	t      l4
	v6     bool
}

func makeConnKey(p *packet) connKey { return connKeyOf(p.src, p.dst, p.sport, p.dport, p.transport) }

// connKeyOf is the key of the conversation between (x, px) and (y, py).
func connKeyOf(x, y netip.Addr, px, py uint16, t l4) connKey {
	if x.Is4() && y.Is4() {
		// The commonest case without Compare and As16: the same order
		// (IPv4 addresses compare as big-endian numbers) and the same
		// IPv4-mapped 16-byte form.
		xa, ya := x.As4(), y.As4()
		xn, yn := binary.BigEndian.Uint32(xa[:]), binary.BigEndian.Uint32(ya[:])
		if xn > yn || (xn == yn && px > py) {
			xa, ya, px, py = ya, xa, py, px
		}
		k := connKey{pa: px, pb: py, t: t}
		k.a[10], k.a[11], k.b[10], k.b[11] = 0xff, 0xff, 0xff, 0xff
		copy(k.a[12:], xa[:])
		copy(k.b[12:], ya[:])
		return k
	}
	if c := x.Compare(y); c > 0 || (c == 0 && px > py) {
		x, y, px, py = y, x, py, px
	}
	return connKey{a: x.As16(), b: y.As16(), pa: px, pb: py, t: t, v6: !x.Is4()}
}

// key is the conversation's table key, recomputed rather than stored: a
// connection is the largest per-flow object, and this is needed only when
// it leaves the table.
func (c *conn) key() connKey { return connKeyOf(c.cli, c.srv, c.cport, c.sport, c.t) }

// frameInfo locates the bytes handed to a dissector: the frame they came
// in and who sent them to whom.
type frameInfo struct {
	index    int64
	ts       time.Time
	src, dst netip.Addr
	sport    uint16
	dport    uint16
}

// conn is one TCP connection or UDP conversation.
type conn struct {
	// Small fields first, packed together: with 100k+ connections in the
	// table, the size class of this struct is a visible share of the
	// memory of an analysis.
	t        l4
	settled  bool  // protocol no longer re-detected from payload
	tries    uint8 // payload packets looked at for a signature
	synSeen  bool
	closed   bool  // FIN or RST seen
	finSeen  uint8 // bit d set: direction d sent a FIN
	answered bool  // the server sent something other than a RST
	// oriented: a dissector said which end is the server (orient); the
	// guess from the ports no longer applies.
	oriented bool
	// detectedUDP: a UDP conversation whose protocol its payload told,
	// not its port (counted in analysis.liveDetectedUDP).
	detectedUDP  bool
	encrypted    int8 // remote session: 0 unknown, 1 encrypted, -1 clear
	cport, sport uint16

	cli, srv netip.Addr
	protocol string // current application protocol ("" unknown)

	first, last time.Time
	firstFrame  int64
	packets     int64
	bytes       [2]int64 // transport payload bytes per direction

	half  [2]halfStream
	app   streamDissector
	dgram datagramDissector

	// detail is what the dissector learnt of a remote session.
	detail string

	// sender and receiver are the host aggregates of the two ends, by
	// direction (sawConn); the sender's for the MAC in senderMAC.
	sender       [2]*hostAgg
	receiver     [2]*seenAgg
	senderMAC    [2][6]byte
	senderHasMAC [2]bool

	// wheelSlot and wheelIdx-1 locate c in the idle wheel (idle.go);
	// wheelIdx is 0 when c is in no slot.
	wheelSlot uint16
	wheelIdx  int32
}

// clientIsSource decides which end of a new conversation is the client:
// the sender of a SYN without ACK; the receiver of a SYN-ACK; else the side
// whose port is well known (the lower one if both are); else the higher
// port; with equal ports, the first sender.
func clientIsSource(p *packet) bool {
	if p.transport == l4TCP && p.syn {
		return !p.ack
	}
	ws := portProtocol(p.transport, p.sport) != ""
	wd := portProtocol(p.transport, p.dport) != ""
	switch {
	case wd && !ws:
		return true
	case ws && !wd:
		return false
	}
	if p.sport != p.dport {
		return p.sport > p.dport
	}
	return true
}

func (a *analysis) newConn(p *packet) *conn {
	var c *conn
	if n := len(a.spareConns); n > 0 {
		c = a.spareConns[n-1]
		a.spareConns = a.spareConns[:n-1]
	} else {
		c = new(conn)
	}
	*c = conn{t: p.transport, first: p.ts, last: p.ts, firstFrame: p.frame}
	if clientIsSource(p) {
		c.cli, c.cport, c.srv, c.sport = p.src, p.sport, p.dst, p.dport
	} else {
		c.cli, c.cport, c.srv, c.sport = p.dst, p.dport, p.src, p.sport
	}
	c.setProtocol(a, portProtocol(c.t, c.sport))
	if c.t == l4UDP {
		// A port with a dissector decides; otherwise the first datagram's
		// payload may (SNMP, BACnet, EtherNet/IP, DNP3 on another port).
		if c.dgram == nil && len(p.payload) > 0 {
			if proto := detectUDP(p.payload); proto != "" {
				c.setProtocol(a, proto)
				c.detectedUDP = true
				a.liveDetectedUDP++
			}
		}
		c.settled = true
	}
	return c
}

// orient is called by a datagram dissector that knows from the message
// whether its sender is the server (an I-Am, an acknowledgement) or the
// client (a request): the first such message settles which end is which,
// over the guess from the ports, which two ends on the same port, or a
// device announcing itself to a broadcast address, get wrong.
func (c *conn) orient(d dir, senderIsServer bool) {
	if c.t != l4UDP || c.oriented {
		return
	}
	c.oriented = true
	if senderIsServer == (d == toClient) {
		return
	}
	// The directions swap: so do the ends' aggregates.
	c.sender[0], c.sender[1] = c.sender[1], c.sender[0]
	c.receiver[0], c.receiver[1] = c.receiver[1], c.receiver[0]
	c.senderMAC[0], c.senderMAC[1] = c.senderMAC[1], c.senderMAC[0]
	c.senderHasMAC[0], c.senderHasMAC[1] = c.senderHasMAC[1], c.senderHasMAC[0]
	c.cli, c.srv = c.srv, c.cli
	c.cport, c.sport = c.sport, c.cport
	c.bytes[toServer], c.bytes[toClient] = c.bytes[toClient], c.bytes[toServer]
	c.answered = c.bytes[toClient] > 0 || senderIsServer
}

// setProtocol names the conversation's protocol and attaches the matching
// dissector; data already buffered for another dissector is dropped.
func (c *conn) setProtocol(a *analysis, proto string) {
	c.protocol = proto
	c.app, c.dgram = nil, nil
	for i := range c.half {
		c.half[i].reset()
	}
	if c.t == l4TCP {
		switch n, m := len(a.spareHTTP), len(a.spareTLS); {
		case proto == "http" && n > 0:
			c.app = a.spareHTTP[n-1]
			a.spareHTTP = a.spareHTTP[:n-1]
		case m > 0 && carriesTLS(proto):
			c.app = a.spareTLS[m-1]
			a.spareTLS = a.spareTLS[:m-1]
		default:
			if mk := tcpDissectors[proto]; mk != nil {
				c.app = mk()
			}
		}
	} else {
		c.dgram = udpDissectors[proto]
	}
}

func (c *conn) direction(p *packet) dir {
	if p.src == c.cli && p.sport == c.cport {
		return toServer
	}
	return toClient
}

func (c *conn) frameInfo(d dir, index int64, ts time.Time) frameInfo {
	if d == toServer {
		return frameInfo{index: index, ts: ts, src: c.cli, dst: c.srv, sport: c.cport, dport: c.sport}
	}
	return frameInfo{index: index, ts: ts, src: c.srv, dst: c.cli, sport: c.sport, dport: c.cport}
}

// transportPacket accounts one TCP or UDP packet to its conversation and
// hands its payload to the application dissector.
func (a *analysis) transportPacket(p *packet) {
	if p.transport == l4UDP && a.udpFlowPacket(p) {
		a.sawPacket(p)
		return
	}
	// A packet of the cached connection needs no key: its 4-tuple is the
	// connection's. The key is made for the table, when there is none.
	slot := &a.recent[recentSlot(p.src, p.dst, p.sport, p.dport, p.transport)]
	c := *slot
	var k connKey
	keyed := false
	if c == nil || !c.has(p) {
		k, keyed = makeConnKey(p), true
		c = a.conns[k]
	}
	if c != nil && quietLonger(p.ts, c.last, c.idleLimit()) {
		a.expire(c)
		c = nil
	}
	if c == nil && !keyed {
		k, keyed = makeConnKey(p), true
	}
	if c == nil && p.transport == l4TCP && a.lateSegment(k, p) {
		a.sawPacket(p)
		return
	}
	if c != nil && p.transport == l4TCP && p.syn && !p.ack && c.closed {
		// A new connection reusing the 4-tuple of a closed one.
		a.fold(c)
		c = nil
	}
	if c == nil {
		if !keyed {
			k = makeConnKey(p)
		}
		if len(a.conns) >= a.maxFlows {
			a.evictConns()
		}
		c = a.newConn(p)
		a.conns[k] = c
		a.schedule(c)
	}
	*slot = c
	d := c.direction(p)
	a.sawConn(c, d, p)
	c.packets++
	c.last = p.ts
	if p.transport == l4TCP {
		if p.syn && !p.ack {
			c.synSeen = true
		}
		if (p.fin || p.rst) && !c.closed {
			c.closed = true
			// Its limit shrank to halfClosedQuiet.
			a.unschedule(c)
			a.schedule(c)
		}
		if p.fin {
			c.finSeen |= 1 << d
		}
	}
	if d == toClient && !p.rst {
		c.answered = true
	}
	c.bytes[d] += int64(len(p.payload))
	// The frame is described in a field of the analysis, not a local: a
	// pointer handed through the dissector interfaces would otherwise move
	// every packet's frameInfo to the heap. Dissectors copy what they keep.
	// Only a payload is dissected (segment and the datagram dissectors
	// look at f for nothing else): the frames without one (SYNs, ACKs,
	// FINs) skip describing it.
	f := &a.frame
	if len(p.payload) > 0 {
		*f = c.frameInfo(d, p.frame, p.ts)
	}
	if p.transport == l4UDP {
		if c.dgram != nil && len(p.payload) > 0 {
			c.dgram(a, c, d, p.payload, f)
		}
		return
	}
	if !c.settled && len(p.payload) > 0 {
		if proto := detectTCP(c, d, p.payload); proto != "" {
			c.settled = true
			if proto != c.protocol {
				c.setProtocol(a, proto)
			}
		} else if c.tries++; c.tries >= 6 {
			c.settled = true
		}
	}
	c.half[d].segment(a, c, d, p.seq, p.syn, p.payload, f)
	if (c.finSeen == 3 || p.rst || c.over()) && c.half[0].heldCount() == 0 && c.half[1].heldCount() == 0 {
		a.foldClosed(c.key(), c)
	}
}

// over says a connection whose client has closed its side has nothing
// left to learn from what the server may still send: both sides have
// spoken (so detection by payload had its chance) or the protocol is
// settled, no byte waits in either direction, and the dissector, if any,
// waits for no answer. It is folded then, while it is in the cache, like a
// connection closed both ways: the server's last segments are counted to
// its flow and session (lateSegment), as they would have been, but not
// dissected. Web clients close after the response; waiting
// halfClosedQuiet for the server's FIN kept every fetch in the table.
func (c *conn) over() bool {
	if c.finSeen&(1<<toServer) == 0 || c.finSeen == 3 {
		return false
	}
	if !c.settled && (c.bytes[toServer] == 0 || c.bytes[toClient] == 0) {
		return false
	}
	if c.half[toServer].buffered() > 0 || c.half[toClient].buffered() > 0 {
		return false
	}
	if c.app == nil {
		return true
	}
	q, ok := c.app.(quiescentDissector)
	return ok && q.quiescent()
}

// A TCP connection closed both ways (or reset) with nothing waiting for a
// hole is folded at once instead of idling closedIdle in the table with
// its stream and dissector state; one closed one way is folded after
// halfClosedQuiet of silence (idle.go). What can still arrive is a final
// ACK or a retransmission: a closedConn remembers, for closedIdle like the
// connection would have stayed, where such a segment is counted: the flow
// and the remote session the connection became. So late segments neither
// start a new "connection" (with a guessed direction and protocol) nor a
// second session, and the figures are those of the connection kept whole.
// A payload in such a segment is not dissected: after both FINs or a RST
// it is a retransmission of what was delivered, or not a stream anymore;
// after one FIN and halfClosedQuiet of silence, most likely one too.
//
// An entry is 64 bytes, one cache line (the table is a random access per
// fold): the time as seconds and nanoseconds, which give back the same
// instant for the comparisons (a capture's times carry no monotonic
// reading), and the flow as its index.
type closedConn struct {
	k connKey
	// cliIsA says the client is the (a, pa) end of the key.
	cliIsA  bool
	used    bool
	lastSec int64
	lastNs  int32
	flow    int32 // index in analysis.flows, -1 when the flow table was full
	session int32 // index in analysis.sessions, -1 for none
}

func (t *closedConn) last() time.Time { return time.Unix(t.lastSec, int64(t.lastNs)) }

func (t *closedConn) setLast(ts time.Time) { t.lastSec, t.lastNs = ts.Unix(), int32(ts.Nanosecond()) }

// closedWays and closedSets size the recently-closed set: a table of
// closedSets sets of closedWays entries, the set chosen by a hash of the
// 4-tuple. A new entry takes a free way or the way least recently active;
// an entry it replaces within its closedIdle is counted in
// Stats.ClosedEvictions. Late segments come within seconds; a busy link
// closes hundreds of connections a second (each web fetch is one), and a
// set sized by closedIdle held the 4-tuples of minutes of them. A fixed
// table costs no map operations: a fold and a new connection each look at
// one set.
const (
	closedWays = 2
	closedSets = 1 << 14
)

// closedSet is the recently-closed set (memory fixed once the first
// connection is folded).
type closedSet struct {
	table []closedConn
	n     int
}

func (s *closedSet) len() int { return s.n }

// closedHash mixes the key into a set index. It is fixed (no per-run
// seed) so replays evict the same entries.
func closedHash(k *connKey) int {
	h := binary.LittleEndian.Uint64(k.a[0:8])*0x9e3779b97f4a7c15 ^
		binary.LittleEndian.Uint64(k.a[8:16])*0xc2b2ae3d27d4eb4f ^
		binary.LittleEndian.Uint64(k.b[0:8])*0x165667b19e3779f9 ^
		binary.LittleEndian.Uint64(k.b[8:16])*0x27d4eb2f165667c5 ^
		(uint64(k.pa)|uint64(k.pb)<<16|uint64(k.t)<<32)*0x94d049bb133111eb
	h ^= h >> 29
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 32
	return int(h % closedSets)
}

// put stores t; true when it replaced an entry still within closedIdle.
func (s *closedSet) put(t closedConn) (evicted bool) {
	if s.table == nil {
		s.table = make([]closedConn, closedSets*closedWays)
	}
	set := s.table[closedHash(&t.k)*closedWays:][:closedWays]
	way := &set[0]
	for i := range set {
		e := &set[i]
		if e.used && e.k == t.k {
			// An earlier connection on the same 4-tuple: replaced.
			*e = t
			e.used = true
			return false
		}
	}
	for i := range set {
		e := &set[i]
		if !e.used {
			way = e
			break
		}
		if e.last().Before(way.last()) {
			way = e
		}
	}
	if way.used {
		evicted = !quietLonger(t.last(), way.last(), closedIdle)
	} else {
		s.n++
	}
	t.used = true
	*way = t
	return evicted
}

// get returns the entry for k, or nil.
func (s *closedSet) get(k connKey) *closedConn {
	if s.table == nil {
		return nil
	}
	set := s.table[closedHash(&k)*closedWays:][:closedWays]
	for i := range set {
		if set[i].used && set[i].k == k {
			return &set[i]
		}
	}
	return nil
}

// drop forgets the entry t (from get).
func (s *closedSet) drop(t *closedConn) {
	t.used = false
	s.n--
}

// foldClosed folds c and leaves a closedConn for its late segments.
func (a *analysis) foldClosed(k connKey, c *conn) {
	flow, session := a.finish(c)
	a.unschedule(c)
	delete(a.conns, k)
	t := closedConn{k: k, flow: flow, session: int32(session),
		cliIsA: c.cli.As16() == k.a && c.cport == k.pa}
	t.setLast(c.last)
	a.forget(c) // last use of c
	if a.closed.put(t) {
		a.stats.ClosedEvictions++
	}
}

// connCache is a direct-mapped cache of the connections of recent
// packets, in front of the connection table: a request and its answer are
// often neighbours, and a few hundred connections carry most of the
// packets of any short stretch of a capture, while the table holds every
// open one (a lookup there is mostly cache misses). A connection is only
// ever in the slot of its own 4-tuple, so forget finds it; a packet whose
// 4-tuple is the cached connection's (conn.has) needs no key at all.
type connCache [recentSlots]*conn

// recentBits sizes the cache: 4096 slots (32 KB) hold the few thousand
// conversations a plant polls round and round (an HMI to each of its
// PLCs), which 1024 did not.
const (
	recentBits  = 12
	recentSlots = 1 << recentBits
)

// recentSlot is the connCache slot of the 4-tuple (x, px), (y, py): a
// multiplicative hash of the sums of the addresses' low words (an IPv4
// address is entirely in its last 4 bytes) and of the ports, the same
// either way round.
func recentSlot(x, y netip.Addr, px, py uint16, t l4) int {
	h := (uint64(low32(x)+low32(y))<<24 ^ uint64(px+py)<<8 ^ uint64(t)) * 0x9e3779b97f4a7c15
	return int(h >> (64 - recentBits))
}

// low32 is the last 4 bytes of an address (all of an IPv4 one).
func low32(x netip.Addr) uint32 {
	if x.Is4() {
		b := x.As4()
		return binary.LittleEndian.Uint32(b[:])
	}
	b := x.As16()
	return binary.LittleEndian.Uint32(b[12:])
}

// has says p belongs to c: its 4-tuple is c's, either way (the same as
// makeConnKey(p) == c.key(): a packet's two addresses are of one family,
// and carry no zone).
func (c *conn) has(p *packet) bool {
	if c.t != p.transport {
		return false
	}
	if p.sport == c.cport && p.dport == c.sport && p.src == c.cli && p.dst == c.srv {
		return true
	}
	return p.sport == c.sport && p.dport == c.cport && p.src == c.srv && p.dst == c.cli
}

// forget drops c from the recent-connection cache as it leaves the table,
// and keeps it for reuse: nothing refers to a folded connection any more
// (fold and foldClosed are the only ways out of the table, and their
// callers drop c), and the web's short connections were most of the
// analysis's allocations.
func (a *analysis) forget(c *conn) {
	if slot := &a.recent[recentSlot(c.cli, c.srv, c.cport, c.sport, c.t)]; *slot == c {
		*slot = nil
	}
	if c.detectedUDP {
		a.liveDetectedUDP--
	}
	switch d := c.app.(type) {
	case *httpStream:
		if len(a.spareHTTP) < maxSpareConns {
			*d = httpStream{} // as tcpDissectors["http"] makes it
			a.spareHTTP = append(a.spareHTTP, d)
		}
	case *tlsStream:
		if len(a.spareTLS) < maxSpareConns {
			*d = tlsStream{}
			a.spareTLS = append(a.spareTLS, d)
		}
	}
	if len(a.spareConns) < maxSpareConns {
		*c = conn{}
		a.spareConns = append(a.spareConns, c)
	}
}

// maxSpareConns bounds the connections kept for reuse.
const maxSpareConns = 1024

// lateSegment accounts p to a connection folded by foldClosed; false when
// there is none, or p opens a new connection on the same 4-tuple.
func (a *analysis) lateSegment(k connKey, p *packet) bool {
	if p.syn && !p.ack {
		// A new connection on the 4-tuple. Any entry of the old one
		// stays, unused while the new one is in the table, and goes when
		// the new one leaves it (put replaces it, fold drops it): this
		// saves a look at the set for every connection opened.
		return false
	}
	t := a.closed.get(k)
	if t == nil {
		return false
	}
	if quietLonger(p.ts, t.last(), closedIdle) {
		a.closed.drop(t)
		return false
	}
	d := toClient
	if (p.src.As16() == k.a && p.sport == k.pa) == t.cliIsA {
		d = toServer
	}
	n := int64(len(p.payload))
	if t.flow >= 0 {
		f := a.flows.at(t.flow)
		f.flow.Packets++
		if d == toServer {
			f.flow.BytesToServer += n
		} else {
			f.flow.BytesToClient += n
			f.flow.ServerAnswered = f.flow.ServerAnswered || !p.rst
		}
		f.widen(p.ts, p.ts, p.frame)
	}
	if t.session >= 0 {
		s := &a.sessions[t.session]
		s.packets++
		s.s.End = p.ts
		if d == toServer {
			s.s.BytesToServer += n
		} else {
			s.s.BytesToClient += n
		}
	}
	t.setLast(p.ts)
	return true
}

// udpFlowPacket accounts a UDP datagram straight into its flow when its
// conversation needs no state of its own: no dissector reads the server
// port, and the ports differ, so which end is the client follows from the
// ports alone (clientIsSource) and is the same for every datagram. Such a
// conversation would only have summed its packets into the flow when it
// folded; keeping it in the connection table cost memory that grew with
// the capture (every DNS query from a new port is a new conversation).
// With timestamps in file order the flow is the same; the one difference
// is that a flow's first and last times are the earliest and latest
// datagram rather than those of the first and last in file order.
func (a *analysis) udpFlowPacket(p *packet) bool {
	if p.sport == p.dport {
		return false // the first sender is the client: needs a conversation
	}
	cli, srv, sport, d := p.src, p.dst, p.dport, toServer
	if !clientIsSource(p) {
		cli, srv, sport, d = p.dst, p.src, p.sport, toClient
	}
	proto, dissected := udpPortProtocol(sport)
	if dissected {
		return false
	}
	// A protocol recognised by its payload needs the conversation and its
	// dissector: the first datagram by its signature, the later ones by
	// their conversation (looked up only while there is one).
	if a.liveDetectedUDP > 0 {
		if _, ok := a.conns[makeConnKey(p)]; ok {
			return false
		}
	}
	if len(p.payload) > 0 && detectUDP(p.payload) != "" {
		return false
	}
	protoIdx := udpPortIdx[sport]
	f, _ := a.flowAgg(cli, srv, l4UDP, sport, protoIdx, proto, p.ts, p.ts, p.frame)
	if f == nil {
		return true
	}
	f.flow.Packets++
	if d == toServer {
		f.flow.BytesToServer += int64(len(p.payload))
	} else {
		f.flow.BytesToClient += int64(len(p.payload))
		f.flow.ServerAnswered = true
	}
	f.widen(p.ts, p.ts, p.frame)
	if proto == "dns" && len(p.payload) > 0 {
		fi := &a.frame
		*fi = frameInfo{index: p.frame, ts: p.ts, src: p.src, dst: p.dst, sport: p.sport, dport: p.dport}
		a.dnsMessage(cli, srv, d, p.payload, fi)
	}
	return true
}

// fold ends a conversation: the dissector finishes, the flow and any remote
// session are aggregated, and the conversation leaves the table.
func (a *analysis) fold(c *conn) {
	a.finish(c)
	a.unschedule(c)
	k := c.key()
	delete(a.conns, k)
	if c.synSeen {
		// An entry left by an earlier connection on this 4-tuple (see
		// lateSegment) must not take this one's late segments.
		if t := a.closed.get(k); t != nil {
			a.closed.drop(t)
		}
	}
	a.forget(c) // last use of c
}

// finish is fold without leaving the table (for result, which drops the
// whole table afterwards, and foldClosed). It returns the indexes of the
// flow and of the session c was added to (-1 for none).
func (a *analysis) finish(c *conn) (int32, int) {
	for d := range c.half {
		c.half[d].flush(a, c, dir(d))
	}
	if c.app != nil {
		c.app.end(a, c)
	}
	return a.addFlow(c), a.addSession(c)
}

// evictConns makes room when the table is full: the least recently active
// sixteenth of the conversations is folded early and counted.
func (a *analysis) evictConns() {
	all := make([]*conn, 0, len(a.conns))
	for _, c := range a.conns {
		all = append(all, c)
	}
	slices.SortFunc(all, func(x, y *conn) int {
		if r := x.last.Compare(y.last); r != 0 {
			return r
		}
		return cmp.Compare(x.firstFrame, y.firstFrame)
	})
	n := max(1, len(all)/16)
	for _, c := range all[:n] {
		a.fold(c)
		a.stats.Evictions++
	}
}

// flowKey is what a Flow observation aggregates over. It is fixed-size
// and pointer-free (addresses as 16 bytes plus their family, the protocol
// as an index in the analysis's name table): it hashes and compares as one
// block, and the table, whose values are indexes too, is never scanned by
// the garbage collector. With one flow per client, server and service,
// this is the largest table of a long capture.
type flowKey struct {
	cli, srv   [16]byte
	port       uint16
	proto      uint16
	t          l4
	cli4, srv4 bool
}

func makeFlowKey(cli, srv netip.Addr, t l4, port, proto uint16) flowKey {
	return flowKey{cli: cli.As16(), srv: srv.As16(), cli4: cli.Is4(), srv4: srv.Is4(), t: t, port: port, proto: proto}
}

type flowAgg struct {
	flow        otaudit.Flow
	first, last time.Time
	firstFrame  int64
}

// flowChunk is how many flow aggregates are allocated together: a chunk
// never moves, so a *flowAgg stays valid, and there is no allocation, nor
// object for the collector to track, per flow.
const flowChunk = 512

// flowTable holds the flow aggregates: flat indexes those between two
// IPv4 addresses (flowindex.go), index the others.
type flowTable struct {
	flat   flowIndex4
	index  map[flowKey]int32
	chunks [][]flowAgg
	n      int
}

func (t *flowTable) len() int { return t.n }

func (t *flowTable) at(i int32) *flowAgg { return &t.chunks[i/flowChunk][i%flowChunk] }

// protoID is the index of a protocol name in the analysis's name table:
// the port table's names, then any other name met (s7comm-plus).
func (a *analysis) protoID(name string) uint16 {
	if i, ok := portNameIdx[name]; ok {
		return i
	}
	for i, n := range a.extraProtos {
		if n == name {
			return uint16(len(portNames) + i)
		}
	}
	a.extraProtos = append(a.extraProtos, name)
	return uint16(len(portNames) + len(a.extraProtos) - 1)
}

// flowAgg returns the aggregate of the flow (cli, srv, t, port, protocol
// index protoIdx, whose name is proto), creating it with the given span,
// and its index in the table; nil and -1 (and counted) when the table is
// full.
func (a *analysis) flowAgg(cli, srv netip.Addr, t l4, port, protoIdx uint16, proto string, first, last time.Time, firstFrame int64) (*flowAgg, int32) {
	tab := &a.flows
	addrs, rest, flat := flatFlowKey(cli, srv, t, port, protoIdx)
	var k flowKey
	if flat {
		if i, ok := tab.flat.get(addrs, rest); ok {
			return tab.at(i), i
		}
	} else {
		if tab.index == nil {
			tab.index = map[flowKey]int32{}
		}
		k = makeFlowKey(cli, srv, t, port, protoIdx)
		if i, ok := tab.index[k]; ok {
			return tab.at(i), i
		}
	}
	if tab.n >= a.maxFlows {
		a.stats.Evictions++
		return nil, -1
	}
	if tab.n%flowChunk == 0 {
		tab.chunks = append(tab.chunks, make([]flowAgg, flowChunk))
	}
	i := int32(tab.n)
	tab.n++
	if flat {
		tab.flat.put(addrs, rest, i)
	} else {
		tab.index[k] = i
	}
	tr := otaudit.TCP
	if t == l4UDP {
		tr = otaudit.UDP
	}
	f := tab.at(i)
	*f = flowAgg{
		flow:  otaudit.Flow{Client: cli, Server: srv, Transport: tr, ServerPort: port, Protocol: proto},
		first: first, last: last, firstFrame: firstFrame,
	}
	return f, i
}

// widen extends the flow's span to cover [first, last] and firstFrame.
func (f *flowAgg) widen(first, last time.Time, firstFrame int64) {
	if first.Before(f.first) {
		f.first = first
	}
	if last.After(f.last) {
		f.last = last
	}
	f.firstFrame = min(f.firstFrame, firstFrame)
}

// addFlow adds c to its flow and returns the flow's index (-1 when the
// table was full).
func (a *analysis) addFlow(c *conn) int32 {
	f, i := a.flowAgg(c.cli, c.srv, c.t, c.sport, a.protoID(c.protocol), c.protocol, c.first, c.last, c.firstFrame)
	if f == nil {
		return -1
	}
	if c.synSeen {
		f.flow.Connections++
	}
	f.flow.Packets += c.packets
	f.flow.BytesToServer += c.bytes[toServer]
	f.flow.BytesToClient += c.bytes[toClient]
	f.flow.ServerAnswered = f.flow.ServerAnswered || c.answered
	f.widen(c.first, c.last, c.firstFrame)
	return i
}
