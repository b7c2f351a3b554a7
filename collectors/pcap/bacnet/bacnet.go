// Package bacnet parses BACnet/IP datagrams (BVLC, NPDU and the APDU
// header) from bytes, with the I-Am service body and the names of the
// confirmed and unconfirmed services. It holds pure functions over byte
// slices; it does no I/O and knows nothing about captures or observations
// (collectors/pcap/bacnet.go wires it in).
package bacnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// Port is the registered UDP port of BACnet/IP (0xBAC0).
const Port = 47808

// BVLC functions (ANSI/ASHRAE 135 Annex J).
const (
	BVLCResult                  = 0x00
	BVLCForwardedNPDU           = 0x04
	BVLCDistributeBroadcast     = 0x09
	BVLCOriginalUnicastNPDU     = 0x0a
	BVLCOriginalBroadcastNPDU   = 0x0b
	BVLCSecureBVLL              = 0x0c
	bvlcTypeBACnetIP            = 0x81
	bvlcHeaderLen               = 4
	forwardedOriginLen          = 6
	npduControlNetworkMessage   = 0x80
	npduControlDestPresent      = 0x20
	npduControlSourcePresent    = 0x08
	objectTypeDevice            = 8
	applicationTagUnsigned      = 2
	applicationTagObjectID      = 12
	unconfirmedIAm              = 0
	maxSegmentedHeaderExtraSize = 2
)

// PDUType is the APDU type in the high nibble of the first APDU octet.
type PDUType uint8

const (
	ConfirmedRequest   PDUType = 0
	UnconfirmedRequest PDUType = 1
	SimpleACK          PDUType = 2
	ComplexACK         PDUType = 3
	SegmentACK         PDUType = 4
	Error              PDUType = 5
	Reject             PDUType = 6
	Abort              PDUType = 7
)

// Message is one decoded BACnet/IP datagram.
type Message struct {
	BVLCFunction byte
	// LengthMismatch: the BVLC length disagrees with the datagram. Some
	// stacks (and test generators) get it wrong; like Wireshark, the
	// datagram's own size is trusted and the NPDU decoded anyway.
	LengthMismatch bool
	// Origin is the original sender of a Forwarded-NPDU (a BBMD relays it
	// with its own IP address as the datagram's source).
	Origin netip.AddrPort
	// NetworkMessage is set when the NPDU carries a network-layer message
	// instead of an APDU.
	NetworkMessage bool
	// SourceNetwork and DestNetwork are the NPDU SNET/DNET (0 = local).
	SourceNetwork, DestNetwork uint16
	// APDU is set when the NPDU carries one whose header could be read.
	APDU *APDU
}

// APDU is the header of an application-layer PDU.
type APDU struct {
	Type     PDUType
	InvokeID byte // not meaningful for unconfirmed requests
	// Service is the confirmed or unconfirmed service choice, the service
	// ACK choice of a Simple/ComplexACK or the error choice of an Error;
	// -1 for SegmentACK, Reject and Abort, which do not name the service.
	Service int
	// Segmented is set for a segment of a segmented message; Sequence is
	// then the segment's sequence number.
	Segmented bool
	Sequence  byte
	// Body is what follows the header (the service parameters).
	Body []byte
}

// Parse errors.
var (
	ErrNotBVLC    = errors.New("bacnet: not a BACnet/IP BVLC header")
	ErrLength     = errors.New("bacnet: BVLC length shorter than the BVLC header")
	ErrNPDU       = errors.New("bacnet: NPDU shorter than its header")
	ErrNPDUVer    = errors.New("bacnet: NPDU protocol version is not 1")
	ErrAPDU       = errors.New("bacnet: APDU shorter than its header")
	ErrAPDUType   = errors.New("bacnet: unknown APDU type")
	ErrIAm        = errors.New("bacnet: I-Am parameters malformed")
	ErrNotIAm     = errors.New("bacnet: not an I-Am")
	errTagTooLong = errors.New("bacnet: application tag length out of range")
)

// Parse decodes a UDP payload. BVLC functions that carry no NPDU (results,
// table management) return a Message with APDU nil and no error.
func Parse(b []byte) (Message, error) {
	var m Message
	if len(b) < bvlcHeaderLen || b[0] != bvlcTypeBACnetIP {
		return m, ErrNotBVLC
	}
	m.BVLCFunction = b[1]
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n < bvlcHeaderLen {
		return m, ErrLength
	}
	m.LengthMismatch = n != len(b)
	b = b[bvlcHeaderLen:]
	switch m.BVLCFunction {
	case BVLCOriginalUnicastNPDU, BVLCOriginalBroadcastNPDU, BVLCDistributeBroadcast:
	case BVLCForwardedNPDU:
		if len(b) < forwardedOriginLen {
			return m, ErrLength
		}
		ip := netip.AddrFrom4([4]byte(b[0:4]))
		m.Origin = netip.AddrPortFrom(ip, binary.BigEndian.Uint16(b[4:6]))
		b = b[forwardedOriginLen:]
	default:
		return m, nil
	}
	return m, parseNPDU(&m, b)
}

func parseNPDU(m *Message, b []byte) error {
	if len(b) < 2 {
		return ErrNPDU
	}
	if b[0] != 1 {
		return ErrNPDUVer
	}
	ctl := b[1]
	p := 2
	if ctl&npduControlDestPresent != 0 {
		if len(b) < p+3 {
			return ErrNPDU
		}
		m.DestNetwork = binary.BigEndian.Uint16(b[p:])
		p += 3 + int(b[p+2])
	}
	if ctl&npduControlSourcePresent != 0 {
		if len(b) < p+3 {
			return ErrNPDU
		}
		m.SourceNetwork = binary.BigEndian.Uint16(b[p:])
		p += 3 + int(b[p+2])
	}
	if ctl&npduControlDestPresent != 0 {
		p++ // hop count
	}
	if len(b) < p {
		return ErrNPDU
	}
	if ctl&npduControlNetworkMessage != 0 {
		m.NetworkMessage = true
		return nil
	}
	apdu, err := parseAPDU(b[p:])
	if err != nil {
		return err
	}
	m.APDU = &apdu
	return nil
}

func parseAPDU(b []byte) (APDU, error) {
	if len(b) < 2 {
		return APDU{}, ErrAPDU
	}
	a := APDU{Type: PDUType(b[0] >> 4), Service: -1}
	seg := b[0]&0x08 != 0
	need := func(n int) error {
		if len(b) < n {
			return ErrAPDU
		}
		return nil
	}
	switch a.Type {
	case ConfirmedRequest:
		// flags, max segments/APDU, invoke ID, [sequence, window], service
		h := 3
		if seg {
			h += maxSegmentedHeaderExtraSize
		}
		if err := need(h + 1); err != nil {
			return a, err
		}
		a.InvokeID, a.Service, a.Segmented, a.Body = b[2], int(b[h]), seg, b[h+1:]
		if seg {
			a.Sequence = b[3]
		}
	case UnconfirmedRequest:
		a.Service, a.Body = int(b[1]), b[2:]
	case SimpleACK, Error:
		if err := need(3); err != nil {
			return a, err
		}
		a.InvokeID, a.Service, a.Body = b[1], int(b[2]), b[3:]
	case ComplexACK:
		h := 2
		if seg {
			h += maxSegmentedHeaderExtraSize
		}
		if err := need(h + 1); err != nil {
			return a, err
		}
		a.InvokeID, a.Service, a.Segmented, a.Body = b[1], int(b[h]), seg, b[h+1:]
		if seg {
			a.Sequence = b[2]
		}
	case SegmentACK, Reject, Abort:
		a.InvokeID, a.Body = b[1], b[2:]
	default:
		return a, ErrAPDUType
	}
	return a, nil
}

// IAm is the body of an I-Am unconfirmed request.
type IAm struct {
	DeviceInstance uint32
	MaxAPDU        uint32
	Segmentation   uint32
	VendorID       uint32
}

// ParseIAm decodes the I-Am service parameters of a.
func ParseIAm(a *APDU) (IAm, error) {
	if a.Type != UnconfirmedRequest || a.Service != unconfirmedIAm {
		return IAm{}, ErrNotIAm
	}
	var v [4]uint32
	var tags [4]byte
	b := a.Body
	for i := range v {
		tag, val, rest, err := applicationValue(b)
		if err != nil {
			return IAm{}, err
		}
		tags[i], v[i], b = tag, val, rest
	}
	if tags[0] != applicationTagObjectID || v[0]>>22 != objectTypeDevice || tags[3] != applicationTagUnsigned {
		return IAm{}, ErrIAm
	}
	return IAm{DeviceInstance: v[0] & 0x3fffff, MaxAPDU: v[1], Segmentation: v[2], VendorID: v[3]}, nil
}

// applicationValue reads one application-tagged primitive of at most four
// octets (enough for the unsigned, enumerated and object identifier values
// of I-Am) and returns its tag number and value.
func applicationValue(b []byte) (tag byte, v uint32, rest []byte, err error) {
	if len(b) < 1 {
		return 0, 0, nil, ErrIAm
	}
	tag = b[0] >> 4
	if b[0]&0x08 != 0 { // context tag: not expected in I-Am
		return 0, 0, nil, ErrIAm
	}
	n := int(b[0] & 0x07)
	if n > 4 || n == 0 {
		return 0, 0, nil, errTagTooLong
	}
	if len(b) < 1+n {
		return 0, 0, nil, ErrIAm
	}
	for _, c := range b[1 : 1+n] {
		v = v<<8 | uint32(c)
	}
	return tag, v, b[1+n:], nil
}

// Unconfirmed service choices.
const (
	ServiceIAm      = 0
	ServiceIHave    = 1
	ServiceWhoHas   = 7
	ServiceWhoIs    = 8
	ServiceWriteGrp = 10
)

// Confirmed service choices the collector classifies.
const (
	ServiceAtomicReadFile        = 6
	ServiceAtomicWriteFile       = 7
	ServiceReadProperty          = 12
	ServiceReadPropertyMultiple  = 14
	ServiceWriteProperty         = 15
	ServiceWritePropertyMultiple = 16
	ServiceDeviceCommControl     = 17
	ServiceReinitializeDevice    = 20
)

var confirmedNames = [...]string{
	"acknowledgeAlarm", "confirmedCOVNotification", "confirmedEventNotification", "getAlarmSummary",
	"getEnrollmentSummary", "subscribeCOV", "atomicReadFile", "atomicWriteFile", "addListElement",
	"removeListElement", "createObject", "deleteObject", "readProperty", "readPropertyConditional",
	"readPropertyMultiple", "writeProperty", "writePropertyMultiple", "deviceCommunicationControl",
	"confirmedPrivateTransfer", "confirmedTextMessage", "reinitializeDevice", "vtOpen", "vtClose",
	"vtData", "authenticate", "requestKey", "readRange", "lifeSafetyOperation", "subscribeCOVProperty",
	"getEventInformation", "subscribeCOVPropertyMultiple", "confirmedCOVNotificationMultiple",
	"confirmedAuditNotification", "auditLogQuery",
}

var unconfirmedNames = [...]string{
	"i-Am", "i-Have", "unconfirmedCOVNotification", "unconfirmedEventNotification",
	"unconfirmedPrivateTransfer", "unconfirmedTextMessage", "timeSynchronization", "who-Has",
	"who-Is", "utcTimeSynchronization", "writeGroup", "unconfirmedCOVNotificationMultiple",
	"unconfirmedAuditNotification", "who-Am-I", "you-Are",
}

// ConfirmedServiceName names a confirmed service choice (as Wireshark does).
func ConfirmedServiceName(s int) string {
	if s >= 0 && s < len(confirmedNames) {
		return confirmedNames[s]
	}
	return fmt.Sprintf("confirmed service %d", s)
}

// UnconfirmedServiceName names an unconfirmed service choice.
func UnconfirmedServiceName(s int) string {
	if s >= 0 && s < len(unconfirmedNames) {
		return unconfirmedNames[s]
	}
	return fmt.Sprintf("unconfirmed service %d", s)
}

// vendors maps the BACnet vendor identifiers this package is sure of to
// their holders, as ASHRAE's registry (and Wireshark's copy of it) names
// them. Others are reported by number.
var vendors = map[uint32]string{
	0: "ASHRAE", 1: "NIST", 2: "The Trane Company", 3: "Daikin Applied Americas", 4: "PolarSoft",
	5: "Johnson Controls, Inc.", 6: "ABB (Formerly American Auto-Matrix)",
	7: "Siemens Schweiz AG (Formerly: Landis & Staefa Division Europe)", 8: "Delta Controls",
	9: "Siemens Schweiz AG", 10: "Schneider Electric", 11: "TAC", 12: "Orion Analysis Corporation",
	13: "Teletrol Systems Inc.", 14: "Cimetrics Technology", 15: "Cornell University",
	16: "United Technologies Carrier", 17: "Honeywell Inc.", 18: "Alerton / Honeywell", 19: "TAC AB",
	20: "Hewlett-Packard Company", 22: "Siemens Schweiz AG (Formerly: Cerberus AG)",
	23: "York Controls Group", 24: "Automated Logic Corporation", 28: "KMC Controls, Inc.",
	35: "Reliable Controls Corporation", 36: "Tridium Inc.", 39: "Kieback & Peter GmbH & Co KG",
	42: "Acuity Brands Lighting, Inc.", 80: "Fr. Sauter AG", 89: "Saia-Burgess Controls, Ltd.",
	105: "PRIVA BV", 127: "ABB, Inc.", 178: "LOYTEC Electronics GmbH",
	222: "WAGO Kontakttechnik GmbH & Co. KG", 226: "Phoenix Contact GmbH & Co. KG",
	245: "Contemporary Control Systems, Inc.", 313: "Siemens Industry, Inc.",
	364: "Distech Controls Inc.", 415: "Beckhoff Automation",
}

// VendorName names a vendor identifier, or "BACnet vendor <id>".
func VendorName(id uint32) string {
	if v, ok := vendors[id]; ok {
		return v
	}
	return fmt.Sprintf("BACnet vendor %d", id)
}
