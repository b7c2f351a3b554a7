package pcap

import (
	"encoding/binary"
	"net/netip"
)

// flowIndex4 maps a flow between two IPv4 addresses to its index in the
// flow table: open addressing with linear probing over one flat array, at
// most half full. An entry is 16 bytes, four to a cache line, so finding
// one of the tens of thousands of flows of a busy capture (every
// connection that folds looks its flow up) is mostly one cache miss; the
// Go map's control word and slot were two. The key is the two addresses,
// and the port, protocol index and transport packed into 32 bits
// (flatFlowKey); other flows stay in the generic index.
type flowIndex4 struct {
	slots []flowSlot4
	n     int
}

type flowSlot4 struct {
	addrs uint64 // client<<32 | server
	rest  uint32 // port<<16 | proto<<2 | transport
	idx   int32  // index in the flow table + 1; 0: empty
}

// flatFlowKey is the slot key of a flow between two IPv4 addresses; false
// for other flows and for a protocol index that does not fit.
func flatFlowKey(cli, srv netip.Addr, t l4, port, proto uint16) (addrs uint64, rest uint32, ok bool) {
	if !cli.Is4() || !srv.Is4() || proto >= 1<<14 || t >= 4 {
		return 0, 0, false
	}
	c, s := cli.As4(), srv.As4()
	return uint64(binary.BigEndian.Uint32(c[:]))<<32 | uint64(binary.BigEndian.Uint32(s[:])), uint32(port)<<16 | uint32(proto)<<2 | uint32(t), true
}

// flowSlotHash mixes a key; fixed (no per-run seed), like the rest of the
// analysis's tables, so a replay probes the same slots.
func flowSlotHash(addrs uint64, rest uint32) uint64 {
	h := (addrs ^ uint64(rest)*0x9e3779b97f4a7c15) * 0xbf58476d1ce4e5b9
	return h ^ h>>31
}

// get returns the index stored for the key, or false.
func (x *flowIndex4) get(addrs uint64, rest uint32) (int32, bool) {
	if x.n == 0 {
		return 0, false
	}
	mask := uint64(len(x.slots) - 1)
	for i := flowSlotHash(addrs, rest) & mask; ; i = (i + 1) & mask {
		s := &x.slots[i]
		if s.idx == 0 {
			return 0, false
		}
		if s.addrs == addrs && s.rest == rest {
			return s.idx - 1, true
		}
	}
}

// put stores idx for a key that is not in the index.
func (x *flowIndex4) put(addrs uint64, rest uint32, idx int32) {
	if 2*(x.n+1) > len(x.slots) {
		x.grow()
	}
	x.insert(addrs, rest, idx+1)
	x.n++
}

func (x *flowIndex4) insert(addrs uint64, rest uint32, stored int32) {
	mask := uint64(len(x.slots) - 1)
	i := flowSlotHash(addrs, rest) & mask
	for x.slots[i].idx != 0 {
		i = (i + 1) & mask
	}
	x.slots[i] = flowSlot4{addrs: addrs, rest: rest, idx: stored}
}

func (x *flowIndex4) grow() {
	old := x.slots
	x.slots = make([]flowSlot4, max(1024, 2*len(old)))
	for _, s := range old {
		if s.idx != 0 {
			x.insert(s.addrs, s.rest, s.idx)
		}
	}
}
