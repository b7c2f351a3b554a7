// Package s7comm parses Siemens S7 communication as it appears on ISO-TSAP
// (TCP port 102): TPKT (RFC 1006) frames, the COTP TPDUs they carry, the
// classic S7comm PDU (protocol id 0x32: Job, Ack, Ack_Data, Userdata), the
// SZL lists a CPU returns about itself, and the header of S7comm-plus
// (protocol id 0x72) so that it can be recognised.
//
// Everything here is a pure function over bytes: no I/O, no state across
// calls, every length bounds-checked, results alias the input. What a
// message means for an audit (operation classes) is in functions.go;
// turning results into observations and keeping per-connection state
// (COTP and Userdata reassembly) belongs to the collectors/pcap adapter.
package s7comm

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Protocol identifiers: the first byte of the PDU inside a COTP DT TPDU.
const (
	ProtocolID     = 0x32 // classic S7comm
	PlusProtocolID = 0x72 // S7comm-plus (S7-1200/1500, TIA Portal)
)

var (
	// ErrNeedMore: the bytes end inside a TPKT frame; read more.
	ErrNeedMore = errors.New("s7comm: incomplete TPKT frame")
	// ErrNotTPKT: the bytes do not start with a TPKT version 3 header.
	ErrNotTPKT = errors.New("s7comm: not a TPKT header")
)

// SplitTPKT reads the TPKT frame at the start of b and returns its payload
// (the COTP TPDU) and the frame size.
func SplitTPKT(b []byte) (payload []byte, n int, err error) {
	if len(b) < 4 {
		return nil, 0, ErrNeedMore
	}
	if b[0] != 3 || b[1] != 0 {
		return nil, 0, ErrNotTPKT
	}
	n = int(binary.BigEndian.Uint16(b[2:4]))
	if n < 7 { // header plus the smallest COTP TPDU (LI, code, one byte)
		return nil, 0, fmt.Errorf("%w: length %d", ErrNotTPKT, n)
	}
	if len(b) < n {
		return nil, 0, ErrNeedMore
	}
	return b[4:n], n, nil
}

// COTP TPDU codes (high nibble of the second byte).
const (
	COTPConnectRequest    = 0xe0
	COTPConnectConfirm    = 0xd0
	COTPDisconnectRequest = 0x80
	COTPData              = 0xf0
)

// COTP is one TPDU. Only DT TPDUs carry S7 data; for CR/CC the TSAPs are
// filled in when present.
type COTP struct {
	Type byte // COTPData, COTPConnectRequest, …
	// EOT is set on the last DT TPDU of a message; S7 PDUs split over
	// several TPDUs are the concatenation of their Data.
	EOT  bool
	Data []byte
	// SrcTSAP and DstTSAP of a CR/CC (parameters 0xc1, 0xc2).
	SrcTSAP, DstTSAP []byte
}

// ParseCOTP parses the TPDU that is the payload of a TPKT frame.
func ParseCOTP(b []byte) (COTP, error) {
	if len(b) < 2 {
		return COTP{}, errors.New("s7comm: COTP TPDU shorter than 2 bytes")
	}
	li := int(b[0])
	if li < 1 || 1+li > len(b) {
		return COTP{}, fmt.Errorf("s7comm: COTP length indicator %d, TPDU has %d bytes", li, len(b))
	}
	t := COTP{Type: b[1] & 0xf0}
	switch t.Type {
	case COTPData:
		if li < 2 {
			return COTP{}, errors.New("s7comm: COTP DT header shorter than 2 bytes")
		}
		t.EOT = b[2]&0x80 != 0
		t.Data = b[1+li:]
	case COTPConnectRequest, COTPConnectConfirm:
		// LI, code, dst-ref(2), src-ref(2), class, then parameters.
		if li >= 6 {
			p := b[7 : 1+li]
			for len(p) >= 2 {
				code, l := p[0], int(p[1])
				if 2+l > len(p) {
					break
				}
				switch code {
				case 0xc1:
					t.SrcTSAP = p[2 : 2+l]
				case 0xc2:
					t.DstTSAP = p[2 : 2+l]
				}
				p = p[2+l:]
			}
		}
	}
	return t, nil
}

// ROSCTR is the S7comm message type.
type ROSCTR byte

const (
	Job      ROSCTR = 1
	Ack      ROSCTR = 2
	AckData  ROSCTR = 3
	Userdata ROSCTR = 7
)

func (r ROSCTR) String() string {
	switch r {
	case Job:
		return "Job"
	case Ack:
		return "Ack"
	case AckData:
		return "Ack_Data"
	case Userdata:
		return "Userdata"
	}
	return fmt.Sprintf("ROSCTR %d", byte(r))
}

// PDU is one classic S7comm PDU.
type PDU struct {
	ROSCTR ROSCTR
	PDURef uint16
	// ErrorClass and ErrorCode are set on Ack and Ack_Data only.
	ErrorClass, ErrorCode byte
	Param, Data           []byte
	// Function is the first parameter byte of Job and Ack_Data PDUs
	// (0 when there are no parameters).
	Function byte
	// Userdata is set when ROSCTR is Userdata and its parameter header
	// could be read.
	Userdata *UserdataParam
}

// ParsePDU parses an S7comm PDU (first byte 0x32). Trailing bytes past the
// announced parameter and data lengths are ignored.
func ParsePDU(b []byte) (PDU, error) {
	if len(b) < 10 {
		return PDU{}, fmt.Errorf("s7comm: PDU of %d bytes is shorter than its header", len(b))
	}
	if b[0] != ProtocolID {
		return PDU{}, fmt.Errorf("s7comm: protocol id 0x%02x is not 0x32", b[0])
	}
	p := PDU{ROSCTR: ROSCTR(b[1]), PDURef: binary.BigEndian.Uint16(b[4:6])}
	hdr := 10
	switch p.ROSCTR {
	case Job, Userdata:
	case Ack, AckData:
		hdr = 12
		if len(b) < hdr {
			return PDU{}, fmt.Errorf("s7comm: %s PDU of %d bytes is shorter than its header", p.ROSCTR, len(b))
		}
		p.ErrorClass, p.ErrorCode = b[10], b[11]
	default:
		return PDU{}, fmt.Errorf("s7comm: unknown ROSCTR %d", b[1])
	}
	parLen := int(binary.BigEndian.Uint16(b[6:8]))
	datLen := int(binary.BigEndian.Uint16(b[8:10]))
	if hdr+parLen+datLen > len(b) {
		return PDU{}, fmt.Errorf("s7comm: %s announces %d parameter and %d data bytes, %d present", p.ROSCTR, parLen, datLen, len(b)-hdr)
	}
	p.Param = b[hdr : hdr+parLen]
	p.Data = b[hdr+parLen : hdr+parLen+datLen]
	if len(p.Param) > 0 && (p.ROSCTR == Job || p.ROSCTR == AckData) {
		p.Function = p.Param[0]
	}
	if p.ROSCTR == Userdata {
		ud, err := parseUserdata(p.Param, p.Data)
		if err != nil {
			return p, err
		}
		p.Userdata = &ud
	}
	return p, nil
}

// Userdata types (high nibble of the type/group byte).
const (
	UserdataPush     = 0x0
	UserdataRequest  = 0x4
	UserdataResponse = 0x8
)

// UserdataParam is the parameter header of a Userdata PDU plus the data
// header that follows it.
type UserdataParam struct {
	Type        byte // UserdataPush, UserdataRequest, UserdataResponse
	Group       byte // function group, 0..15
	Subfunction byte
	Sequence    byte
	// DataUnitRef and MoreFollows link the parts of a response split over
	// several PDUs (only in the 8-byte header of responses).
	DataUnitRef byte
	MoreFollows bool
	ErrorCode   uint16
	// ReturnCode is the data item's return code (0xff = success).
	ReturnCode    byte
	TransportSize byte
	// Payload is the data after the 4-byte data header.
	Payload []byte
}

func parseUserdata(param, data []byte) (UserdataParam, error) {
	// 00 01 12 | length | method | type<<4|group | subfunction | sequence
	if len(param) < 8 || param[0] != 0 || param[1] != 1 || param[2] != 0x12 {
		return UserdataParam{}, errors.New("s7comm: Userdata parameter header is not 00 01 12")
	}
	u := UserdataParam{Type: param[5] >> 4, Group: param[5] & 0x0f, Subfunction: param[6], Sequence: param[7]}
	if int(param[3]) >= 8 && len(param) >= 12 {
		u.DataUnitRef = param[8]
		u.MoreFollows = param[9] != 0
		u.ErrorCode = binary.BigEndian.Uint16(param[10:12])
	}
	if len(data) >= 4 {
		u.ReturnCode, u.TransportSize = data[0], data[1]
		n := int(binary.BigEndian.Uint16(data[2:4]))
		u.Payload = data[4:min(len(data), 4+n)]
	}
	return u, nil
}

// PIService returns the program-invocation service name of a PI-Service
// (0x28) or PLC Stop (0x29) Job, e.g. "P_PROGRAM" or "_INSE".
func (p PDU) PIService() (string, bool) {
	if p.ROSCTR != Job || (p.Function != FuncPIService && p.Function != FuncPLCStop) {
		return "", false
	}
	// The service name is the last, length-prefixed field: 0x28 has
	// 7 unknown bytes, a 2-byte parameter block length and the block;
	// 0x29 has 5 unknown bytes. Reading from the end works for both.
	par := p.Param
	var off int
	switch p.Function {
	case FuncPIService:
		if len(par) < 10 {
			return "", false
		}
		off = 8 + int(binary.BigEndian.Uint16(par[8:10])) + 2
	case FuncPLCStop:
		off = 6
	}
	if off >= len(par) {
		return "", false
	}
	n := int(par[off])
	if off+1+n > len(par) || n == 0 {
		return "", false
	}
	return printableASCII(par[off+1 : off+1+n]), true
}

// printableASCII keeps visible ASCII only, so device strings cannot carry
// control bytes into logs or exports.
func printableASCII(b []byte) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c >= 0x20 && c < 0x7f {
			out = append(out, c)
		}
	}
	// Trim the blank padding S7 strings use.
	s, e := 0, len(out)
	for s < e && out[s] == ' ' {
		s++
	}
	for e > s && out[e-1] == ' ' {
		e--
	}
	return string(out[s:e])
}
