package demo

import (
	"fmt"
	"time"

	"github.com/google/gopacket/layers"
)

// mss is the maximum segment size every host in the demo offers.
const mss = 1460

// side names the end of a TCP connection that sends a segment.
type side int

const (
	client side = iota
	server
)

// tcpConn lays out one TCP connection: handshake, data with sequence and
// acknowledgement numbers that follow the bytes sent, and the close. Its
// segments must be added in time order; a segment earlier than the one
// before it is an error in the generator.
type tcpConn struct {
	tl    *timeline
	hosts [2]*host
	ports [2]uint16
	// next is the sequence number each side sends next.
	next [2]uint32
	// scaled: both SYNs offered window scaling.
	scaled bool
	last   time.Duration
	// rtt is the time a segment and its answer need on the wire.
	rtt time.Duration
	r   *rng
}

// newTCPConn prepares a connection from cl to the service at sv:port,
// with initial sequence numbers drawn from r.
func (tl *timeline) newTCPConn(cl, sv *host, port uint16, r *rng) *tcpConn {
	c := &tcpConn{tl: tl, hosts: [2]*host{cl, sv}, ports: [2]uint16{tl.ephemeralPort(cl), port}, r: r}
	c.next[client] = uint32(r.next())
	c.next[server] = uint32(r.next())
	c.rtt = 250 * time.Microsecond
	if !cl.local || !sv.local {
		// One more hop through the firewall.
		c.rtt = 900 * time.Microsecond
	}
	return c
}

func (c *tcpConn) peerOf(s side) side { return 1 - s }

// window is what side s advertises in a segment after the handshake.
func (c *tcpConn) window(s side) uint16 {
	if c.scaled {
		return c.hosts[s].stack.scaledWindow
	}
	return c.hosts[s].stack.window
}

func (c *tcpConn) segment(at time.Duration, s side, tcp *layers.TCP, payload []byte) {
	if at <= c.last && c.last != 0 {
		c.tl.fail(fmt.Errorf("tcp %s:%d -> %s:%d: segment at %v is not after the previous one at %v",
			c.hosts[client].IP, c.ports[client], c.hosts[server].IP, c.ports[server], at, c.last))
	}
	c.last = at
	peer := c.peerOf(s)
	tcp.SrcPort = layers.TCPPort(c.ports[s])
	tcp.DstPort = layers.TCPPort(c.ports[peer])
	tcp.Seq = c.next[s]
	f := c.tl.ipFrame(at, c.hosts[s], c.hosts[peer], layers.IPProtocolTCP)
	f.tcp = tcp
	f.data = payload
	c.tl.add(f)
	c.next[s] += uint32(len(payload))
	if tcp.SYN || tcp.FIN {
		c.next[s]++
	}
}

func synOptions(st stack, offerScale bool) []layers.TCPOption {
	opts := []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionData: []byte{mss >> 8, mss & 0xff}}}
	if st.windowScale >= 0 && offerScale {
		opts = append(opts,
			layers.TCPOption{OptionType: layers.TCPOptionKindNop},
			layers.TCPOption{OptionType: layers.TCPOptionKindWindowScale, OptionData: []byte{byte(st.windowScale)}})
	}
	if st.sackOK {
		opts = append(opts,
			layers.TCPOption{OptionType: layers.TCPOptionKindNop},
			layers.TCPOption{OptionType: layers.TCPOptionKindNop},
			layers.TCPOption{OptionType: layers.TCPOptionKindSACKPermitted})
	}
	return opts
}

// open adds the three-way handshake starting at at and returns when the
// client's ACK went out.
func (c *tcpConn) open(at time.Duration) time.Duration {
	cl, sv := c.hosts[client].stack, c.hosts[server].stack
	c.segment(at, client, &layers.TCP{SYN: true, Window: cl.window, Options: synOptions(cl, true)}, nil)
	c.scaled = cl.windowScale >= 0 && sv.windowScale >= 0
	synAck := at + c.rtt + c.r.between(20*time.Microsecond, 120*time.Microsecond)
	c.segment(synAck, server, &layers.TCP{SYN: true, ACK: true, Ack: c.next[client], Window: sv.window,
		Options: synOptions(sv, cl.windowScale >= 0)}, nil)
	ack := synAck + c.r.between(40*time.Microsecond, 160*time.Microsecond)
	c.ack(ack, client)
	return ack
}

// ack adds a pure ACK from s for everything the peer has sent.
func (c *tcpConn) ack(at time.Duration, s side) {
	c.segment(at, s, &layers.TCP{ACK: true, Ack: c.next[c.peerOf(s)], Window: c.window(s)}, nil)
}

// send adds payload from s, cut into MSS-sized segments sent back to back,
// with PSH on the last. For bulk data the receiver acknowledges every
// second segment, as delayed-ACK stacks do. It returns when the last
// segment went out.
func (c *tcpConn) send(at time.Duration, s side, payload []byte) time.Duration {
	peer := c.peerOf(s)
	// Back-to-back segments: 1500 bytes at 100 Mbit/s take 120 µs.
	const spacing = 124 * time.Microsecond
	for n := 0; len(payload) > 0; n++ {
		size := min(len(payload), mss)
		chunk := payload[:size]
		payload = payload[size:]
		c.segment(at, s, &layers.TCP{ACK: true, PSH: len(payload) == 0, Ack: c.next[peer], Window: c.window(s)}, chunk)
		if len(payload) == 0 {
			break
		}
		if n%2 == 1 {
			c.ack(at+spacing/2, peer)
		}
		at += spacing
	}
	return at
}

// close adds the orderly release started by s: FIN, the peer's FIN with
// its ACK, and the last ACK. It returns when the last ACK went out.
func (c *tcpConn) close(at time.Duration, s side) time.Duration {
	peer := c.peerOf(s)
	c.segment(at, s, &layers.TCP{FIN: true, ACK: true, Ack: c.next[peer], Window: c.window(s)}, nil)
	finAck := at + c.rtt + c.r.between(30*time.Microsecond, 400*time.Microsecond)
	c.segment(finAck, peer, &layers.TCP{FIN: true, ACK: true, Ack: c.next[s], Window: c.window(peer)}, nil)
	last := finAck + c.r.between(40*time.Microsecond, 200*time.Microsecond)
	c.ack(last, s)
	return last
}

// exchange sends a request from the client at at, the server's answer
// after think time, and returns when the answer went out. The answer
// carries the ACK for the request.
func (c *tcpConn) exchange(at time.Duration, request, response []byte, think time.Duration) time.Duration {
	at = c.send(at, client, request)
	return c.send(at+c.rtt/2+think, server, response)
}
