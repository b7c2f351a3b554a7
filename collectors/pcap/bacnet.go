package pcap

import (
	"fmt"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/collectors/pcap/bacnet"
)

// BACnet/IP: confirmed services become Operations of the requester
// (client) on the device it addressed (server), answered by Simple/Complex
// ACKs (Responses) or Errors (Responses and Exceptions); I-Am becomes the
// device's identity. Roles come from the APDU type, not from the
// conversation, because both ends use port 47808. Unit is 0: routed
// (SNET/DNET) devices behind a BACnet router are not told apart.
//
// Function numbers: a confirmed service is its service choice; an
// unconfirmed one is bacnetUnconfirmed plus its choice, so that e.g.
// acknowledgeAlarm (confirmed 0) and i-Am (unconfirmed 0) stay apart.
// Reject and Abort do not name the service they refuse; they are counted
// as exceptions under bacnetUnmatched.

const (
	bacnetUnconfirmed = 0x100
	bacnetUnmatched   = -1
)

// bacnetConfirmedClass classifies a confirmed service for the checks.
func bacnetConfirmedClass(s int) otaudit.OperationClass {
	switch s {
	case 3, 4, 5, bacnet.ServiceReadProperty, 13, bacnet.ServiceReadPropertyMultiple, 26, 28, 29, 30:
		// alarm/enrollment summaries, COV subscriptions, reads, readRange,
		// getEventInformation
		return otaudit.OpRead
	case 8, 9, 10, 11, bacnet.ServiceWriteProperty, bacnet.ServiceWritePropertyMultiple, 27:
		// list element changes, create/delete object, writes,
		// lifeSafetyOperation (silences and resets alarms)
		return otaudit.OpWrite
	case bacnet.ServiceAtomicReadFile, bacnet.ServiceAtomicWriteFile:
		return otaudit.OpFile
	case bacnet.ServiceDeviceCommControl:
		// Disables or re-enables the device's communication.
		return otaudit.OpModeChange
	case bacnet.ServiceReinitializeDevice:
		return otaudit.OpRestart
	}
	return otaudit.OpOther
}

func bacnetUnconfirmedClass(s int) otaudit.OperationClass {
	switch s {
	case bacnet.ServiceWhoIs, bacnet.ServiceWhoHas:
		return otaudit.OpIdentify
	case bacnet.ServiceWriteGrp:
		return otaudit.OpWrite
	}
	return otaudit.OpOther
}

func bacnetDatagram(a *analysis, c *conn, d dir, b []byte, f *frameInfo) {
	m, err := bacnet.Parse(b)
	if err != nil {
		a.decodeError(f.index, err.Error())
		return
	}
	p := m.APDU
	if p == nil {
		return
	}
	src := f.src
	if m.Origin.IsValid() {
		src = m.Origin.Addr()
	} else if server, decisive := bacnetSenderIsServer(p); decisive {
		c.orient(d, server)
	}
	switch p.Type {
	case bacnet.ConfirmedRequest:
		if p.Segmented && p.Sequence != 0 {
			return // later segments of one request
		}
		if o := a.operation("bacnet", src, f.dst, 0, p.Service, bacnet.ConfirmedServiceName(p.Service), bacnetConfirmedClass(p.Service)); o != nil {
			o.op.Requests++
			o.add(f)
		}
	case bacnet.SimpleACK, bacnet.ComplexACK, bacnet.Error:
		if p.Segmented && p.Sequence != 0 {
			return
		}
		if o := a.operation("bacnet", f.dst, src, 0, p.Service, bacnet.ConfirmedServiceName(p.Service), bacnetConfirmedClass(p.Service)); o != nil {
			o.op.Responses++
			if p.Type == bacnet.Error {
				o.op.Exceptions++
			}
			o.add(f)
		}
	case bacnet.Reject, bacnet.Abort:
		if o := a.operation("bacnet", f.dst, src, 0, bacnetUnmatched, "reject/abort (service not named)", otaudit.OpOther); o != nil {
			o.op.Responses++
			o.op.Exceptions++
			o.add(f)
		}
	case bacnet.UnconfirmedRequest:
		if p.Service == bacnet.ServiceIAm {
			iam, err := bacnet.ParseIAm(p)
			if err != nil {
				a.decodeError(f.index, err.Error())
				return
			}
			a.identity(otaudit.DeviceIdentity{
				IP: src, Method: "bacnet-iam",
				Vendor: bacnet.VendorName(iam.VendorID),
				Name:   fmt.Sprintf("device %d", iam.DeviceInstance),
			}, f)
			return
		}
		if p.Service == bacnet.ServiceIHave {
			return // an answer to Who-Has: names an object, not the device
		}
		if o := a.operation("bacnet", src, f.dst, 0, bacnetUnconfirmed+p.Service, bacnet.UnconfirmedServiceName(p.Service), bacnetUnconfirmedClass(p.Service)); o != nil {
			o.op.Requests++
			o.add(f)
		}
	}
}

// bacnetSenderIsServer: acknowledgements, errors and a device's own
// announcements (I-Am, I-Have) come from the server side; requests,
// Who-Is and Who-Has from the client side. A SegmentACK goes either way
// and decides nothing.
func bacnetSenderIsServer(p *bacnet.APDU) (server, decisive bool) {
	switch p.Type {
	case bacnet.SimpleACK, bacnet.ComplexACK, bacnet.Error, bacnet.Reject, bacnet.Abort:
		return true, true
	case bacnet.ConfirmedRequest:
		return false, true
	case bacnet.UnconfirmedRequest:
		return p.Service == bacnet.ServiceIAm || p.Service == bacnet.ServiceIHave, true
	}
	return false, false
}
