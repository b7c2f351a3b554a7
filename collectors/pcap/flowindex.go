package pcap

// flowIndex4 maps a flow between two IPv4 addresses to its index in the
// flow table: open addressing with linear probing over one flat array, at
// most half full. An entry is 16 bytes, four to a cache line, so finding
// one of the tens of thousands of flows of a busy capture (every
// connection that folds looks its flow up) is mostly one cache miss; the
// Go map's control word and slot were two. The key's port, protocol index
// and transport are packed into 32 bits: the keys that do not fit (a
// protocol index past 1<<14) stay in the generic index.
type flowIndex4 struct {
	slots []flowSlot4
	n     int
}

type flowSlot4 struct {
	addrs uint64 // client<<32 | server
	rest  uint32 // port<<16 | proto<<2 | transport
	idx   int32  // index in the flow table + 1; 0: empty
}

// pack is k's slot key; false when it does not fit.
func (k flowKey4) pack() (addrs uint64, rest uint32, ok bool) {
	port, proto, t := uint32(k.rest>>32), uint32(k.rest>>16)&0xffff, uint32(k.rest)&0xffff
	if proto >= 1<<14 || t >= 4 {
		return 0, 0, false
	}
	return k.addrs, port<<16 | proto<<2 | t, true
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
