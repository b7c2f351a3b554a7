package pcap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/goburrow/modbus"
	"github.com/otaudit/otaudit"
)

// Modbus/TCP (MBAP + PDU). Direction follows tshark: a PDU sent to port
// 502 is a request, one sent from port 502 a response.

const modbusPort = 502

// Function codes goburrow/modbus does not export, and the write codes: this
// passive decoder only recognises writes seen on the wire, and spelling them
// as numbers keeps every write-request constant of the Modbus library out of
// collectors/, where the read-only guard looks for them.
const (
	fcCoilWrite           = 5
	fcRegisterWrite       = 6
	fcCoilsWrite          = 15
	fcRegistersWrite      = 16
	fcMaskedRegisterWrite = 22
	fcRegistersReadWrite  = 23
	fcReadExceptionStatus = 7
	fcDiagnostics         = 8
	fcGetCommEventCounter = 11
	fcGetCommEventLog     = 12
	fcReportServerID      = 17
	fcReadFileRecord      = 20
	fcWriteFileRecord     = 21
	fcEncapsulatedIface   = 43
	fcUMAS                = 90
	meiReadDeviceID       = 14
)

type modbusFunction struct {
	name  string
	class otaudit.OperationClass
}

// modbusFunctions names the public function codes. The classes follow the
// brief: reads, writes (anything that changes device state), diagnostics,
// identification; UMAS (Schneider's engineering protocol inside FC 90) is
// "other" but named so checks can find it.
var modbusFunctions = map[byte]modbusFunction{
	modbus.FuncCodeReadCoils:            {"Read Coils", otaudit.OpRead},
	modbus.FuncCodeReadDiscreteInputs:   {"Read Discrete Inputs", otaudit.OpRead},
	modbus.FuncCodeReadHoldingRegisters: {"Read Holding Registers", otaudit.OpRead},
	modbus.FuncCodeReadInputRegisters:   {"Read Input Registers", otaudit.OpRead},
	fcCoilWrite:                         {"Write Single Coil", otaudit.OpWrite},
	fcRegisterWrite:                     {"Write Single Register", otaudit.OpWrite},
	fcReadExceptionStatus:               {"Read Exception Status", otaudit.OpDiagnostic},
	fcDiagnostics:                       {"Diagnostics", otaudit.OpDiagnostic},
	fcGetCommEventCounter:               {"Get Comm Event Counter", otaudit.OpDiagnostic},
	fcGetCommEventLog:                   {"Get Comm Event Log", otaudit.OpDiagnostic},
	fcCoilsWrite:                        {"Write Multiple Coils", otaudit.OpWrite},
	fcRegistersWrite:                    {"Write Multiple Registers", otaudit.OpWrite},
	fcReportServerID:                    {"Report Server ID", otaudit.OpIdentify},
	fcReadFileRecord:                    {"Read File Record", otaudit.OpRead},
	fcWriteFileRecord:                   {"Write File Record", otaudit.OpWrite},
	fcMaskedRegisterWrite:               {"Mask Write Register", otaudit.OpWrite},
	fcRegistersReadWrite:                {"Read/Write Multiple Registers", otaudit.OpWrite},
	modbus.FuncCodeReadFIFOQueue:        {"Read FIFO Queue", otaudit.OpRead},
	fcEncapsulatedIface:                 {"Encapsulated Interface Transport", otaudit.OpIdentify},
	fcUMAS:                              {"UMAS (Schneider, FC 90)", otaudit.OpOther},
}

// modbusFunctionTable is modbusFunctions for every code, unnamed ones
// included, as an array: it is read for every PDU.
var modbusFunctionTable = func() (t [256]modbusFunction) {
	for fc := range t {
		if f, ok := modbusFunctions[byte(fc)]; ok {
			t[fc] = f
		} else {
			t[fc] = modbusFunction{fmt.Sprintf("Function %d", fc), otaudit.OpOther}
		}
	}
	return t
}()

func modbusFunctionInfo(fc byte) modbusFunction { return modbusFunctionTable[fc] }

// mbapADU is one Modbus/TCP application data unit.
type mbapADU struct {
	transaction uint16
	unit        byte
	pdu         []byte // function code and data; aliases the input
}

var (
	errMBAPNeedMore   = errors.New("modbus: incomplete ADU")
	errMBAPProtocolID = errors.New("modbus: MBAP protocol identifier is not 0")
	errMBAPLength     = errors.New("modbus: MBAP length outside 2..254")
)

// parseMBAP reads one ADU from the start of b and returns its size.
func parseMBAP(b []byte) (mbapADU, int, error) {
	if len(b) < 7 {
		return mbapADU{}, 0, errMBAPNeedMore
	}
	if binary.BigEndian.Uint16(b[2:4]) != 0 {
		return mbapADU{}, 0, errMBAPProtocolID
	}
	n := int(binary.BigEndian.Uint16(b[4:6]))
	if n < 2 || n > 254 {
		return mbapADU{}, 0, errMBAPLength
	}
	if len(b) < 6+n {
		return mbapADU{}, 0, errMBAPNeedMore
	}
	return mbapADU{transaction: binary.BigEndian.Uint16(b[0:2]), unit: b[6], pdu: b[7 : 6+n]}, 6 + n, nil
}

// isMBAP says whether b starts with a plausible MBAP header.
func isMBAP(b []byte) bool {
	_, _, err := parseMBAP(b)
	return err == nil || (err == errMBAPNeedMore && len(b) >= 7)
}

// splitModbus calls fn for every complete ADU at the start of b and
// returns the bytes consumed; an error means the stream is not (or no
// longer) Modbus/TCP at that point.
func splitModbus(b []byte, fn func(mbapADU)) (int, error) {
	off := 0
	for off < len(b) {
		adu, n, err := parseMBAP(b[off:])
		if err == errMBAPNeedMore {
			return off, nil
		}
		if err != nil {
			return off, err
		}
		fn(adu)
		off += n
	}
	return off, nil
}

type modbusStream struct {
	f   *frameInfo
	a   *analysis
	req bool
	d   dir
	// ops caches the operations of this connection: a poller repeats the
	// same few, and each PDU otherwise cost a lookup in the operation
	// table. Within a connection, the direction decides client and server.
	ops  [2]modbusOpCache
	next uint8
}

type modbusOpCache struct {
	unit, fc byte
	d        dir
	o        *opAgg
}

// operation is analysis.operation through the connection's cache. Entries
// of the operation table are never removed, so a cached one stays valid.
func (m *modbusStream) operation(cli, srv netip.Addr, unit, fc byte) *opAgg {
	for i := range m.ops {
		e := &m.ops[i]
		if e.o != nil && e.unit == unit && e.fc == fc && e.d == m.d {
			return e.o
		}
	}
	info := modbusFunctionInfo(fc)
	o := m.a.operation("modbus", cli, srv, int(unit), int(fc), info.name, info.class)
	if o != nil {
		m.ops[m.next%uint8(len(m.ops))] = modbusOpCache{unit: unit, fc: fc, d: m.d, o: o}
		m.next++
	}
	return o
}

func (m *modbusStream) data(a *analysis, c *conn, d dir, b []byte, f *frameInfo) int {
	m.a, m.f, m.d = a, f, d
	switch {
	case f.dport == modbusPort:
		m.req = true
	case f.sport == modbusPort:
		m.req = false
	default: // Modbus recognised on another port: the client asks
		m.req = d == toServer
	}
	n, err := splitModbus(b, m.pdu)
	if err != nil {
		// Out of step (or not Modbus): drop what is buffered; the next
		// segment normally starts with a fresh MBAP header.
		a.decodeError(f.index, err.Error())
		return len(b)
	}
	return n
}

func (m *modbusStream) gap(*analysis, *conn, dir) {}
func (m *modbusStream) end(*analysis, *conn)      {}

func (m *modbusStream) pdu(adu mbapADU) {
	a, f := m.a, m.f
	if len(adu.pdu) == 0 {
		a.decodeError(f.index, "modbus: empty PDU")
		return
	}
	fc := adu.pdu[0]
	base := fc & 0x7f
	cli, srv := f.src, f.dst
	if !m.req {
		cli, srv = f.dst, f.src
	}
	o := m.operation(cli, srv, adu.unit, base)
	if o == nil {
		return
	}
	if m.req {
		o.op.Requests++
	} else {
		o.op.Responses++
		if fc&0x80 != 0 {
			o.op.Exceptions++
		}
	}
	o.add(f)
	if !m.req && fc == fcEncapsulatedIface && len(adu.pdu) >= 2 && adu.pdu[1] == meiReadDeviceID {
		objs, err := parseDeviceID(adu.pdu)
		if err != nil {
			a.decodeError(f.index, err.Error())
		}
		if id, ok := objs.identity(srv); ok {
			a.identity(id, f)
		}
	}
}

// deviceIDObjects are the basic and regular objects of a Read Device
// Identification (FC 43 / MEI 14) response.
type deviceIDObjects map[byte]string

// parseDeviceID parses a FC 43/14 response PDU. Objects read before a
// length that runs past the PDU are returned with the error.
func parseDeviceID(pdu []byte) (deviceIDObjects, error) {
	if len(pdu) < 7 || pdu[0] != fcEncapsulatedIface || pdu[1] != meiReadDeviceID {
		return nil, errors.New("modbus: FC43/14 response shorter than its header")
	}
	n := int(pdu[6])
	objs := deviceIDObjects{}
	p := pdu[7:]
	for i := 0; i < n; i++ {
		if len(p) < 2 {
			return objs, fmt.Errorf("modbus: FC43/14 announces %d objects, PDU ends after %d", n, i)
		}
		id, l := p[0], int(p[1])
		if len(p) < 2+l {
			return objs, fmt.Errorf("modbus: FC43/14 object 0x%02x claims %d bytes, %d left", id, l, len(p)-2)
		}
		objs[id] = printable(p[2:2+l], 255)
		p = p[2+l:]
	}
	return objs, nil
}

// identity maps the objects to a DeviceIdentity of the server at ip.
func (o deviceIDObjects) identity(ip netip.Addr) (otaudit.DeviceIdentity, bool) {
	if len(o) == 0 {
		return otaudit.DeviceIdentity{}, false
	}
	id := otaudit.DeviceIdentity{
		IP:          ip,
		Method:      "modbus-fc43",
		Vendor:      o[0x00],
		ProductCode: o[0x01],
		Firmware:    o[0x02],
		Name:        o[0x04],
		Model:       o[0x05],
	}
	if id.Model == "" {
		id.Model = o[0x04]
	}
	return id, id.Vendor != "" || id.ProductCode != "" || id.Firmware != "" || id.Model != ""
}
