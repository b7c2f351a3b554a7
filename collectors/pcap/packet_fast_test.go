package pcap

import (
	"reflect"
	"testing"
	"time"
)

// fastPathSeeds are Ethernet frames of the kinds decodeFast takes and of
// kinds it must refuse: TCP with and without payload, UDP, TCP options, a
// frame padded past the IP total length; an IPv4 fragment, a TCP header
// cut short, IPv4 options, an ARP frame, an empty frame.
func fastPathSeeds(t testing.TB) [][]byte {
	tcp := frame(t, segment{src: "10.0.0.1", dst: "10.0.0.2", sport: 40000, dport: 502, seq: 7, ack: true, payload: modbusReq(1, 1, 3, 0, 0, 0, 10)})
	syn := frame(t, segment{src: "10.0.0.1", dst: "10.0.0.2", sport: 40000, dport: 502, seq: 7, syn: true})
	udp := frame(t, segment{src: "10.0.0.1", dst: "10.0.0.2", sport: 40161, dport: 161, udp: true, payload: []byte{0x30, 0x00}})
	frag := append([]byte(nil), udp...)
	frag[14+6] |= 0x20 // more fragments
	cut := tcp[:14+20+10]
	opts := append([]byte(nil), tcp[:14]...)
	opts = append(opts, 0x46) // IHL 6: one word of options
	opts = append(opts, tcp[15:14+20]...)
	opts = append(opts, 1, 1, 1, 0)
	opts = append(opts, tcp[14+20:]...)
	opts[14+3] += 4 // total length
	// A TCP header with one option word (MSS), and the same frame padded
	// past the IP total length, as short Ethernet frames are.
	tcpOpts := append(append([]byte(nil), syn...), 2, 4, 0x05, 0xb4)
	tcpOpts[14+20+12] = 6 << 4
	tcpOpts[14+3] += 4
	padded := append(append([]byte(nil), syn...), 0, 0, 0, 0, 0, 0)
	return [][]byte{tcp, syn, udp, frag, cut, opts, tcpOpts, padded, arpFrame(macA, "10.0.0.9"), {}}
}

func checkFastPath(t *testing.T, data []byte) {
	fast, slow := newDecoder(), newDecoder()
	ts := time.Unix(1, 0)
	pf := packet{frame: 1, ts: ts, length: len(data)}
	if !fast.decodeFast(data, &pf) {
		if !reflect.DeepEqual(pf, packet{frame: 1, ts: ts, length: len(data)}) {
			t.Fatalf("decodeFast refused % x but changed the packet: %+v", data, pf)
		}
		return
	}
	ps := packet{frame: 1, ts: ts, length: len(data)}
	if err := slow.decodeLayers(linkEthernet, data, &ps); err != nil {
		t.Fatalf("decodeFast took % x, which the parser rejects: %v", data, err)
	}
	if !reflect.DeepEqual(pf, ps) {
		t.Fatalf("frame % x:\nfast   %+v\nparser %+v", data, pf, ps)
	}
}

// TestFastPathAgreesWithParser holds the fast path to the parser's result
// on the frames it takes, and checks it refuses the others untouched.
func TestFastPathAgreesWithParser(t *testing.T) {
	took := 0
	for _, b := range fastPathSeeds(t) {
		checkFastPath(t, b)
		var p packet
		if newDecoder().decodeFast(b, &p) {
			took++
		}
	}
	if took != 5 {
		t.Errorf("decodeFast took %d of the seed frames, want 5 (TCP, SYN, UDP, TCP with options, padded frame)", took)
	}
}

func FuzzFastPathAgreesWithParser(f *testing.F) {
	for _, b := range fastPathSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(checkFastPath)
}
