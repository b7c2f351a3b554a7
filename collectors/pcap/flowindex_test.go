package pcap

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestFlowIndex4MatchesMap holds the flat index to a Go map over keys
// that collide in their low bits and across several growths.
func TestFlowIndex4MatchesMap(t *testing.T) {
	var x flowIndex4
	ref := map[[2]uint64]int32{}
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 20000 {
		// Few distinct addresses and ports: many keys share bits.
		addrs := uint64(r.IntN(50))<<32 | uint64(r.IntN(50))
		rest := uint32(r.IntN(8))<<16 | uint32(r.IntN(4))<<2 | uint32(r.IntN(3))
		k := [2]uint64{addrs, uint64(rest)}
		got, ok := x.get(addrs, rest)
		want, wok := ref[k]
		if ok != wok || got != want {
			t.Fatalf("step %d: get(%x, %x) = %d, %v; the map says %d, %v", i, addrs, rest, got, ok, want, wok)
		}
		if !ok {
			x.put(addrs, rest, int32(i))
			ref[k] = int32(i)
		}
	}
	if x.n != len(ref) || 2*x.n > len(x.slots) || len(ref) < 5000 {
		t.Fatalf("%d entries in the index, %d in the map, %d slots", x.n, len(ref), len(x.slots))
	}
	for k, want := range ref {
		if got, ok := x.get(k[0], uint32(k[1])); !ok || got != want {
			t.Fatalf("after growing: get(%x, %x) = %d, %v; want %d", k[0], k[1], got, ok, want)
		}
	}
}

// TestFlatFlowKeyTakesOnlyIPv4: two IPv4 ends and a protocol index that
// fits make a flat key (addresses in order, the rest packed); IPv6, an
// IPv4-mapped address or a protocol index past 14 bits stay out.
func TestFlatFlowKeyTakesOnlyIPv4(t *testing.T) {
	v4a, v4b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("192.168.1.2")
	if a, r, ok := flatFlowKey(v4a, v4b, l4TCP, 502, 5); !ok || a != 0x0a000001_c0a80102 || r != 502<<16|5<<2|uint32(l4TCP) {
		t.Fatalf("flatFlowKey(10.0.0.1, 192.168.1.2, tcp, 502, 5) = %x, %x, %v", a, r, ok)
	}
	for _, tc := range []struct {
		cli, srv string
		proto    uint16
	}{{"10.0.0.1", "::1", 5}, {"::ffff:10.0.0.1", "10.0.0.2", 5}, {"10.0.0.1", "10.0.0.2", 1 << 14}} {
		if _, _, ok := flatFlowKey(netip.MustParseAddr(tc.cli), netip.MustParseAddr(tc.srv), l4UDP, 161, tc.proto); ok {
			t.Errorf("flatFlowKey(%s, %s, proto %d) made a flat key", tc.cli, tc.srv, tc.proto)
		}
	}
}
