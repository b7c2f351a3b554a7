package pcap

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// segment describes one synthetic TCP or UDP packet.
type segment struct {
	src, dst     string
	sport, dport uint16
	udp          bool
	seq          uint32
	syn, ack     bool
	fin          bool
	payload      []byte
}

var (
	macA = net.HardwareAddr{0x00, 0x0e, 0x8c, 0x01, 0x02, 0x03} // Siemens
	macB = net.HardwareAddr{0x00, 0x00, 0xbc, 0x0a, 0x0b, 0x0c} // Rockwell
)

// frame serialises s as an Ethernet frame.
func frame(t testing.TB, s segment) []byte {
	t.Helper()
	src, dst := net.ParseIP(s.src).To4(), net.ParseIP(s.dst).To4()
	smac, dmac := macA, macB
	if s.src > s.dst {
		smac, dmac = macB, macA
	}
	eth := &layers.Ethernet{SrcMAC: smac, DstMAC: dmac, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, SrcIP: src, DstIP: dst, Protocol: layers.IPProtocolTCP}
	var l4 gopacket.SerializableLayer
	if s.udp {
		ip.Protocol = layers.IPProtocolUDP
		u := &layers.UDP{SrcPort: layers.UDPPort(s.sport), DstPort: layers.UDPPort(s.dport)}
		_ = u.SetNetworkLayerForChecksum(ip)
		l4 = u
	} else {
		tc := &layers.TCP{SrcPort: layers.TCPPort(s.sport), DstPort: layers.TCPPort(s.dport), Seq: s.seq, SYN: s.syn, ACK: s.ack, FIN: s.fin, PSH: len(s.payload) > 0, Window: 1000}
		_ = tc.SetNetworkLayerForChecksum(ip)
		l4 = tc
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip, l4, gopacket.Payload(s.payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// capture writes frames into an in-memory pcap file.
func capture(t testing.TB, frames ...[]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: ts.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(f), Length: len(f)}
		if err := w.WritePacket(ci, f); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// tcpSession builds a handshake followed by the given payloads, each
// either client→server (toServer) or back, with correct sequence numbers.
type tcpSession struct {
	t            testing.TB
	cli, srv     string
	cport, sport uint16
	cseq, sseq   uint32
	frames       [][]byte
}

func newTCPSession(t testing.TB, cli string, cport uint16, srv string, sport uint16) *tcpSession {
	s := &tcpSession{t: t, cli: cli, srv: srv, cport: cport, sport: sport, cseq: 1000, sseq: 5000}
	s.frames = append(s.frames,
		frame(t, segment{src: cli, dst: srv, sport: cport, dport: sport, seq: s.cseq, syn: true}),
		frame(t, segment{src: srv, dst: cli, sport: sport, dport: cport, seq: s.sseq, syn: true, ack: true}))
	s.cseq++
	s.sseq++
	return s
}

func (s *tcpSession) client(p []byte) *tcpSession {
	s.frames = append(s.frames, frame(s.t, segment{src: s.cli, dst: s.srv, sport: s.cport, dport: s.sport, seq: s.cseq, ack: true, payload: p}))
	s.cseq += uint32(len(p))
	return s
}

func (s *tcpSession) server(p []byte) *tcpSession {
	s.frames = append(s.frames, frame(s.t, segment{src: s.srv, dst: s.cli, sport: s.sport, dport: s.cport, seq: s.sseq, ack: true, payload: p}))
	s.sseq += uint32(len(p))
	return s
}

func (s *tcpSession) fin() *tcpSession {
	s.frames = append(s.frames, frame(s.t, segment{src: s.cli, dst: s.srv, sport: s.cport, dport: s.sport, seq: s.cseq, ack: true, fin: true}))
	return s
}

// analyzeExchange analyses one TCP connection from 10.0.0.1:40000 to
// 10.0.0.9:sport that carries client's bytes, then server's (serverFirst:
// the other way round), each as one segment when not empty.
func analyzeExchange(t testing.TB, sport uint16, client, server []byte, serverFirst bool) *Result {
	t.Helper()
	s := newTCPSession(t, "10.0.0.1", 40000, "10.0.0.9", sport)
	send := []func(){
		func() {
			if len(client) > 0 {
				s.client(client)
			}
		},
		func() {
			if len(server) > 0 {
				s.server(server)
			}
		},
	}
	if serverFirst {
		send[0], send[1] = send[1], send[0]
	}
	send[0]()
	send[1]()
	r, err := analyzeBytes(t, "exchange.pcap", capture(t, s.frames...))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// wantDecodeErrors: r counted exactly one decode error per entry of want,
// and for each entry a warning ("packet N: reason") that says it.
func wantDecodeErrors(t testing.TB, r *Result, want []string) {
	t.Helper()
	if int(r.Stats.DecodeErrors) != len(want) {
		t.Errorf("%d decode errors (%q), want %d", r.Stats.DecodeErrors, r.Stats.Warnings, len(want))
	}
	for _, w := range want {
		if !slices.ContainsFunc(r.Stats.Warnings, func(e string) bool { return strings.Contains(e, w) }) {
			t.Errorf("decode errors %q: none says %q", r.Stats.Warnings, w)
		}
	}
}

func analyzeBytes(t testing.TB, name string, b []byte) (*Result, error) {
	t.Helper()
	return Analyze(context.Background(), bytes.NewReader(b), name, Options{Judge: testJudge})
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
