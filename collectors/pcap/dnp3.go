package pcap

import "github.com/otaudit/otaudit/collectors/pcap/dnp3"

// DNP3 over TCP or UDP. Roles come from the link layer's DIR bit, not the
// port: the master (DIR set) is the client, the outstation the server, and
// Unit is the outstation's link address. Each application fragment's
// function code is one request; a Response is counted on the request it
// answers (same application sequence number), an exception when its IIN2
// says the request was not understood; a Response whose request was not
// seen and every Unsolicited Response are counted under their own codes.

type dnp3Stream struct {
	buf []byte
	// pending[seq] is the function code + 1 of the master's last request
	// with that application sequence number (0: none).
	pending [16]int16
}

func (s *dnp3Stream) data(a *analysis, c *conn, d dir, b []byte, f *frameInfo) int {
	off := 0
	for off < len(b) {
		fr, n, err := dnp3.ParseFrame(b[off:], s.buf)
		switch err {
		case nil:
		case dnp3.ErrNeedMore:
			return off
		default:
			a.decodeError(f.index, err.Error())
			off += dnp3.Resync(b[off:])
			continue
		}
		if cap(fr.UserData) > cap(s.buf) {
			s.buf = fr.UserData[:0] // keep the grown buffer for the next frame
		}
		a.dnp3Frame(fr, f, &s.pending)
		off += n
	}
	return off
}

func (s *dnp3Stream) gap(*analysis, *conn, dir) {}
func (s *dnp3Stream) end(*analysis, *conn)      {}

// dnp3Datagram decodes the frames of one UDP datagram; requests and
// responses are not paired across datagrams.
func dnp3Datagram(a *analysis, c *conn, d dir, b []byte, f *frameInfo) {
	var pending [16]int16
	for off := 0; off < len(b); {
		fr, n, err := dnp3.ParseFrame(b[off:], nil)
		if err != nil {
			a.decodeError(f.index, err.Error())
			return
		}
		a.dnp3Frame(fr, f, &pending)
		off += n
	}
}

func (a *analysis) dnp3Frame(fr dnp3.Frame, f *frameInfo, pending *[16]int16) {
	if fr.DataCRCError {
		a.decodeError(f.index, "dnp3: user data block CRC mismatch")
	}
	if !fr.CarriesUserData() {
		return
	}
	app, first, err := dnp3.ParseSegment(fr.UserData)
	if err != nil {
		a.decodeError(f.index, err.Error())
		return
	}
	if !first {
		return // a continuation segment: the function code was in the first
	}
	cli, srv, unit := f.src, f.dst, int(fr.Destination)
	if !fr.FromMaster() {
		cli, srv, unit = f.dst, f.src, int(fr.Source)
	}
	fc := app.Function
	seq := app.Sequence()
	if !app.IsResponse() {
		name, class := dnp3.FunctionInfo(fc)
		if o := a.operation("dnp3", cli, srv, unit, int(fc), name, class); o != nil {
			o.op.Requests++
			o.add(f)
		}
		if fc != dnp3.FuncConfirm {
			pending[seq] = int16(fc) + 1
		}
		return
	}
	if fc == dnp3.FuncResponse && pending[seq] > 0 {
		fc = byte(pending[seq] - 1)
		pending[seq] = 0
	}
	name, class := dnp3.FunctionInfo(fc)
	if o := a.operation("dnp3", cli, srv, unit, int(fc), name, class); o != nil {
		o.op.Responses++
		if app.Rejected() {
			o.op.Exceptions++
		}
		o.add(f)
	}
}
