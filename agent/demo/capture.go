package demo

import (
	"cmp"
	_ "embed"
	"fmt"
	"os"
	"slices"
	"time"
)

// ZoneYAML is the demo zone configuration: cell-1 with its register,
// engineering workstations, and the one conduit to the site DMZ. Its
// addresses are the Scenario's.
//
//go:embed zone.yaml
var ZoneYAML []byte

// Capture returns the demo plant capture as a pcap file (Ethernet,
// microsecond timestamps) starting 2026-03-02T08:00:00Z. It returns the same
// bytes on every call and machine.
func Capture() ([]byte, error) {
	tl := newTimeline()
	p := newPlan()
	p.addressResolution(tl)
	p.scadaPolling(tl, plc1, p.filler, 350*time.Millisecond, 500*time.Millisecond)
	p.scadaPolling(tl, plc2, p.capper, 362*time.Millisecond, 750*time.Millisecond)
	ntpExchange(tl, 2*time.Second+17*time.Millisecond)
	ntpExchange(tl, 66*time.Second+21*time.Millisecond)
	snmpPolling(tl, []time.Duration{5200 * time.Millisecond, 35200 * time.Millisecond, 65200 * time.Millisecond})
	opcuaSession(tl, 8*time.Second)
	httpVisit(tl, 15*time.Second)
	p.dmzPolling(tl, 20*time.Second)
	p.engineeringIdentify(tl, 24*time.Second)
	p.contractorWrites(tl)
	telnetLogin(tl, 55*time.Second)
	rdpSession(tl, 60*time.Second)
	b, err := tl.render()
	if err != nil {
		return nil, fmt.Errorf("demo capture: %w", err)
	}
	return b, nil
}

// WriteCapture writes the demo capture to path.
func WriteCapture(path string) error {
	b, err := Capture()
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write demo capture %s: %w", path, err)
	}
	return nil
}

// Modbus plan: how often and what is written, by whom.
const (
	// scadaPolls is how many one-second polling cycles the SCADA master
	// runs against each PLC.
	scadaPolls = 90
	// scadaSetpointEvery: every 20th cycle, starting at the 10th, ends
	// with an FC 16 setpoint write.
	scadaSetpointEvery = 20
	scadaSetpointFirst = 10
	// setpointRegister is where a PLC's speed setpoint block starts
	// (speed, recipe number).
	setpointRegister = 100
	recipeNumber     = 4
	dmzPolls         = 16
	// contractorCoil is the coil the contractor toggles (manual jog).
	contractorCoil = 12
)

// laptopOp is one request the contractor's Modbus tool sends to PLC-1.
type laptopOp struct {
	at    time.Duration
	fc    byte
	addr  uint16
	value uint16
}

// laptopOps: read, raise the filler speed, read back, jog a coil on and
// off, put the speed back, read. Every write succeeds.
var laptopOps = []laptopOp{
	{41300 * time.Millisecond, fcReadHoldingRegisters, 0, 10},
	{42300 * time.Millisecond, fcWriteSingleRegister, setpointRegister, 150},
	{43000 * time.Millisecond, fcReadHoldingRegisters, 0, 10},
	{44100 * time.Millisecond, fcWriteSingleCoil, contractorCoil, coilOn},
	{45600 * time.Millisecond, fcWriteSingleCoil, contractorCoil, coilOff},
	{46800 * time.Millisecond, fcWriteSingleRegister, setpointRegister, 125},
	{47400 * time.Millisecond, fcReadHoldingRegisters, 0, 10},
}

// plan holds the process state that several conversations share: what the
// PLCs report depends on what the SCADA master and the contractor wrote.
type plan struct {
	filler, capper *line
	// scadaSetpoints are the speeds the SCADA master writes, in order.
	scadaSetpoints map[*host][]uint16
}

func newPlan() *plan {
	p := &plan{
		filler: &line{plc: plc1, initial: 120, countBase: 1_482_337, temperature: 214, pressure: 612},
		capper: &line{plc: plc2, initial: 118, countBase: 1_479_905, temperature: 236, pressure: 598},
		scadaSetpoints: map[*host][]uint16{
			plc1: {120, 125, 130, 125},
			plc2: {118, 122, 126, 122},
		},
	}
	// A SCADA write goes out a few milliseconds into its cycle; the model
	// lets it take effect half-way to the next one, before any later read.
	for _, l := range []struct {
		line  *line
		phase time.Duration
	}{{p.filler, 500 * time.Millisecond}, {p.capper, 750 * time.Millisecond}} {
		for i, v := range p.scadaSetpoints[l.line.plc] {
			k := scadaSetpointFirst + i*scadaSetpointEvery
			l.line.writes = append(l.line.writes, setpoint{l.line.phase(k, l.phase) + 500*time.Millisecond, v})
		}
	}
	for _, op := range laptopOps {
		if op.fc == fcWriteSingleRegister && op.addr == setpointRegister {
			p.filler.writes = append(p.filler.writes, setpoint{op.at, op.value})
		}
	}
	for _, l := range []*line{p.filler, p.capper} {
		slices.SortStableFunc(l.writes, func(a, b setpoint) int { return cmp.Compare(a.at, b.at) })
	}
	return p
}

// phase is the nominal start of polling cycle k.
func (l *line) phase(k int, first time.Duration) time.Duration {
	return first + time.Duration(k)*time.Second
}

// addressResolution adds the ARP exchanges before each host first talks
// to a neighbour, and the contractor laptop announcing itself.
func (p *plan) addressResolution(tl *timeline) {
	r := newRNG("arp")
	for _, e := range []struct {
		at            time.Duration
		asker, target *host
	}{
		{100 * time.Millisecond, scada, plc1},
		{112 * time.Millisecond, scada, plc2},
		{1900 * time.Millisecond, scada, firewall},
		{4900 * time.Millisecond, nms, cellSwitch},
		{7990 * time.Millisecond, firewall, opcuaServer},
		{14900 * time.Millisecond, hmi, plc2},
		{19990 * time.Millisecond, firewall, plc2},
		{23900 * time.Millisecond, ews, plc1},
		{40900 * time.Millisecond, laptop, plc1},
		{54900 * time.Millisecond, hmi, plc1},
		{59990 * time.Millisecond, firewall, hmi},
	} {
		tl.arp(e.at, e.asker, e.target, r)
	}
	tl.gratuitousARP(38*time.Second, laptop)
}

// scadaPolling is the SCADA master's long-lived connection to one PLC:
// every second FC 3 (holding 0-9) and FC 4 (input 0-7), every 20 s an
// FC 16 setpoint write; Windows acknowledges the last answer of a cycle
// after its 200 ms delayed-ACK timer. The connection is still open when
// the capture ends.
func (p *plan) scadaPolling(tl *timeline, plc *host, ln *line, connect, first time.Duration) {
	r := newRNG("scada/" + plc.Name)
	c := tl.newTCPConn(scada, plc, modbusPort, r)
	c.open(connect)
	mb := &modbusClient{conn: c, unit: 1, thinkLo: 2 * time.Millisecond, thinkHi: 7 * time.Millisecond}
	writes := p.scadaSetpoints[plc]
	for k := 0; k < scadaPolls; k++ {
		at := ln.phase(k, first) + r.between(0, 15*time.Millisecond)
		t := mb.transact(at, readRequest(fcReadHoldingRegisters, 0, 10),
			readResponse(fcReadHoldingRegisters, ln.holding(at, r)))
		at = t + r.between(800*time.Microsecond, 2500*time.Microsecond)
		t = mb.transact(at, readRequest(fcReadInputRegisters, 0, 8),
			readResponse(fcReadInputRegisters, ln.input(at, r)))
		if i := k - scadaSetpointFirst; i >= 0 && i%scadaSetpointEvery == 0 && i/scadaSetpointEvery < len(writes) {
			values := []uint16{writes[i/scadaSetpointEvery], recipeNumber}
			at = t + r.between(3*time.Millisecond, 9*time.Millisecond)
			t = mb.transact(at, writeMultipleRequest(setpointRegister, values),
				writeMultipleResponse(setpointRegister, len(values)))
		}
		c.ack(t+scada.stack.delayedAck, client)
	}
}

// dmzPolling is the DMZ reporting server reading PLC-2 across the cell
// boundary every two seconds, then closing.
func (p *plan) dmzPolling(tl *timeline, connect time.Duration) {
	r := newRNG("dmz-poll")
	c := tl.newTCPConn(dmzPoller, plc2, modbusPort, r)
	t := c.open(connect)
	mb := &modbusClient{conn: c, unit: 1, thinkLo: 2 * time.Millisecond, thinkHi: 8 * time.Millisecond}
	for k := 0; k < dmzPolls; k++ {
		at := connect + 300*time.Millisecond + time.Duration(k)*2*time.Second + r.between(0, 3*time.Millisecond)
		t = mb.transact(at, readRequest(fcReadHoldingRegisters, 0, 10),
			readResponse(fcReadHoldingRegisters, p.capper.holding(at, r)))
		t += dmzPoller.stack.delayedAck
		c.ack(t, client)
	}
	c.close(t+r.between(400*time.Millisecond, 600*time.Millisecond), client)
}

// engineeringIdentify is the EWS reading PLC-1's identity: basic objects
// (read code 01) then regular objects from 0x03 (read code 02).
func (p *plan) engineeringIdentify(tl *timeline, connect time.Duration) {
	r := newRNG("ews-identify")
	c := tl.newTCPConn(ews, plc1, modbusPort, r)
	t := c.open(connect)
	mb := &modbusClient{conn: c, unit: 1, thinkLo: 3 * time.Millisecond, thinkHi: 9 * time.Millisecond}
	t = mb.transact(t+r.between(1*time.Millisecond, 3*time.Millisecond),
		readDeviceIDRequest(0x01, 0x00), readDeviceIDResponse(0x01, plc1BasicIdentity))
	t = mb.transact(t+r.between(20*time.Millisecond, 60*time.Millisecond),
		readDeviceIDRequest(0x02, 0x03), readDeviceIDResponse(0x02, plc1RegularIdentity))
	t += ews.stack.delayedAck
	c.ack(t, client)
	c.close(t+r.between(900*time.Millisecond, 1300*time.Millisecond), client)
}

// contractorWrites is the contractor's Modbus tool on PLC-1.
func (p *plan) contractorWrites(tl *timeline) {
	r := newRNG("contractor")
	c := tl.newTCPConn(laptop, plc1, modbusPort, r)
	t := c.open(41 * time.Second)
	mb := &modbusClient{conn: c, unit: 1, thinkLo: 2 * time.Millisecond, thinkHi: 7 * time.Millisecond}
	for _, op := range laptopOps {
		var req, resp []byte
		switch op.fc {
		case fcReadHoldingRegisters:
			req = readRequest(op.fc, op.addr, op.value)
			resp = readResponse(op.fc, p.filler.holding(op.at, r)[:op.value])
		default:
			req = writeSingle(op.fc, op.addr, op.value)
			resp = req
		}
		t = mb.transact(op.at, req, resp)
		t += laptop.stack.delayedAck
		c.ack(t, client)
	}
	c.close(t+r.between(300*time.Millisecond, 500*time.Millisecond), client)
}
