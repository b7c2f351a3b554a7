package opcua

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"
	"github.com/gopcua/opcua/uasc"
)

// UA-TCP framing (OPC 10000-6, 7.1.2): every chunk starts with a 3-byte
// message type, a 1-byte chunk type ('F' final, 'C' intermediate, 'A'
// abort) and a little-endian uint32 size that includes the header.
// OPN, MSG and CLO then carry the secure channel id; OPN an asymmetric
// security header (policy URI, certificate, thumbprint), MSG and CLO a
// 4-byte token id; then the sequence header (sequence number, request id)
// and the body, which starts with the request's encoding NodeId.
const (
	chunkHeaderLen = 8
	channelIDLen   = 4
	tokenIDLen     = 4
	seqHeaderLen   = 8
	// symBodyOffset is where the body of a MSG or CLO chunk starts.
	symBodyOffset = chunkHeaderLen + channelIDLen + tokenIDLen + seqHeaderLen
	// maxClientChunk bounds the chunks the guard accepts from the agent's
	// own client: gopcua never sends more than its SendBufSize (64 KiB).
	maxClientChunk = 1 << 16
	// maxChunksPerMessage bounds a multi-chunk request; the collector's
	// requests fit in one chunk, so a long run is not ours.
	maxChunksPerMessage = 16
)

// Request kinds at the transport level, as collectors/active names them.
const (
	kindHello              = "hello"
	kindOpenSecureChannel  = "open-secure-channel"
	kindCloseSecureChannel = "close-secure-channel"
	kindGetEndpoints       = "get-endpoints"
	kindFindServers        = "find-servers"
	kindCreateSession      = "create-session"
	kindActivateSession    = "activate-session"
	kindCloseSession       = "close-session"
	kindRead               = "read"
	kindBrowse             = "browse"
	kindBrowseNext         = "browse-next"
)

// readOnlyServices maps the binary encoding ids of the only service
// requests the guard forwards in a MSG chunk to their request kind. None
// of them changes the server. TranslateBrowsePathsToNodeIds is read-only
// too but not on active.Allowed, so Session.Do still refuses it; the
// collector never sends it.
var readOnlyServices = map[uint32]string{
	id.GetEndpointsRequest_Encoding_DefaultBinary:                  kindGetEndpoints,
	id.FindServersRequest_Encoding_DefaultBinary:                   kindFindServers,
	id.CreateSessionRequest_Encoding_DefaultBinary:                 kindCreateSession,
	id.ActivateSessionRequest_Encoding_DefaultBinary:               kindActivateSession,
	id.CloseSessionRequest_Encoding_DefaultBinary:                  kindCloseSession,
	id.ReadRequest_Encoding_DefaultBinary:                          kindRead,
	id.BrowseRequest_Encoding_DefaultBinary:                        kindBrowse,
	id.BrowseNextRequest_Encoding_DefaultBinary:                    kindBrowseNext,
	id.TranslateBrowsePathsToNodeIDsRequest_Encoding_DefaultBinary: "translate-browse-paths",
}

// errMalformed: a chunk from the agent's own client that the guard cannot
// read. The guard refuses what it cannot read.
var errMalformed = errors.New("malformed UA-TCP chunk")

// readChunk reads one whole UA-TCP chunk from r into buf (at least
// maxClientChunk long) and returns it.
func readChunk(r io.Reader, buf []byte) ([]byte, error) {
	if _, err := io.ReadFull(r, buf[:chunkHeaderLen]); err != nil {
		return nil, err
	}
	size := binary.LittleEndian.Uint32(buf[4:8])
	if size < chunkHeaderLen || size > uint32(len(buf)) || size > maxClientChunk {
		return nil, fmt.Errorf("%w: %q chunk of %d bytes", errMalformed, printableType(buf[:4]), size)
	}
	if _, err := io.ReadFull(r, buf[chunkHeaderLen:size]); err != nil {
		return nil, err
	}
	return buf[:size], nil
}

// clientMessage is what the guard learnt from the first chunk of a message
// the client sent.
type clientMessage struct {
	msgType   string // "HEL", "OPN", "MSG", "CLO"
	chunkType byte
	// kind is the request kind when the guard could read it: always for
	// HEL, OPN and CLO; for MSG only on a readable channel.
	kind string
	// typeID is the request's encoding id (MSG/CLO on a readable channel,
	// OPN with policy None); 0 when unread.
	typeID uint32
	// policy is the SecurityPolicyUri of an OPN chunk.
	policy string
	// requestID is the sequence header's request id, 0 when unread.
	requestID uint32
}

// inspectClientChunk classifies one whole chunk sent by the agent's own
// client. readable says whether the body of MSG and CLO chunks is in clear
// (SecurityMode None or Sign). It returns an error for anything that is
// not a well-formed client chunk; what to forward is the guard's decision.
func inspectClientChunk(chunk []byte, readable bool) (clientMessage, error) {
	if len(chunk) < chunkHeaderLen {
		return clientMessage{}, fmt.Errorf("%w: %d bytes", errMalformed, len(chunk))
	}
	m := clientMessage{msgType: string(chunk[:3]), chunkType: chunk[3]}
	if int(binary.LittleEndian.Uint32(chunk[4:8])) != len(chunk) {
		return m, fmt.Errorf("%w: size field does not match the chunk", errMalformed)
	}
	switch m.chunkType {
	case 'F', 'C', 'A':
	default:
		return m, fmt.Errorf("%w: chunk type %q", errMalformed, m.chunkType)
	}
	switch m.msgType {
	case "HEL":
		if m.chunkType != 'F' {
			return m, fmt.Errorf("%w: Hello chunk type %q", errMalformed, m.chunkType)
		}
		m.kind = kindHello
		return m, nil
	case "OPN":
		if m.chunkType != 'F' {
			return m, fmt.Errorf("%w: OpenSecureChannel chunk type %q", errMalformed, m.chunkType)
		}
		m.kind = kindOpenSecureChannel
		if len(chunk) < chunkHeaderLen+channelIDLen {
			return m, fmt.Errorf("%w: OpenSecureChannel too short", errMalformed)
		}
		var h uasc.AsymmetricSecurityHeader
		n, err := h.Decode(chunk[chunkHeaderLen+channelIDLen:])
		if err != nil {
			return m, fmt.Errorf("%w: OpenSecureChannel security header: %v", errMalformed, err)
		}
		m.policy = h.SecurityPolicyURI
		if m.policy != ua.SecurityPolicyURINone {
			// Asymmetrically encrypted: the body cannot be read.
			return m, nil
		}
		body := chunk[chunkHeaderLen+channelIDLen+n:]
		if len(body) < seqHeaderLen {
			return m, fmt.Errorf("%w: OpenSecureChannel without a sequence header", errMalformed)
		}
		m.requestID = binary.LittleEndian.Uint32(body[4:8])
		if m.typeID, err = decodeTypeID(body[seqHeaderLen:]); err != nil {
			return m, err
		}
		if m.typeID != id.OpenSecureChannelRequest_Encoding_DefaultBinary {
			return m, fmt.Errorf("%w: OPN chunk carries %s", errMalformed, serviceName(m.typeID))
		}
		return m, nil
	case "MSG", "CLO":
		if m.msgType == "CLO" {
			m.kind = kindCloseSecureChannel
			if m.chunkType != 'F' {
				return m, fmt.Errorf("%w: CloseSecureChannel chunk type %q", errMalformed, m.chunkType)
			}
		}
		if !readable {
			return m, nil
		}
		if len(chunk) < symBodyOffset {
			return m, fmt.Errorf("%w: %s chunk too short", errMalformed, m.msgType)
		}
		m.requestID = binary.LittleEndian.Uint32(chunk[symBodyOffset-4 : symBodyOffset])
		if m.chunkType == 'A' {
			// An abort carries an error code and reason, not a request.
			return m, nil
		}
		var err error
		if m.typeID, err = decodeTypeID(chunk[symBodyOffset:]); err != nil {
			return m, err
		}
		if m.msgType == "CLO" {
			if m.typeID != id.CloseSecureChannelRequest_Encoding_DefaultBinary {
				return m, fmt.Errorf("%w: CLO chunk carries %s", errMalformed, serviceName(m.typeID))
			}
			return m, nil
		}
		m.kind = readOnlyServices[m.typeID] // "" for anything else: refused
		return m, nil
	default:
		return m, fmt.Errorf("%w: message type %q from the client", errMalformed, printableType(chunk[:3]))
	}
}

// decodeTypeID decodes the encoding NodeId at the start of a request body.
// Service requests are numeric ids in namespace 0; any other encoding is
// not a request the collector sends.
func decodeTypeID(b []byte) (uint32, error) {
	if len(b) < 1 {
		return 0, fmt.Errorf("%w: body without a type id", errMalformed)
	}
	switch enc := b[0]; enc {
	case 0x00: // two-byte: namespace 0, id < 256
		if len(b) < 2 {
			break
		}
		return uint32(b[1]), nil
	case 0x01: // four-byte: namespace < 256, id < 65536
		if len(b) < 4 {
			break
		}
		if b[1] != 0 {
			return 0, fmt.Errorf("%w: type id in namespace %d", errMalformed, b[1])
		}
		return uint32(binary.LittleEndian.Uint16(b[2:4])), nil
	case 0x02: // numeric
		if len(b) < 7 {
			break
		}
		if ns := binary.LittleEndian.Uint16(b[1:3]); ns != 0 {
			return 0, fmt.Errorf("%w: type id in namespace %d", errMalformed, ns)
		}
		return binary.LittleEndian.Uint32(b[3:7]), nil
	default:
		return 0, fmt.Errorf("%w: type id encoding 0x%02x", errMalformed, enc)
	}
	return 0, fmt.Errorf("%w: truncated type id", errMalformed)
}

// serviceName names an encoding id for messages and logs, e.g.
// "WriteRequest_Encoding_DefaultBinary (i=673)".
func serviceName(typeID uint32) string {
	if n := id.Name(typeID); n != "" {
		return fmt.Sprintf("%s (i=%d)", n, typeID)
	}
	return fmt.Sprintf("i=%d", typeID)
}

// printableType renders a message type for an error without echoing
// control bytes.
func printableType(b []byte) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			c = '.'
		}
		out = append(out, c)
	}
	return string(out)
}
