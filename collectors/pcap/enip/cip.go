package enip

import (
	"encoding/binary"
	"fmt"

	"github.com/otaudit/otaudit"
)

// Service is one CIP request or reply. A Multiple_Service_Packet or an
// Unconnected_Send is followed, in ParseMessage's result, by the services
// it carries (Embedded set), in the order Wireshark lists them.
type Service struct {
	Code  byte // service code without the reply bit
	Reply bool
	// Class is the class ID of the request path (HasClass false when the
	// path names none, e.g. a Logix symbolic tag; always false on replies,
	// which carry no path).
	Class    uint16
	HasClass bool
	// Symbolic: the request path addresses a tag by name.
	Symbolic bool
	// Status is a reply's general status (0 = success).
	Status   byte
	Embedded bool
}

// Service codes the parser itself needs to know.
const (
	SvcMultipleServicePacket byte = 0x0a
	SvcUnconnectedSend       byte = 0x52

	ClassMessageRouter     uint16 = 0x02
	ClassConnectionManager uint16 = 0x06
	ClassFile              uint16 = 0x37
	ClassPCCC              uint16 = 0x67

	replyBit = 0x80
	// statusEmbeddedError: a Multiple_Service_Packet reply whose embedded
	// replies carry the errors; the embedded list is still present.
	statusEmbeddedError = 0x1e
	maxNesting          = 3
	maxEmbedded         = 256
)

// ParseMessage parses a CIP message (request or reply) and the services
// embedded in it. Services read before an error are returned with it.
func ParseMessage(msg []byte) ([]Service, error) {
	var out []Service
	err := parseMessage(msg, 0, &out)
	return out, err
}

func parseMessage(b []byte, depth int, out *[]Service) error {
	if len(b) < 2 {
		return fmt.Errorf("%w: CIP message of %d bytes", ErrMalformed, len(b))
	}
	s := Service{Code: b[0] &^ replyBit, Reply: b[0]&replyBit != 0, Embedded: depth > 0}
	if s.Reply {
		if len(b) < 4 {
			return fmt.Errorf("%w: CIP reply header cut short", ErrMalformed)
		}
		s.Status = b[2]
		data := b[4:]
		if ext := 2 * int(b[3]); len(data) >= ext {
			data = data[ext:]
		} else {
			*out = append(*out, s)
			return fmt.Errorf("%w: CIP reply extended status cut short", ErrMalformed)
		}
		*out = append(*out, s)
		if s.Code == SvcMultipleServicePacket && (s.Status == 0 || s.Status == statusEmbeddedError) && depth < maxNesting {
			return parseMultiple(data, depth, out)
		}
		return nil
	}
	size := 2 * int(b[1])
	if len(b) < 2+size {
		*out = append(*out, s)
		return fmt.Errorf("%w: CIP request path of %d bytes, %d left", ErrMalformed, size, len(b)-2)
	}
	s.Class, s.HasClass, s.Symbolic = parsePath(b[2 : 2+size])
	*out = append(*out, s)
	data := b[2+size:]
	if depth >= maxNesting {
		return nil
	}
	switch {
	case s.Code == SvcMultipleServicePacket:
		return parseMultiple(data, depth, out)
	case s.Code == SvcUnconnectedSend && s.HasClass && s.Class == ClassConnectionManager:
		// priority/tick, timeout ticks, embedded message size, message,
		// pad, route path: only the message matters here.
		if len(data) < 4 {
			return fmt.Errorf("%w: Unconnected_Send header cut short", ErrMalformed)
		}
		n := int(binary.LittleEndian.Uint16(data[2:4]))
		if len(data) < 4+n {
			return fmt.Errorf("%w: Unconnected_Send message claims %d bytes, %d left", ErrMalformed, n, len(data)-4)
		}
		return parseMessage(data[4:4+n], depth+1, out)
	}
	return nil
}

// parseMultiple walks a Multiple_Service_Packet body: a count, offsets
// from the start of the count, and the embedded messages.
func parseMultiple(data []byte, depth int, out *[]Service) error {
	if len(data) < 2 {
		return fmt.Errorf("%w: Multiple_Service_Packet without a count", ErrMalformed)
	}
	n := int(binary.LittleEndian.Uint16(data[0:2]))
	if n > maxEmbedded || len(data) < 2+2*n {
		return fmt.Errorf("%w: Multiple_Service_Packet of %d services in %d bytes", ErrMalformed, n, len(data))
	}
	for i := 0; i < n; i++ {
		start := int(binary.LittleEndian.Uint16(data[2+2*i:]))
		end := len(data)
		if i+1 < n {
			end = int(binary.LittleEndian.Uint16(data[2+2*(i+1):]))
		}
		if start < 2+2*n || start > end || end > len(data) {
			return fmt.Errorf("%w: Multiple_Service_Packet service %d at offsets %d..%d of %d", ErrMalformed, i, start, end, len(data))
		}
		if err := parseMessage(data[start:end], depth+1, out); err != nil {
			return err
		}
	}
	return nil
}

// parsePath finds the first class ID in an EPATH and whether it names a
// tag symbolically. It stops quietly at a segment it does not know: the
// class, if any, comes first in every path seen in practice.
func parsePath(p []byte) (class uint16, hasClass, symbolic bool) {
	for len(p) >= 2 {
		seg := p[0]
		var n int
		switch {
		case seg == 0x91: // ANSI extended symbol: length, name, pad
			symbolic = true
			l := int(p[1])
			n = 2 + l + l&1
		case seg == 0x34: // electronic key
			n = 10
		case seg&0xe0 == 0x20: // logical segment
			switch seg & 0x03 {
			case 0:
				n = 2
				if seg&0x1c == 0 && !hasClass {
					class, hasClass = uint16(p[1]), true
				}
			case 1:
				n = 4
				if len(p) >= 4 && seg&0x1c == 0 && !hasClass {
					class, hasClass = binary.LittleEndian.Uint16(p[2:4]), true
				}
			case 2:
				n = 6
			default:
				return
			}
		case seg&0xe0 == 0x00: // port segment
			n = 2
			if seg&0x10 != 0 {
				l := int(p[1])
				n = 2 + l + l&1
			}
		case seg == 0x80: // simple data segment, length in words
			n = 2 + 2*int(p[1])
		default:
			return
		}
		if n > len(p) {
			return
		}
		p = p[n:]
	}
	return
}

type serviceInfo struct {
	name  string
	class otaudit.OperationClass
}

// commonServices are the services every object shares (Vol. 1 appendix
// A). Anything that changes an attribute is a write; Reset restarts the
// device; Start and Stop change its mode.
var commonServices = map[byte]serviceInfo{
	0x01: {"Get_Attributes_All", otaudit.OpRead},
	0x02: {"Set_Attributes_All", otaudit.OpWrite},
	0x03: {"Get_Attribute_List", otaudit.OpRead},
	0x04: {"Set_Attribute_List", otaudit.OpWrite},
	0x05: {"Reset", otaudit.OpRestart},
	0x06: {"Start", otaudit.OpModeChange},
	0x07: {"Stop", otaudit.OpModeChange},
	0x08: {"Create", otaudit.OpOther},
	0x09: {"Delete", otaudit.OpOther},
	0x0a: {"Multiple_Service_Packet", otaudit.OpOther},
	0x0d: {"Apply_Attributes", otaudit.OpWrite},
	0x0e: {"Get_Attribute_Single", otaudit.OpRead},
	0x10: {"Set_Attribute_Single", otaudit.OpWrite},
	0x11: {"Find_Next_Object_Instance", otaudit.OpRead},
	0x14: {"Error_Response", otaudit.OpOther},
	0x15: {"Restore", otaudit.OpWrite},
	0x16: {"Save", otaudit.OpOther},
	0x17: {"No_Operation", otaudit.OpOther},
	0x18: {"Get_Member", otaudit.OpRead},
	0x19: {"Set_Member", otaudit.OpWrite},
	0x1a: {"Insert_Member", otaudit.OpWrite},
	0x1b: {"Remove_Member", otaudit.OpWrite},
	0x1c: {"GroupSync", otaudit.OpOther},
}

// Object-specific services (0x4b and up) mean different things per class.
var (
	connectionManagerServices = map[byte]serviceInfo{
		0x4e: {"Forward_Close", otaudit.OpOther},
		0x52: {"Unconnected_Send", otaudit.OpOther},
		0x54: {"Forward_Open", otaudit.OpOther},
		0x56: {"Get_Connection_Data", otaudit.OpRead},
		0x57: {"Search_Connection_Data", otaudit.OpRead},
		0x5a: {"Get_Connection_Owner", otaudit.OpRead},
		0x5b: {"Large_Forward_Open", otaudit.OpOther},
	}
	fileServices = map[byte]serviceInfo{
		0x4b: {"Initiate_Upload", otaudit.OpFile},
		0x4c: {"Initiate_Download", otaudit.OpFile},
		0x4d: {"Initiate_Partial_Read", otaudit.OpFile},
		0x4e: {"Initiate_Partial_Write", otaudit.OpFile},
		0x4f: {"Upload_Transfer", otaudit.OpFile},
		0x50: {"Download_Transfer", otaudit.OpFile},
		0x51: {"Clear_File", otaudit.OpFile},
	}
	pcccServices = map[byte]serviceInfo{
		0x4b: {"Execute_PCCC", otaudit.OpOther},
	}
	// logixServices: Rockwell Logix tag services, addressed by symbolic
	// path or to the Symbol (0x6b) / Template (0x6c) objects. The same
	// codes sent to other vendor classes mean something else: FactoryTalk
	// sends 0x4c/0x4e to class 0xb2 to manage its tag lists, which must not
	// read as tag writes.
	logixServices = map[byte]serviceInfo{
		0x4c: {"Read_Tag", otaudit.OpRead},
		0x4d: {"Write_Tag", otaudit.OpWrite},
		0x4e: {"Read_Modify_Write_Tag", otaudit.OpWrite},
		0x52: {"Read_Tag_Fragmented", otaudit.OpRead},
		0x53: {"Write_Tag_Fragmented", otaudit.OpWrite},
		0x55: {"Get_Instance_Attribute_List", otaudit.OpRead},
	}
)

// Classes whose object-specific services are named here.
const (
	ClassSymbol   uint16 = 0x6b
	ClassTemplate uint16 = 0x6c
)

// ServiceInfo names a CIP service (code without the reply bit) addressed
// to class (hasClass false: no class in the path; symbolic: a tag named in
// the path) and classifies it. Object-specific codes are only named for
// the Connection Manager, File and PCCC objects and for Logix tags
// (symbolic path, Symbol or Template object, or no class at all); on any
// other class they are "other", named with the class.
func ServiceInfo(code byte, class uint16, hasClass, symbolic bool) (string, otaudit.OperationClass) {
	code &^= replyBit
	if i, ok := commonServices[code]; ok {
		return i.name, i.class
	}
	var table map[byte]serviceInfo
	switch {
	case hasClass && class == ClassConnectionManager:
		table = connectionManagerServices
	case hasClass && class == ClassFile:
		table = fileServices
	case hasClass && class == ClassPCCC:
		table = pcccServices
	case symbolic || !hasClass || class == ClassSymbol || class == ClassTemplate:
		table = logixServices
	}
	if i, ok := table[code]; ok {
		return i.name, i.class
	}
	if hasClass {
		return fmt.Sprintf("Service 0x%02x (class 0x%02x)", code, class), otaudit.OpOther
	}
	return fmt.Sprintf("Service 0x%02x", code), otaudit.OpOther
}
