package demo

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
)

var update = flag.Bool("update", false, "rewrite testdata/capture.sha256 from the current generator")

const goldenHashFile = "testdata/capture.sha256"

func TestCaptureIsDeterministic(t *testing.T) {
	first, err := Capture()
	if err != nil {
		t.Fatal(err)
	}
	second, err := Capture()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Fatal("two calls to Capture returned different bytes")
	}
	sum := sha256.Sum256(first)
	got := hex.EncodeToString(sum[:])
	if *update {
		if err := os.WriteFile(goldenHashFile, []byte(got+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(goldenHashFile)
	if err != nil {
		t.Fatalf("%v (run go test -update once to create it)", err)
	}
	if got != strings.TrimSpace(string(want)) {
		t.Errorf("capture SHA-256 %s, golden %s: the capture changed; if on purpose, run go test ./agent/demo -run TestCaptureIsDeterministic -update",
			got, strings.TrimSpace(string(want)))
	}
}

func TestWriteCaptureWritesCapture(t *testing.T) {
	path := filepath.Join(t.TempDir(), "demo.pcap")
	if err := WriteCapture(path); err != nil {
		t.Fatal(err)
	}
	written, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(written, loadCapture(t).raw) {
		t.Error("WriteCapture wrote different bytes than Capture returns")
	}
	if err := WriteCapture(filepath.Join(t.TempDir(), "missing", "demo.pcap")); err == nil ||
		!strings.Contains(err.Error(), "missing") {
		t.Errorf("WriteCapture into a missing directory: error %v, want one naming the path", err)
	}
}

func TestCaptureShape(t *testing.T) {
	dc := loadCapture(t)
	if n := len(dc.packets); n < 300 || n > 5000 {
		t.Errorf("%d packets, want a few hundred to a few thousand", n)
	}
	if len(dc.raw) >= 1<<20 {
		t.Errorf("capture is %d bytes, want under 1 MiB", len(dc.raw))
	}
	first, last := dc.packets[0].ts, dc.packets[len(dc.packets)-1].ts
	if !first.After(captureStart) || first.Sub(captureStart) > time.Second {
		t.Errorf("first packet at %v, want within a second after %v", first, captureStart)
	}
	if span := last.Sub(first); span < 60*time.Second || span > 120*time.Second {
		t.Errorf("capture spans %v, want 60-120 s", span)
	}
	for i := 1; i < len(dc.packets); i++ {
		if dc.packets[i].ts.Before(dc.packets[i-1].ts) {
			t.Fatalf("frame %d at %v is before frame %d", i+1, dc.packets[i].ts, i)
		}
	}
}

// onesComplementSum adds b as big-endian 16-bit words with end-around carry.
func onesComplementSum(sum uint32, b []byte) uint32 {
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return sum
}

func TestChecksumsVerify(t *testing.T) {
	dc := loadCapture(t)
	for _, p := range dc.packets {
		if p.ip == nil {
			continue
		}
		hdr := p.ip.Contents
		if s := onesComplementSum(0, hdr); s != 0xffff {
			t.Errorf("frame %d: IPv4 header checksum does not verify (sum %#x)", p.n, s)
		}
		segment := p.ip.Payload
		if int(p.ip.Length) != len(hdr)+len(segment) {
			t.Errorf("frame %d: IPv4 total length %d, header+payload %d", p.n, p.ip.Length, len(hdr)+len(segment))
		}
		pseudo := make([]byte, 0, 12)
		pseudo = append(pseudo, p.ip.SrcIP.To4()...)
		pseudo = append(pseudo, p.ip.DstIP.To4()...)
		pseudo = append(pseudo, 0, byte(p.ip.Protocol))
		pseudo = binary.BigEndian.AppendUint16(pseudo, uint16(len(segment)))
		if s := onesComplementSum(onesComplementSum(0, pseudo), segment); s != 0xffff {
			t.Errorf("frame %d: %v checksum does not verify (sum %#x)", p.n, p.ip.Protocol, s)
		}
		if p.udp != nil && int(p.udp.Length) != len(segment) {
			t.Errorf("frame %d: UDP length %d, datagram %d", p.n, p.udp.Length, len(segment))
		}
	}
}

// streamsOpenAtEnd are the connections the capture ends in the middle of.
func streamsOpenAtEnd() map[endpoint]bool {
	return map[endpoint]bool{
		{plc1.IP, modbusPort}:       true, // the SCADA master's polling only
		{plc2.IP, modbusPort}:       true,
		{opcuaServer.IP, opcuaPort}: true,
	}
}

func TestTCPStreams(t *testing.T) {
	dc := loadCapture(t)
	open := streamsOpenAtEnd()
	for _, s := range dc.streams {
		segs := s.segments
		if len(segs) < 3 {
			t.Errorf("%s: only %d segments", s, len(segs))
			continue
		}
		syn, synAck, ack := segs[0].tcp, segs[1].tcp, segs[2].tcp
		if !syn.SYN || syn.ACK || len(segs[0].payload) > 0 {
			t.Errorf("%s: first segment (frame %d) is not a bare SYN", s, segs[0].n)
			continue
		}
		if !synAck.SYN || !synAck.ACK || synAck.Ack != syn.Seq+1 || segs[1].src != s.server.ip {
			t.Errorf("%s: second segment (frame %d) is not the server's SYN/ACK for seq %d", s, segs[1].n, syn.Seq)
			continue
		}
		if ack.SYN || !ack.ACK || ack.Seq != syn.Seq+1 || ack.Ack != synAck.Seq+1 || segs[2].src != s.client.ip {
			t.Errorf("%s: third segment (frame %d) does not complete the handshake", s, segs[2].n)
			continue
		}
		// next is the sequence number each side must use next; acked
		// what it last acknowledged.
		next := map[endpoint]uint32{
			s.client: syn.Seq + 1,
			s.server: synAck.Seq + 1,
		}
		acked := map[endpoint]uint32{s.client: ack.Ack, s.server: synAck.Ack}
		fin := map[endpoint]bool{}
		for _, p := range segs[3:] {
			from := endpoint{p.src, uint16(p.tcp.SrcPort)}
			to := endpoint{p.dst, uint16(p.tcp.DstPort)}
			if p.tcp.SYN || p.tcp.RST {
				t.Errorf("%s: frame %d: SYN or RST after the handshake", s, p.n)
			}
			if p.tcp.Seq != next[from] {
				t.Errorf("%s: frame %d: seq %d, want %d (no gaps, no retransmissions)", s, p.n, p.tcp.Seq, next[from])
			}
			if !p.tcp.ACK {
				t.Errorf("%s: frame %d: ACK flag missing", s, p.n)
			}
			if p.tcp.Ack > next[to] || p.tcp.Ack < acked[from] {
				t.Errorf("%s: frame %d: ack %d outside [%d, %d] (never ahead of the peer, never backwards)",
					s, p.n, p.tcp.Ack, acked[from], next[to])
			}
			if fin[from] && len(p.payload) > 0 {
				t.Errorf("%s: frame %d: data after FIN", s, p.n)
			}
			acked[from] = p.tcp.Ack
			next[from] += uint32(len(p.payload))
			if p.tcp.FIN {
				next[from]++
				fin[from] = true
			}
		}
		closed := fin[s.client] && fin[s.server]
		last := segs[len(segs)-1]
		if open[s.server] && (s.client.ip == scada.IP || s.server.port == opcuaPort) {
			if closed || fin[s.client] || fin[s.server] {
				t.Errorf("%s: meant to be open at capture end, but a FIN was sent", s)
			}
			continue
		}
		if !closed {
			t.Errorf("%s: not closed by FIN from both sides", s)
			continue
		}
		if last.tcp.FIN || len(last.payload) > 0 || last.tcp.Ack != next[endpoint{last.dst, uint16(last.tcp.DstPort)}] {
			t.Errorf("%s: last segment (frame %d) is not the final ACK of the close", s, last.n)
		}
	}
}

func TestLinkLayerAddressing(t *testing.T) {
	dc := loadCapture(t)
	byIP := map[string]*host{}
	for _, h := range hosts {
		byIP[h.IP.String()] = h
	}
	for _, p := range dc.packets {
		if p.arp != nil {
			if p.eth.EthernetType != layers.EthernetTypeARP {
				t.Errorf("frame %d: ARP in EtherType %v", p.n, p.eth.EthernetType)
			}
			sender := byIP[netipFrom(p.arp.SourceProtAddress)]
			if sender == nil || !bytes.Equal(p.arp.SourceHwAddress, sender.mac) || !bytes.Equal(p.eth.SrcMAC, sender.mac) {
				t.Errorf("frame %d: ARP sender %v/%v is not a cell host with its own MAC", p.n,
					p.arp.SourceProtAddress, p.arp.SourceHwAddress)
			}
			continue
		}
		src, dst := byIP[p.src.String()], byIP[p.dst.String()]
		if src == nil || dst == nil {
			t.Errorf("frame %d: %v -> %v is not between scenario actors", p.n, p.src, p.dst)
			continue
		}
		wantSrc, wantDst := src.mac, dst.mac
		if !src.local {
			wantSrc = firewall.mac
		}
		if !dst.local {
			wantDst = firewall.mac
		}
		if !bytes.Equal(p.eth.SrcMAC, wantSrc) || !bytes.Equal(p.eth.DstMAC, wantDst) {
			t.Errorf("frame %d: %v -> %v carries MACs %v -> %v, want %v -> %v", p.n, p.src, p.dst,
				p.eth.SrcMAC, p.eth.DstMAC, wantSrc, wantDst)
		}
		wantTTL := src.stack.ttl
		if !src.local {
			wantTTL--
		}
		if p.ip.TTL != wantTTL {
			t.Errorf("frame %d: TTL %d from %s, want %d", p.n, p.ip.TTL, src.Name, wantTTL)
		}
	}
}

func netipFrom(b []byte) string {
	a, _ := netip.AddrFromSlice(b)
	return a.String()
}

func BenchmarkCapture(b *testing.B) {
	var size int
	for b.Loop() {
		raw, err := Capture()
		if err != nil {
			b.Fatal(err)
		}
		size = len(raw)
	}
	b.ReportMetric(float64(size), "bytes/capture")
}
