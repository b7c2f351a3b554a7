package main

import (
	"encoding/binary"
	"errors"
	"io"
)

// connectionFloor is a lower bound for any analysis that keeps per-connection
// state, which the sessions, streams and flow aggregates need: the
// raw read, Ethernet/802.1Q/IPv4/IPv6/TCP/UDP headers decoded by hand, a
// connection table (a Go map by the ordered 5-tuple behind a direct-mapped
// cache of recent connections: packets and bytes each way, first and last
// time; a TCP connection leaves it at its first FIN or RST) and, as each leaves, its fold into a flow aggregate by client, server
// and server port. It dissects no payload and keeps no host, stream,
// timeout or recently-closed state, so whatever otaudit spends above it is
// the analysis proper, and a ratio to the raw read below this one's is out of
// reach for anything that tracks connections in a hash table.
func connectionFloor(file string) (int64, error) {
	r, f, err := openCapture(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	type connKey struct {
		a, b   [16]byte
		pa, pb uint16
		proto  uint8
	}
	type conn struct {
		first, last int64
		packets     int64
		bytes       [2]int64
		clientIsA   bool
	}
	type flowKey struct {
		client, server [16]byte
		port           uint16
		proto          uint8
	}
	type flow struct {
		conns, packets, bytes int64
		first, last           int64
	}
	conns := map[connKey]*conn{}
	// A direct-mapped cache of recent connections in front of the map, as
	// otaudit has: polling traffic then rarely hashes a key.
	type cached struct {
		k connKey
		c *conn
	}
	var recent [4096]cached
	flows := map[flowKey]*flow{}
	var spare []*conn
	fold := func(k connKey, c *conn) {
		fk := flowKey{client: k.a, server: k.b, port: k.pb, proto: k.proto}
		if !c.clientIsA {
			fk = flowKey{client: k.b, server: k.a, port: k.pa, proto: k.proto}
		}
		fl := flows[fk]
		if fl == nil {
			fl = &flow{first: c.first}
			flows[fk] = fl
		}
		fl.conns++
		fl.packets += c.packets
		fl.bytes += c.bytes[0] + c.bytes[1]
		fl.last = c.last
	}
	var n int64
	for {
		data, ci, err := r.ZeroCopyReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return n, err
		}
		n++
		if len(data) < 14 {
			continue
		}
		etype, l3 := binary.BigEndian.Uint16(data[12:]), data[14:]
		for (etype == 0x8100 || etype == 0x88a8) && len(l3) >= 4 {
			etype, l3 = binary.BigEndian.Uint16(l3[2:]), l3[4:]
		}
		var k connKey
		var l4 []byte
		switch {
		case etype == 0x0800 && len(l3) >= 20:
			ihl := int(l3[0]&15) * 4
			if ihl < 20 || len(l3) < ihl || binary.BigEndian.Uint16(l3[6:])&0x3fff != 0 {
				continue // not a first fragment's transport header
			}
			copy(k.a[12:], l3[12:16])
			copy(k.b[12:], l3[16:20])
			k.proto, l4 = l3[9], l3[ihl:]
		case etype == 0x86dd && len(l3) >= 40:
			copy(k.a[:], l3[8:24])
			copy(k.b[:], l3[24:40])
			k.proto, l4 = l3[6], l3[40:]
		default:
			continue
		}
		if (k.proto != 6 && k.proto != 17) || len(l4) < 8 || (k.proto == 6 && len(l4) < 20) {
			continue
		}
		k.pa, k.pb = binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:])
		fromA := true
		if string(k.a[:]) > string(k.b[:]) || (k.a == k.b && k.pa > k.pb) {
			k.a, k.b, k.pa, k.pb = k.b, k.a, k.pb, k.pa
			fromA = false
		}
		ts := ci.Timestamp.UnixNano()
		h := (binary.LittleEndian.Uint32(k.a[12:])*0x9e3779b1 ^ binary.LittleEndian.Uint32(k.b[12:])*0x85ebca6b ^
			(uint32(k.pa)<<16|uint32(k.pb))*0xc2b2ae35) >> 20
		slot := &recent[h]
		c := slot.c
		if c == nil || slot.k != k {
			c = conns[k]
		}
		if c == nil {
			if s := len(spare); s > 0 {
				c, spare = spare[s-1], spare[:s-1]
			} else {
				c = new(conn)
			}
			// The first packet's sender is taken for the client.
			*c = conn{first: ts, clientIsA: fromA}
			conns[k] = c
		}
		*slot = cached{k, c}
		c.last = ts
		c.packets++
		d := 0
		if fromA != c.clientIsA {
			d = 1
		}
		c.bytes[d] += int64(ci.Length)
		if k.proto == 6 && l4[13]&0x05 != 0 { // FIN or RST
			fold(k, c)
			delete(conns, k)
			spare = append(spare, c)
			slot.c = nil
		}
	}
	for k, c := range conns {
		fold(k, c)
	}
	return n, nil
}
