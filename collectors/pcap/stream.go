package pcap

import (
	"cmp"
	"slices"
	"time"
)

// Bounds of the per-direction reassembly state.
const (
	maxStreamBuf  = 8 << 10  // unconsumed bytes kept for a dissector
	maxHeldSegs   = 8        // out-of-order segments waiting for a hole
	maxHeldBytes  = 16 << 10 // and their total size
	maxStreamSkip = 1 << 30  // sanity bound for dissector skip counts
)

// streamDissector decodes one application protocol from the in-order byte
// stream of each direction of a TCP connection.
type streamDissector interface {
	// data gets in-order bytes of direction d (any unconsumed bytes of the
	// previous call first) and returns how many it consumed; the rest is
	// presented again with the next bytes, up to maxStreamBuf.
	data(a *analysis, c *conn, d dir, b []byte, f *frameInfo) int
	// gap says bytes of direction d were lost: any partial message is void.
	gap(a *analysis, c *conn, d dir)
	// end is called once when the connection leaves the table.
	end(a *analysis, c *conn)
}

// quiescentDissector is a streamDissector that can tell it waits for
// nothing more: what either side sends next would start a new message.
// A connection whose client has closed can then be folded at once
// (conn.over).
type quiescentDissector interface {
	quiescent() bool
}

// datagramDissector decodes one UDP payload.
type datagramDissector func(a *analysis, c *conn, d dir, b []byte, f *frameInfo)

type heldSegment struct {
	seq   uint32
	data  []byte
	index int64
	ts    time.Time
}

// halfStream is one direction of a TCP connection: the next expected
// sequence number, bytes a dissector has not consumed yet, and a few
// out-of-order segments waiting for a hole to be filled.
type halfStream struct {
	init bool
	next uint32
	// q holds what is waiting; allocated when the first byte has to wait,
	// so the many connections nobody dissects (or whose messages always
	// arrive whole) pay 8 bytes per direction for it.
	q *halfQueue
}

// halfQueue is the waiting part of a halfStream.
type halfQueue struct {
	buf       []byte
	held      []heldSegment
	heldBytes int
}

func (h *halfStream) queue() *halfQueue {
	if h.q == nil {
		h.q = &halfQueue{}
	}
	return h.q
}

func (h *halfStream) buffered() int {
	if h.q == nil {
		return 0
	}
	return len(h.q.buf)
}

func (h *halfStream) heldCount() int {
	if h.q == nil {
		return 0
	}
	return len(h.q.held)
}

func (h *halfStream) reset() {
	if h.q == nil {
		return
	}
	clear(h.q.buf)
	h.q = nil
}

// segment takes one TCP segment of direction d.
func (h *halfStream) segment(a *analysis, c *conn, d dir, seq uint32, syn bool, payload []byte, f *frameInfo) {
	if syn {
		h.init, h.next = true, seq+1
		seq++
	}
	if len(payload) == 0 {
		return
	}
	if !h.init {
		h.init, h.next = true, seq
	}
	diff := int32(seq - h.next)
	if c.app == nil {
		// Nobody reads this stream: only keep the sequence number current.
		if end := seq + uint32(len(payload)); int32(end-h.next) > 0 {
			h.next = end
		}
		return
	}
	switch {
	case diff < 0:
		if int(-diff) >= len(payload) {
			return // retransmission of bytes already delivered
		}
		payload = payload[-diff:]
	case diff > 0:
		if q := h.queue(); len(q.held) < maxHeldSegs && q.heldBytes+len(payload) <= maxHeldBytes {
			q.held = append(q.held, heldSegment{seq: seq, data: append([]byte(nil), payload...), index: f.index, ts: f.ts})
			q.heldBytes += len(payload)
			return
		}
		// The hole is not going to be filled (the capture lost it): give
		// up on it and go on with what we have.
		h.flush(a, c, d)
		if diff = int32(seq - h.next); diff > 0 {
			c.app.gap(a, c, d)
			h.dropBuf()
			h.next = seq
		} else if int(-diff) >= len(payload) {
			return
		} else if diff < 0 {
			payload = payload[-diff:]
		}
	}
	h.deliver(a, c, d, payload, f)
	h.drain(a, c, d)
}

// deliver hands in-order bytes to the dissector.
func (h *halfStream) deliver(a *analysis, c *conn, d dir, b []byte, f *frameInfo) {
	h.next += uint32(len(b))
	if c.app == nil {
		return
	}
	if h.buffered() == 0 {
		n := c.app.data(a, c, d, b, f)
		if n < len(b) {
			q := h.queue()
			q.buf = append(q.buf, b[n:]...)
		}
	} else {
		q := h.q
		q.buf = append(q.buf, b...)
		n := c.app.data(a, c, d, q.buf, f)
		rest := copy(q.buf, q.buf[n:])
		// Consumed bytes may have held a password: do not leave them in
		// the backing array.
		clear(q.buf[rest:])
		q.buf = q.buf[:rest]
	}
	if h.buffered() > maxStreamBuf {
		a.decodeError(f.index, c.protocol+": message larger than the reassembly bound; skipped")
		c.app.gap(a, c, d)
		h.dropBuf()
	}
	if q := h.q; q != nil && len(q.buf) == 0 && cap(q.buf) > 2048 {
		q.buf = nil
	}
}

func (h *halfStream) dropBuf() {
	if h.q == nil {
		return
	}
	clear(h.q.buf)
	h.q.buf = h.q.buf[:0]
}

// drain delivers held segments that have become in order.
func (h *halfStream) drain(a *analysis, c *conn, d dir) {
	for h.heldCount() > 0 {
		q := h.q
		progress := false
		for i := 0; i < len(q.held); i++ {
			s := q.held[i]
			diff := int32(s.seq - h.next)
			if diff > 0 {
				continue
			}
			q.held = slices.Delete(q.held, i, i+1)
			q.heldBytes -= len(s.data)
			i--
			progress = true
			if int(-diff) >= len(s.data) {
				continue
			}
			f := c.frameInfo(d, s.index, s.ts)
			h.deliver(a, c, d, s.data[-diff:], &f)
		}
		if !progress {
			return
		}
	}
}

// flush delivers every held segment in sequence order, declaring a gap in
// front of each one that does not follow on.
func (h *halfStream) flush(a *analysis, c *conn, d dir) {
	if h.heldCount() == 0 {
		return
	}
	held := h.q.held
	h.q.held, h.q.heldBytes = nil, 0
	slices.SortStableFunc(held, func(x, y heldSegment) int { return cmp.Compare(int32(x.seq-h.next), int32(y.seq-h.next)) })
	for _, s := range held {
		diff := int32(s.seq - h.next)
		if diff > 0 {
			if c.app != nil {
				c.app.gap(a, c, d)
			}
			h.dropBuf()
			h.next = s.seq
			diff = 0
		}
		if int(-diff) >= len(s.data) {
			continue
		}
		f := c.frameInfo(d, s.index, s.ts)
		h.deliver(a, c, d, s.data[-diff:], &f)
	}
}
