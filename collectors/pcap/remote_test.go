package pcap

import (
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/otaudit/otaudit"
)

// The handshakes of these tests are byte for byte what the named software
// sends (OpenSSH and PuTTY banners; RealVNC, TightVNC and libvncserver's
// RFB messages; mstsc's X.224 Connection Request with its routing cookie
// and RDP_NEG_REQ, and the server's Connection Confirm with RDP_NEG_RSP).

// rdpRequest is mstsc's Connection Request: TPKT, X.224 CR, the cookie,
// and an RDP_NEG_REQ asking for TLS and CredSSP.
func rdpRequest(user string) []byte {
	cookie := []byte("Cookie: mstshash=" + user + "\r\n")
	negReq := []byte{0x01, 0x00, 0x08, 0x00, 0x03, 0x00, 0x00, 0x00}
	x224 := slices.Concat([]byte{byte(6 + len(cookie) + len(negReq)), 0xe0, 0, 0, 0, 0, 0}, cookie, negReq)
	return tpkt(x224)
}

// rdpConfirm is the server's Connection Confirm; protocol is the selected
// one of RDP_NEG_RSP (0 standard RDP security, 1 TLS, 2 CredSSP), or -1 for
// a confirm without RDP_NEG_RSP (an RDP 4/5 server).
func rdpConfirm(protocol int) []byte {
	x224 := []byte{6, 0xd0, 0, 0, 0x12, 0x34, 0}
	if protocol >= 0 {
		neg := []byte{0x02, 0x1f, 0x08, 0x00, 0, 0, 0, 0}
		binary.LittleEndian.PutUint32(neg[4:], uint32(protocol))
		x224 = slices.Concat(x224, neg)
		x224[0] = byte(len(x224) - 1)
	}
	return tpkt(x224)
}

func tpkt(x224 []byte) []byte {
	b := slices.Concat([]byte{3, 0, 0, 0}, x224)
	binary.BigEndian.PutUint16(b[2:4], uint16(len(b)))
	return b
}

func TestRemoteAccessHandshakes(t *testing.T) {
	type exchange struct {
		toServer bool
		b        []byte
	}
	c := func(s string) exchange { return exchange{true, []byte(s)} }
	s := func(s string) exchange { return exchange{false, []byte(s)} }
	cb := func(b ...byte) exchange { return exchange{true, b} }
	sb := func(b ...byte) exchange { return exchange{false, b} }
	tests := []struct {
		name      string
		port      uint16
		talk      []exchange
		closeBoth bool
		proto     string
		encrypted bool
		detail    string
	}{
		{"SSH: OpenSSH server, PuTTY client", 22,
			[]exchange{s("SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6\r\n"), c("SSH-2.0-PuTTY_Release_0.78\r\n"), c("\x00\x00\x01\x2c\x0a\x14kexinit...")},
			true, "ssh", true, "server SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6; client SSH-2.0-PuTTY_Release_0.78"},
		{"SSH: lines before the server's identification", 22,
			[]exchange{s("Authorized use only\r\nSSH-2.0-dropbear_2022.83\r\n"), c("SSH-2.0-OpenSSH_9.6\r\n")},
			false, "ssh", true, "server SSH-2.0-dropbear_2022.83; client SSH-2.0-OpenSSH_9.6"},
		{"SSH on another port, known by its banner", 2222,
			[]exchange{s("SSH-2.0-dropbear_2022.83\r\n"), c("SSH-2.0-OpenSSH_9.6\r\n")},
			false, "ssh", true, "server SSH-2.0-dropbear_2022.83; client SSH-2.0-OpenSSH_9.6"},
		{"VNC 3.8, security None chosen", 5900,
			[]exchange{s("RFB 003.008\n"), c("RFB 003.008\n"), sb(1, 1), cb(1), sb(0, 0, 0, 0)},
			true, "vnc", false, "RFB 003.008, security None"},
		{"VNC 3.3: the server decides VNC Authentication", 5901,
			[]exchange{s("RFB 003.003\n"), c("RFB 003.003\n"), sb(0, 0, 0, 2), s("0123456789abcdef"), c("fedcba9876543210")},
			false, "vnc", false, "RFB 003.003, security VNC Authentication"},
		{"VNC 3.8 with VeNCrypt, on a port of its own", 6900,
			[]exchange{s("RFB 003.008\n"), c("RFB 003.008\n"), sb(2, 19, 2), cb(19)},
			false, "vnc", true, "RFB 003.008, security VeNCrypt"},
		{"RDP: cookie, TLS selected", 3389,
			[]exchange{{true, rdpRequest("operator")}, {false, rdpConfirm(1)}},
			true, "rdp", true, "mstshash=operator"},
		{"RDP: standard RDP security (no RDP_NEG_RSP)", 3389,
			[]exchange{{true, rdpRequest("eng01")}, {false, rdpConfirm(-1)}},
			false, "rdp", false, "mstshash=eng01"},
		{"RDP: standard RDP security selected, on another port", 13389,
			[]exchange{{true, rdpRequest("admin")}, {false, rdpConfirm(0)}},
			false, "rdp", false, "mstshash=admin"},
		{"TeamViewer by its port", 5938,
			[]exchange{cb(0x17, 0x24, 0x0a, 0x20, 0, 0, 0, 0), sb(0x17, 0x24, 0x0b, 0x20, 0, 0, 0, 0)},
			false, "teamviewer", true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sess := newTCPSession(t, "10.0.0.1", 51000, "10.0.0.9", tc.port)
			var toServer, toClient int64
			for _, x := range tc.talk {
				if x.toServer {
					sess.client(x.b)
					toServer += int64(len(x.b))
				} else {
					sess.server(x.b)
					toClient += int64(len(x.b))
				}
			}
			if tc.closeBoth {
				sess.fin()
				sess.frames = append(sess.frames, frame(t, segment{src: sess.srv, dst: sess.cli, sport: sess.sport, dport: sess.cport, seq: sess.sseq, ack: true, fin: true}))
			}
			r, err := analyzeBytes(t, "remote.pcap", capture(t, sess.frames...))
			if err != nil {
				t.Fatal(err)
			}
			got := observations(r, otaudit.KindRemoteSession)
			if len(got) != 1 {
				t.Fatalf("%d remote sessions, want 1: %+v", len(got), got)
			}
			rs := got[0].RemoteSession
			if rs.Protocol != tc.proto || rs.Encrypted != tc.encrypted || rs.Detail != tc.detail {
				t.Errorf("session %s encrypted=%v detail %q; want %s %v %q", rs.Protocol, rs.Encrypted, rs.Detail, tc.proto, tc.encrypted, tc.detail)
			}
			if rs.Client.String() != "10.0.0.1" || rs.Server.String() != "10.0.0.9" || rs.ServerPort != tc.port {
				t.Errorf("session ends %s → %s:%d", rs.Client, rs.Server, rs.ServerPort)
			}
			if rs.BytesToServer != toServer || rs.BytesToClient != toClient {
				t.Errorf("bytes %d/%d, want %d/%d", rs.BytesToServer, rs.BytesToClient, toServer, toClient)
			}
			// capture() spaces frames 1 ms apart from the SYN.
			if d := rs.Duration(); d != time.Duration(len(sess.frames)-1)*time.Millisecond {
				t.Errorf("duration %v over %d frames", d, len(sess.frames))
			}
			if rs.OpenAtEnd == tc.closeBoth {
				t.Errorf("open at end %v, closed both ways %v", rs.OpenAtEnd, tc.closeBoth)
			}
		})
	}
}

// FuzzRemoteHandshakes: arbitrary bytes each way on the SSH, VNC and RDP
// ports never panic, and a session's byte counts are what was sent.
func FuzzRemoteHandshakes(f *testing.F) {
	f.Add(uint16(22), []byte("SSH-2.0-OpenSSH_9.6\r\n"), []byte("SSH-2.0-x\r\n"))
	f.Add(uint16(5900), []byte("RFB 003.008\n\x01"), []byte("RFB 003.008\n\x01\x01"))
	f.Add(uint16(5900), []byte("RFB 003.003\n"), []byte("RFB 003.003\n\x00\x00\x00\x01"))
	f.Add(uint16(3389), rdpRequest("operator"), rdpConfirm(2))
	f.Add(uint16(3389), []byte{3, 0, 0, 7, 2, 0xe0, 0}, []byte{3, 0, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, port uint16, client, server []byte) {
		switch port % 3 {
		case 0:
			port = 22
		case 1:
			port = 5900
		default:
			port = 3389
		}
		r := analyzeExchange(t, port, client, server, false)
		for _, o := range observations(r, otaudit.KindRemoteSession) {
			if rs := o.RemoteSession; rs.BytesToServer != int64(len(client)) || rs.BytesToClient != int64(len(server)) {
				t.Fatalf("session %+v: bytes %d/%d sent", rs, len(client), len(server))
			}
		}
	})
}
