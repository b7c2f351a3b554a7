package pcap

import (
	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/collectors/pcap/iec104"
)

// IEC 60870-5-104: every I-format ASDU becomes an Operation per (client,
// server, common address, type identification). The controlling station
// (the side that connects to port 2404) is the client: what it sends counts
// as Requests, what the controlled station sends as Responses, and negative
// confirmations or "unknown …" causes as Exceptions.

// iec104Class classifies a type identification for the checks.
func iec104Class(id byte) otaudit.OperationClass {
	switch iec104.TypeCategory(id) {
	case iec104.CategoryMonitor, iec104.CategoryInterrogate:
		return otaudit.OpRead
	case iec104.CategoryCommand, iec104.CategoryParameter:
		// Parameter loading (P_ME_*, P_AC_NA_1) changes thresholds and
		// activations in the device: a write like the C_* commands.
		return otaudit.OpWrite
	case iec104.CategoryResetProcess:
		return otaudit.OpRestart
	case iec104.CategoryTest:
		return otaudit.OpDiagnostic
	case iec104.CategoryFile:
		return otaudit.OpFile
	}
	// Clock synchronisation, delay acquisition, end of initialisation and
	// undefined types.
	return otaudit.OpOther
}

type iec104Stream struct{}

func (s *iec104Stream) data(a *analysis, c *conn, d dir, b []byte, f *frameInfo) int {
	req := d == toServer
	switch {
	case f.dport == iec104.Port && f.sport != iec104.Port:
		req = true
	case f.sport == iec104.Port && f.dport != iec104.Port:
		req = false
	}
	off := 0
	for off < len(b) {
		apdu, n, err := iec104.Parse(b[off:])
		if err == iec104.ErrNeedMore {
			return off
		}
		if n == 0 {
			// Out of step: drop what is buffered; the next segment
			// normally starts with a fresh APCI.
			a.decodeError(f.index, err.Error())
			return len(b)
		}
		off += n
		if err != nil {
			a.decodeError(f.index, err.Error())
		}
		if apdu.ASDU == nil {
			continue
		}
		s.asdu(a, apdu.ASDU, req, f)
	}
	return off
}

func (s *iec104Stream) asdu(a *analysis, u *iec104.ASDU, req bool, f *frameInfo) {
	cli, srv := f.src, f.dst
	if !req {
		cli, srv = f.dst, f.src
	}
	o := a.operation("iec104", cli, srv, int(u.CommonAddress), int(u.TypeID), iec104.TypeName(u.TypeID), iec104Class(u.TypeID))
	if o == nil {
		return
	}
	if req {
		o.op.Requests++
	} else {
		o.op.Responses++
		if u.Negative || u.Cause.IsUnknown() {
			o.op.Exceptions++
		}
	}
	o.add(f)
}

func (s *iec104Stream) gap(*analysis, *conn, dir) {}
func (s *iec104Stream) end(*analysis, *conn)      {}
