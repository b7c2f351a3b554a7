package pcap

import (
	"fmt"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/collectors/pcap/enip"
)

// EtherNet/IP and CIP. Every encapsulation command becomes an "enip"
// operation (Function = command); the CIP services inside SendRRData and
// SendUnitData, embedded ones included, become "cip" operations with
// Function = service code and Unit = the class ID of the request path (0
// for a symbolic tag path). A reply carries no path, so it is paired with
// its request (connected: CIP sequence count; unconnected: sender
// context) to learn the class; a reply whose request was not seen is
// counted under Unit -1, so that it never decides the class of an
// operation its request would name differently (0x4e is Forward_Close on
// the Connection Manager, but a tag write elsewhere). ListIdentity replies
// become identities. CIP I/O (UDP 2222) is left to the flow table.

// maxENIPPending bounds the requests waiting for a reply per connection.
const maxENIPPending = 32

type enipPendingKey struct {
	connected bool
	seq       uint16
	ctx       [8]byte
}

type enipPending struct {
	key      enipPendingKey
	services []enip.Service
}

type enipStream struct {
	pending []enipPending
}

func (e *enipStream) data(a *analysis, c *conn, d dir, b []byte, f *frameInfo) int {
	off := 0
	for off < len(b) {
		msg, n, err := enip.ParseEncapsulation(b[off:])
		if err == enip.ErrNeedMore {
			return off
		}
		if err != nil {
			// Out of step: the next segment normally starts a message.
			a.decodeError(f.index, err.Error())
			return len(b)
		}
		a.enipMessage(c, d, msg, f, e)
		off += n
	}
	return off
}

func (e *enipStream) gap(*analysis, *conn, dir) {}
func (e *enipStream) end(*analysis, *conn)      {}

// enipDatagram decodes EtherNet/IP over UDP (ListIdentity broadcasts and
// their replies, mostly); requests and replies are not paired.
func enipDatagram(a *analysis, c *conn, d dir, b []byte, f *frameInfo) {
	for off := 0; off < len(b); {
		msg, n, err := enip.ParseEncapsulation(b[off:])
		if err != nil {
			a.decodeError(f.index, err.Error())
			return
		}
		a.enipMessage(c, d, msg, f, nil)
		off += n
	}
}

func (a *analysis) enipMessage(c *conn, d dir, msg enip.Encapsulation, f *frameInfo, st *enipStream) {
	req := d == toServer
	class := otaudit.OpOther
	switch msg.Command {
	case enip.CmdListIdentity, enip.CmdListServices, enip.CmdListInterfaces:
		class = otaudit.OpIdentify
	}
	if o := a.operation("enip", c.cli, c.srv, 0, int(msg.Command), enip.CommandName(msg.Command), class); o != nil {
		if req {
			o.op.Requests++
		} else {
			o.op.Responses++
			if msg.Status != 0 {
				o.op.Exceptions++
			}
		}
		o.add(f)
	}
	switch msg.Command {
	case enip.CmdListIdentity:
		if req || len(msg.Data) == 0 {
			return
		}
		ids, err := enip.ParseListIdentity(msg.Data)
		if err != nil {
			a.decodeError(f.index, "enip ListIdentity reply: "+err.Error())
		}
		for _, id := range ids {
			a.identity(otaudit.DeviceIdentity{
				IP:          f.src,
				Method:      "enip-listidentity",
				Vendor:      enip.VendorName(id.VendorID),
				ProductCode: fmt.Sprintf("%d", id.ProductCode),
				Model:       printable([]byte(id.ProductName), 255),
				Firmware:    fmt.Sprintf("%d.%d", id.RevisionMajor, id.RevisionMinor),
				Serial:      fmt.Sprintf("0x%08x", id.Serial),
			}, f)
		}
	case enip.CmdSendRRData, enip.CmdSendUnitData:
		t, err := enip.ParseTransfer(msg.Data)
		if err != nil {
			a.decodeError(f.index, "enip "+enip.CommandName(msg.Command)+": "+err.Error())
			return
		}
		if len(t.Message) == 0 {
			return
		}
		services, err := enip.ParseMessage(t.Message)
		if err != nil {
			a.decodeError(f.index, "cip: "+err.Error())
		}
		key := enipPendingKey{connected: t.Connected}
		if t.Connected {
			key.seq = t.Sequence
		} else {
			key.ctx = msg.Context
		}
		a.cipServices(c, services, key, f, st)
	}
}

func (a *analysis) cipServices(c *conn, services []enip.Service, key enipPendingKey, f *frameInfo, st *enipStream) {
	if len(services) == 0 {
		return
	}
	if !services[0].Reply {
		for _, s := range services {
			name, class := enip.ServiceInfo(s.Code, s.Class, s.HasClass, s.Symbolic)
			unit := 0
			if s.HasClass {
				unit = int(s.Class)
			}
			if o := a.operation("cip", c.cli, c.srv, unit, int(s.Code), name, class); o != nil {
				o.op.Requests++
				o.add(f)
			}
		}
		if st != nil {
			if len(st.pending) >= maxENIPPending {
				st.pending = st.pending[1:]
			}
			st.pending = append(st.pending, enipPending{key: key, services: services})
		}
		return
	}
	var reqs []enip.Service
	if st != nil {
		for i, p := range st.pending {
			if p.key == key {
				reqs = p.services
				st.pending = append(st.pending[:i], st.pending[i+1:]...)
				break
			}
		}
	}
	used := make([]bool, len(reqs))
	for _, s := range services {
		unit, name, class := -1, "", otaudit.OpOther
		for i, r := range reqs {
			if !used[i] && r.Code == s.Code {
				used[i] = true
				name, class = enip.ServiceInfo(r.Code, r.Class, r.HasClass, r.Symbolic)
				unit = 0
				if r.HasClass {
					unit = int(r.Class)
				}
				break
			}
		}
		if unit < 0 {
			name = fmt.Sprintf("Service 0x%02x (reply, request not seen)", s.Code)
		}
		if o := a.operation("cip", c.cli, c.srv, unit, int(s.Code), name, class); o != nil {
			o.op.Responses++
			if s.Status != 0 {
				o.op.Exceptions++
			}
			o.add(f)
		}
	}
}
