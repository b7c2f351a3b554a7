package pcap

import (
	"math/rand/v2"
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

// TestFlowKey4PackRefusesWhatDoesNotFit: a protocol index past 14 bits
// stays out of the packed key (the generic index takes it).
func TestFlowKey4PackRefusesWhatDoesNotFit(t *testing.T) {
	fits := flowKey4{addrs: 1, rest: 502<<32 | 5<<16 | uint64(l4TCP)}
	if a, r, ok := fits.pack(); !ok || a != 1 || r != 502<<16|5<<2|uint32(l4TCP) {
		t.Fatalf("pack(%+v) = %x, %x, %v", fits, a, r, ok)
	}
	if _, _, ok := (flowKey4{rest: 1<<14<<16 | uint64(l4UDP)}).pack(); ok {
		t.Fatal("a protocol index of 1<<14 was packed")
	}
}
