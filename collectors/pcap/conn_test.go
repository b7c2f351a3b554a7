package pcap

import (
	"bytes"
	"context"
	"maps"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/otaudit/otaudit"
)

// closedSSH is an SSH connection closed both ways, then a final ACK and a
// retransmitted FIN of the server: the segments that arrive after the
// connection left the table.
func closedSSH(t testing.TB) *tcpSession {
	s := newTCPSession(t, "10.0.0.1", 50022, "10.0.0.2", 22).
		client([]byte("SSH-2.0-OpenSSH_9.6\r\n")).
		server([]byte("SSH-2.0-dropbear_2022.83\r\n")).
		fin()
	srvFIN := frame(t, segment{src: "10.0.0.2", dst: "10.0.0.1", sport: 22, dport: 50022, seq: s.sseq, ack: true, fin: true})
	s.frames = append(s.frames, srvFIN,
		frame(t, segment{src: "10.0.0.1", dst: "10.0.0.2", sport: 50022, dport: 22, seq: s.cseq + 1, ack: true}),
		srvFIN)
	return s
}

func runAnalysis(t *testing.T, b []byte) *analysis {
	t.Helper()
	src, err := openCapture(bytes.NewReader(b), "closed.pcap")
	if err != nil {
		t.Fatal(err)
	}
	a := newAnalysis("closed.pcap", testJudge, discardLogger(), 1<<20)
	if err := a.run(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	return a
}

func TestClosedConnectionLeavesTableAndCountsLateSegments(t *testing.T) {
	s := closedSSH(t)
	a := runAnalysis(t, capture(t, s.frames...))
	if len(a.conns) != 0 || a.closed.len() != 1 {
		t.Fatalf("after both FINs: %d connections in the table, %d closed entries; want 0 and 1", len(a.conns), a.closed.len())
	}
	r := a.result()
	var flows []*otaudit.Flow
	var sessions []*otaudit.RemoteSession
	for _, o := range r.Observations {
		switch o.Kind {
		case otaudit.KindFlow:
			flows = append(flows, o.Flow)
		case otaudit.KindRemoteSession:
			sessions = append(sessions, o.RemoteSession)
		}
	}
	if len(flows) != 1 || flows[0].Protocol != "ssh" || flows[0].Connections != 1 || flows[0].Packets != int64(len(s.frames)) || !flows[0].ServerAnswered {
		t.Fatalf("flows = %+v; want one ssh flow, 1 connection, %d packets, answered", flows, len(s.frames))
	}
	if flows[0].BytesToServer != 21 || flows[0].BytesToClient != 26 {
		t.Errorf("flow bytes = %d/%d, want 21/26", flows[0].BytesToServer, flows[0].BytesToClient)
	}
	// capture() spaces frames 1 ms apart: the session ends with the last
	// (late) segment, as it did when the connection idled in the table.
	start := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	wantEnd := start.Add(time.Duration(len(s.frames)-1) * time.Millisecond)
	if len(sessions) != 1 || !sessions[0].End.Equal(wantEnd) || sessions[0].OpenAtEnd || sessions[0].Client.String() != "10.0.0.1" {
		t.Fatalf("sessions = %+v; want one closed session from 10.0.0.1 ending %v", sessions, wantEnd)
	}
}

func TestSYNAfterClosedConnectionStartsANewOne(t *testing.T) {
	s := closedSSH(t)
	again := newTCPSession(t, "10.0.0.1", 50022, "10.0.0.2", 22).client([]byte("SSH-2.0-OpenSSH_9.6\r\n"))
	a := runAnalysis(t, capture(t, append(s.frames, again.frames...)...))
	// The old connection's entry stays, unused, while the new one is in
	// the table (lateSegment).
	if len(a.conns) != 1 {
		t.Fatalf("after a new SYN: %d connections; want 1", len(a.conns))
	}
	r := a.result()
	n := 0
	for _, o := range r.Observations {
		switch o.Kind {
		case otaudit.KindFlow:
			if o.Flow.Connections != 2 || o.Flow.Packets != int64(len(s.frames)+len(again.frames)) {
				t.Errorf("flow = %+v; want 2 connections, %d packets", o.Flow, len(s.frames)+len(again.frames))
			}
		case otaudit.KindRemoteSession:
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d remote sessions, want 2", n)
	}
}

// flowsOf returns the flow observations of r.
func flowsOf(r *Result) []*otaudit.Flow {
	var flows []*otaudit.Flow
	for _, o := range r.Observations {
		if o.Kind == otaudit.KindFlow {
			flows = append(flows, o.Flow)
		}
	}
	return flows
}

// TestClosedEntriesExpire: a closed entry counts late segments for
// closedIdle after the connection's last packet; a segment after that
// is a new conversation of its own.
func TestClosedEntriesExpire(t *testing.T) {
	s := closedSSH(t)
	late := frame(t, segment{src: "10.0.0.1", dst: "10.0.0.2", sport: 50022, dport: 22, seq: s.cseq + 1, ack: true})
	ts := every(t0, time.Millisecond, len(s.frames))
	last := ts[len(ts)-1]
	for _, c := range []struct {
		after     time.Duration
		wantFlows int
	}{{closedIdle, 1}, {closedIdle + time.Second, 2}} {
		frames := append(append([][]byte{}, s.frames...), late)
		a := runAnalysis(t, timedCapture(1, append(append([]time.Time{}, ts...), last.Add(c.after)), frames...))
		flows := flowsOf(a.result())
		n := int64(0)
		for _, f := range flows {
			n += f.Packets
		}
		// After closedIdle the late ACK is a conversation of its own; its
		// direction is guessed from the ports, so it lands in the same
		// flow or in a second one: either way the packet is counted.
		if n != int64(len(frames)) {
			t.Errorf("late segment %v after the last: %d packets in flows, want %d", c.after, n, len(frames))
		}
		conns := 0
		for _, f := range flows {
			conns += int(f.Connections)
		}
		if c.after <= closedIdle && (len(flows) != 1 || a.stats.Packets != int64(len(frames))) {
			t.Errorf("late segment %v after the last: flows %+v, want the one ssh flow", c.after, flows)
		}
		if conns != 1 {
			t.Errorf("late segment %v after the last: %d connections, want 1 (no SYN in the late one)", c.after, conns)
		}
	}
}

// TestHalfClosedConnectionFoldsAfterQuiet: a connection closed one way
// leaves the table after halfClosedQuiet of silence, not before, and its
// 4-tuple is kept: a later retransmission still counts to its flow.
func TestHalfClosedConnectionFoldsAfterQuiet(t *testing.T) {
	// The response is cut inside its body: the HTTP dissector still
	// waits for the rest, so the client's FIN does not end the
	// connection (conn.over).
	s := newTCPSession(t, "10.0.0.1", 50080, "10.0.0.2", 80).
		client([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")).
		server([]byte("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")).
		fin()
	other := frame(t, segment{src: "10.0.0.3", dst: "10.0.0.4", sport: 1234, dport: 5678, udp: true, payload: []byte("x")})
	retrans := frame(t, segment{src: "10.0.0.2", dst: "10.0.0.1", sport: 80, dport: 50080, seq: 1, ack: true})
	ts := every(t0, time.Millisecond, len(s.frames))
	last := ts[len(ts)-1]

	k := connKeyOf(netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), 50080, 80, l4TCP)
	// Another packet within the quiet time: still in the table.
	a := runAnalysis(t, timedCapture(1, append(append([]time.Time{}, ts...), last.Add(halfClosedQuiet)), append(append([][]byte{}, s.frames...), other)...))
	if _, ok := a.conns[k]; !ok || a.closed.len() != 0 {
		t.Fatalf("within the quiet time: in the table %v, %d closed entries; want true and 0", ok, a.closed.len())
	}
	// After it (the wheel's second granularity included): folded.
	frames := append(append([][]byte{}, s.frames...), other, retrans)
	times := append(append([]time.Time{}, ts...), last.Add(halfClosedQuiet+2*time.Second), last.Add(halfClosedQuiet+3*time.Second))
	a = runAnalysis(t, timedCapture(1, times, frames...))
	if _, ok := a.conns[k]; ok {
		t.Fatalf("half-closed connection still in the table after %v of quiet", halfClosedQuiet+2*time.Second)
	}
	var web *otaudit.Flow
	for _, f := range flowsOf(a.result()) {
		if f.ServerPort == 80 {
			if web != nil {
				t.Fatalf("two flows to port 80: the retransmission started a new conversation")
			}
			web = f
		}
	}
	if web == nil || web.Packets != int64(len(s.frames)+1) || web.Connections != 1 || web.Protocol != "http" {
		t.Fatalf("web flow = %+v; want one http connection of %d packets", web, len(s.frames)+1)
	}
}

// TestClosedSetIsBounded: past its capacity the recently-closed set
// replaces entries, and counts each one replaced within its closedIdle.
func TestClosedSetIsBounded(t *testing.T) {
	a := newAnalysis("bound.pcap", testJudge, discardLogger(), 1<<20)
	cli, srv := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	n := closedSets*closedWays + 1000
	for i := range n {
		p := &packet{frame: int64(i + 1), ts: t0, src: cli, dst: srv, sport: uint16(1024 + i), dport: 80, transport: l4TCP, rst: true, hasIP: true}
		a.transportPacket(p)
	}
	if a.closed.len() > closedSets*closedWays || int64(a.closed.len())+a.stats.ClosedEvictions != int64(n) {
		t.Fatalf("closed set holds %d entries, %d evictions, of %d folded; want at most %d, and every one held or counted",
			a.closed.len(), a.stats.ClosedEvictions, n, closedSets*closedWays)
	}
	// Random placement of 1.03 × capacity entries in 2-way sets fills about 74 %.
	if a.closed.len() < closedSets*closedWays*7/10 {
		t.Errorf("closed set holds %d entries of %d: the hash spreads them badly", a.closed.len(), closedSets*closedWays)
	}
}

// TestIsRemoteProtocolMatchesTable: the switch of isRemoteProtocol and
// the remoteProtocols table (used for the kernel filter) agree.
func TestIsRemoteProtocolMatchesTable(t *testing.T) {
	for _, name := range append(append([]string{}, portNames...), "s7comm-plus", "nope") {
		if isRemoteProtocol(name) != remoteProtocols[name] {
			t.Errorf("%q: isRemoteProtocol %v, remoteProtocols %v", name, isRemoteProtocol(name), remoteProtocols[name])
		}
	}
	for name := range remoteProtocols {
		if !isRemoteProtocol(name) {
			t.Errorf("%q is in remoteProtocols but not isRemoteProtocol", name)
		}
	}
}

// TestConnKeyIPv4FastPathMatchesGeneric: the IPv4 shortcut of connKeyOf
// gives the key the general form gives, in both directions.
func TestConnKeyIPv4FastPathMatchesGeneric(t *testing.T) {
	generic := func(x, y netip.Addr, px, py uint16, tr l4) connKey {
		if c := x.Compare(y); c > 0 || (c == 0 && px > py) {
			x, y, px, py = y, x, py, px
		}
		return connKey{a: x.As16(), b: y.As16(), pa: px, pb: py, t: tr, v6: !x.Is4()}
	}
	addrs := []string{"10.0.0.1", "10.0.0.2", "192.168.1.1", "0.0.0.0", "255.255.255.255", "10.0.1.0"}
	for _, xs := range addrs {
		for _, ys := range addrs {
			x, y := netip.MustParseAddr(xs), netip.MustParseAddr(ys)
			for _, ports := range [][2]uint16{{1, 2}, {2, 1}, {502, 502}} {
				got, want := connKeyOf(x, y, ports[0], ports[1], l4TCP), generic(x, y, ports[0], ports[1], l4TCP)
				if got != want {
					t.Fatalf("connKeyOf(%v, %v, %v) = %+v, want %+v", x, y, ports, got, want)
				}
			}
		}
	}
}

// TestStaleClosedEntryTakesNoSegments: a connection reopened on a closed
// one's 4-tuple, then folded without closing (here: the table is full),
// leaves no entry behind that would take the next segment as late.
func TestStaleClosedEntryTakesNoSegments(t *testing.T) {
	a := newAnalysis("stale.pcap", testJudge, discardLogger(), 1<<20)
	cli, srv := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	seg := func(i int, syn, rst bool, payload string) *packet {
		return &packet{frame: int64(i), ts: t0.Add(time.Duration(i) * time.Millisecond), src: cli, dst: srv, sport: 40000, dport: 22,
			transport: l4TCP, syn: syn, rst: rst, hasIP: true, payload: []byte(payload)}
	}
	a.transportPacket(seg(1, true, false, ""))
	a.transportPacket(seg(2, false, true, "")) // reset: folded, entry kept
	a.transportPacket(seg(3, true, false, "")) // reopened
	k := connKeyOf(cli, srv, 40000, 22, l4TCP)
	a.fold(a.conns[k]) // leaves without closing, as on eviction
	a.transportPacket(seg(4, false, false, "x"))
	if _, ok := a.conns[k]; !ok {
		t.Fatalf("a segment after the reopened connection left was counted as a late segment of the first")
	}
}

// TestIdleWheelTakesAnyCaptureTime: capture times before 1970 or at the
// end of time.Time's range (a file can say anything) neither panic nor
// lose connections.
func TestIdleWheelTakesAnyCaptureTime(t *testing.T) {
	for _, start := range []time.Time{time.Unix(-1e9, 0), time.Unix(-1, 999_999_999), time.Unix(1<<62, 0), time.Unix(1<<63-1, 0)} {
		a := newAnalysis("times.pcap", testJudge, discardLogger(), 1<<20)
		cli, srv := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
		for i, step := range []time.Duration{0, time.Second, time.Hour, 0, 2 * time.Hour, -time.Hour} {
			ts := start.Add(step)
			p := &packet{frame: int64(i + 1), ts: ts, src: cli, dst: srv, sport: uint16(40000 + i), dport: 502, transport: l4TCP, ack: true, hasIP: true, payload: []byte{0, 1}}
			a.stats.Packets++
			a.transportPacket(p)
			a.expireIdle(ts)
		}
		var packets int64
		for _, o := range a.result().Observations {
			if o.Kind == otaudit.KindFlow {
				packets += o.Flow.Packets
			}
		}
		if packets != 6 {
			t.Errorf("start %v: %d packets in flows, want 6", start, packets)
		}
	}
}

// TestQuietLonger checks the shortcut against time.Time.Sub on the
// boundaries and far from them, both ways round.
func TestQuietLonger(t *testing.T) {
	base := time.Date(2025, 3, 1, 8, 0, 0, 999_999_999, time.UTC)
	limits := []time.Duration{time.Nanosecond, 500 * time.Millisecond, time.Second, 15 * time.Second, time.Hour}
	offsets := []time.Duration{0, 1, -1, time.Second, -time.Second, 999_999_999, 1_000_000_001, 100 * 365 * 24 * time.Hour}
	for _, d := range limits {
		for _, off := range offsets {
			for _, gap := range []time.Duration{d + off, d - off, -d - off, -off} {
				now := base.Add(gap)
				if got, want := quietLonger(now, base, d), now.Sub(base) > d; got != want {
					t.Errorf("quietLonger(base%+v, base, %v) = %v, Sub says %v", gap, d, got, want)
				}
			}
		}
	}
	// Far apart, where Sub saturates.
	far := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	if !quietLonger(base, far, time.Hour) || quietLonger(far, base, time.Hour) {
		t.Error("quietLonger is wrong for times more than 100 years apart")
	}
}

// TestClientCloseAfterAnswerFoldsAtOnce: a connection whose client closed
// after its request was answered leaves the table with the FIN; what the
// server sends afterwards is counted to the same flow and session.
func TestClientCloseAfterAnswerFoldsAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name    string
		port    uint16
		req     string
		resp    string
		proto   string
		stays   bool // still in the table after the client's FIN
		session bool
	}{
		{name: "http answered", port: 80, req: "GET / HTTP/1.1\r\nHost: x\r\n\r\n", resp: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", proto: "http"},
		{name: "no dissector, both spoke", port: 3306, req: "\x05\x00\x00\x00\x03x", resp: "\x07\x00\x00\x01\x00y", proto: "mysql"},
		{name: "tls records, both spoke", port: 443, req: "\x17\x03\x03\x00\x01x", resp: "\x17\x03\x03\x00\x01y", proto: "https"},
		{name: "ssh: its dissector never says it is done", port: 22, req: "SSH-2.0-PuTTY\r\n", resp: "SSH-2.0-OpenSSH_9.6\r\n", proto: "ssh", stays: true, session: true},
		{name: "http request unanswered", port: 80, req: "GET / HTTP/1.1\r\nHost: x\r\n\r\n", proto: "http", stays: true},
		{name: "no dissector, server silent", port: 3306, req: "\x05\x00\x00\x00\x03x", proto: "mysql", stays: true},
		// A whole record settled the protocol, and TLS waits for no answer.
		{name: "tls record, server silent", port: 443, req: "\x17\x03\x03\x00\x01x", proto: "https"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTCPSession(t, "10.0.0.1", 50000, "10.0.0.2", tc.port).client([]byte(tc.req))
			if tc.resp != "" {
				s.server([]byte(tc.resp))
			}
			s.fin()
			k := connKeyOf(netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), 50000, tc.port, l4TCP)
			a := runAnalysis(t, capture(t, s.frames...))
			if _, in := a.conns[k]; in != tc.stays || (a.closed.len() == 1) == tc.stays {
				t.Fatalf("after the client's FIN: in the table %v, %d closed entries; want in the table %v", in, a.closed.len(), tc.stays)
			}
			// The server's last data and its FIN, then the client's ACK.
			late := []byte("zz")
			frames := append(append([][]byte{}, s.frames...),
				frame(t, segment{src: "10.0.0.2", dst: "10.0.0.1", sport: tc.port, dport: 50000, seq: s.sseq, ack: true, payload: late}),
				frame(t, segment{src: "10.0.0.2", dst: "10.0.0.1", sport: tc.port, dport: 50000, seq: s.sseq + 2, ack: true, fin: true}),
				frame(t, segment{src: "10.0.0.1", dst: "10.0.0.2", sport: 50000, dport: tc.port, seq: s.cseq + 1, ack: true}))
			r := runAnalysis(t, capture(t, frames...)).result()
			flows := flowsOf(r)
			if len(flows) != 1 {
				t.Fatalf("%d flows, want 1: %+v", len(flows), flows)
			}
			f := flows[0]
			if f.Protocol != tc.proto || f.Connections != 1 || f.Packets != int64(len(frames)) ||
				f.BytesToServer != int64(len(tc.req)) || f.BytesToClient != int64(len(tc.resp)+len(late)) {
				t.Errorf("flow = %+v; want %s, 1 connection, %d packets, %d/%d bytes", f, tc.proto, len(frames), len(tc.req), len(tc.resp)+len(late))
			}
			var sessions []*otaudit.RemoteSession
			for _, o := range r.Observations {
				if o.Kind == otaudit.KindRemoteSession {
					sessions = append(sessions, o.RemoteSession)
				}
			}
			if (len(sessions) == 1) != tc.session || len(sessions) > 1 {
				t.Fatalf("%d sessions, want a session: %v", len(sessions), tc.session)
			}
		})
	}
}

// TestAggregateCachesKeepKeysApart: credentials, channels and identities
// whose keys share a cache slot stay separate aggregates, and a cached one
// is found again.
func TestAggregateCachesKeepKeysApart(t *testing.T) {
	a := newAnalysis("cache.pcap", testJudge, discardLogger(), 1<<20)
	cli, srv := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	f := &frameInfo{index: 1, ts: time.Unix(1, 0)}
	for range 3 {
		// Same addresses, user and detail lengths: the same slot.
		a.judgedCredential("snmp", cli, srv, "", "fp-a", true, "", "v2c", f)
		a.judgedCredential("snmp", cli, srv, "", "fp-b", false, "", "v2c", f)
		a.judgedCredential("snmp", cli, srv, "", "fp-a", true, "", "v1c", f)
		a.secureChannel(otaudit.SecureChannel{Protocol: "snmp", Client: cli, Server: srv, Policy: "v2c"}, f)
		a.secureChannel(otaudit.SecureChannel{Protocol: "snmp", Client: cli, Server: srv, Policy: "v1x"}, f)
		a.identity(otaudit.DeviceIdentity{IP: srv, Method: "snmp-passive", Model: "m"}, f)
		a.identity(otaudit.DeviceIdentity{IP: srv, Method: "modbus-fc43", Model: "n"}, f)
	}
	if len(a.creds) != 3 || len(a.chans) != 2 || len(a.idents) != 2 {
		t.Fatalf("%d credentials, %d channels, %d identities; want 3, 2, 2", len(a.creds), len(a.chans), len(a.idents))
	}
	for k, g := range a.creds {
		if g.count != 3 || g.cred.Fingerprint != k.fp || g.cred.Detail != k.detail {
			t.Errorf("credential %+v: %d attempts, want 3 under its own key", k, g.count)
		}
	}
	for k, g := range a.chans {
		if g.count != 3 || g.ch.Policy != k.policy {
			t.Errorf("channel %+v: %d messages, want 3 under its own key", k, g.count)
		}
	}
	for k, g := range a.idents {
		if g.count != 3 || g.id.Method != k.method {
			t.Errorf("identity %+v: %d sightings, want 3 under its own key", k, g.count)
		}
	}
	// The judge's table: two secrets, each judged once more from the cache.
	fp1, _ := a.judgeCached("snmp", []byte("public"))
	fp2, _ := a.judgeCached("snmp", []byte("s3cr3t"))
	if again, _ := a.judgeCached("snmp", []byte("public")); again != fp1 || fp1 == fp2 {
		t.Fatalf("judge cache: public %q then %q, s3cr3t %q", fp1, again, fp2)
	}
}

// hostPackets sums the packets of each host sighting by "ip mac".
func hostPackets(r *Result) map[string]int64 {
	out := map[string]int64{}
	for _, o := range r.Observations {
		if o.Kind == otaudit.KindHost && o.Host.Packets > 0 {
			out[o.Host.IP.String()+" "+o.Host.MAC] += o.Host.Packets
		}
	}
	return out
}

// withMAC is f with its source MAC replaced.
func withMAC(f []byte, mac net.HardwareAddr) []byte {
	g := slices.Clone(f)
	copy(g[6:12], mac)
	return g
}

// TestConversationHostsFollowMACAndOrientation: a connection counts its
// packets to its ends' hosts through the aggregates it caches (sawConn);
// a sender whose MAC changes (a second router) is a second host sighting,
// and a conversation whose ends swap (BACnet: the I-Am's sender is the
// server) keeps crediting each end, even when both share a MAC.
func TestConversationHostsFollowMACAndOrientation(t *testing.T) {
	macC := net.HardwareAddr{0x00, 0x1b, 0x1b, 0x0c, 0x0c, 0x0c}
	s := newTCPSession(t, "10.0.0.1", 40502, "10.0.0.2", 502).
		client(modbusReq(1, 1, 3, 0, 0, 0, 1)).server([]byte{0, 1, 0, 0, 0, 5, 1, 3, 2, 0, 7})
	frames := slices.Clone(s.frames)
	s.frames = nil
	s.client(modbusReq(2, 1, 3, 0, 0, 0, 1)).client(modbusReq(3, 1, 3, 0, 0, 0, 1))
	frames = append(frames, withMAC(s.frames[0], macC), withMAC(s.frames[1], macC))
	r, err := analyzeBytes(t, "mac.pcap", capture(t, frames...))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{
		"10.0.0.1 " + macA.String(): 2, // SYN and the first request
		"10.0.0.1 " + macC.String(): 2,
		"10.0.0.2 " + macB.String(): 2, // SYN-ACK and the answer
	}
	if got := hostPackets(r); !maps.Equal(got, want) {
		t.Errorf("TCP hosts = %v, want %v", got, want)
	}

	junk := []byte{0x81, 0x0b, 0x00, 0x05, 0xff} // no BACnet message: says nothing of who serves
	dev, cli := "10.0.0.20", "10.0.0.30"
	seg := func(src, dst string, payload []byte) []byte {
		return withMAC(frame(t, segment{src: src, dst: dst, sport: 47808, dport: 47808, udp: true, payload: payload}), macA)
	}
	udp := [][]byte{
		seg(dev, cli, junk), // the first sender is taken for the client
		seg(cli, dev, junk),
		seg(dev, cli, iAm), // the device is the server: the ends swap
		seg(dev, cli, junk),
		seg(dev, cli, junk),
	}
	r, err = analyzeBytes(t, "bacnet.pcap", capture(t, udp...))
	if err != nil {
		t.Fatal(err)
	}
	want = map[string]int64{dev + " " + macA.String(): 4, cli + " " + macA.String(): 1}
	if got := hostPackets(r); !maps.Equal(got, want) {
		t.Errorf("BACnet hosts = %v, want %v", got, want)
	}
}

// TestUnansweredConnectionIdlesShort: a TCP connection its server never
// answered leaves the table after unansweredIdle of quiet; one that was
// answered (a SYN-ACK is enough) stays for tcpIdle.
func TestUnansweredConnectionIdlesShort(t *testing.T) {
	probe := frame(t, segment{src: "10.0.0.1", dst: "10.0.0.2", sport: 40000, dport: 502, seq: 1, syn: true})
	answered := newTCPSession(t, "10.0.0.3", 40001, "10.0.0.4", 502).frames // SYN, SYN-ACK
	tick := frame(t, segment{src: "10.0.0.8", dst: "10.0.0.9", sport: 1, dport: 2, udp: true, payload: []byte("x")})
	kProbe := connKeyOf(netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), 40000, 502, l4TCP)
	kAnswered := connKeyOf(netip.MustParseAddr("10.0.0.3"), netip.MustParseAddr("10.0.0.4"), 40001, 502, l4TCP)
	for _, tc := range []struct {
		quiet       time.Duration
		probeStays  bool
		answerStays bool
	}{
		{unansweredIdle - time.Second, true, true},
		{unansweredIdle + 2*time.Second, false, true}, // the wheel's second included
		{tcpIdle + 2*time.Second, false, false},
	} {
		frames := append([][]byte{probe}, answered...)
		times := every(t0, time.Millisecond, len(frames))
		frames, times = append(frames, tick), append(times, t0.Add(tc.quiet))
		a := runAnalysis(t, timedCapture(1, times, frames...))
		if _, in := a.conns[kProbe]; in != tc.probeStays {
			t.Errorf("after %v of quiet: unanswered connection in the table %v, want %v", tc.quiet, in, tc.probeStays)
		}
		if _, in := a.conns[kAnswered]; in != tc.answerStays {
			t.Errorf("after %v of quiet: answered connection in the table %v, want %v", tc.quiet, in, tc.answerStays)
		}
	}
}

// TestAddrSlotSpreadsSubnets: hosts that differ only in the third byte of
// their address (10.1.1.5, 10.1.2.5, ...: one host number in each cell's
// subnet, a common plant plan) take distinct slots of the smallest cache,
// and a /24 of hosts spreads over most of its slots.
func TestAddrSlotSpreadsSubnets(t *testing.T) {
	slots := map[uint]string{}
	for c := 1; c <= 16; c++ {
		ip := netip.AddrFrom4([4]byte{10, 1, byte(c), 5})
		s := addrSlot(ip) & (smallCacheSize - 1)
		if other, ok := slots[s]; ok {
			t.Fatalf("%s and %s share slot %d of %d", ip, other, s, smallCacheSize)
		}
		slots[s] = ip.String()
	}
	used := map[uint]bool{}
	for h := 1; h <= 254; h++ {
		used[addrSlot(netip.AddrFrom4([4]byte{192, 168, 7, byte(h)}))&(smallCacheSize-1)] = true
	}
	if len(used) < 140 { // 254 keys thrown at random into 256 slots fill ~161
		t.Fatalf("a /24 takes %d of %d slots", len(used), smallCacheSize)
	}
}
