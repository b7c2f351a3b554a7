package pcap

import "time"

// Idle limits, measured in capture time so a replay gives the same result.
// A conversation quiet for longer than its limit is over: the next packet
// of its 4-tuple starts a new one. These rules are applied exactly when a
// packet arrives (transportPacket, lateSegment); the wheel below only
// gives the memory of quiet conversations back without waiting for one.
const (
	// closedIdle is how long a closed connection's 4-tuple still belongs to
	// it: later segments (a last ACK, retransmissions) are counted to it.
	closedIdle = 2 * time.Minute
	// halfClosedQuiet is how long a connection that sent a FIN one way (or
	// a RST, with segments still waiting for a hole) stays in the table for
	// more data before it is folded, its 4-tuple kept for closedIdle as for
	// a connection closed both ways. Web clients close one way and leave
	// the rest to the server: such connections made up most of the table.
	halfClosedQuiet = 15 * time.Second
	// unansweredIdle is the limit of a TCP connection the server never
	// answered (no SYN-ACK, no byte): a scan's probes, garbage, a client
	// calling a device that is gone. Held for tcpIdle, one-packet
	// "connections" made the table grow with the length of a capture.
	unansweredIdle = 2 * time.Minute
	tcpIdle        = time.Hour
	udpIdle        = 10 * time.Minute
)

// quietLonger says now is more than d after last: now.Sub(last) > d for a
// positive d, without Sub's overflow check (an Add and an Equal), which was
// a twentieth of the analysis of a polling capture, run for every packet.
// Capture times carry no monotonic reading, so the wall clock is all there
// is to compare.
func quietLonger(now, last time.Time, d time.Duration) bool {
	secs := now.Unix() - last.Unix()
	limit := int64(d / time.Second)
	switch {
	case secs > limit+1:
		return true
	case secs < limit-1:
		return false
	}
	// Within a second or two of the limit: exact in nanoseconds, which
	// cannot overflow here.
	return secs*int64(time.Second)+int64(now.Nanosecond()-last.Nanosecond()) > int64(d)
}

// idleLimit is how long c may stay quiet before it is folded.
func (c *conn) idleLimit() time.Duration {
	switch {
	case c.closed:
		return halfClosedQuiet
	case c.t == l4TCP && !c.answered:
		return unansweredIdle
	case c.t == l4TCP:
		return tcpIdle
	}
	return udpIdle
}

// wheelSlots is the number of one-second slots of the timing wheel: more
// than the longest idle limit, so a slot is reached once per limit.
const wheelSlots = 4096

// idleWheel finds the conversations that have gone quiet without scanning
// the whole table (which cost a sweep of 100k+ connections every 30 s of
// capture time): each connection sits in the slot of the second after its
// deadline, computed from its last packet when it was put there. A packet
// does not move its connection; when the slot comes round, a connection
// still within its limit is put in the slot of its new deadline, others
// are folded.
type idleWheel struct {
	slots   [wheelSlots][]*conn
	cur     int64 // the last second (Unix time) whose slot was processed
	started bool
}

// schedule puts c in the slot of the second after its deadline.
func (a *analysis) schedule(c *conn) {
	w := &a.wheel
	due := c.last.Add(c.idleLimit()).Unix() + 1
	if !w.started {
		w.started, w.cur = true, c.last.Unix()
	}
	// Clamped into the wheel's reach. Capture times can be anything a
	// file says (before 1970, or where the arithmetic wraps): slotOf takes
	// any second, and a wrong slot only means an early look.
	if due <= w.cur {
		due = w.cur + 1
	}
	if uint64(due)-uint64(w.cur) >= wheelSlots {
		due = w.cur + wheelSlots - 1
	}
	slot := slotOf(due)
	s := &w.slots[slot]
	*s = append(*s, c)
	c.wheelSlot, c.wheelIdx = uint16(slot), int32(len(*s))
}

// slotOf is the wheel slot of a second, for any int64 (negative included).
func slotOf(sec int64) int { return int(uint64(sec) % wheelSlots) }

// unschedule takes c out of its slot (the last entry of the slot takes its
// place).
func (a *analysis) unschedule(c *conn) {
	if c.wheelIdx == 0 {
		return
	}
	s := &a.wheel.slots[c.wheelSlot]
	i, last := int(c.wheelIdx-1), len(*s)-1
	if i != last {
		m := (*s)[last]
		(*s)[i], m.wheelIdx = m, int32(i+1)
	}
	(*s)[last] = nil
	*s = (*s)[:last]
	c.wheelIdx = 0
}

// expireIdle processes the wheel's slots up to the second of now, once
// per second of capture time.
func (a *analysis) expireIdle(now time.Time) {
	w := &a.wheel
	sec := now.Unix()
	if !w.started {
		w.started, w.cur = true, sec
		return
	}
	if sec <= w.cur {
		return
	}
	// sec > cur, so the difference is exact in uint64 whatever the values.
	from, n := w.cur+1, uint64(sec)-uint64(w.cur)
	if n > wheelSlots { // a jump in time: every slot once
		from, n = sec-wheelSlots+1, wheelSlots
	}
	for i := range int64(n) {
		w.cur = from + i
		a.expireSlot(w.cur, now)
	}
}

func (a *analysis) expireSlot(sec int64, now time.Time) {
	s := &a.wheel.slots[slotOf(sec)]
	list := *s
	for _, c := range list {
		c.wheelIdx = 0
		if !quietLonger(now, c.last, c.idleLimit()) {
			a.schedule(c)
			continue
		}
		a.expire(c)
	}
	clear(list)
	// A slot that held a burst gives its array back rather than keep it
	// for the next round.
	if cap(list) > 64 {
		*s = nil
	} else {
		*s = list[:0]
	}
}

// expire folds c, which was quiet for longer than its limit: a closed
// connection keeps its 4-tuple for its late segments.
func (a *analysis) expire(c *conn) {
	if c.closed {
		a.foldClosed(c.key(), c)
		return
	}
	a.fold(c)
}
