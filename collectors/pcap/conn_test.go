package pcap

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/otaudit/otaudit"
)

// closedSSH is an SSH connection closed both ways, then a final ACK and a
// retransmitted FIN of the server: the segments that arrive after the
// connection left the table.
func closedSSH(t *testing.T) *tcpSession {
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
	if len(a.conns) != 0 || len(a.closed) != 1 {
		t.Fatalf("after both FINs: %d connections in the table, %d closed entries; want 0 and 1", len(a.conns), len(a.closed))
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
	if len(a.closed) != 0 || len(a.conns) != 1 {
		t.Fatalf("after a new SYN: %d closed entries, %d connections; want 0 and 1", len(a.closed), len(a.conns))
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

// TestClosedEntriesExpire: a closed entry lives as long as the closed
// connection would have idled in the table, then goes.
func TestClosedEntriesExpire(t *testing.T) {
	a := runAnalysis(t, capture(t, closedSSH(t).frames...))
	last := a.stats.LastPacket
	a.expireIdle(last.Add(closedIdle))
	if len(a.closed) != 1 {
		t.Fatalf("closed entry gone before closedIdle")
	}
	a.expireIdle(last.Add(closedIdle + time.Second))
	if len(a.closed) != 0 {
		t.Fatalf("closed entry kept after closedIdle")
	}
}
