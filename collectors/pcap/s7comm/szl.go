package s7comm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
)

// SZLRequest is the data of a Read SZL request.
type SZLRequest struct{ ID, Index uint16 }

// ParseSZLRequest reads the SZL id and index of a Read SZL request payload
// (a follow-up request for the next part of a response carries none).
func ParseSZLRequest(payload []byte) (SZLRequest, bool) {
	if len(payload) < 4 {
		return SZLRequest{}, false
	}
	return SZLRequest{ID: binary.BigEndian.Uint16(payload[0:2]), Index: binary.BigEndian.Uint16(payload[2:4])}, true
}

// SZL is a (possibly partial) system status list from a Read SZL response.
type SZL struct {
	ID, Index uint16
	// RecordLen is the size of one record (LENTHDR); Records holds the
	// complete records present, Count the number announced (N_DR).
	RecordLen int
	Count     int
	Records   [][]byte
}

// ParseSZL parses a Read SZL response payload: the first (or only) part of
// a response, or the concatenation of all its parts. A list cut short
// keeps the complete records and reports the shortfall as an error.
func ParseSZL(payload []byte) (SZL, error) {
	if len(payload) < 8 {
		return SZL{}, fmt.Errorf("s7comm: SZL header needs 8 bytes, %d present", len(payload))
	}
	s := SZL{
		ID:        binary.BigEndian.Uint16(payload[0:2]),
		Index:     binary.BigEndian.Uint16(payload[2:4]),
		RecordLen: int(binary.BigEndian.Uint16(payload[4:6])),
		Count:     int(binary.BigEndian.Uint16(payload[6:8])),
	}
	if s.RecordLen == 0 {
		if s.Count != 0 {
			return s, fmt.Errorf("s7comm: SZL 0x%04x announces %d records of 0 bytes", s.ID, s.Count)
		}
		return s, nil
	}
	if s.ID&0x0f00 == 0x0f00 {
		// W#16#0Fxx asks for the list header only: N_DR says how many
		// records the full list has, none follow.
		return s, nil
	}
	p := payload[8:]
	for i := 0; i < s.Count; i++ {
		if len(p) < s.RecordLen {
			return s, fmt.Errorf("s7comm: SZL 0x%04x announces %d records of %d bytes, %d complete", s.ID, s.Count, s.RecordLen, i)
		}
		s.Records = append(s.Records, p[:s.RecordLen])
		p = p[s.RecordLen:]
	}
	return s, nil
}

// ModuleIdentity is what SZL 0x0011 (module identification) and 0x001C
// (component identification) say about a CPU.
type ModuleIdentity struct {
	OrderNumber string // MLFB, e.g. "6ES7 315-2EH14-0AB0"
	Firmware    string // e.g. "V3.2.7"
	SystemName  string // automation-system (station) name
	ModuleName  string
	PlantTag    string
	Copyright   string
	Serial      string
	ModuleType  string // e.g. "CPU 315-2 PN/DP"
	MemoryCard  string // serial number of the memory card
}

// Empty says whether nothing was learnt.
func (m ModuleIdentity) Empty() bool { return m == ModuleIdentity{} }

// Vendor is "Siemens" when the CPU says so (copyright entry) or its order
// number is a Siemens one (6ES7, 6AG1 SIPLUS, 6ES5); empty otherwise,
// since S7-compatible CPUs of other makers answer the same lists.
func (m ModuleIdentity) Vendor() string {
	if strings.Contains(m.Copyright, "Siemens") {
		return "Siemens"
	}
	for _, p := range []string{"6ES7", "6AG1", "6ES5"} {
		if strings.HasPrefix(m.OrderNumber, p) {
			return "Siemens"
		}
	}
	return ""
}

// Merge fills the empty fields of m from o.
func (m *ModuleIdentity) Merge(o ModuleIdentity) {
	fill := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	fill(&m.OrderNumber, o.OrderNumber)
	fill(&m.Firmware, o.Firmware)
	fill(&m.SystemName, o.SystemName)
	fill(&m.ModuleName, o.ModuleName)
	fill(&m.PlantTag, o.PlantTag)
	fill(&m.Copyright, o.Copyright)
	fill(&m.Serial, o.Serial)
	fill(&m.ModuleType, o.ModuleType)
	fill(&m.MemoryCard, o.MemoryCard)
}

// Identity extracts the module identification from SZL lists with the
// partial-list numbers 0x11 (W#16#xy11) and 0x1C (W#16#xy1C); other lists
// give an empty result.
func (s SZL) Identity() ModuleIdentity {
	var m ModuleIdentity
	switch s.ID & 0xff {
	case 0x11:
		// index(2) MlfB(20) BGTyp(2) Ausbg(2) Ausbe(2)
		for _, r := range s.Records {
			if len(r) < 28 {
				continue
			}
			idx := binary.BigEndian.Uint16(r[0:2])
			mlfb := cString(r[2:22])
			ausbg, ausbe := r[24:26], r[26:28]
			switch idx {
			case 0x0001: // the module
				m.OrderNumber = mlfb
			case 0x0006: // basic hardware
				if m.OrderNumber == "" {
					m.OrderNumber = mlfb
				}
			case 0x0007: // basic firmware: 'V' major, minor, patch
				if ausbg[0] == 'V' {
					m.Firmware = fmt.Sprintf("V%d.%d.%d", ausbg[1], ausbe[0], ausbe[1])
				}
			}
		}
	case 0x1c:
		// index(2) then a text field (32 bytes, NUL padded)
		for _, r := range s.Records {
			if len(r) < 3 {
				continue
			}
			idx := binary.BigEndian.Uint16(r[0:2])
			text := cString(r[2:])
			switch idx {
			case 0x0001:
				m.SystemName = text
			case 0x0002:
				m.ModuleName = text
			case 0x0003:
				m.PlantTag = text
			case 0x0004:
				m.Copyright = text
			case 0x0005:
				m.Serial = text
			case 0x0007:
				m.ModuleType = text
			case 0x0008:
				m.MemoryCard = text
			}
		}
	}
	return m
}

// cString is the printable text before the first NUL.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return printableASCII(b)
}
