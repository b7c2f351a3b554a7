package pcap

import (
	"github.com/gosnmp/gosnmp"
	"github.com/otaudit/otaudit"
)

// SNMP PDU types as Operations (v1/v2c, whose PDUs are in clear): requests
// per (client, server, PDU type), answered by a Response matched on the
// request ID; a non-zero error-status is an exception. System group values
// seen in responses become the agent's identity.
//
// The PDU tags are spelled as numbers, like the Modbus write codes, so the
// passive decoder never names a library's write-request constant.

// snmpPDU describes a PDU tag (context-specific constructed 0xa0 + type);
// Function is the type number (0 GetRequest … 8 Report).
var snmpPDUs = map[byte]struct {
	name  string
	class otaudit.OperationClass
}{
	0xa0: {"GetRequest", otaudit.OpRead},
	0xa1: {"GetNextRequest", otaudit.OpRead},
	0xa3: {"SetRequest", otaudit.OpWrite},
	0xa4: {"Trap (v1)", otaudit.OpOther},
	0xa5: {"GetBulkRequest", otaudit.OpRead},
	0xa6: {"InformRequest", otaudit.OpOther},
	0xa7: {"SNMPv2-Trap", otaudit.OpOther},
	0xa8: {"Report", otaudit.OpOther},
}

const (
	snmpResponseTag = 0xa2
	// maxSNMPPending bounds the request IDs remembered per conversation.
	maxSNMPPending = 256
)

// System group objects that identify an agent.
const (
	oidSysDescr    = ".1.3.6.1.2.1.1.1.0"
	oidSysObjectID = ".1.3.6.1.2.1.1.2.0"
	oidSysName     = ".1.3.6.1.2.1.1.5.0"
)

// snmpConversation remembers which request type each outstanding request
// ID was, so a Response is counted against the request it answers.
type snmpConversation struct {
	pending map[uint32]byte
}

// snmpDatagramWithState installs per-conversation state on the first
// datagram and hands every datagram to it.
func snmpDatagramWithState(a *analysis, c *conn, d dir, b []byte, f *frameInfo) {
	s := &snmpConversation{pending: map[uint32]byte{}}
	c.dgram = s.datagram
	s.datagram(a, c, d, b, f)
}

func (s *snmpConversation) datagram(a *analysis, c *conn, d dir, b []byte, f *frameInfo) {
	var m snmpDecoded
	snmpMessage(a, c, b, f, &m)
	if m.version != snmpV1 && m.version != snmpV2c {
		return // v3 PDUs may be encrypted; the header is all that is read
	}
	if m.fast {
		s.pdu(a, m.fastMsg.tag, m.fastMsg.requestID, m.fastMsg.errStatus == 0, nil, &m.fastMsg, f)
		return
	}
	pkt, err := m.pkt, m.err
	if pkt == nil || (err != nil && pkt.PDUType == 0) {
		// gosnmp rejects some valid PDUs (v1 traps with NULL values): the
		// PDU tag after the community is still readable.
		tag, ok := snmpPDUTag(b)
		if !ok {
			return // snmpMessage has counted the decode error
		}
		pkt = &gosnmp.SnmpPacket{PDUType: gosnmp.PDUType(tag)}
	}
	s.pdu(a, byte(pkt.PDUType), pkt.RequestID, pkt.Error == gosnmp.NoError, pkt, nil, f)
}

// snmpPDUTag reads the PDU tag of a v1/v2c message: SEQUENCE { version,
// community, PDU }.
func snmpPDUTag(b []byte) (byte, bool) {
	_, msg, _, err := berHeader(b)
	if err != nil {
		return 0, false
	}
	_, rest, err := berInt(msg)
	if err != nil {
		return 0, false
	}
	tag, _, rest, err := berHeader(rest)
	if err != nil || tag != 0x04 || len(rest) == 0 {
		return 0, false
	}
	if rest[0] != 0xbf {
		return rest[0], true
	}
	// High-tag-number form (0xbf then base-128 digits), which some agents
	// use even for the small PDU numbers; tshark accepts it too.
	n := 0
	for i := 1; i < len(rest) && i <= 3; i++ {
		n = n<<7 | int(rest[i]&0x7f)
		if rest[i]&0x80 == 0 {
			if n > 0x1f {
				return 0xff, true // no PDU type has such a number
			}
			return 0xa0 | byte(n), true
		}
	}
	return 0, false
}

// pdu accounts one PDU: its tag, request ID and whether error-status was
// noError; the variable bindings come from pkt (gosnmp) or fast.
func (s *snmpConversation) pdu(a *analysis, tag byte, requestID uint32, noError bool, pkt *gosnmp.SnmpPacket, fast *snmpFast, f *frameInfo) {
	if tag == snmpResponseTag {
		req, ok := s.pending[requestID]
		if !ok {
			return // the request was not seen (capture started later)
		}
		delete(s.pending, requestID)
		info := snmpPDUs[req]
		if o := a.operation("snmp", f.dst, f.src, 0, int(req&0x1f), info.name, info.class); o != nil {
			o.op.Responses++
			if !noError {
				o.op.Exceptions++
			}
			o.add(f)
		}
		if req != 0xa3 && noError {
			if fast != nil {
				snmpFastIdentity(a, fast, f)
			} else {
				snmpIdentity(a, pkt, f)
			}
		}
		return
	}
	info, ok := snmpPDUs[tag]
	if !ok {
		a.decodeError(f.index, "snmp: unknown PDU type")
		return
	}
	if o := a.operation("snmp", f.src, f.dst, 0, int(tag&0x1f), info.name, info.class); o != nil {
		o.op.Requests++
		o.add(f)
	}
	switch tag {
	case 0xa0, 0xa1, 0xa3, 0xa5, 0xa6:
		if len(s.pending) >= maxSNMPPending {
			clear(s.pending) // a manager that never gets answers
		}
		s.pending[requestID] = tag
	}
}

// snmpIdentity keeps sysDescr, sysObjectID and sysName from a response.
func snmpIdentity(a *analysis, pkt *gosnmp.SnmpPacket, f *frameInfo) {
	id := otaudit.DeviceIdentity{IP: f.src, Method: "snmp-passive"}
	for _, v := range pkt.Variables {
		switch v.Name {
		case oidSysDescr:
			if b, ok := v.Value.([]byte); ok {
				id.Model = printable(b, 255)
			}
		case oidSysObjectID:
			if s, ok := v.Value.(string); ok {
				id.ProductCode = printable([]byte(s), 128)
			}
		case oidSysName:
			if b, ok := v.Value.([]byte); ok {
				id.Name = printable(b, 255)
			}
		}
	}
	if id.Model != "" || id.ProductCode != "" || id.Name != "" {
		a.identity(id, f)
	}
}
