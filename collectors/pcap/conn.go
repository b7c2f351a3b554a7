package pcap

import (
	"cmp"
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
// the (address, port) pairs are stored in a fixed order.
type connKey struct {
	a, b   netip.Addr
	pa, pb uint16
	t      l4
}

func makeConnKey(p *packet) connKey {
	k := connKey{a: p.src, b: p.dst, pa: p.sport, pb: p.dport, t: p.transport}
	if c := p.src.Compare(p.dst); c > 0 || (c == 0 && p.sport > p.dport) {
		k.a, k.b, k.pa, k.pb = p.dst, p.src, p.dport, p.sport
	}
	return k
}

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
	key          connKey
	t            l4
	cli, srv     netip.Addr
	cport, sport uint16

	protocol string // current application protocol ("" unknown)
	settled  bool   // protocol no longer re-detected from payload
	tries    int    // payload packets looked at for a signature

	synSeen  bool
	closed   bool // FIN or RST seen
	answered bool // the server sent something other than a RST

	first, last time.Time
	firstFrame  int64
	packets     int64
	bytes       [2]int64 // transport payload bytes per direction

	half  [2]halfStream
	app   streamDissector
	dgram datagramDissector

	// Remote-session facts the dissectors learn.
	detail    string
	encrypted int8 // 0 unknown, 1 encrypted, -1 clear
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

func (a *analysis) newConn(k connKey, p *packet) *conn {
	c := &conn{key: k, t: p.transport, first: p.ts, last: p.ts, firstFrame: p.frame}
	if clientIsSource(p) {
		c.cli, c.cport, c.srv, c.sport = p.src, p.sport, p.dst, p.dport
	} else {
		c.cli, c.cport, c.srv, c.sport = p.dst, p.dport, p.src, p.sport
	}
	c.setProtocol(portProtocol(c.t, c.sport))
	if c.t == l4UDP {
		// No UDP signature detection: the port decides.
		c.settled = true
	}
	return c
}

// setProtocol names the conversation's protocol and attaches the matching
// dissector; data already buffered for another dissector is dropped.
func (c *conn) setProtocol(proto string) {
	c.protocol = proto
	c.app, c.dgram = nil, nil
	for i := range c.half {
		c.half[i].reset()
	}
	if c.t == l4TCP {
		if mk := tcpDissectors[proto]; mk != nil {
			c.app = mk()
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
	k := makeConnKey(p)
	c := a.conns[k]
	if c != nil && p.transport == l4TCP && p.syn && !p.ack && c.closed {
		// A new connection reusing the 4-tuple of a closed one.
		a.fold(c)
		c = nil
	}
	if c == nil {
		if len(a.conns) >= a.maxFlows {
			a.evictConns()
		}
		c = a.newConn(k, p)
		a.conns[k] = c
	}
	d := c.direction(p)
	c.packets++
	c.last = p.ts
	if p.transport == l4TCP {
		if p.syn && !p.ack {
			c.synSeen = true
		}
		if p.fin || p.rst {
			c.closed = true
		}
	}
	if d == toClient && !p.rst {
		c.answered = true
	}
	c.bytes[d] += int64(len(p.payload))
	f := c.frameInfo(d, p.frame, p.ts)
	if p.transport == l4UDP {
		if c.dgram != nil && len(p.payload) > 0 {
			c.dgram(a, c, d, p.payload, &f)
		}
		return
	}
	if !c.settled && len(p.payload) > 0 {
		if proto := detectTCP(c, d, p.payload); proto != "" {
			c.settled = true
			if proto != c.protocol {
				c.setProtocol(proto)
			}
		} else if c.tries++; c.tries >= 6 {
			c.settled = true
		}
	}
	c.half[d].segment(a, c, d, p.seq, p.syn, p.payload, &f)
}

// fold ends a conversation: the dissector finishes, the flow and any remote
// session are aggregated, and the conversation leaves the table.
func (a *analysis) fold(c *conn) {
	for d := range c.half {
		c.half[d].flush(a, c, dir(d))
	}
	if c.app != nil {
		c.app.end(a, c)
	}
	a.addFlow(c)
	a.addSession(c)
	delete(a.conns, c.key)
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

// Idle limits, measured in capture time so a replay gives the same result.
const (
	closedIdle = 2 * time.Minute
	tcpIdle    = time.Hour
	udpIdle    = 10 * time.Minute
)

// sweepInterval is how much capture time passes between idle sweeps: a
// quarter of the shortest idle limit. Sweeping by packet count instead
// scanned the whole table thousands of times on a fast link, for
// connections that could not have expired yet.
const sweepInterval = closedIdle / 4

// maybeSweep runs sweepIdle once per sweepInterval of capture time.
func (a *analysis) maybeSweep(now time.Time) {
	if a.nextSweep.IsZero() {
		a.nextSweep = now.Add(sweepInterval)
		return
	}
	if now.Before(a.nextSweep) {
		return
	}
	a.sweepIdle(now)
	a.nextSweep = now.Add(sweepInterval)
}

// sweepIdle folds conversations that have been quiet long enough that
// keeping them only costs memory.
func (a *analysis) sweepIdle(now time.Time) {
	var idle []*conn
	for _, c := range a.conns {
		quiet := now.Sub(c.last)
		if (c.closed && quiet > closedIdle) || (c.t == l4TCP && quiet > tcpIdle) || (c.t == l4UDP && quiet > udpIdle) {
			idle = append(idle, c)
		}
	}
	slices.SortFunc(idle, func(x, y *conn) int { return cmp.Compare(x.firstFrame, y.firstFrame) })
	for _, c := range idle {
		a.fold(c)
	}
}

// flowKey is what a Flow observation aggregates over.
type flowKey struct {
	cli, srv netip.Addr
	t        l4
	port     uint16
	proto    string
}

type flowAgg struct {
	flow        otaudit.Flow
	first, last time.Time
	firstFrame  int64
}

func (a *analysis) addFlow(c *conn) {
	k := flowKey{cli: c.cli, srv: c.srv, t: c.t, port: c.sport, proto: c.protocol}
	f := a.flows[k]
	if f == nil {
		if len(a.flows) >= a.maxFlows {
			a.stats.Evictions++
			return
		}
		tr := otaudit.TCP
		if c.t == l4UDP {
			tr = otaudit.UDP
		}
		f = &flowAgg{
			flow:  otaudit.Flow{Client: c.cli, Server: c.srv, Transport: tr, ServerPort: c.sport, Protocol: c.protocol},
			first: c.first, last: c.last, firstFrame: c.firstFrame,
		}
		a.flows[k] = f
	}
	if c.synSeen {
		f.flow.Connections++
	}
	f.flow.Packets += c.packets
	f.flow.BytesToServer += c.bytes[toServer]
	f.flow.BytesToClient += c.bytes[toClient]
	f.flow.ServerAnswered = f.flow.ServerAnswered || c.answered
	if c.first.Before(f.first) {
		f.first = c.first
	}
	if c.last.After(f.last) {
		f.last = c.last
	}
	f.firstFrame = min(f.firstFrame, c.firstFrame)
}
