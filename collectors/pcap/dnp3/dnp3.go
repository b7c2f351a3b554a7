// Package dnp3 parses DNP3 (IEEE 1815) as carried over TCP or UDP: the
// link layer (start bytes, length, control with DIR/PRM, addresses, a
// CRC per block, which is checked and stripped), the transport header and
// the application header, plus the table that names function codes and
// classifies them. Pure functions over bytes: no I/O, no state, no panics
// on input, no observations (the adapter in collectors/pcap emits those).
package dnp3

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/otaudit/otaudit"
)

// Port is the registered DNP3 port (TCP and UDP).
const Port = 20000

const (
	startByte0 = 0x05
	startByte1 = 0x64
	headerLen  = 10 // start, length, control, destination, source, CRC
	blockLen   = 16 // user data bytes per CRC-protected block
	minLength  = 5  // the length field counts control, destination, source
)

// Link-layer control bits.
const (
	CtrlDIR = 0x80 // set on frames from the master
	CtrlPRM = 0x40 // set on frames from the primary (initiating) station

	// Primary link functions that carry user data.
	LinkConfirmedUserData   = 3
	LinkUnconfirmedUserData = 4
)

// Errors a caller decides on.
var (
	// ErrNeedMore: b holds only the start of a frame.
	ErrNeedMore = errors.New("dnp3: incomplete link frame")
	// ErrNotDNP3: no start bytes, a length below 5 or a bad header CRC.
	ErrNotDNP3 = errors.New("dnp3: not a link frame header")
	// ErrMalformed: a header inside the user data does not fit.
	ErrMalformed = errors.New("dnp3: malformed")
)

// Frame is one link-layer frame with its user data, CRCs removed.
type Frame struct {
	Length      byte
	Control     byte
	Destination uint16
	Source      uint16
	// UserData is the transport segment (nil for link-only frames).
	UserData []byte
	// DataCRCError: at least one user-data block failed its CRC; the
	// data is returned anyway, as Wireshark dissects it anyway.
	DataCRCError bool
}

// FromMaster reports the DIR bit.
func (f Frame) FromMaster() bool { return f.Control&CtrlDIR != 0 }

// Primary reports the PRM bit.
func (f Frame) Primary() bool { return f.Control&CtrlPRM != 0 }

// LinkFunction is the link function code (low four bits of control).
func (f Frame) LinkFunction() byte { return f.Control & 0x0f }

// CarriesUserData says whether the frame has a transport segment.
func (f Frame) CarriesUserData() bool {
	fn := f.LinkFunction()
	return f.Primary() && (fn == LinkConfirmedUserData || fn == LinkUnconfirmedUserData) && len(f.UserData) > 0
}

// FrameSize is the number of bytes on the wire of a frame whose length
// field is length.
func FrameSize(length byte) int {
	n := int(length) - minLength
	if n <= 0 {
		return headerLen
	}
	return headerLen + n + 2*((n+blockLen-1)/blockLen)
}

// LooksLikeDNP3 says whether b starts with a link header whose CRC checks.
func LooksLikeDNP3(b []byte) bool {
	return len(b) >= headerLen && b[0] == startByte0 && b[1] == startByte1 && b[2] >= minLength &&
		crc(b[:8]) == binary.LittleEndian.Uint16(b[8:10])
}

// ParseFrame reads one frame from the start of b and returns it with its
// size on the wire. The user data is appended to buf[:0] (pass a reused
// buffer to avoid an allocation per frame).
func ParseFrame(b, buf []byte) (Frame, int, error) {
	if len(b) < headerLen {
		if len(b) >= 1 && b[0] != startByte0 || len(b) >= 2 && b[1] != startByte1 {
			return Frame{}, 0, ErrNotDNP3
		}
		return Frame{}, 0, ErrNeedMore
	}
	if !LooksLikeDNP3(b) {
		return Frame{}, 0, ErrNotDNP3
	}
	f := Frame{
		Length:      b[2],
		Control:     b[3],
		Destination: binary.LittleEndian.Uint16(b[4:6]),
		Source:      binary.LittleEndian.Uint16(b[6:8]),
	}
	size := FrameSize(f.Length)
	if len(b) < size {
		return Frame{}, 0, ErrNeedMore
	}
	if size == headerLen {
		return f, size, nil
	}
	data := buf[:0]
	for p := b[headerLen:size]; len(p) > 0; {
		n := min(blockLen, len(p)-2)
		if crc(p[:n]) != binary.LittleEndian.Uint16(p[n:n+2]) {
			f.DataCRCError = true
		}
		data = append(data, p[:n]...)
		p = p[n+2:]
	}
	f.UserData = data
	return f, size, nil
}

// Resync returns the offset of the next possible frame start after the
// first byte of b, or len(b) when there is none (a lone trailing 0x05 is
// kept, it may be the start of the next segment's frame).
func Resync(b []byte) int {
	for i := 1; i < len(b); i++ {
		if b[i] == startByte0 && (i+1 == len(b) || b[i+1] == startByte1) {
			return i
		}
	}
	return len(b)
}

// crcTable is the reflected table of the DNP3 polynomial 0x3D65.
var crcTable = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0xa6bc
			} else {
				c >>= 1
			}
		}
		t[i] = c
	}
	return t
}()

func crc(b []byte) uint16 {
	var c uint16
	for _, x := range b {
		c = c>>8 ^ crcTable[byte(c)^x]
	}
	return ^c
}

// Transport header bits.
const (
	TransportFIN = 0x80
	TransportFIR = 0x40
)

// Application is the application-layer header of the first segment of a
// fragment.
type Application struct {
	Control  byte
	Function byte
	// IIN are the internal indications of a response (IIN1 high byte).
	IIN    uint16
	HasIIN bool
}

// Sequence is the application sequence number, shared by a request and
// its response.
func (a Application) Sequence() byte { return a.Control & 0x0f }

// IsResponse says whether the function code is a response.
func (a Application) IsResponse() bool { return a.Function >= FuncResponse }

// Rejected says whether a response's IIN2 reports the request as not
// understood: function not supported, object unknown, parameter error.
func (a Application) Rejected() bool { return a.HasIIN && a.IIN&0x07 != 0 }

// ParseSegment reads the transport header of a segment and, when it is
// the first segment of a fragment, the application header. ok is false
// for continuation segments.
func ParseSegment(seg []byte) (app Application, ok bool, err error) {
	if len(seg) < 1 {
		return Application{}, false, fmt.Errorf("%w: empty transport segment", ErrMalformed)
	}
	if seg[0]&TransportFIR == 0 {
		return Application{}, false, nil
	}
	p := seg[1:]
	if len(p) < 2 {
		return Application{}, false, fmt.Errorf("%w: application header of %d bytes", ErrMalformed, len(p))
	}
	app = Application{Control: p[0], Function: p[1]}
	if app.IsResponse() {
		if len(p) < 4 {
			return app, false, fmt.Errorf("%w: response without internal indications", ErrMalformed)
		}
		app.IIN, app.HasIIN = binary.BigEndian.Uint16(p[2:4]), true
	}
	return app, true, nil
}

// Application function codes that callers need by name.
const (
	FuncConfirm             byte = 0
	FuncResponse            byte = 129
	FuncUnsolicitedResponse byte = 130
)

type functionInfo struct {
	name  string
	class otaudit.OperationClass
}

// functions names the application function codes (IEEE 1815-2012 table
// 4-1, as in Zeek's dnp3 consts). Writes are the codes that change outputs
// or values (2-6); restarts 13-14; 16-18 start, stop or re-initialise the
// application; 25-30 act on files. Freeze codes, 15 (obsolete) and 31
// Activate Configuration are kept as "other": they are named, and checks
// can find them by code.
var functions = map[byte]functionInfo{
	0:   {"Confirm", otaudit.OpOther},
	1:   {"Read", otaudit.OpRead},
	2:   {"Write", otaudit.OpWrite},
	3:   {"Select", otaudit.OpWrite},
	4:   {"Operate", otaudit.OpWrite},
	5:   {"Direct Operate", otaudit.OpWrite},
	6:   {"Direct Operate No Ack", otaudit.OpWrite},
	7:   {"Immediate Freeze", otaudit.OpOther},
	8:   {"Immediate Freeze No Ack", otaudit.OpOther},
	9:   {"Freeze and Clear", otaudit.OpOther},
	10:  {"Freeze and Clear No Ack", otaudit.OpOther},
	11:  {"Freeze at Time", otaudit.OpOther},
	12:  {"Freeze at Time No Ack", otaudit.OpOther},
	13:  {"Cold Restart", otaudit.OpRestart},
	14:  {"Warm Restart", otaudit.OpRestart},
	15:  {"Initialize Data", otaudit.OpOther},
	16:  {"Initialize Application", otaudit.OpModeChange},
	17:  {"Start Application", otaudit.OpModeChange},
	18:  {"Stop Application", otaudit.OpModeChange},
	19:  {"Save Configuration", otaudit.OpOther},
	20:  {"Enable Unsolicited", otaudit.OpOther},
	21:  {"Disable Unsolicited", otaudit.OpOther},
	22:  {"Assign Class", otaudit.OpOther},
	23:  {"Delay Measurement", otaudit.OpDiagnostic},
	24:  {"Record Current Time", otaudit.OpOther},
	25:  {"Open File", otaudit.OpFile},
	26:  {"Close File", otaudit.OpFile},
	27:  {"Delete File", otaudit.OpFile},
	28:  {"Get File Info", otaudit.OpFile},
	29:  {"Authenticate File", otaudit.OpFile},
	30:  {"Abort File", otaudit.OpFile},
	31:  {"Activate Configuration", otaudit.OpOther},
	32:  {"Authentication Request", otaudit.OpOther},
	33:  {"Authentication Request No Ack", otaudit.OpOther},
	129: {"Response", otaudit.OpOther},
	130: {"Unsolicited Response", otaudit.OpOther},
	131: {"Authentication Response", otaudit.OpOther},
}

// FunctionInfo names and classifies an application function code.
func FunctionInfo(fc byte) (string, otaudit.OperationClass) {
	if i, ok := functions[fc]; ok {
		return i.name, i.class
	}
	return fmt.Sprintf("Function %d", fc), otaudit.OpOther
}
