package modbus

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gmodbus "github.com/goburrow/modbus"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/collectors/active"
	"github.com/otaudit/otaudit/collectors/active/activetest"
)

// request is one Modbus/TCP request a fake device received.
type request struct {
	conn int
	unit byte
	pdu  []byte
}

// fakeDevice is a Modbus/TCP server on 127.0.0.1:0 that records every
// request and answers with whatever answer returns (nil: stay silent, the
// connection open).
type fakeDevice struct {
	ln     net.Listener
	answer func(unit byte, pdu []byte) []byte // returns the response PDU
	raw    func(tid uint16, unit byte, pdu []byte) []byte
	mu     sync.Mutex
	reqs   []request
	conns  int
	open   []net.Conn
	wg     sync.WaitGroup
}

func startFake(t *testing.T, answer func(unit byte, pdu []byte) []byte) *fakeDevice {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDevice{ln: ln, answer: answer}
	d.wg.Add(1)
	go d.serve()
	t.Cleanup(func() {
		ln.Close()
		d.mu.Lock()
		for _, c := range d.open {
			c.Close()
		}
		d.mu.Unlock()
		d.wg.Wait()
	})
	return d
}

func (d *fakeDevice) port() uint16 { return uint16(d.ln.Addr().(*net.TCPAddr).Port) }

func (d *fakeDevice) serve() {
	defer d.wg.Done()
	for {
		c, err := d.ln.Accept()
		if err != nil {
			return
		}
		d.mu.Lock()
		d.conns++
		n := d.conns
		d.open = append(d.open, c)
		d.mu.Unlock()
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			defer c.Close()
			for {
				var h [7]byte
				if _, err := io.ReadFull(c, h[:]); err != nil {
					return
				}
				l := int(binary.BigEndian.Uint16(h[4:]))
				if l < 1 || l > 254 {
					return
				}
				pdu := make([]byte, l-1)
				if _, err := io.ReadFull(c, pdu); err != nil {
					return
				}
				d.mu.Lock()
				d.reqs = append(d.reqs, request{conn: n, unit: h[6], pdu: pdu})
				d.mu.Unlock()
				tid := binary.BigEndian.Uint16(h[:])
				var out []byte
				if d.raw != nil {
					out = d.raw(tid, h[6], pdu)
				} else if resp := d.answer(h[6], pdu); resp != nil {
					out = adu(tid, h[6], resp)
				}
				if out != nil {
					if _, err := c.Write(out); err != nil {
						return
					}
				}
			}
		}()
	}
}

func (d *fakeDevice) requests() []request {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.reqs)
}

func adu(tid uint16, unit byte, pdu []byte) []byte {
	b := make([]byte, 7, 7+len(pdu))
	binary.BigEndian.PutUint16(b, tid)
	binary.BigEndian.PutUint16(b[4:], uint16(len(pdu)+1))
	b[6] = unit
	return append(b, pdu...)
}

// objects encodes identification objects for a FC 43 answer.
func objects(kv ...any) []byte {
	var b []byte
	for i := 0; i < len(kv); i += 2 {
		v := kv[i+1].(string)
		b = append(b, byte(kv[i].(int)), byte(len(v)))
		b = append(b, v...)
	}
	return b
}

func deviceIDAnswer(code, more, next byte, n int, objs []byte) []byte {
	return append([]byte{fcEncapsulatedIface, meiReadDeviceID, code, 0x83, more, next, byte(n)}, objs...)
}

var registerAnswer = []byte{fcReadHoldingRegisters, 2, 0x04, 0xd2}

// m340 answers like the testbed's pymodbus server, but splits both
// categories into two pages so that "more follows" is exercised.
func m340(unit byte, pdu []byte) []byte {
	switch {
	case pdu[0] == fcEncapsulatedIface && pdu[2] == readCodeBasic && pdu[3] == 0:
		return deviceIDAnswer(1, 0xFF, 2, 2, objects(0, "Schneider Electric", 1, "BMX P34 2020"))
	case pdu[0] == fcEncapsulatedIface && pdu[2] == readCodeBasic && pdu[3] == 2:
		return deviceIDAnswer(1, 0, 0, 1, objects(2, "v2.70"))
	case pdu[0] == fcEncapsulatedIface && pdu[2] == readCodeRegular && pdu[3] == 0:
		return deviceIDAnswer(2, 0xFF, 4, 4, objects(0, "Schneider Electric", 1, "BMX P34 2020", 2, "v2.70", 3, "http://www.se.com"))
	case pdu[0] == fcEncapsulatedIface && pdu[2] == readCodeRegular && pdu[3] == 4:
		return deviceIDAnswer(2, 0, 0, 3, objects(4, "Modicon M340", 5, "BMX P34 2020", 6, "LINE1-PUMPS"))
	case pdu[0] == fcReadHoldingRegisters:
		return registerAnswer
	}
	return []byte{pdu[0] | exceptionBit, 1}
}

var testStart = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

type runResult struct {
	obs    []otaudit.Observation
	report active.RunReport
	ledger []active.LedgerEntry
	plan   []active.PlannedRequest
}

func runProbe(t *testing.T, c *Collector, l active.Limits) runResult {
	t.Helper()
	target := active.Target{Addr: netip.MustParseAddr("127.0.0.1")}
	s := active.NewScheduler(l, active.WithClock(activetest.NewVirtualClock(testStart)))
	var r runResult
	r.report = s.Run(context.Background(), []active.Target{target}, []active.Prober{c}, func(o otaudit.Observation) { r.obs = append(r.obs, o) })
	r.ledger = s.Ledger()
	r.plan = active.Plan([]active.Target{target}, []active.Prober{c}, l)
	activetest.LedgerWithinPlan(t, r.ledger, r.plan)
	return r
}

func assertReadOnly(t *testing.T, reqs []request) {
	t.Helper()
	for _, r := range reqs {
		switch {
		case r.pdu[0] == fcEncapsulatedIface && len(r.pdu) == 4 && r.pdu[1] == meiReadDeviceID:
		case r.pdu[0] == fcReportServerID && len(r.pdu) == 1:
		case r.pdu[0] == fcReadHoldingRegisters && len(r.pdu) == 5 && binary.BigEndian.Uint16(r.pdu[3:]) == 1:
		default:
			t.Errorf("device received a request outside {43/14, 17, 3 x1}: % x", r.pdu)
		}
	}
}

func limits(timeout time.Duration, retries int) active.Limits {
	l := active.DefaultLimits()
	l.Timeout, l.Retries = timeout, retries
	return l
}

func newTestCollector(port uint16) *Collector {
	return New(Config{Port: port, Now: func() time.Time { return testStart }})
}

func byKind(obs []otaudit.Observation, k otaudit.ObservationKind) []otaudit.Observation {
	var out []otaudit.Observation
	for _, o := range obs {
		if o.Kind == k {
			out = append(out, o)
		}
	}
	return out
}

func TestProbeFollowsMoreFollowsAndReadsOneRegister(t *testing.T) {
	d := startFake(t, m340)
	r := runProbe(t, newTestCollector(d.port()), limits(5*time.Second, 1))
	if len(r.report.Errors) != 0 {
		t.Fatalf("errors: %v", r.report.Errors)
	}
	reqs := d.requests()
	assertReadOnly(t, reqs)
	// 3 default units x (2 basic pages + 2 regular pages + 1 register read).
	if len(reqs) != 15 {
		t.Errorf("device got %d requests, want 15", len(reqs))
	}
	if d.conns != 1 {
		t.Errorf("%d connections, want 1 (no error, no reconnect)", d.conns)
	}
	var units []byte
	for _, q := range reqs {
		if !slices.Contains(units, q.unit) {
			units = append(units, q.unit)
		}
	}
	if !slices.Equal(units, []byte{0, 1, 255}) {
		t.Errorf("units asked %v, want [0 1 255]", units)
	}

	ids := byKind(r.obs, otaudit.KindIdentity)
	if len(ids) != 1 {
		t.Fatalf("%d identities, want 1 (the same answer from every unit): %+v", len(ids), ids)
	}
	want := otaudit.DeviceIdentity{IP: netip.MustParseAddr("127.0.0.1"), Method: "modbus-fc43", Vendor: "Schneider Electric",
		ProductCode: "BMX P34 2020", Firmware: "v2.70", Name: "Modicon M340", Model: "BMX P34 2020"}
	if *ids[0].Identity != want {
		t.Errorf("identity %+v, want %+v", *ids[0].Identity, want)
	}
	if ids[0].Source != "modbus:active" {
		t.Errorf("source %q", ids[0].Source)
	}
	ops := byKind(r.obs, otaudit.KindOperation)
	if len(ops) != 6 {
		t.Fatalf("%d operations, want 6 (3 units x FC 43, FC 3)", len(ops))
	}
	for _, o := range ops {
		op := o.Operation
		wantReq := int64(4)
		if op.Function == fcReadHoldingRegisters {
			wantReq = 1
		}
		if op.Requests != wantReq || op.Responses != wantReq || op.Exceptions != 0 || o.Count != wantReq {
			t.Errorf("unit %d FC %d: %d requests, %d responses, %d exceptions, count %d; want %d/%d/0",
				op.Unit, op.Function, op.Requests, op.Responses, op.Exceptions, o.Count, wantReq, wantReq)
		}
		if op.Server != netip.MustParseAddr("127.0.0.1") || op.Client != netip.MustParseAddr("127.0.0.1") {
			t.Errorf("operation client %v server %v, want the loopback agent and device", op.Client, op.Server)
		}
	}
}

// A device like the testbed's libmodbus server: FC 43 is an illegal
// function, FC 17 answers.
func TestProbeFallsBackToReportServerID(t *testing.T) {
	d := startFake(t, func(unit byte, pdu []byte) []byte {
		switch pdu[0] {
		case fcReportServerID:
			return append([]byte{fcReportServerID}, mustHex(t, realFC17Data)...)
		case fcReadHoldingRegisters:
			return []byte{fcReadHoldingRegisters | exceptionBit, 2} // illegal data address
		}
		return []byte{pdu[0] | exceptionBit, 1}
	})
	c := New(Config{Port: d.port(), Units: []byte{1}, Now: func() time.Time { return testStart }})
	r := runProbe(t, c, limits(5*time.Second, 1))
	if len(r.report.Errors) != 0 {
		t.Fatalf("exceptions must be evidence, not errors: %v", r.report.Errors)
	}
	assertReadOnly(t, d.requests())
	ids := byKind(r.obs, otaudit.KindIdentity)
	if len(ids) != 1 || ids[0].Identity.Method != "modbus-fc17" || ids[0].Identity.Name != "Zeek Modbus Test-Protocol Parsing is fun!-1.2.3.6" {
		t.Fatalf("identities %+v, want one modbus-fc17 with the server ID text", ids)
	}
	got := map[int][3]int64{}
	for _, o := range byKind(r.obs, otaudit.KindOperation) {
		if o.Operation.Unit == 1 {
			got[o.Operation.Function] = [3]int64{o.Operation.Requests, o.Operation.Responses, o.Operation.Exceptions}
		}
	}
	want := map[int][3]int64{43: {1, 0, 1}, 17: {1, 1, 0}, 3: {1, 0, 1}}
	for fc, w := range want {
		if got[fc] != w {
			t.Errorf("unit 1 FC %d requests/responses/exceptions = %v, want %v", fc, got[fc], w)
		}
	}
}

// A device that accepts TCP and never answers: the probe ends with a
// per-device error after a bounded number of requests, each on a fresh
// connection (goburrow cannot recover from a late reply).
func TestProbeSilentDevice(t *testing.T) {
	d := startFake(t, func(byte, []byte) []byte { return nil })
	r := runProbe(t, newTestCollector(d.port()), limits(150*time.Millisecond, 1))
	if len(r.report.Errors) != 1 || !strings.Contains(r.report.Errors[0].Err, "no answer") {
		t.Fatalf("errors %+v, want one 'no answer' device error", r.report.Errors)
	}
	reqs := d.requests()
	assertReadOnly(t, reqs)
	// Unit 0 only: FC 43 and FC 3, each tried twice (Retries 1); later
	// units are not asked once the first unit proved the device silent.
	if len(reqs) != 4 {
		t.Errorf("silent device got %d requests, want 4", len(reqs))
	}
	for i, q := range reqs {
		if q.conn != i+1 {
			t.Errorf("request %d on connection %d: a connection that timed out was reused", i, q.conn)
		}
	}
	if n := len(byKind(r.obs, otaudit.KindOperation)); n != 0 {
		t.Errorf("%d operations from a device that never answered", n)
	}
}

// Devices that answer garbage or lie about lengths end as a per-device
// error naming the problem; nothing panics and what did parse is kept.
func TestProbeHostileAnswers(t *testing.T) {
	tests := []struct {
		name string
		raw  func(tid uint16, unit byte, pdu []byte) []byte
		want string
	}{
		{"lying object length", func(tid uint16, unit byte, pdu []byte) []byte {
			if pdu[0] == fcEncapsulatedIface {
				return adu(tid, unit, deviceIDAnswer(1, 0, 0, 2, append(objects(0, "ACME"), 1, 200, 'x')))
			}
			return adu(tid, unit, registerAnswer)
		}, "claims 200 bytes"},
		{"lying object count", func(tid uint16, unit byte, pdu []byte) []byte {
			if pdu[0] == fcEncapsulatedIface {
				return adu(tid, unit, deviceIDAnswer(1, 0, 0, 9, objects(0, "ACME")))
			}
			return adu(tid, unit, registerAnswer)
		}, "9 objects announced"},
		{"more follows forever on the same object", func(tid uint16, unit byte, pdu []byte) []byte {
			if pdu[0] == fcEncapsulatedIface {
				return adu(tid, unit, deviceIDAnswer(1, 0xFF, 0, 1, objects(0, "ACME")))
			}
			return adu(tid, unit, registerAnswer)
		}, "does not move past"},
		{"MBAP length beyond the Modbus maximum", func(tid uint16, unit byte, pdu []byte) []byte {
			b := adu(tid, unit, registerAnswer)
			binary.BigEndian.PutUint16(b[4:], 300)
			return b
		}, "malformed"},
		{"MBAP length zero", func(tid uint16, unit byte, pdu []byte) []byte {
			b := adu(tid, unit, registerAnswer)
			binary.BigEndian.PutUint16(b[4:], 0)
			return b
		}, "malformed"},
		{"wrong transaction id", func(tid uint16, unit byte, pdu []byte) []byte {
			return adu(tid+7, unit, registerAnswer)
		}, "transaction id"},
		{"answer to another function", func(tid uint16, unit byte, pdu []byte) []byte {
			return adu(tid, unit, []byte{0x06, 0, 1, 0, 1})
		}, "function code 6"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := startFake(t, nil)
			d.raw = tc.raw
			c := New(Config{Port: d.port(), Units: nil, Now: func() time.Time { return testStart }})
			r := runProbe(t, c, limits(300*time.Millisecond, 0))
			assertReadOnly(t, d.requests())
			if len(r.report.Errors) != 1 || !strings.Contains(r.report.Errors[0].Err, tc.want) {
				t.Fatalf("errors %+v, want one containing %q", r.report.Errors, tc.want)
			}
			if strings.HasPrefix(tc.name, "lying") || strings.HasPrefix(tc.name, "more") {
				ids := byKind(r.obs, otaudit.KindIdentity)
				if len(ids) != 1 || ids[0].Identity.Vendor != "ACME" {
					t.Errorf("objects before the lie should be kept: %+v", ids)
				}
			}
		})
	}
}

// The wire guard: a write function code encoded through the real goburrow
// client is refused with active.ErrNotAllowed and no byte reaches the
// device.
func TestWriteFunctionCodesAreNeverSent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	received := make(chan int, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			received <- -1
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		received <- len(b)
	}()
	addr := netip.MustParseAddrPort(ln.Addr().String())
	cl := newGoburrowClient(addr, 2*time.Second)
	ctx := context.Background()
	if err := cl.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	writes := []struct {
		name string
		pdu  []byte
	}{
		{"write single coil", []byte{0x05, 0, 1, 0xFF, 0}},
		{"write single register", []byte{0x06, 0, 1, 0, 42}},
		{"write multiple coils", []byte{0x0F, 0, 1, 0, 8, 1, 0xFF}},
		{"write multiple registers", []byte{0x10, 0, 1, 0, 1, 2, 0, 42}},
		{"mask write register", []byte{0x16, 0, 1, 0, 0, 0xFF, 0xFF}},
		{"read/write multiple registers", []byte{0x17, 0, 0, 0, 1, 0, 1, 0, 1, 2, 0, 42}},
		{"FC 43 with another MEI (CANopen)", []byte{0x2B, 0x0D, 0, 0}},
		{"FC 3 of two registers", []byte{0x03, 0, 0, 0, 2}},
		{"diagnostics restart", []byte{0x08, 0, 1, 0, 0}},
		{"UMAS", []byte{0x5A, 0, 0x40}},
	}
	for _, w := range writes {
		_, err := cl.Exchange(ctx, 1, modbusPDU(w.pdu))
		if !errors.Is(err, active.ErrNotAllowed) {
			t.Errorf("%s: err %v, want active.ErrNotAllowed", w.name, err)
		}
	}
	cl.Close()
	if n := <-received; n != 0 {
		t.Fatalf("device received %d bytes; refused requests must send nothing", n)
	}
}

func TestReadOnlyADUAllowsExactlyTheProbeRequests(t *testing.T) {
	for _, tc := range []struct {
		pdu []byte
		ok  bool
	}{
		{[]byte{0x2B, 0x0E, 1, 0}, true},
		{[]byte{0x11}, true},
		{[]byte{0x03, 0, 0, 0, 1}, true},
		{[]byte{0x03, 0, 0, 0, 0x7D}, false},
		{[]byte{0x11, 0}, false},
		{[]byte{0x2B, 0x0E, 1}, false},
		{[]byte{0x04, 0, 0, 0, 1}, false},
		{[]byte{0x06, 0, 0, 0, 1}, false},
	} {
		err := readOnlyADU(adu(1, 1, tc.pdu))
		if (err == nil) != tc.ok {
			t.Errorf("% x: err %v, allowed want %v", tc.pdu, err, tc.ok)
		}
		if err != nil && !errors.Is(err, active.ErrNotAllowed) {
			t.Errorf("% x: err %v is not ErrNotAllowed", tc.pdu, err)
		}
	}
	if err := readOnlyADU([]byte{0, 1}); !errors.Is(err, active.ErrNotAllowed) {
		t.Errorf("short ADU: %v", err)
	}
}

func TestPlanSkipsClosedPortAndBoundsUnits(t *testing.T) {
	c := New(Config{Units: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18}})
	if len(c.Units()) != MaxUnits || c.Units()[0] != 0 || c.Units()[2] != 255 {
		t.Errorf("units %v, want the defaults first and at most %d", c.Units(), MaxUnits)
	}
	closed := active.Target{Addr: netip.MustParseAddr("10.0.0.5"), OpenTCP: map[uint16]bool{22: true}}
	if p := c.Plan(closed, active.DefaultLimits()); len(p) != 0 {
		t.Errorf("plan for a device without 502 open: %v", p)
	}
	open := active.Target{Addr: netip.MustParseAddr("10.0.0.5"), OpenTCP: map[uint16]bool{502: true}}
	plan := c.Plan(open, active.DefaultLimits())
	for _, p := range plan {
		if !active.Allowed[p.Protocol][p.Kind] {
			t.Errorf("planned %s/%s is not allowed", p.Protocol, p.Kind)
		}
	}
	if got, want := len(plan), 1+4*MaxUnits; got != want {
		t.Errorf("%d plan lines, want %d", got, want)
	}
	if s := fmt.Sprint(plan[1]); !strings.Contains(s, "unit 0 basic") {
		t.Errorf("first unit line %s", s)
	}
}

func modbusPDU(b []byte) gmodbus.ProtocolDataUnit {
	return gmodbus.ProtocolDataUnit{FunctionCode: b[0], Data: b[1:]}
}
