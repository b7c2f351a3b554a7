// Package iec104 parses IEC 60870-5-104 APDUs (APCI and the ASDU data unit
// identifier) from bytes. It holds pure functions over byte slices and the
// protocol's name tables; it does no I/O and knows nothing about captures,
// connections or observations (collectors/pcap/iec104.go wires it in).
package iec104

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// StartByte opens every APDU.
const StartByte = 0x68

// Port is the registered TCP port of IEC 60870-5-104.
const Port = 2404

// Format is the APCI frame format, told apart by the low bits of the first
// control octet.
type Format uint8

const (
	FormatI Format = iota // numbered information transfer: carries an ASDU
	FormatS               // numbered supervisory: acknowledges I frames
	FormatU               // unnumbered control: STARTDT, STOPDT, TESTFR
)

func (f Format) String() string {
	switch f {
	case FormatI:
		return "I"
	case FormatS:
		return "S"
	case FormatU:
		return "U"
	}
	return "?"
}

// U-format functions (bits of the first control octet).
const (
	UStartDTAct = 0x04
	UStartDTCon = 0x08
	UStopDTAct  = 0x10
	UStopDTCon  = 0x20
	UTestFRAct  = 0x40
	UTestFRCon  = 0x80
)

// APDU is one application protocol data unit.
type APDU struct {
	Format Format
	// SendSeq and RecvSeq are the I-format N(S) and N(R) (RecvSeq also for S).
	SendSeq, RecvSeq uint16
	// UFunction holds the U-format function bits.
	UFunction byte
	// ASDU is set for I-format frames whose ASDU header could be read.
	ASDU *ASDU
}

// ASDU is the data unit identifier of an ASDU (the information objects
// that follow are not decoded).
type ASDU struct {
	TypeID byte
	// Sequence is the SQ bit; Objects the number of information objects.
	Sequence bool
	Objects  int
	Cause    Cause
	// Negative is the P/N bit: a negative confirmation.
	Negative bool
	// Test is the T bit: the ASDU was sent for testing.
	Test          bool
	Originator    byte
	CommonAddress uint16
}

// Cause is a cause of transmission (6 bits).
type Cause uint8

// Causes of transmission used to decide requests and answers.
const (
	CausePeriodic          Cause = 1
	CauseBackground        Cause = 2
	CauseSpontaneous       Cause = 3
	CauseInitialised       Cause = 4
	CauseRequest           Cause = 5
	CauseActivation        Cause = 6
	CauseActivationCon     Cause = 7
	CauseDeactivation      Cause = 8
	CauseDeactivationCon   Cause = 9
	CauseActivationTerm    Cause = 10
	CauseInterrogated      Cause = 20
	CauseUnknownType       Cause = 44
	CauseUnknownCause      Cause = 45
	CauseUnknownCommonAddr Cause = 46
	CauseUnknownObjectAddr Cause = 47
)

// IsCommand says whether the cause is one a controlling station sends to
// ask for an action (activation or deactivation).
func (c Cause) IsCommand() bool { return c == CauseActivation || c == CauseDeactivation }

// IsUnknown says whether the cause is one of the "unknown …" answers a
// controlled station sends back for a request it refuses.
func (c Cause) IsUnknown() bool { return c >= CauseUnknownType && c <= CauseUnknownObjectAddr }

// Parse errors. ErrNeedMore means b holds only the start of an APDU.
var (
	ErrNeedMore  = errors.New("iec104: incomplete APDU")
	ErrStart     = errors.New("iec104: APDU does not start with 0x68")
	ErrLength    = errors.New("iec104: APDU length outside 4..253")
	ErrSFormat   = errors.New("iec104: S-format APDU longer than its APCI")
	ErrUFormat   = errors.New("iec104: U-format APDU with no single function bit")
	ErrASDUShort = errors.New("iec104: I-format APDU shorter than the ASDU header")
)

// MaxLength is the largest APDU length field (and APDU size minus 2).
const MaxLength = 253

// asduHeaderLen is type, VSQ, two COT octets and a two-octet common
// address: the IEC 104 defaults, which the standard fixes for this profile.
const asduHeaderLen = 6

// Parse reads one APDU from the start of b and returns it with its size in
// bytes. With ErrNeedMore the caller should wait for more bytes; any other
// error means the stream is not (or no longer) in step at this point.
func Parse(b []byte) (APDU, int, error) {
	if len(b) < 2 {
		return APDU{}, 0, ErrNeedMore
	}
	if b[0] != StartByte {
		return APDU{}, 0, ErrStart
	}
	n := int(b[1])
	if n < 4 || n > MaxLength {
		return APDU{}, 0, ErrLength
	}
	if len(b) < 2+n {
		return APDU{}, 0, ErrNeedMore
	}
	ctl := b[2:6]
	size := 2 + n
	var p APDU
	switch {
	case ctl[0]&0x01 == 0:
		p.Format = FormatI
		p.SendSeq = binary.LittleEndian.Uint16(ctl[0:2]) >> 1
		p.RecvSeq = binary.LittleEndian.Uint16(ctl[2:4]) >> 1
		asdu := b[6:size]
		if len(asdu) < asduHeaderLen {
			return p, size, ErrASDUShort
		}
		p.ASDU = &ASDU{
			TypeID:        asdu[0],
			Sequence:      asdu[1]&0x80 != 0,
			Objects:       int(asdu[1] & 0x7f),
			Cause:         Cause(asdu[2] & 0x3f),
			Negative:      asdu[2]&0x40 != 0,
			Test:          asdu[2]&0x80 != 0,
			Originator:    asdu[3],
			CommonAddress: binary.LittleEndian.Uint16(asdu[4:6]),
		}
	case ctl[0]&0x03 == 0x01:
		p.Format = FormatS
		p.RecvSeq = binary.LittleEndian.Uint16(ctl[2:4]) >> 1
		if n != 4 {
			return p, size, ErrSFormat
		}
	default:
		p.Format = FormatU
		p.UFunction = ctl[0] &^ 0x03
		if n != 4 {
			return p, size, ErrSFormat
		}
		if f := p.UFunction; f == 0 || f&(f-1) != 0 {
			return p, size, ErrUFormat
		}
	}
	return p, size, nil
}

// Looks says whether b, the first payload of a TCP segment, is IEC 104:
// one or more complete APDUs that parse cleanly and fill b exactly. Being
// this strict keeps other protocols that happen to start with 0x68 ('h')
// from being taken for it on a non-standard port.
func Looks(b []byte) bool {
	if len(b) < 6 {
		return false
	}
	for len(b) > 0 {
		_, n, err := Parse(b)
		if err != nil {
			return false
		}
		b = b[n:]
	}
	return true
}

// Category groups type identifications by what they do.
type Category uint8

const (
	CategoryUnknown      Category = iota
	CategoryMonitor               // M_*: process information in monitor direction
	CategoryCommand               // C_SC … C_BO (45–51, 58–64): process commands
	CategoryInterrogate           // C_IC, C_CI, C_RD (100–102)
	CategoryClockSync             // C_CS (103)
	CategoryTest                  // C_TS (104, 107)
	CategoryResetProcess          // C_RP (105)
	CategoryDelay                 // C_CD (106)
	CategoryParameter             // P_* (110–113): parameter loading / activation
	CategorySystem                // M_EI (70): end of initialisation
	CategoryFile                  // F_* (120–127): file transfer
)

type typeInfo struct {
	name string
	cat  Category
}

// types names the type identifications of IEC 60870-5-101/104.
var types = map[byte]typeInfo{
	1: {"M_SP_NA_1", CategoryMonitor}, 3: {"M_DP_NA_1", CategoryMonitor}, 5: {"M_ST_NA_1", CategoryMonitor},
	7: {"M_BO_NA_1", CategoryMonitor}, 9: {"M_ME_NA_1", CategoryMonitor}, 11: {"M_ME_NB_1", CategoryMonitor},
	13: {"M_ME_NC_1", CategoryMonitor}, 15: {"M_IT_NA_1", CategoryMonitor}, 20: {"M_PS_NA_1", CategoryMonitor},
	21: {"M_ME_ND_1", CategoryMonitor}, 30: {"M_SP_TB_1", CategoryMonitor}, 31: {"M_DP_TB_1", CategoryMonitor},
	32: {"M_ST_TB_1", CategoryMonitor}, 33: {"M_BO_TB_1", CategoryMonitor}, 34: {"M_ME_TD_1", CategoryMonitor},
	35: {"M_ME_TE_1", CategoryMonitor}, 36: {"M_ME_TF_1", CategoryMonitor}, 37: {"M_IT_TB_1", CategoryMonitor},
	38: {"M_EP_TD_1", CategoryMonitor}, 39: {"M_EP_TE_1", CategoryMonitor}, 40: {"M_EP_TF_1", CategoryMonitor},
	45: {"C_SC_NA_1", CategoryCommand}, 46: {"C_DC_NA_1", CategoryCommand}, 47: {"C_RC_NA_1", CategoryCommand},
	48: {"C_SE_NA_1", CategoryCommand}, 49: {"C_SE_NB_1", CategoryCommand}, 50: {"C_SE_NC_1", CategoryCommand},
	51: {"C_BO_NA_1", CategoryCommand},
	58: {"C_SC_TA_1", CategoryCommand}, 59: {"C_DC_TA_1", CategoryCommand}, 60: {"C_RC_TA_1", CategoryCommand},
	61: {"C_SE_TA_1", CategoryCommand}, 62: {"C_SE_TB_1", CategoryCommand}, 63: {"C_SE_TC_1", CategoryCommand},
	64:  {"C_BO_TA_1", CategoryCommand},
	70:  {"M_EI_NA_1", CategorySystem},
	100: {"C_IC_NA_1", CategoryInterrogate}, 101: {"C_CI_NA_1", CategoryInterrogate}, 102: {"C_RD_NA_1", CategoryInterrogate},
	103: {"C_CS_NA_1", CategoryClockSync}, 104: {"C_TS_NA_1", CategoryTest}, 105: {"C_RP_NA_1", CategoryResetProcess},
	106: {"C_CD_NA_1", CategoryDelay}, 107: {"C_TS_TA_1", CategoryTest},
	110: {"P_ME_NA_1", CategoryParameter}, 111: {"P_ME_NB_1", CategoryParameter}, 112: {"P_ME_NC_1", CategoryParameter},
	113: {"P_AC_NA_1", CategoryParameter},
	120: {"F_FR_NA_1", CategoryFile}, 121: {"F_SR_NA_1", CategoryFile}, 122: {"F_SC_NA_1", CategoryFile},
	123: {"F_LS_NA_1", CategoryFile}, 124: {"F_AF_NA_1", CategoryFile}, 125: {"F_SG_NA_1", CategoryFile},
	126: {"F_DR_TA_1", CategoryFile}, 127: {"F_SC_NB_1", CategoryFile},
}

// TypeName is the standard mnemonic of a type identification, or
// "type <n>" for one the standard does not define.
func TypeName(id byte) string {
	if t, ok := types[id]; ok {
		return t.name
	}
	return fmt.Sprintf("type %d", id)
}

// TypeCategory says what a type identification does.
func TypeCategory(id byte) Category {
	return types[id].cat
}
