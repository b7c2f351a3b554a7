package snmp

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des" //nolint:gosec // decrypting our own DES-protected request to check its PDU type
	"encoding/binary"
	"errors"
	"fmt"
	"net"

	"github.com/gosnmp/gosnmp"

	"github.com/otaudit/otaudit/collectors/active"
)

// PDU tags (context-specific, constructed) an SNMP manager may send.
const (
	tagGetRequest     = 0xA0
	tagGetNextRequest = 0xA1
	tagSetRequest     = 0xA3
	tagGetBulkRequest = 0xA5
)

// readOnlyTags are the only PDUs guardConn lets through. An engine
// discovery is a GetRequest with no bindings, so it passes too.
var readOnlyTags = map[byte]string{tagGetRequest: "get", tagGetNextRequest: "getnext", tagGetBulkRequest: "getbulk"}

// privKeyFunc returns the privacy protocol and localized key of the v3 user
// the connection speaks for (NoPriv when none).
type privKeyFunc func() (gosnmp.SnmpV3PrivProtocol, []byte)

// guardConn is the net.Conn gosnmp writes through. Write decodes the
// outgoing message and refuses, with active.ErrNotAllowed and without
// writing, anything that is not a Get, GetNext or GetBulk request, or that
// it cannot decode.
type guardConn struct {
	net.Conn
	priv privKeyFunc
	// sent counts the messages written, by PDU kind.
	sent map[string]int
}

func (g *guardConn) Write(b []byte) (int, error) {
	tag, err := outgoingPDUTag(b, g.priv)
	if err != nil {
		return 0, fmt.Errorf("snmp guard: %v: %w", err, active.ErrNotAllowed)
	}
	kind, ok := readOnlyTags[tag]
	if !ok {
		return 0, fmt.Errorf("snmp guard: PDU type 0x%02x: %w", tag, active.ErrNotAllowed)
	}
	if g.sent == nil {
		g.sent = map[string]int{}
	}
	g.sent[kind]++
	return g.Conn.Write(b)
}

var errBER = errors.New("not a well-formed SNMP message")

// tlv reads one BER element: its tag, its content and what follows it.
func tlv(b []byte) (tag byte, content, rest []byte, err error) {
	if len(b) < 2 {
		return 0, nil, nil, errBER
	}
	tag = b[0]
	if tag&0x1F == 0x1F {
		return 0, nil, nil, errBER // multi-byte tags do not occur in SNMP
	}
	l, hdr := int(b[1]), 2
	if l&0x80 != 0 {
		n := l & 0x7F
		if n == 0 || n > 3 || len(b) < 2+n {
			return 0, nil, nil, errBER
		}
		l = 0
		for _, c := range b[2 : 2+n] {
			l = l<<8 | int(c)
		}
		hdr = 2 + n
	}
	if len(b)-hdr < l {
		return 0, nil, nil, errBER
	}
	return tag, b[hdr : hdr+l], b[hdr+l:], nil
}

// expect reads one element that must have tag want.
func expect(b []byte, want byte) (content, rest []byte, err error) {
	tag, content, rest, err := tlv(b)
	if err != nil {
		return nil, nil, err
	}
	if tag != want {
		return nil, nil, fmt.Errorf("%w: tag 0x%02x, want 0x%02x", errBER, tag, want)
	}
	return content, rest, nil
}

func berUint(b []byte) uint32 {
	var v uint32
	for _, c := range b {
		v = v<<8 | uint32(c)
	}
	return v
}

const (
	berInteger  = 0x02
	berOctets   = 0x04
	berSequence = 0x30
)

// outgoingPDUTag returns the PDU tag of an SNMP message about to be sent.
// v1/v2c: SEQUENCE { version, community, PDU }. v3: SEQUENCE { version,
// header { msgID, maxSize, flags, model }, securityParameters, scopedPDU
// or encrypted scopedPDU }; an encrypted scopedPDU is decrypted with the
// connection's own privacy key (RFC 3414 DES-CBC, RFC 3826 AES-CFB).
func outgoingPDUTag(b []byte, priv privKeyFunc) (byte, error) {
	msg, _, err := expect(b, berSequence)
	if err != nil {
		return 0, err
	}
	ver, rest, err := expect(msg, berInteger)
	if err != nil {
		return 0, err
	}
	switch berUint(ver) {
	case 0, 1: // v1, v2c
		if _, rest, err = expect(rest, berOctets); err != nil {
			return 0, err
		}
		tag, _, _, err := tlv(rest)
		return tag, err
	case 3:
	default:
		return 0, fmt.Errorf("%w: version %d", errBER, berUint(ver))
	}
	header, rest, err := expect(rest, berSequence)
	if err != nil {
		return 0, err
	}
	var flags []byte
	h := header
	for i := 0; i < 4; i++ {
		var tag byte
		var c []byte
		if tag, c, h, err = tlv(h); err != nil {
			return 0, err
		}
		if i == 2 {
			if tag != berOctets || len(c) != 1 {
				return 0, fmt.Errorf("%w: msgFlags", errBER)
			}
			flags = c
		}
	}
	secOctets, rest, err := expect(rest, berOctets)
	if err != nil {
		return 0, err
	}
	if flags[0]&0x02 == 0 { // not encrypted: SEQUENCE { contextEngineID, contextName, PDU }
		scoped, _, err := expect(rest, berSequence)
		if err != nil {
			return 0, err
		}
		return scopedPDUTag(scoped)
	}
	encrypted, _, err := expect(rest, berOctets)
	if err != nil {
		return 0, err
	}
	plain, err := decryptScopedPDU(secOctets, encrypted, priv)
	if err != nil {
		return 0, err
	}
	scoped, _, err := expect(plain, berSequence)
	if err != nil {
		return 0, err
	}
	return scopedPDUTag(scoped)
}

func scopedPDUTag(scoped []byte) (byte, error) {
	_, rest, err := expect(scoped, berOctets) // contextEngineID
	if err != nil {
		return 0, err
	}
	if _, rest, err = expect(rest, berOctets); err != nil { // contextName
		return 0, err
	}
	tag, _, _, err := tlv(rest)
	return tag, err
}

// decryptScopedPDU decrypts an outgoing encrypted scopedPDU with the
// privacy key gosnmp localized for this connection.
func decryptScopedPDU(secOctets, encrypted []byte, priv privKeyFunc) ([]byte, error) {
	if priv == nil {
		return nil, fmt.Errorf("%w: encrypted scopedPDU without a privacy key", errBER)
	}
	proto, key := priv()
	usm, _, err := expect(secOctets, berSequence)
	if err != nil {
		return nil, err
	}
	var fields [6][]byte
	for i := range fields {
		if _, fields[i], usm, err = tlv(usm); err != nil {
			return nil, err
		}
	}
	boots, etime, salt := berUint(fields[1]), berUint(fields[2]), fields[5]
	if len(salt) != 8 {
		return nil, fmt.Errorf("%w: privacy parameters of %d bytes", errBER, len(salt))
	}
	plain := make([]byte, len(encrypted))
	switch proto {
	case gosnmp.AES, gosnmp.AES192, gosnmp.AES256, gosnmp.AES192C, gosnmp.AES256C:
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("privacy key: %w", err)
		}
		var iv [16]byte
		binary.BigEndian.PutUint32(iv[:], boots)
		binary.BigEndian.PutUint32(iv[4:], etime)
		copy(iv[8:], salt)
		cipher.NewCFBDecrypter(block, iv[:]).XORKeyStream(plain, encrypted) //nolint:staticcheck // RFC 3826 mandates CFB
	case gosnmp.DES:
		if len(key) < 16 || len(encrypted)%des.BlockSize != 0 {
			return nil, fmt.Errorf("%w: DES key or block size", errBER)
		}
		block, err := des.NewCipher(key[:8]) //nolint:gosec
		if err != nil {
			return nil, fmt.Errorf("privacy key: %w", err)
		}
		var iv [8]byte
		for i := range iv {
			iv[i] = key[8+i] ^ salt[i]
		}
		cipher.NewCBCDecrypter(block, iv[:]).CryptBlocks(plain, encrypted)
	default:
		return nil, fmt.Errorf("%w: encrypted with privacy protocol %v the guard cannot read", errBER, proto)
	}
	return plain, nil
}
