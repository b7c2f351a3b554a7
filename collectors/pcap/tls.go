package pcap

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"slices"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/collectors/certinfo"
)

// TLS handshakes (RFC 5246, RFC 8446), on any port: the client's
// ClientHello (server name, versions offered), the server's ServerHello
// (version and cipher suite chosen) and, up to TLS 1.2, the certificates
// each side sends in the clear. Each handshake becomes a secure channel
// with the server's certificate, for the inventory and for checks that
// judge certificates. Records after ChangeCipherSpec are encrypted and
// skipped whole. Third-party remote-control tools and tunnels are told by
// the server name their clients ask for (remoteToolDomains), and AnyDesk,
// which speaks TLS on 80, 443 and 7070 without one, by its certificates
// (its own "AnyDesk Client" ones, its relays' "AnyNet Root CA" chain), as
// nDPI does: a remote-access session on whatever port.

const (
	tlsRecordHeader = 5
	tlsMaxRecord    = 16384 + 2048 // TLSCiphertext bound (RFC 5246 §6.2.3)
	// tlsMaxHandshake bounds the handshake bytes kept per direction while a
	// message is incomplete: certificate chains of a few certificates fit,
	// and a flood of half-open handshakes costs at most this each.
	tlsMaxHandshake = 32 << 10
)

// Record content types and the handshake messages read.
const (
	tlsChangeCipherSpec = 20
	tlsAlert            = 21
	tlsHandshake        = 22
	tlsApplicationData  = 23

	tlsClientHello     = 1
	tlsServerHello     = 2
	tlsCertificate     = 11
	tlsServerHelloDone = 14

	tlsExtServerName        = 0
	tlsExtSupportedVersions = 43
)

type tlsHalf struct {
	recType byte
	recLeft int    // bytes of the current record still to come
	hs      []byte // handshake bytes not yet parsed into whole messages
	// done: nothing more to read here (encrypted from now on, a gap, or
	// not TLS); the rest of the direction is skipped.
	done bool
}

type tlsStream struct {
	half        [2]tlsHalf
	serverName  string
	version     uint16 // chosen by the ServerHello (0: none seen)
	cipher      uint16
	certificate *otaudit.Certificate
	hello       frameInfo // the ServerHello's frame, for a report at end
	reported    bool
}

// isTLSHello matches the start of a TLS handshake record carrying a
// ClientHello (or, from the server, a ServerHello): content type 22, a
// record version 3.x and a length within the bound.
func isTLSHello(d dir, b []byte) bool {
	if len(b) < tlsRecordHeader+1 || b[0] != tlsHandshake || b[1] != 3 || b[2] > 4 {
		return false
	}
	n := int(binary.BigEndian.Uint16(b[3:5]))
	want := byte(tlsClientHello)
	if d == toClient {
		want = tlsServerHello
	}
	return n >= 4 && n <= tlsMaxRecord && b[5] == want
}

// isTLSRecordExact matches a segment that is exactly one TLS record of
// application data or an alert, for connections whose handshake the
// capture missed: the length must account for the segment to the byte.
func isTLSRecordExact(b []byte) bool {
	return len(b) > tlsRecordHeader && (b[0] == tlsApplicationData || b[0] == tlsAlert) && b[1] == 3 && b[2] >= 1 && b[2] <= 4 &&
		int(binary.BigEndian.Uint16(b[3:5])) == len(b)-tlsRecordHeader
}

func (t *tlsStream) data(a *analysis, c *conn, d dir, b []byte, f *frameInfo) int {
	h := &t.half[d]
	off := 0
	for off < len(b) && !h.done {
		if h.recLeft > 0 {
			n := min(h.recLeft, len(b)-off)
			if h.recType == tlsHandshake {
				t.handshakeBytes(a, c, d, b[off:off+n], f)
			}
			off += n
			h.recLeft -= n
			continue
		}
		rest := b[off:]
		if len(rest) < tlsRecordHeader {
			return off
		}
		if d == toServer && rest[0]&0x80 != 0 && rest[2] == 1 {
			// An SSL 2.0-compatible ClientHello (old clients): nothing in
			// it is read; the server's answer is in TLS records.
			h.done = true
			break
		}
		n := int(binary.BigEndian.Uint16(rest[3:5]))
		if rest[0] < tlsChangeCipherSpec || rest[0] > tlsApplicationData || rest[1] != 3 || rest[2] > 4 || n > tlsMaxRecord {
			a.decodeError(f.index, "tls: not a TLS record")
			h.done = true
			break
		}
		h.recType, h.recLeft = rest[0], n
		off += tlsRecordHeader
		if h.recType == tlsChangeCipherSpec || h.recType == tlsApplicationData {
			// What this side sends from here on is encrypted.
			h.done = true
			if d == toClient {
				t.report(a, c, f)
			}
		}
	}
	return len(b)
}

// handshakeBytes appends a handshake record's bytes of direction d and reads
// the whole messages they complete.
func (t *tlsStream) handshakeBytes(a *analysis, c *conn, d dir, b []byte, f *frameInfo) {
	h := &t.half[d]
	if len(h.hs) == 0 {
		// Messages starting with the record, the common case: the whole
		// ones are read in place, only a partial last one is kept.
		n := t.messages(a, c, d, b, f)
		if n < len(b) && !h.done {
			h.hs = append(h.hs, b[n:]...)
		}
		return
	}
	if len(h.hs)+len(b) > tlsMaxHandshake {
		// A message larger than what is kept: the channel is reported
		// without what it would have said.
		h.hs, h.done = nil, true
		return
	}
	h.hs = append(h.hs, b...)
	n := t.messages(a, c, d, h.hs, f)
	h.hs = append(h.hs[:0], h.hs[n:]...)
	if len(h.hs) == 0 {
		h.hs = nil
	}
}

// messages reads the whole handshake messages at the start of b and
// returns how many bytes they took.
func (t *tlsStream) messages(a *analysis, c *conn, d dir, b []byte, f *frameInfo) int {
	off := 0
	for len(b)-off >= 4 && !t.half[d].done {
		n := int(b[off+1])<<16 | int(b[off+2])<<8 | int(b[off+3])
		if len(b)-off-4 < n {
			if 4+n > tlsMaxHandshake {
				t.half[d].done = true
				return len(b)
			}
			break
		}
		t.message(a, c, d, b[off], b[off+4:off+4+n], f)
		off += 4 + n
	}
	return off
}

func (t *tlsStream) message(a *analysis, c *conn, d dir, typ byte, body []byte, f *frameInfo) {
	switch {
	case typ == tlsClientHello && d == toServer:
		name, ok := clientHelloServerName(body)
		if !ok {
			a.decodeError(f.index, "tls: malformed ClientHello")
			return
		}
		t.serverName = name
		if tool := remoteToolByServerName(name); tool != "" && c.protocol != tool {
			c.protocol = tool // as for a certificate below: only the name changes
		}
	case typ == tlsServerHello && d == toClient:
		version, cipher, ok := serverHello(body)
		if !ok {
			a.decodeError(f.index, "tls: malformed ServerHello")
			return
		}
		t.version, t.cipher, t.hello = version, cipher, *f
		c.encrypted = 1
		if version >= tls.VersionTLS13 {
			// The rest of the server's handshake, its certificate
			// included, is encrypted.
			t.half[toClient].done = true
			t.report(a, c, f)
		}
	case typ == tlsCertificate:
		der, ok := firstTLSCertificate(body)
		if !ok {
			a.decodeError(f.index, "tls: malformed Certificate message")
			return
		}
		if der == nil {
			return // a client with no certificate to send
		}
		cert, err := certinfo.Parse(der)
		if err != nil {
			if d == toClient {
				a.decodeError(f.index, "tls: server certificate: "+err.Error())
			}
			return
		}
		if c.protocol != "anydesk" && isAnyDeskCertificate(cert) {
			// A remote-access session, whatever the port said. The
			// connection keeps this dissector: only its name changes.
			c.protocol = "anydesk"
			t.describeSession(c)
		}
		if d == toClient {
			t.certificate = certinfo.DescribeParsed(cert)
			t.report(a, c, f)
		}
	case typ == tlsServerHelloDone && d == toClient:
		t.report(a, c, f)
	}
}

// report records the channel once, after the server's part of the
// handshake that travels in the clear.
func (t *tlsStream) report(a *analysis, c *conn, f *frameInfo) {
	if t.reported || t.version == 0 {
		return
	}
	t.reported = true
	t.describeSession(c)
	a.secureChannel(otaudit.SecureChannel{
		Protocol: c.protocol, Client: c.cli, Server: c.srv, // "https", "tls", or the tool a signature named
		Policy: t.policy(), Endpoint: t.serverName, Protected: true,
		ServerCertificate: t.certificate,
	}, f)
}

// policy names the version and cipher suite the server chose.
func (t *tlsStream) policy() string {
	name, ok := tlsCipherNames[t.cipher]
	if !ok {
		name = tls.CipherSuiteName(t.cipher) // "0x009F" for those it does not know
	}
	return tls.VersionName(t.version) + " " + name
}

// tlsCipherNames names the suites crypto/tls does not implement that
// devices still choose: finite-field Diffie-Hellman, and those that do not
// encrypt at all.
var tlsCipherNames = map[uint16]string{
	0x0001: "TLS_RSA_WITH_NULL_MD5",
	0x0002: "TLS_RSA_WITH_NULL_SHA",
	0x003b: "TLS_RSA_WITH_NULL_SHA256",
	0x0016: "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA",
	0x0033: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA",
	0x0039: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
	0x0067: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
	0x006b: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
	0x009e: "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
	0x009f: "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
	0xc006: "TLS_ECDHE_ECDSA_WITH_NULL_SHA",
	0xc010: "TLS_ECDHE_RSA_WITH_NULL_SHA",
}

// describeSession gives a remote-access session over TLS its detail.
func (t *tlsStream) describeSession(c *conn) {
	if !isRemoteProtocol(c.protocol) || t.version == 0 {
		return
	}
	c.detail = t.policy()
	if t.certificate != nil {
		c.detail += ", server certificate " + t.certificate.Subject
	}
}

func (t *tlsStream) gap(_ *analysis, _ *conn, d dir) {
	t.half[d] = tlsHalf{done: true}
}

func (t *tlsStream) end(a *analysis, c *conn) {
	if !t.reported && t.version != 0 {
		f := t.hello
		t.report(a, c, &f)
	}
}

// quiescent: no record or handshake message is partly read.
func (t *tlsStream) quiescent() bool {
	for _, h := range t.half {
		if !h.done && (h.recLeft > 0 || len(h.hs) > 0) {
			return false
		}
	}
	return true
}

// clientHelloServerName reads the server_name extension of a ClientHello
// body ("" when there is none); ok is false when the body is malformed.
func clientHelloServerName(b []byte) (name string, ok bool) {
	r := tlsReader(b)
	if !r.skip(2+32) || !r.skipVector(1) || !r.skipVector(2) || !r.skipVector(1) {
		return "", false
	}
	if r.empty() {
		return "", true // no extensions (SSL 3.0, old TLS 1.0 clients)
	}
	exts, ok := r.vector(2)
	if !ok {
		return "", false
	}
	for !exts.empty() {
		typ, ok1 := exts.uint16()
		data, ok2 := exts.vector(2)
		if !ok1 || !ok2 {
			return "", false
		}
		if typ != tlsExtServerName {
			continue
		}
		list, ok := data.vector(2)
		for ok && !list.empty() {
			kind, ok1 := list.uint8()
			host, ok2 := list.vector(2)
			if !ok1 || !ok2 {
				return "", false
			}
			if kind == 0 { // host_name
				return printable(host, 255), true
			}
		}
		if !ok {
			return "", false
		}
	}
	return "", true
}

// serverHello reads the version (supported_versions when present, as TLS
// 1.3 puts it there) and cipher suite of a ServerHello body.
func serverHello(b []byte) (version, cipher uint16, ok bool) {
	r := tlsReader(b)
	if version, ok = r.uint16(); !ok || !r.skip(32) || !r.skipVector(1) {
		return 0, 0, false
	}
	if cipher, ok = r.uint16(); !ok || !r.skip(1) {
		return 0, 0, false
	}
	if r.empty() {
		return version, cipher, true
	}
	exts, ok := r.vector(2)
	if !ok {
		return 0, 0, false
	}
	for !exts.empty() {
		typ, ok1 := exts.uint16()
		data, ok2 := exts.vector(2)
		if !ok1 || !ok2 {
			return 0, 0, false
		}
		if typ == tlsExtSupportedVersions {
			if v, ok := data.uint16(); ok {
				version = v
			}
		}
	}
	return version, cipher, true
}

// firstTLSCertificate returns the first certificate of a Certificate
// message body (TLS 1.0–1.2: a 24-bit list of 24-bit length-prefixed DER
// certificates); nil when the list is empty.
func firstTLSCertificate(b []byte) ([]byte, bool) {
	if len(b) < 3 {
		return nil, false
	}
	list := int(b[0])<<16 | int(b[1])<<8 | int(b[2])
	if list != len(b)-3 {
		return nil, false
	}
	if list == 0 {
		return nil, true
	}
	if list < 3 {
		return nil, false
	}
	n := int(b[3])<<16 | int(b[4])<<8 | int(b[5])
	if n == 0 || 6+n > len(b) {
		return nil, false
	}
	return b[6 : 6+n], true
}

// isAnyDeskCertificate: AnyDesk clients present self-signed certificates
// named "AnyDesk Client"; its relays a chain under "AnyNet Root CA"
// (philandro Software GmbH, AnyDesk's maker).
func isAnyDeskCertificate(c *x509.Certificate) bool {
	return c.Subject.CommonName == "AnyDesk Client" || c.Issuer.CommonName == "AnyNet Root CA" ||
		slices.Contains(c.Issuer.Organization, "philandro Software GmbH")
}

// tlsReader reads the big-endian fields and length-prefixed vectors of
// TLS messages without ever reading past its end.
type tlsReader []byte

func (r *tlsReader) empty() bool { return len(*r) == 0 }

func (r *tlsReader) skip(n int) bool {
	if len(*r) < n {
		return false
	}
	*r = (*r)[n:]
	return true
}

func (r *tlsReader) uint8() (byte, bool) {
	if len(*r) < 1 {
		return 0, false
	}
	v := (*r)[0]
	*r = (*r)[1:]
	return v, true
}

func (r *tlsReader) uint16() (uint16, bool) {
	if len(*r) < 2 {
		return 0, false
	}
	v := binary.BigEndian.Uint16(*r)
	*r = (*r)[2:]
	return v, true
}

// vector reads a vector whose length takes lenBytes (1 or 2) bytes.
func (r *tlsReader) vector(lenBytes int) (tlsReader, bool) {
	if len(*r) < lenBytes {
		return nil, false
	}
	n := int((*r)[0])
	if lenBytes == 2 {
		n = int(binary.BigEndian.Uint16(*r))
	}
	if len(*r) < lenBytes+n {
		return nil, false
	}
	v := (*r)[lenBytes : lenBytes+n]
	*r = (*r)[lenBytes+n:]
	return v, true
}

func (r *tlsReader) skipVector(lenBytes int) bool {
	_, ok := r.vector(lenBytes)
	return ok
}
