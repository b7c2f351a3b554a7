package demo

import (
	"encoding/binary"
	"time"
)

const rdpPort = 3389

// rdpCookieUser is the account name mstsc puts in the routing cookie.
const rdpCookieUser = "vendor-support"

// RDP negotiation protocols (MS-RDPBCGR 2.2.1.1.1).
const (
	rdpProtocolSSL    = 0x00000001
	rdpProtocolHybrid = 0x00000002
)

// tpkt wraps an X.224 TPDU in a TPKT header (RFC 1006).
func tpkt(tpdu []byte) []byte {
	b := []byte{3, 0, 0, 0}
	binary.BigEndian.PutUint16(b[2:4], uint16(4+len(tpdu)))
	return append(b, tpdu...)
}

// x224ConnectionRequest is the first RDP packet: an X.224 Connection
// Request carrying the mstshash cookie and an RDP Negotiation Request.
func x224ConnectionRequest(user string, protocols uint32) []byte {
	var body []byte
	body = append(body, 0xe0, 0, 0, 0, 0, 0) // CR CDT, DST-REF, SRC-REF, class 0
	body = append(body, "Cookie: mstshash="+user+"\r\n"...)
	body = append(body, 0x01, 0x00, 0x08, 0x00) // TYPE_RDP_NEG_REQ, flags, length 8
	body = binary.LittleEndian.AppendUint32(body, protocols)
	return tpkt(append([]byte{byte(len(body))}, body...))
}

// x224ConnectionConfirm is the server's answer selecting protocol.
func x224ConnectionConfirm(srcRef uint16, protocol uint32) []byte {
	body := []byte{0xd0, 0, 0, byte(srcRef >> 8), byte(srcRef), 0}
	// TYPE_RDP_NEG_RSP; flags: extended client data, graphics pipeline,
	// restricted admin and redirected authentication supported.
	body = append(body, 0x02, 0x1f, 0x08, 0x00)
	body = binary.LittleEndian.AppendUint32(body, protocol)
	return tpkt(append([]byte{byte(len(body))}, body...))
}

// TLS record content types and the TLS 1.3 pieces the hellos need.
const (
	tlsChangeCipherSpec = 20
	tlsHandshake        = 22
	tlsApplicationData  = 23
	tlsX25519           = 0x001d
)

func tlsRecord(contentType byte, version uint16, body []byte) []byte {
	b := []byte{contentType, byte(version >> 8), byte(version), 0, 0}
	binary.BigEndian.PutUint16(b[3:5], uint16(len(body)))
	return append(b, body...)
}

func tlsHandshakeMessage(msgType byte, body []byte) []byte {
	n := len(body)
	return append([]byte{msgType, byte(n >> 16), byte(n >> 8), byte(n)}, body...)
}

func tlsExtension(kind uint16, data []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, kind)
	b = binary.BigEndian.AppendUint16(b, uint16(len(data)))
	return append(b, data...)
}

func u16List(values ...uint16) []byte {
	var b []byte
	for _, v := range values {
		b = binary.BigEndian.AppendUint16(b, v)
	}
	return b
}

func withLen16(b []byte) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(b))), b...)
}

// tlsClientHello is a TLS 1.3 ClientHello as Windows' Schannel sends it to
// an IP address (so without server_name).
func tlsClientHello(r *rng) []byte {
	var h []byte
	h = append(h, 0x03, 0x03)
	h = append(h, r.bytes(32)...)
	h = append(h, 32)
	h = append(h, r.bytes(32)...)
	h = append(h, withLen16(u16List(0x1302, 0x1301, 0xc02c, 0xc02b, 0xc030, 0xc02f, 0x009f, 0x009e))...)
	h = append(h, 1, 0) // compression: null
	var ext []byte
	ext = append(ext, tlsExtension(0x000a, withLen16(u16List(tlsX25519, 0x0017, 0x0018)))...) // supported_groups
	ext = append(ext, tlsExtension(0x000b, []byte{1, 0})...)                                  // ec_point_formats
	ext = append(ext, tlsExtension(0x000d, withLen16(u16List(0x0804, 0x0805, 0x0806, 0x0403, 0x0503, 0x0603, 0x0401, 0x0501, 0x0601)))...)
	ext = append(ext, tlsExtension(0x0017, nil)...)                               // extended_master_secret
	ext = append(ext, tlsExtension(0xff01, []byte{0})...)                         // renegotiation_info
	ext = append(ext, tlsExtension(0x002b, []byte{4, 0x03, 0x04, 0x03, 0x03})...) // supported_versions
	ext = append(ext, tlsExtension(0x002d, []byte{1, 1})...)                      // psk_key_exchange_modes
	keyShare := append(u16List(tlsX25519, 32), r.bytes(32)...)
	ext = append(ext, tlsExtension(0x0033, withLen16(keyShare))...)
	h = append(h, withLen16(ext)...)
	return tlsRecord(tlsHandshake, 0x0301, tlsHandshakeMessage(1, h))
}

// tlsServerHello answers with TLS 1.3 and TLS_AES_256_GCM_SHA384, echoing
// the client's session ID as the middlebox-compatibility mode requires.
func tlsServerHello(clientHello []byte, r *rng) []byte {
	// Record header 5, handshake header 4, version 2, random 32, then the
	// session ID length and the ID.
	sessionID := clientHello[5+4+2+32+1 : 5+4+2+32+1+32]
	var h []byte
	h = append(h, 0x03, 0x03)
	h = append(h, r.bytes(32)...)
	h = append(h, 32)
	h = append(h, sessionID...)
	h = append(h, 0x13, 0x02, 0)
	var ext []byte
	ext = append(ext, tlsExtension(0x002b, []byte{0x03, 0x04})...)
	ext = append(ext, tlsExtension(0x0033, append(u16List(tlsX25519, 32), r.bytes(32)...))...)
	h = append(h, withLen16(ext)...)
	return tlsRecord(tlsHandshake, 0x0303, tlsHandshakeMessage(2, h))
}

// tlsEncrypted is an application-data record of n ciphertext bytes (the
// 16-byte AEAD tag included), which is all an observer sees of TLS 1.3
// traffic after the hellos.
func tlsEncrypted(n int, r *rng) []byte {
	return tlsRecord(tlsApplicationData, 0x0303, r.bytes(n))
}

func tlsChangeCipherSpecRecord() []byte { return tlsRecord(tlsChangeCipherSpec, 0x0303, []byte{1}) }

// rdpSession is a vendor-support RDP session from the enterprise network to
// the HMI: X.224 negotiation (TLS or CredSSP requested, TLS selected), a
// TLS 1.3 handshake, about thirty seconds of encrypted screen updates and
// input, and the client's FIN.
func rdpSession(tl *timeline, connect time.Duration) {
	r := newRNG("rdp")
	c := tl.newTCPConn(enterprisePC, hmi, rdpPort, r)
	t := c.open(connect)
	t = c.exchange(t+r.between(200*time.Microsecond, 600*time.Microsecond),
		x224ConnectionRequest(rdpCookieUser, rdpProtocolSSL|rdpProtocolHybrid),
		x224ConnectionConfirm(0x1234, rdpProtocolSSL), r.between(1*time.Millisecond, 3*time.Millisecond))

	hello := tlsClientHello(r)
	t = c.send(t+r.between(1*time.Millisecond, 4*time.Millisecond), client, hello)
	// ServerHello, ChangeCipherSpec, and the encrypted EncryptedExtensions,
	// Certificate (the HMI's self-signed RDP certificate), CertificateVerify
	// and Finished.
	var flight []byte
	flight = append(flight, tlsServerHello(hello, r)...)
	flight = append(flight, tlsChangeCipherSpecRecord()...)
	flight = append(flight, tlsEncrypted(1180, r)...)
	t = c.send(t+c.rtt/2+r.between(2*time.Millisecond, 5*time.Millisecond), server, flight)
	t = c.send(t+c.rtt/2+r.between(1*time.Millisecond, 3*time.Millisecond), client,
		append(tlsChangeCipherSpecRecord(), tlsEncrypted(69, r)...))

	// Connection setup inside TLS: client core data, licensing, the first
	// full-screen bitmap; then the session proper.
	t = c.send(t+r.between(2*time.Millisecond, 6*time.Millisecond), client, tlsEncrypted(452, r))
	t = c.send(t+c.rtt/2+r.between(4*time.Millisecond, 9*time.Millisecond), server, tlsEncrypted(338, r))
	t = c.send(t+c.rtt/2+r.between(1*time.Millisecond, 3*time.Millisecond), client, tlsEncrypted(301, r))
	t = c.send(t+c.rtt/2+r.between(20*time.Millisecond, 40*time.Millisecond), server, tlsEncrypted(14_200, r))
	c.ack(t+r.between(100*time.Microsecond, 400*time.Microsecond), client)

	end := connect + 30*time.Second
	t += r.between(300*time.Millisecond, 600*time.Millisecond)
	for t < end {
		// An input event (mouse move, key) and the screen update it causes.
		t = c.send(t, client, tlsEncrypted(29+r.intn(60), r))
		update := 180 + r.intn(3400)
		if r.intn(6) == 0 {
			update = 6000 + r.intn(9000) // a window repaint
		}
		t = c.send(t+c.rtt/2+r.between(8*time.Millisecond, 30*time.Millisecond), server, tlsEncrypted(update, r))
		pause := r.between(150*time.Millisecond, 900*time.Millisecond)
		switch {
		case update > 2*mss:
			// Two full segments unacknowledged: ACK at once.
			c.ack(t+r.between(100*time.Microsecond, 400*time.Microsecond), client)
		case pause > enterprisePC.stack.delayedAck:
			c.ack(t+enterprisePC.stack.delayedAck, client)
		}
		t += pause
	}
	// Sign out: the client's last PDUs, the server's acknowledgement, FIN.
	t = c.send(t, client, tlsEncrypted(58, r))
	t = c.send(t+c.rtt/2+r.between(5*time.Millisecond, 15*time.Millisecond), server, tlsEncrypted(40, r))
	c.close(t+r.between(20*time.Millisecond, 60*time.Millisecond), client)
}
