package demo

import (
	"encoding/binary"
	"time"
)

// Modbus function codes used in the demo.
const (
	fcReadHoldingRegisters   = 3
	fcReadInputRegisters     = 4
	fcWriteSingleCoil        = 5
	fcWriteSingleRegister    = 6
	fcWriteMultipleRegisters = 16
	fcEncapsulatedInterface  = 43
	meiReadDeviceID          = 0x0e
)

const modbusPort = 502

// modbusClient numbers the transactions of one Modbus/TCP connection.
type modbusClient struct {
	conn *tcpConn
	unit byte
	tid  uint16
	// think is how long the server takes to answer.
	thinkLo, thinkHi time.Duration
}

func (c *modbusClient) adu(pdu []byte) []byte {
	c.tid++
	return mbap(c.tid, c.unit, pdu)
}

// mbap wraps a PDU in the Modbus/TCP application header.
func mbap(tid uint16, unit byte, pdu []byte) []byte {
	b := make([]byte, 7, 7+len(pdu))
	binary.BigEndian.PutUint16(b[0:2], tid)
	binary.BigEndian.PutUint16(b[4:6], uint16(1+len(pdu)))
	b[6] = unit
	return append(b, pdu...)
}

// transact sends request and the server's response (same transaction ID)
// and returns when the response went out.
func (c *modbusClient) transact(at time.Duration, request, response []byte) time.Duration {
	req := c.adu(request)
	resp := mbap(c.tid, c.unit, response)
	return c.conn.exchange(at, req, resp, c.conn.r.between(c.thinkLo, c.thinkHi))
}

func readRequest(fc byte, addr, quantity uint16) []byte {
	b := []byte{fc, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(b[1:3], addr)
	binary.BigEndian.PutUint16(b[3:5], quantity)
	return b
}

func readResponse(fc byte, values []uint16) []byte {
	b := []byte{fc, byte(2 * len(values))}
	for _, v := range values {
		b = binary.BigEndian.AppendUint16(b, v)
	}
	return b
}

func writeMultipleRequest(addr uint16, values []uint16) []byte {
	b := []byte{fcWriteMultipleRegisters}
	b = binary.BigEndian.AppendUint16(b, addr)
	b = binary.BigEndian.AppendUint16(b, uint16(len(values)))
	b = append(b, byte(2*len(values)))
	for _, v := range values {
		b = binary.BigEndian.AppendUint16(b, v)
	}
	return b
}

func writeMultipleResponse(addr uint16, quantity int) []byte {
	b := []byte{fcWriteMultipleRegisters}
	b = binary.BigEndian.AppendUint16(b, addr)
	return binary.BigEndian.AppendUint16(b, uint16(quantity))
}

// writeSingle is both the FC 5/6 request and its normal response, which
// echoes the request.
func writeSingle(fc byte, addr, value uint16) []byte {
	b := []byte{fc}
	b = binary.BigEndian.AppendUint16(b, addr)
	return binary.BigEndian.AppendUint16(b, value)
}

// coilOn and coilOff are the only values FC 5 accepts.
const (
	coilOn  = 0xff00
	coilOff = 0x0000
)

// deviceObject is one object of a Read Device Identification response.
type deviceObject struct {
	id    byte
	value string
}

func readDeviceIDRequest(code, objectID byte) []byte {
	return []byte{fcEncapsulatedInterface, meiReadDeviceID, code, objectID}
}

// readDeviceIDResponse answers with every object in one response (no
// "more follows"); conformity 0x82 is regular identification with
// individual access, what a Modicon M340 reports.
func readDeviceIDResponse(code byte, objects []deviceObject) []byte {
	b := []byte{fcEncapsulatedInterface, meiReadDeviceID, code, 0x82, 0x00, 0x00, byte(len(objects))}
	for _, o := range objects {
		b = append(b, o.id, byte(len(o.value)))
		b = append(b, o.value...)
	}
	return b
}

// plc1Identity is what PLC-1 says about itself (basic objects 0-2, regular
// objects 3-6); it matches its register entry.
var (
	plc1BasicIdentity = []deviceObject{
		{0x00, "Schneider Electric"},
		{0x01, "BMX P34 2020"},
		{0x02, "v3.1"},
	}
	plc1RegularIdentity = []deviceObject{
		{0x03, "http://www.se.com"},
		{0x04, "Modicon M340"},
		{0x05, "BMX P34 2020"},
		{0x06, "FILLER_L1"},
	}
)

// setpoint is a write to a PLC's speed setpoint (holding register 0).
type setpoint struct {
	at    time.Duration
	value uint16
}

// line is the process behind one PLC, so that what the PLC reports follows
// what was written to it, whoever wrote it.
type line struct {
	plc *host
	// initial is the speed setpoint (bottles per minute) before any write.
	initial uint16
	// writes are in time order, from every writer.
	writes      []setpoint
	countBase   uint32
	temperature int // tenths of a degree
	pressure    int // hundredths of a bar
}

func (l *line) setpointAt(at time.Duration) uint16 {
	v := l.initial
	for _, w := range l.writes {
		if w.at <= at {
			v = w.value
		}
	}
	return v
}

// holding returns holding registers 0-9: speed setpoint, actual speed,
// machine state (3 running), good count (32 bit), rejects, product
// temperature, air pressure, alarm word, heartbeat.
func (l *line) holding(at time.Duration, r *rng) []uint16 {
	sec := uint32(at / time.Second)
	sp := l.setpointAt(at)
	good := l.countBase + uint32(at/(500*time.Millisecond))
	return []uint16{
		sp,
		sp - 2 + uint16(r.intn(5)),
		3,
		uint16(good >> 16), uint16(good),
		uint16(17 + sec/23),
		uint16(l.temperature + r.intn(5) - 2),
		uint16(l.pressure + r.intn(7) - 3),
		0,
		uint16(sec),
	}
}

// input returns input registers 0-7: raw 0-10000 analog channels (level,
// flow, motor currents, torque) moving slowly with a little noise.
func (l *line) input(at time.Duration, r *rng) []uint16 {
	sec := int(at / time.Second)
	base := []int{6120, 4410, 2875, 2960, 3310, 5025, 7480, 1200}
	v := make([]uint16, len(base))
	for i, b := range base {
		drift := (sec * (7 + 3*i)) % 120
		if drift > 60 {
			drift = 120 - drift
		}
		v[i] = uint16(b + drift + r.intn(21) - 10)
	}
	return v
}
