package pcap

import (
	"errors"
	"fmt"
	"strings"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/collectors/pcap/s7comm"
)

// S7comm on ISO-TSAP: TPKT frames carry COTP TPDUs; DT TPDUs carry S7comm
// (0x32) or S7comm-plus (0x72) PDUs, possibly split over several TPDUs.
// Operations are keyed to the connection's client (the engineering station
// or HMI) and server (the PLC, port 102) whichever side sends a message:
// in a program download the PLC itself sends the Download block / Download
// ended Jobs and the client answers with Ack_Data carrying the blocks.

const (
	maxS7Fragments = 16 << 10 // COTP fragments of one S7 PDU
	maxS7SZL       = 16 << 10 // parts of one SZL response
	maxS7Pending   = 256      // Jobs awaiting their Ack_Data
	maxS7Services  = 4        // PI service names listed in an operation name
)

type s7Stream struct {
	frag [2][]byte
	szl  [2]szlParts
	// pending maps a Job's PDU reference to its function so that an Ack
	// without parameters can be counted against it.
	pending map[uint16]byte
	plus    bool
}

// szlParts collects a Read SZL response split over several Userdata PDUs.
type szlParts struct {
	active bool
	ref    byte
	buf    []byte
}

func (s *s7Stream) data(a *analysis, c *conn, d dir, b []byte, f *frameInfo) int {
	off := 0
	for off < len(b) {
		tpdu, n, err := s7comm.SplitTPKT(b[off:])
		if errors.Is(err, s7comm.ErrNeedMore) {
			return off
		}
		if err != nil {
			// Out of step: the next segment normally starts a new frame.
			a.decodeError(f.index, c.protocol+": "+err.Error())
			s.frag[d] = s.frag[d][:0]
			return len(b)
		}
		off += n
		t, err := s7comm.ParseCOTP(tpdu)
		if err != nil {
			a.decodeError(f.index, c.protocol+": "+err.Error())
			continue
		}
		if t.Type != s7comm.COTPData {
			continue
		}
		if !t.EOT || len(s.frag[d]) > 0 {
			if len(s.frag[d])+len(t.Data) > maxS7Fragments {
				a.decodeError(f.index, fmt.Sprintf("%s: COTP fragments exceed %d bytes; message skipped", c.protocol, maxS7Fragments))
				s.frag[d] = s.frag[d][:0]
				continue
			}
			s.frag[d] = append(s.frag[d], t.Data...)
			if !t.EOT {
				continue
			}
			s.message(a, c, d, s.frag[d], f)
			s.frag[d] = s.frag[d][:0]
			continue
		}
		s.message(a, c, d, t.Data, f)
	}
	return off
}

func (s *s7Stream) gap(_ *analysis, _ *conn, d dir) {
	s.frag[d] = s.frag[d][:0]
	s.szl[d] = szlParts{}
}

func (s *s7Stream) end(*analysis, *conn) {}

// message handles one complete S7 PDU. Other ISO-TSAP payloads (IEC 61850
// MMS also uses port 102) are left alone.
func (s *s7Stream) message(a *analysis, c *conn, d dir, m []byte, f *frameInfo) {
	if len(m) == 0 {
		return // COTP keep-alive: an empty DT TPDU
	}
	switch m[0] {
	case s7comm.ProtocolID:
		p, err := s7comm.ParsePDU(m)
		if err != nil {
			a.decodeError(f.index, err.Error())
			return
		}
		s.pdu(a, c, d, p, f)
	case s7comm.PlusProtocolID:
		h, err := s7comm.ParsePlusHeader(m)
		if err != nil {
			a.decodeError(f.index, err.Error())
			return
		}
		if !s.plus {
			s.plus = true
			c.protocol = "s7comm-plus"
		}
		o := a.operation("s7comm-plus", c.cli, c.srv, 0, int(h.Version),
			fmt.Sprintf("S7comm-plus protocol version %d (not decoded)", h.Version), otaudit.OpOther)
		if o == nil {
			return
		}
		if d == toServer {
			o.op.Requests++
		} else {
			o.op.Responses++
		}
		o.add(f)
	}
}

func (s *s7Stream) pdu(a *analysis, c *conn, d dir, p s7comm.PDU, f *frameInfo) {
	switch p.ROSCTR {
	case s7comm.Job:
		fn := s7comm.JobFunction(p.Function)
		o := a.operation("s7comm", c.cli, c.srv, 0, int(p.Function), fn.Name, fn.Class)
		if o == nil {
			return
		}
		o.op.Requests++
		o.add(f)
		if svc, ok := p.PIService(); ok {
			o.op.Name = withService(o.op.Name, svc)
		}
		if s.pending == nil || len(s.pending) >= maxS7Pending {
			s.pending = map[uint16]byte{}
		}
		s.pending[p.PDURef] = p.Function
	case s7comm.Ack, s7comm.AckData:
		fnCode, known := p.Function, p.ROSCTR == s7comm.AckData && len(p.Param) > 0
		if j, ok := s.pending[p.PDURef]; ok {
			delete(s.pending, p.PDURef)
			if !known {
				fnCode, known = j, true
			}
		}
		if !known {
			return // an Ack to a Job this capture did not show
		}
		fn := s7comm.JobFunction(fnCode)
		o := a.operation("s7comm", c.cli, c.srv, 0, int(fnCode), fn.Name, fn.Class)
		if o == nil {
			return
		}
		o.op.Responses++
		if p.ErrorClass != 0 || p.ErrorCode != 0 {
			o.op.Exceptions++
		}
		o.add(f)
	case s7comm.Userdata:
		u := p.Userdata
		if u == nil {
			return
		}
		fn := s7comm.UserdataFunction(u.Group, u.Subfunction)
		o := a.operation("s7comm", c.cli, c.srv, 0, s7comm.UserdataCode(u.Group, u.Subfunction), fn.Name, fn.Class)
		if o == nil {
			return
		}
		switch u.Type {
		case s7comm.UserdataRequest:
			o.op.Requests++
		default: // responses, and pushes (alarms, mode transitions) the PLC sends unasked
			o.op.Responses++
			if u.ErrorCode != 0 || (u.ReturnCode != 0xff && u.ReturnCode != 0) {
				o.op.Exceptions++
			}
		}
		o.add(f)
		if u.Group == s7comm.GroupCPU && u.Subfunction == 1 && u.Type == s7comm.UserdataResponse {
			s.szlResponse(a, c, d, u, f)
		}
	}
}

// szlResponse collects the parts of a Read SZL response and, once complete,
// turns module identification lists into an identity of the sender.
func (s *s7Stream) szlResponse(a *analysis, c *conn, d dir, u *s7comm.UserdataParam, f *frameInfo) {
	parts := &s.szl[d]
	if u.ErrorCode != 0 {
		*parts = szlParts{}
		return
	}
	var list []byte
	switch {
	case parts.active && u.DataUnitRef == parts.ref:
		if len(parts.buf)+len(u.Payload) > maxS7SZL {
			a.decodeError(f.index, fmt.Sprintf("s7comm: SZL response exceeds %d bytes; skipped", maxS7SZL))
			*parts = szlParts{}
			return
		}
		parts.buf = append(parts.buf, u.Payload...)
		list = parts.buf
	case u.ReturnCode != 0xff:
		*parts = szlParts{}
		return
	case u.MoreFollows:
		*parts = szlParts{active: true, ref: u.DataUnitRef, buf: append([]byte(nil), u.Payload...)}
	default:
		*parts = szlParts{}
		list = u.Payload
	}
	if u.MoreFollows {
		return
	}
	*parts = szlParts{}
	szl, err := s7comm.ParseSZL(list)
	if err != nil {
		a.decodeError(f.index, err.Error())
	}
	m := szl.Identity()
	if m.Empty() {
		return
	}
	name := m.ModuleName
	if name == "" {
		name = m.SystemName
	}
	server := c.srv
	if d == toServer {
		server = c.cli
	}
	a.identity(otaudit.DeviceIdentity{
		IP: server, Method: "s7-szl", Vendor: m.Vendor(),
		ProductCode: m.OrderNumber, Model: m.ModuleType, Name: name,
		Firmware: m.Firmware, Serial: m.Serial,
	}, f)
}

// withService appends a PI service name ("P_PROGRAM", "_INSE") to an
// operation's name once, listing at most a few.
func withService(name, svc string) string {
	base, list, _ := strings.Cut(strings.TrimSuffix(name, ")"), " (")
	var svcs []string
	if list != "" {
		svcs = strings.Split(list, ", ")
	}
	for _, s := range svcs {
		if s == svc {
			return name
		}
	}
	if len(svcs) >= maxS7Services {
		return name
	}
	return base + " (" + strings.Join(append(svcs, svc), ", ") + ")"
}

// isS7DT recognises S7 on a port other than 102 from the start of a
// segment: a TPKT header, a class-0 COTP DT TPDU and the first bytes of an
// S7comm or S7comm-plus header. The frame need not be complete, since the
// first segment of a connection may hold only part of it.
func isS7DT(b []byte) bool {
	if len(b) < 9 || b[0] != 3 || b[1] != 0 || b[4] != 2 || b[5]&0xf0 != s7comm.COTPData {
		return false
	}
	if n := int(b[2])<<8 | int(b[3]); n < 9 {
		return false
	}
	return s7comm.LooksLikeS7(b[7:])
}
