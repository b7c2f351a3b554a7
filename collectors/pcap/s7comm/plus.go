package s7comm

import (
	"encoding/binary"
	"fmt"
)

// PlusHeader is the frame header of an S7comm-plus PDU: protocol id 0x72,
// protocol version, length of the data that follows. Version 3 (TIA
// Portal V13+, S7-1200/1500 firmware 4+) protects the session with an
// integrity digest and later firmware with TLS, so beyond the header only
// its presence is reported.
type PlusHeader struct {
	Version byte // 1, 2, 3, or 0xfe for the keep-alive/system frames
	Length  int  // data bytes announced after the 4-byte header
}

// ParsePlusHeader reads the header of an S7comm-plus PDU (the payload of a
// COTP DT TPDU starting with 0x72).
func ParsePlusHeader(b []byte) (PlusHeader, error) {
	if len(b) < 4 {
		return PlusHeader{}, fmt.Errorf("s7comm-plus: %d bytes, header needs 4", len(b))
	}
	if b[0] != PlusProtocolID {
		return PlusHeader{}, fmt.Errorf("s7comm-plus: protocol id 0x%02x is not 0x72", b[0])
	}
	h := PlusHeader{Version: b[1], Length: int(binary.BigEndian.Uint16(b[2:4]))}
	switch h.Version {
	case 1, 2, 3, 0xfe:
	default:
		return PlusHeader{}, fmt.Errorf("s7comm-plus: unknown protocol version 0x%02x", h.Version)
	}
	// The length covers one fragment; a PDU split over several TPDUs may
	// announce more than this TPDU holds, so it is not checked against b.
	return h, nil
}

// LooksLikeS7 says whether the payload of a COTP DT TPDU is an S7comm or
// S7comm-plus PDU; used to recognise S7 on a port other than 102.
// Only the first two bytes are needed; the reserved field is checked when
// present.
func LooksLikeS7(b []byte) bool {
	if len(b) < 2 {
		return false
	}
	switch b[0] {
	case ProtocolID:
		switch ROSCTR(b[1]) {
		case Job, Ack, AckData, Userdata:
			return len(b) < 4 || (b[2] == 0 && b[3] == 0) // reserved / redundancy id
		}
	case PlusProtocolID:
		switch b[1] {
		case 1, 2, 3, 0xfe:
			return true
		}
	}
	return false
}
