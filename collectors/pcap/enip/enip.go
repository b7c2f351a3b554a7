// Package enip parses EtherNet/IP encapsulation and the CIP messages it
// carries: pure functions over bytes returning typed results, and the table
// that names CIP services and classifies them (read, write, restart, mode
// change, …). It does no I/O, keeps no state, never panics on input and
// emits no observations: pairing requests with replies and aggregating
// belong to the adapter in collectors/pcap.
//
// References: ODVA CIP Networks Library Vol. 1 (CIP) and Vol. 2
// (EtherNet/IP adaptation), and Wireshark's packet-enip.c / packet-cip.c,
// against which every frame in the tests was checked.
package enip

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Port is the registered EtherNet/IP explicit-messaging port (TCP and UDP).
const Port = 44818

// HeaderLen is the size of the encapsulation header.
const HeaderLen = 24

// MaxLength bounds the encapsulation data length this parser accepts; the
// specification allows 65511 bytes, real traffic stays far below.
const MaxLength = 65511

// Encapsulation commands (Vol. 2, table 2-3.2).
const (
	CmdNOP               uint16 = 0x0000
	CmdListServices      uint16 = 0x0004
	CmdListIdentity      uint16 = 0x0063
	CmdListInterfaces    uint16 = 0x0064
	CmdRegisterSession   uint16 = 0x0065
	CmdUnRegisterSession uint16 = 0x0066
	CmdSendRRData        uint16 = 0x006f
	CmdSendUnitData      uint16 = 0x0070
	CmdIndicateStatus    uint16 = 0x0072
	CmdCancel            uint16 = 0x0073
)

var commandNames = map[uint16]string{
	CmdNOP:               "NOP",
	CmdListServices:      "ListServices",
	CmdListIdentity:      "ListIdentity",
	CmdListInterfaces:    "ListInterfaces",
	CmdRegisterSession:   "RegisterSession",
	CmdUnRegisterSession: "UnRegisterSession",
	CmdSendRRData:        "SendRRData",
	CmdSendUnitData:      "SendUnitData",
	CmdIndicateStatus:    "IndicateStatus",
	CmdCancel:            "Cancel",
}

// CommandName names an encapsulation command.
func CommandName(cmd uint16) string {
	if n, ok := commandNames[cmd]; ok {
		return n
	}
	return fmt.Sprintf("Command 0x%04x", cmd)
}

// KnownCommand says whether cmd is a command defined by the specification.
func KnownCommand(cmd uint16) bool {
	_, ok := commandNames[cmd]
	return ok
}

// Errors a caller decides on.
var (
	// ErrNeedMore: b holds only the start of an encapsulation message.
	ErrNeedMore = errors.New("enip: incomplete encapsulation message")
	// ErrNotENIP: the bytes cannot be an encapsulation header.
	ErrNotENIP = errors.New("enip: not an encapsulation header")
	// ErrMalformed: a length or count inside the message does not fit.
	ErrMalformed = errors.New("enip: malformed")
)

// Encapsulation is one EtherNet/IP encapsulation message.
type Encapsulation struct {
	Command uint16
	Session uint32
	Status  uint32
	// Context is the sender context, echoed by the target in its reply.
	Context [8]byte
	Options uint32
	Data    []byte // aliases the input
}

// ParseEncapsulation reads one message from the start of b and returns it
// with its size. Options must be zero (Vol. 2 §2-3.6): together with the
// length bound that rejects most non-ENIP byte streams.
func ParseEncapsulation(b []byte) (Encapsulation, int, error) {
	if len(b) < HeaderLen {
		return Encapsulation{}, 0, ErrNeedMore
	}
	n := int(binary.LittleEndian.Uint16(b[2:4]))
	e := Encapsulation{
		Command: binary.LittleEndian.Uint16(b[0:2]),
		Session: binary.LittleEndian.Uint32(b[4:8]),
		Status:  binary.LittleEndian.Uint32(b[8:12]),
		Options: binary.LittleEndian.Uint32(b[20:24]),
	}
	copy(e.Context[:], b[12:20])
	if e.Options != 0 || n > MaxLength {
		return Encapsulation{}, 0, ErrNotENIP
	}
	if len(b) < HeaderLen+n {
		return Encapsulation{}, 0, ErrNeedMore
	}
	e.Data = b[HeaderLen : HeaderLen+n]
	return e, HeaderLen + n, nil
}

// LooksLikeENIP says whether b starts with a plausible encapsulation header
// of a known command, for recognising EtherNet/IP on a non-standard port.
func LooksLikeENIP(b []byte) bool {
	if len(b) < HeaderLen {
		return false
	}
	cmd := binary.LittleEndian.Uint16(b[0:2])
	if cmd == CmdNOP || !KnownCommand(cmd) {
		return false
	}
	n := int(binary.LittleEndian.Uint16(b[2:4]))
	// The first segment normally holds the whole message: demand that its
	// length agrees exactly, which random payloads almost never do.
	return binary.LittleEndian.Uint32(b[20:24]) == 0 && HeaderLen+n == len(b)
}

// Common Packet Format item types (Vol. 2 §2-6).
const (
	ItemNullAddress      uint16 = 0x0000
	ItemListIdentity     uint16 = 0x000c
	ItemConnectedAddress uint16 = 0x00a1
	ItemConnectedData    uint16 = 0x00b1
	ItemUnconnectedData  uint16 = 0x00b2
	ItemListServices     uint16 = 0x0100
	ItemSockaddrOT       uint16 = 0x8000
	ItemSockaddrTO       uint16 = 0x8001
	ItemSequencedAddress uint16 = 0x8002
)

// Item is one Common Packet Format item.
type Item struct {
	Type uint16
	Data []byte // aliases the input
}

// maxItems bounds the item count; real messages carry two to four.
const maxItems = 16

// parseItems reads an item count and the items that follow.
func parseItems(b []byte) ([]Item, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: CPF item count missing", ErrMalformed)
	}
	n := int(binary.LittleEndian.Uint16(b[0:2]))
	if n > maxItems {
		return nil, fmt.Errorf("%w: %d CPF items", ErrMalformed, n)
	}
	p := b[2:]
	items := make([]Item, 0, n)
	for i := 0; i < n; i++ {
		if len(p) < 4 {
			return items, fmt.Errorf("%w: CPF item %d header cut short", ErrMalformed, i)
		}
		t, l := binary.LittleEndian.Uint16(p[0:2]), int(binary.LittleEndian.Uint16(p[2:4]))
		if len(p) < 4+l {
			return items, fmt.Errorf("%w: CPF item %d claims %d bytes, %d left", ErrMalformed, i, l, len(p)-4)
		}
		items = append(items, Item{Type: t, Data: p[4 : 4+l]})
		p = p[4+l:]
	}
	return items, nil
}

// Transfer is the CIP payload of a SendRRData or SendUnitData message.
type Transfer struct {
	// Connected: the message went over a CIP connection (SendUnitData,
	// connected data item); Sequence then pairs a request and its reply.
	Connected    bool
	ConnectionID uint32
	Sequence     uint16
	// Message is the CIP message (request or reply); empty if none.
	Message []byte
}

// ParseTransfer reads the command-specific data of SendRRData or
// SendUnitData: interface handle, timeout and the CPF items.
func ParseTransfer(data []byte) (Transfer, error) {
	if len(data) < 6 {
		return Transfer{}, fmt.Errorf("%w: data transfer shorter than its header", ErrMalformed)
	}
	items, err := parseItems(data[6:])
	if err != nil {
		return Transfer{}, err
	}
	var t Transfer
	for _, it := range items {
		switch it.Type {
		case ItemConnectedAddress:
			if len(it.Data) >= 4 {
				t.ConnectionID = binary.LittleEndian.Uint32(it.Data)
			}
		case ItemConnectedData:
			if len(it.Data) < 2 {
				return t, fmt.Errorf("%w: connected data item without sequence count", ErrMalformed)
			}
			t.Connected = true
			t.Sequence = binary.LittleEndian.Uint16(it.Data)
			t.Message = it.Data[2:]
		case ItemUnconnectedData:
			t.Message = it.Data
		}
	}
	return t, nil
}

// Identity is a ListIdentity reply's identity item (Vol. 2 §2-4.3).
type Identity struct {
	ProtocolVersion uint16
	VendorID        uint16
	DeviceType      uint16
	ProductCode     uint16
	RevisionMajor   uint8
	RevisionMinor   uint8
	Status          uint16
	Serial          uint32
	ProductName     string // raw bytes as sent; callers sanitise
	State           uint8
	HasState        bool
}

// identityFixed is the size of an identity item up to the product name
// length byte: version 2, socket address 16, vendor 2, type 2, product 2,
// revision 2, status 2, serial 4.
const identityFixed = 32

// ParseListIdentity reads the command-specific data of a ListIdentity
// reply; one identity per identity item (normally exactly one).
func ParseListIdentity(data []byte) ([]Identity, error) {
	items, err := parseItems(data)
	var ids []Identity
	for _, it := range items {
		if it.Type != ItemListIdentity {
			continue
		}
		id, perr := parseIdentityItem(it.Data)
		if perr != nil {
			return ids, perr
		}
		ids = append(ids, id)
	}
	return ids, err
}

func parseIdentityItem(b []byte) (Identity, error) {
	if len(b) < identityFixed+1 {
		return Identity{}, fmt.Errorf("%w: identity item of %d bytes", ErrMalformed, len(b))
	}
	le := binary.LittleEndian
	id := Identity{
		ProtocolVersion: le.Uint16(b[0:2]),
		// b[2:18] is a sockaddr_in in network byte order; the IP header
		// already says where the reply came from.
		VendorID:      le.Uint16(b[18:20]),
		DeviceType:    le.Uint16(b[20:22]),
		ProductCode:   le.Uint16(b[22:24]),
		RevisionMajor: b[24],
		RevisionMinor: b[25],
		Status:        le.Uint16(b[26:28]),
		Serial:        le.Uint32(b[28:32]),
	}
	n := int(b[32])
	if len(b) < identityFixed+1+n {
		return id, fmt.Errorf("%w: product name claims %d bytes, %d left", ErrMalformed, n, len(b)-identityFixed-1)
	}
	id.ProductName = string(b[33 : 33+n])
	if len(b) > 33+n {
		id.State, id.HasState = b[33+n], true
	}
	return id, nil
}

// vendorNames are ODVA vendor IDs whose owner is certain; others are shown
// by number rather than guessed.
var vendorNames = map[uint16]string{
	1:   "Rockwell Automation/Allen-Bradley",
	47:  "Omron",
	243: "Schneider Electric",
}

// VendorName names an ODVA vendor ID: the owner when known, else the number.
func VendorName(id uint16) string {
	if n, ok := vendorNames[id]; ok {
		return n
	}
	return fmt.Sprintf("ODVA vendor %d", id)
}

// deviceTypes are the CIP device profiles (Vol. 1 table 6-7.1) seen on
// plant networks.
var deviceTypes = map[uint16]string{
	0x00: "Generic Device",
	0x02: "AC Drive",
	0x03: "Motor Overload",
	0x04: "Limit Switch",
	0x05: "Inductive Proximity Switch",
	0x06: "Photoelectric Sensor",
	0x07: "General Purpose Discrete I/O",
	0x09: "Resolver",
	0x0c: "Communications Adapter",
	0x0e: "Programmable Logic Controller",
	0x10: "Position Controller",
	0x13: "DC Drive",
	0x15: "Contactor",
	0x16: "Motor Starter",
	0x17: "Soft Start",
	0x18: "Human-Machine Interface",
	0x1a: "Mass Flow Controller",
	0x1b: "Pneumatic Valve",
	0x1c: "Vacuum Pressure Gauge",
	0x2b: "Generic Device (keyable)",
	0x32: "Managed Ethernet Switch",
}

// DeviceTypeName names a CIP device type.
func DeviceTypeName(t uint16) string {
	if n, ok := deviceTypes[t]; ok {
		return n
	}
	return fmt.Sprintf("device type %d", t)
}
