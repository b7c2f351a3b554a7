package pcap

import (
	"cmp"
	"net/netip"
	"slices"
	"time"
)

// IPv4 fragment reassembly, bounded: at most maxFragDatagrams datagrams in
// flight, each at most maxDatagram bytes of fragment data, each given up
// fragTimeout (in capture time, so a replay is deterministic) after its
// first fragment. What is given up is counted, never buffered further.
const (
	maxFragDatagrams = 64
	maxDatagram      = 65535
	fragTimeout      = 30 * time.Second // Linux ipfrag_time
)

type fragKey struct {
	src, dst netip.Addr
	id       uint16
	proto    uint8
}

type fragPiece struct {
	off  int
	data []byte
}

type fragDatagram struct {
	first  time.Time
	pieces []fragPiece
	bytes  int
	total  int // length of the whole payload, -1 until the last fragment
}

// fragTable holds the datagrams being reassembled and the counts the
// analysis reports.
type fragTable struct {
	m map[fragKey]*fragDatagram
	// reassembled datagrams; evicted ones given up to respect the bounds
	// or the timeout.
	reassembled, evicted int64
	buf                  []byte // the last reassembled payload
}

const (
	errFragTooLong decodeError = "IPv4 fragment beyond 65535 bytes"
	errFragEmpty   decodeError = "empty IPv4 fragment that is not the last"
)

// add takes one fragment's payload (copied: the caller's buffer is
// reused) at byte offset off. It returns the whole transport payload when
// this fragment completed a datagram; the slice is valid until the next
// call.
func (t *fragTable) add(k fragKey, off int, more bool, data []byte, ts time.Time) ([]byte, error) {
	if off+len(data) > maxDatagram {
		t.drop(k)
		return nil, errFragTooLong
	}
	if more && len(data) == 0 {
		return nil, errFragEmpty
	}
	if t.m == nil {
		t.m = map[fragKey]*fragDatagram{}
	}
	g := t.m[k]
	if g != nil && ts.Sub(g.first) > fragTimeout {
		t.drop(k)
		t.evicted++
		g = nil
	}
	if g == nil {
		if len(t.m) >= maxFragDatagrams {
			t.makeRoom(ts)
		}
		g = &fragDatagram{first: ts, total: -1}
		t.m[k] = g
	}
	if g.bytes+len(data) > 2*maxDatagram { // overlapping resends without end
		t.drop(k)
		t.evicted++
		return nil, nil
	}
	g.pieces = append(g.pieces, fragPiece{off: off, data: slices.Clone(data)})
	g.bytes += len(data)
	if !more {
		g.total = off + len(data)
	}
	if g.total < 0 {
		return nil, nil
	}
	// Complete when the pieces, in offset order, cover [0, total) without
	// a hole; later pieces overwrite overlapping bytes of earlier ones.
	slices.SortStableFunc(g.pieces, func(x, y fragPiece) int { return cmp.Compare(x.off, y.off) })
	covered := 0
	for _, pc := range g.pieces {
		if pc.off > covered {
			return nil, nil
		}
		covered = max(covered, pc.off+len(pc.data))
	}
	if covered < g.total {
		return nil, nil
	}
	if cap(t.buf) < g.total {
		t.buf = make([]byte, g.total, maxDatagram)
	}
	t.buf = t.buf[:g.total]
	for _, pc := range g.pieces {
		copy(t.buf[pc.off:g.total], pc.data)
	}
	t.drop(k)
	t.reassembled++
	return t.buf, nil
}

func (t *fragTable) drop(k fragKey) { delete(t.m, k) }

// makeRoom gives up the datagrams past their timeout, or else the oldest.
func (t *fragTable) makeRoom(now time.Time) {
	var oldest fragKey
	var oldestAt time.Time
	found := false
	for k, g := range t.m {
		if now.Sub(g.first) > fragTimeout {
			t.drop(k)
			t.evicted++
			continue
		}
		if !found || g.first.Before(oldestAt) || g.first.Equal(oldestAt) && fragKeyLess(k, oldest) {
			oldest, oldestAt, found = k, g.first, true
		}
	}
	if len(t.m) >= maxFragDatagrams && found {
		t.drop(oldest)
		t.evicted++
	}
}

// fragKeyLess orders keys so that eviction does not depend on map order.
func fragKeyLess(x, y fragKey) bool {
	if c := x.src.Compare(y.src); c != 0 {
		return c < 0
	}
	if c := x.dst.Compare(y.dst); c != 0 {
		return c < 0
	}
	if x.id != y.id {
		return x.id < y.id
	}
	return x.proto < y.proto
}
