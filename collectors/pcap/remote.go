package pcap

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Remote-access handshakes: just enough of SSH, RFB (VNC) and RDP to name
// the software or user and to tell whether the session is encrypted. Once
// the handshake is past, the rest of the stream is skipped.

// --- SSH ------------------------------------------------------------------

type sshStream struct {
	banner [2]string
	done   [2]bool
}

func (s *sshStream) data(a *analysis, c *conn, d dir, b []byte, f *frameInfo) int {
	c.encrypted = 1
	// Servers may send other lines before the identification string, in
	// the same segment: each line of b is looked at, not only the first.
	off := 0
	for !s.done[d] {
		i := bytes.IndexByte(b[off:], '\n')
		if i < 0 {
			if len(b)-off > 255 { // RFC 4253 bounds the identification line
				s.done[d] = true
				return len(b)
			}
			return off
		}
		line := b[off : off+i]
		off += i + 1
		if bytes.HasPrefix(line, []byte("SSH-")) {
			s.banner[d] = printable(line, 255)
			s.done[d] = true
			c.detail = s.detail()
		}
	}
	return len(b)
}

func (s *sshStream) detail() string {
	switch {
	case s.banner[toClient] != "" && s.banner[toServer] != "":
		return "server " + s.banner[toClient] + "; client " + s.banner[toServer]
	case s.banner[toClient] != "":
		return "server " + s.banner[toClient]
	}
	return "client " + s.banner[toServer]
}

func (s *sshStream) gap(_ *analysis, _ *conn, d dir) { s.done[d] = true }
func (s *sshStream) end(*analysis, *conn)            {}

// --- VNC (RFB) ------------------------------------------------------------

// rfbSecurityTypes names the RFB security types; clear is true for those
// that leave the session unencrypted.
var rfbSecurityTypes = map[byte]struct {
	name  string
	clear bool
}{
	1: {"None", true}, 2: {"VNC Authentication", true},
	5: {"RA2", false}, 6: {"RA2ne", false}, 16: {"Tight", true}, 18: {"TLS", false}, 19: {"VeNCrypt", false},
	30: {"Apple Remote Desktop", true},
}

type vncStream struct {
	phase   [2]uint8 // 0 version, 1 security, 2 done
	version [2]string
	minor   int // negotiated minor version (3, 7, 8, …)
	chosen  int // security type, -1 unknown
}

func (v *vncStream) data(a *analysis, c *conn, d dir, b []byte, f *frameInfo) int {
	switch v.phase[d] {
	case 0:
		if len(b) < 12 {
			return 0
		}
		if !isRFBVersion(b) {
			v.phase[d] = 2
			return len(b)
		}
		v.version[d] = string(b[4:11])
		major := int(b[6]-'0') + 10*int(b[5]-'0') + 100*int(b[4]-'0')
		minor := int(b[10]-'0') + 10*int(b[9]-'0') + 100*int(b[8]-'0')
		if major > 3 {
			// RealVNC 4.x and later announce 004.xxx and negotiate like 3.8.
			minor = 8
		}
		if d == toServer || v.minor == 0 {
			v.minor = minor
		}
		v.phase[d] = 1
		v.describe(c)
		return 12
	case 1:
		if d == toClient {
			if v.minor < 7 { // 3.3: the server decides, a u32
				if len(b) < 4 {
					return 0
				}
				if t := binary.BigEndian.Uint32(b[:4]); t < 256 {
					v.setChosen(c, int(t))
				}
				v.phase[d] = 2
				return 4
			}
			// 3.7+: the server offers a list; the client picks.
			v.phase[d] = 2
			return len(b)
		}
		if v.minor >= 7 && len(b) >= 1 {
			v.setChosen(c, int(b[0]))
		}
		v.phase[d] = 2
		return len(b)
	}
	return len(b)
}

func (v *vncStream) setChosen(c *conn, t int) {
	v.chosen = t
	if st, ok := rfbSecurityTypes[byte(t)]; ok && t < 256 {
		if st.clear {
			c.encrypted = -1
		} else {
			c.encrypted = 1
		}
	}
	v.describe(c)
}

func (v *vncStream) describe(c *conn) {
	ver := v.version[toClient]
	if ver == "" {
		ver = v.version[toServer]
	}
	c.detail = "RFB " + ver
	if v.chosen > 0 {
		name := fmt.Sprintf("type %d", v.chosen)
		if st, ok := rfbSecurityTypes[byte(v.chosen)]; ok && v.chosen < 256 {
			name = st.name
		}
		c.detail += ", security " + name
	}
}

func (v *vncStream) gap(_ *analysis, _ *conn, d dir) { v.phase[d] = 2 }
func (v *vncStream) end(*analysis, *conn)            {}

// --- RDP ------------------------------------------------------------------

// RDP negotiation: the X.224 Connection Request may carry the routing
// cookie "Cookie: mstshash=<user>" and an RDP_NEG_REQ; the Connection
// Confirm's RDP_NEG_RSP says which security protocol the server selected.
// No RDP_NEG_RSP, or PROTOCOL_RDP (0), means standard RDP security: RC4
// with keys an observer can attack, reported as not encrypted.

const (
	rdpNegRsp      = 0x02
	rdpProtocolRDP = 0
)

type rdpStream struct {
	done [2]bool
	user string
}

func (r *rdpStream) data(a *analysis, c *conn, d dir, b []byte, f *frameInfo) int {
	if r.done[d] {
		return len(b)
	}
	if len(b) < 4 {
		return 0
	}
	if b[0] != 3 || b[1] != 0 {
		r.done[d] = true
		return len(b)
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n < 7 || n > maxStreamBuf {
		r.done[d] = true
		return len(b)
	}
	if len(b) < n {
		return 0
	}
	r.done[d] = true
	tpdu := b[4:n]
	// CR and CC have a 6-byte fixed part after the length indicator; RDP
	// puts the cookie and the negotiation structures right after it (and
	// counts them in the LI, so they are not "user data" in X.224 terms).
	const fixed = 7
	if len(tpdu) < fixed || int(tpdu[0])+1 > len(tpdu) {
		a.decodeError(f.index, "rdp: X.224 header shorter than its fixed part")
		return len(b)
	}
	user := tpdu[fixed:]
	switch {
	case d == toServer && tpdu[1]&0xf0 == 0xe0: // Connection Request
		if i := bytes.Index(user, []byte("Cookie: mstshash=")); i >= 0 {
			v := user[i+len("Cookie: mstshash="):]
			if j := bytes.Index(v, []byte("\r\n")); j >= 0 {
				v = v[:j]
			}
			r.user = printable(v, 128)
			c.detail = "mstshash=" + r.user
		}
	case d == toClient && tpdu[1]&0xf0 == 0xd0: // Connection Confirm
		c.encrypted = -1
		if i := bytes.Index(user, []byte("\r\n")); i >= 0 && i+2 < len(user) {
			user = user[i+2:]
		}
		if len(user) >= 8 && user[0] == rdpNegRsp {
			if binary.LittleEndian.Uint32(user[4:8]) != rdpProtocolRDP {
				c.encrypted = 1
			}
		}
	}
	return len(b)
}

func (r *rdpStream) gap(_ *analysis, _ *conn, d dir) { r.done[d] = true }
func (r *rdpStream) end(*analysis, *conn)            {}
