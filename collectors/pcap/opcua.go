package pcap

import (
	"encoding/binary"

	"github.com/gopcua/opcua/ua"
	"github.com/gopcua/opcua/uacp"
	"github.com/gopcua/opcua/uasc"
	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/collectors/certinfo"
)

// OPC UA binary (UA-TCP): the client's Hello names the endpoint URL, each
// OpenSecureChannel message's asymmetric security header names the
// SecurityPolicyUri. Everything else is skipped chunk by chunk.

const (
	opcuaHeaderLen   = 8  // message type, chunk type, size
	opcuaChannelLen  = 12 // … plus the secure channel id (OPN, MSG, CLO)
	opcuaMaxHelloLen = 4096
)

type opcuaStream struct {
	skip     [2]int64
	endpoint string
}

func (o *opcuaStream) data(a *analysis, c *conn, d dir, b []byte, f *frameInfo) int {
	off := 0
	for off < len(b) {
		if o.skip[d] > 0 {
			n := min(int64(len(b)-off), o.skip[d])
			off += int(n)
			o.skip[d] -= n
			continue
		}
		rest := b[off:]
		if len(rest) < opcuaHeaderLen {
			return off
		}
		if !isOPCUAChunk(rest) {
			a.decodeError(f.index, "opcua: not a UA-TCP chunk header")
			return len(b)
		}
		size := int(binary.LittleEndian.Uint32(rest[4:8]))
		body := rest[:min(size, len(rest))]
		switch string(rest[:3]) {
		case uacp.MessageTypeHello:
			if len(rest) < size && size <= opcuaMaxHelloLen {
				return off // wait for the whole Hello
			}
			var h uacp.Hello
			if _, err := h.Decode(body[opcuaHeaderLen:]); err != nil {
				a.decodeError(f.index, "opcua: unreadable Hello")
			} else {
				o.endpoint = printable([]byte(h.EndpointURL), 512)
			}
		case "OPN":
			policy, complete := opcuaPolicy(body)
			if !complete && len(rest) < size && size <= maxStreamBuf {
				return off // the policy URI is not all here yet
			}
			if policy == "" {
				a.decodeError(f.index, "opcua: OpenSecureChannel without a readable SecurityPolicyUri")
				break
			}
			ch := otaudit.SecureChannel{
				Protocol: "opcua", Client: c.cli, Server: c.srv,
				Policy: policy, Endpoint: o.endpoint,
				Protected: policy != ua.SecurityPolicyURINone,
			}
			if d == toClient && ch.Protected {
				switch der, complete := opcuaSenderCertificate(body); {
				case complete:
					ch.ServerCertificate = opcuaCertificate(a, der, f)
				case len(rest) < size && size <= maxStreamBuf:
					return off // the server's certificate is not all here yet
				}
				// Else the chunk is larger than a stream buffers: the
				// channel is seen without its certificate.
			}
			a.secureChannel(ch, f)
		}
		if len(rest) >= size {
			off += size
			continue
		}
		o.skip[d] = int64(size - len(rest))
		return len(b)
	}
	return off
}

// opcuaPolicy reads the SecurityPolicyUri of an OPN chunk (possibly cut
// short); complete is false when the URI itself is not all there.
func opcuaPolicy(chunk []byte) (policy string, complete bool) {
	if len(chunk) < opcuaChannelLen+4 {
		return "", false
	}
	var h uasc.AsymmetricSecurityHeader
	// The certificate fields after the URI may be cut off: Decode fills the
	// URI before it fails on them, and the URI is all we need.
	_, _ = h.Decode(chunk[opcuaChannelLen:])
	n := binary.LittleEndian.Uint32(chunk[opcuaChannelLen : opcuaChannelLen+4])
	if h.SecurityPolicyURI == "" {
		return "", n == 0 || n == 0xffffffff || int64(n) > int64(len(chunk))+maxStreamBuf
	}
	return printable([]byte(h.SecurityPolicyURI), 256), true
}

// opcuaSenderCertificate reads the SenderCertificate that follows the
// SecurityPolicyUri in an OPN chunk (possibly cut short; the URI is known
// to be whole): nil when null or empty; complete is false when it is not
// all there yet.
func opcuaSenderCertificate(chunk []byte) (cert []byte, complete bool) {
	b := chunk[opcuaChannelLen:]
	uri := int64(int32(binary.LittleEndian.Uint32(b)))
	off := 4 + max(uri, 0)
	if int64(len(b)) < off+4 {
		return nil, false
	}
	n := int64(int32(binary.LittleEndian.Uint32(b[off:])))
	switch {
	case n <= 0:
		return nil, true
	case int64(len(b)) < off+4+n:
		return nil, false
	}
	return b[off+4 : off+4+n], true
}

// opcuaCertificate describes the first certificate of an OPN's sender
// certificate chain; nil (and a decode error) when it is not one.
func opcuaCertificate(a *analysis, chain []byte, f *frameInfo) *otaudit.Certificate {
	if len(chain) == 0 {
		a.decodeError(f.index, "opcua: OpenSecureChannel under a security policy without a sender certificate")
		return nil
	}
	der, err := certinfo.First(chain)
	if err == nil {
		var c *otaudit.Certificate
		if c, err = certinfo.Describe(der); err == nil {
			return c
		}
	}
	a.decodeError(f.index, "opcua: server certificate: "+err.Error())
	return nil
}

func (o *opcuaStream) gap(_ *analysis, _ *conn, d dir) { o.skip[d] = 0 }
func (o *opcuaStream) end(*analysis, *conn)            {}
