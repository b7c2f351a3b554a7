package bacnet

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/collectors/active"
	"github.com/otaudit/otaudit/collectors/active/activetest"
	"github.com/otaudit/otaudit/collectors/pcap/bacnet"
)

var testStart = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

var localhost = netip.MustParseAddr("127.0.0.1")

// limits with a request timeout: long where every request is answered (it
// then costs nothing), short where silence is the point.
func limits(timeout time.Duration, retries int) active.Limits {
	l := active.DefaultLimits()
	l.Timeout, l.Retries = timeout, retries
	return l
}

type runResult struct {
	obs    []otaudit.Observation
	report active.RunReport
	ledger []active.LedgerEntry
	sent   [][]byte
}

// run probes the fake through a scheduler on a virtual clock, checks the
// ledger against the dry-run plan and every datagram the fake received
// against the read-only pair, and returns what came out.
func run(t *testing.T, d *fakeDevice, l active.Limits) runResult {
	t.Helper()
	return runWith(t, d, l, New(Config{Port: d.port(), LocalPort: freeUDPPort(t), Now: func() time.Time { return testStart }}))
}

// freeUDPPort is a UDP port of 127.0.0.1 nobody holds right now.
func freeUDPPort(t *testing.T) uint16 {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return uint16(c.LocalAddr().(*net.UDPAddr).Port)
}

func runWith(t *testing.T, d *fakeDevice, l active.Limits, p *Prober) runResult {
	t.Helper()
	target := active.Target{Addr: localhost}
	s := active.NewScheduler(l, active.WithClock(activetest.NewVirtualClock(testStart)))
	var r runResult
	r.report = s.Run(context.Background(), []active.Target{target}, []active.Prober{p}, func(o otaudit.Observation) { r.obs = append(r.obs, o) })
	r.ledger = s.Ledger()
	activetest.LedgerWithinPlan(t, r.ledger, active.Plan([]active.Target{target}, []active.Prober{p}, l))
	r.sent = d.received(t, len(r.ledger))
	assertReadOnly(t, r.sent, r.ledger)
	return r
}

// assertReadOnly decodes what the device received, independently of the
// prober: only unranged unicast Who-Is and ReadProperty of the fake's
// Device object, each ReadProperty with an invoke ID of its own, in the
// ledger's order.
func assertReadOnly(t *testing.T, sent [][]byte, ledger []active.LedgerEntry) {
	t.Helper()
	invokes := map[byte]bool{}
	for i, b := range sent {
		m, err := bacnet.Parse(b)
		if err != nil || m.APDU == nil || m.LengthMismatch || m.BVLCFunction != bacnet.BVLCOriginalUnicastNPDU || m.DestNetwork != 0 || m.SourceNetwork != 0 {
			t.Errorf("datagram %d % x: not a well-formed local unicast request (%v)", i, b, err)
			continue
		}
		a, kind := m.APDU, ""
		switch {
		case a.Type == bacnet.UnconfirmedRequest && a.Service == bacnet.ServiceWhoIs && len(a.Body) == 0:
			kind = kindWhoIs
		case a.Type == bacnet.ConfirmedRequest && a.Service == bacnet.ServiceReadProperty && !a.Segmented:
			kind = kindReadProperty
			if object, _ := decodeRequestBody(t, a.Body); object>>22 != 8 {
				t.Errorf("datagram %d reads object 0x%08x, not a Device", i, object)
			}
			if invokes[a.InvokeID] {
				t.Errorf("datagram %d reuses invoke ID %d", i, a.InvokeID)
			}
			invokes[a.InvokeID] = true
		default:
			t.Errorf("datagram %d % x: APDU type %d service %d is neither who-Is nor readProperty", i, b, a.Type, a.Service)
			continue
		}
		if i < len(ledger) && ledger[i].Kind != kind {
			t.Errorf("datagram %d is a %s, the ledger says %s", i, kind, ledger[i].Kind)
		}
	}
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

func identityOf(t *testing.T, obs []otaudit.Observation) otaudit.DeviceIdentity {
	t.Helper()
	ids := byKind(obs, otaudit.KindIdentity)
	if len(ids) != 1 {
		t.Fatalf("%d identity observations, want 1: %+v", len(ids), obs)
	}
	return *ids[0].Identity
}

func kinds(ledger []active.LedgerEntry) []string {
	var out []string
	for _, e := range ledger {
		out = append(out, e.Kind)
	}
	return out
}

func allProps() map[uint16]string {
	return map[uint16]string{
		77: "AHU-3", 121: "Delta Controls Inc.", 70: "eBCON", 44: "4.2.1",
		12: "V3.40", 58: "Plant 2, AHU room", 28: "air handler 3",
	}
}

func TestProbeReadsTheDeviceIdentity(t *testing.T) {
	d := startFake(t, &fakeDevice{instance: 260001, vendor: 8, props: allProps()})
	r := run(t, d, limits(10*time.Second, 1))
	if len(r.report.Errors) != 0 || len(r.report.Unreachable) != 0 {
		t.Fatalf("report %+v", r.report)
	}
	want := otaudit.DeviceIdentity{IP: localhost, Method: "bacnet-readproperty", Vendor: "Delta Controls Inc.",
		Model: "eBCON", Firmware: "4.2.1", Name: "AHU-3 (device 260001, application software V3.40)"}
	if got := identityOf(t, r.obs); got != want {
		t.Errorf("identity\n got %+v\nwant %+v", got, want)
	}
	if n := len(r.ledger); n != 1+len(Properties) {
		t.Errorf("%d requests, want one who-is and one readProperty per property: %v", n, kinds(r.ledger))
	}
	flows := byKind(r.obs, otaudit.KindFlow)
	if len(flows) != 1 {
		t.Fatalf("%d flows", len(flows))
	}
	f := *flows[0].Flow
	wantFlow := otaudit.Flow{Client: localhost, Server: localhost, Transport: otaudit.UDP, ServerPort: d.port(),
		Protocol: "bacnet", ServerAnswered: true, Packets: 16, BytesToServer: f.BytesToServer, BytesToClient: f.BytesToClient}
	if f != wantFlow || f.BytesToServer <= 0 || f.BytesToClient <= 0 {
		t.Errorf("flow\n got %+v\nwant %+v", f, wantFlow)
	}
	hosts := byKind(r.obs, otaudit.KindHost)
	if len(hosts) != 1 || hosts[0].Host.IP != localhost || hosts[0].Host.Packets != 8 || hosts[0].Source != "bacnet:active" {
		t.Errorf("hosts %+v", hosts)
	}
}

// TestProbeHearsIAmSentToTheBACnetPort: a device that sends its I-Am to
// the BACnet port rather than to the asker's port is heard, because the
// prober asks from that port; when another program holds the port without
// sharing it, the prober falls back to an ephemeral one and such a device
// is not heard (it only misses, it never fails).
func TestProbeHearsIAmSentToTheBACnetPort(t *testing.T) {
	local := freeUDPPort(t)
	d := startFake(t, &fakeDevice{instance: 7, vendor: 8, props: allProps(), iAmToPort: int(local)})
	r := runWith(t, d, limits(10*time.Second, 0), New(Config{Port: d.port(), LocalPort: local}))
	if id := identityOf(t, r.obs); id.Model != "eBCON" {
		t.Errorf("identity %+v: want the device read after its I-Am to the BACnet port", id)
	}

	holder, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(local)})
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	d2 := startFake(t, &fakeDevice{instance: 7, vendor: 8, props: allProps()})
	r = runWith(t, d2, limits(10*time.Second, 0), New(Config{Port: d2.port(), LocalPort: local}))
	if id := identityOf(t, r.obs); id.Model != "eBCON" {
		t.Errorf("identity %+v with the BACnet port held by another program: want the unicast reply heard", id)
	}
}

// Unknown properties answer Error property/unknown-property: an outcome,
// not a device error, and not retried.
func TestProbeUnknownPropertiesAreOutcomes(t *testing.T) {
	d := startFake(t, &fakeDevice{instance: 17, vendor: 8, props: map[uint16]string{77: "Boiler", 70: "DSC-1212"}})
	r := run(t, d, limits(10*time.Second, 1))
	if len(r.report.Errors) != 0 {
		t.Fatalf("errors %+v", r.report.Errors)
	}
	want := otaudit.DeviceIdentity{IP: localhost, Method: "bacnet-readproperty", Vendor: "Delta Controls",
		Model: "DSC-1212", Name: "Boiler (device 17)"}
	if got := identityOf(t, r.obs); got != want {
		t.Errorf("identity\n got %+v\nwant %+v", got, want)
	}
	if n := len(r.ledger); n != 1+len(Properties) {
		t.Errorf("%d requests, want %d (errors are answers, never retried)", n, 1+len(Properties))
	}
}

// A device that rejects every ReadProperty is still reported with what its
// I-Am gave, as the passive decoder names it.
func TestProbeRejectKeepsTheIAm(t *testing.T) {
	d := startFake(t, &fakeDevice{instance: 4194302, vendor: 999, props: allProps(), rejectAll: true})
	r := run(t, d, limits(10*time.Second, 1))
	if len(r.report.Errors) != 0 {
		t.Fatalf("errors %+v", r.report.Errors)
	}
	want := otaudit.DeviceIdentity{IP: localhost, Method: "bacnet-iam", Vendor: "BACnet vendor 999", Name: "device 4194302"}
	if got := identityOf(t, r.obs); got != want {
		t.Errorf("identity\n got %+v\nwant %+v", got, want)
	}
}

// Replies under another invoke ID are not the answer.
func TestProbeIgnoresWrongInvokeIDs(t *testing.T) {
	d := startFake(t, &fakeDevice{instance: 5, vendor: 8, props: allProps(), wrongInvokeFirst: true})
	r := run(t, d, limits(10*time.Second, 1))
	if len(r.report.Errors) != 0 {
		t.Fatalf("errors %+v", r.report.Errors)
	}
	got := identityOf(t, r.obs)
	if got.Name != "AHU-3 (device 5, application software V3.40)" || got.Model != "eBCON" || strings.Contains(got.Vendor+got.Firmware, "WRONG") {
		t.Errorf("identity %+v: took a reply to another invoke ID", got)
	}
}

// A device that answers Who-Is but never ReadProperty under our invoke IDs
// costs the Who-Is, objectName with its retry and one more property, then
// is reported with what I-Am gave.
func TestProbeDeviceThatOnlyAnswersWhoIs(t *testing.T) {
	d := startFake(t, &fakeDevice{instance: 42, vendor: 5, props: allProps(), wrongInvokeOnly: true})
	r := run(t, d, limits(300*time.Millisecond, 1))
	if len(r.report.Errors) != 0 {
		t.Fatalf("errors %+v", r.report.Errors)
	}
	want := otaudit.DeviceIdentity{IP: localhost, Method: "bacnet-iam", Vendor: "Johnson Controls, Inc.", Name: "device 42"}
	if got := identityOf(t, r.obs); got != want {
		t.Errorf("identity\n got %+v\nwant %+v", got, want)
	}
	wantKinds := []string{kindWhoIs, kindReadProperty, kindReadProperty, kindReadProperty}
	if got := kinds(r.ledger); !slices.Equal(got, wantKinds) {
		t.Errorf("requests %v, want %v", got, wantKinds)
	}
	if r.ledger[2].Detail != readRetryDetail {
		t.Errorf("second readProperty detail %q, want the retry", r.ledger[2].Detail)
	}
}

// Silence to Who-Is is no BACnet device: no observation, no error, and
// nothing but the Who-Is and its retry is sent.
func TestProbeSilentAddress(t *testing.T) {
	d := startFake(t, &fakeDevice{silent: true})
	r := run(t, d, limits(200*time.Millisecond, 1))
	if len(r.obs) != 0 || len(r.report.Errors) != 0 || len(r.report.Unreachable) != 0 {
		t.Fatalf("observations %+v, report %+v: want nothing", r.obs, r.report)
	}
	if got := kinds(r.ledger); !slices.Equal(got, []string{kindWhoIs, kindWhoIs}) {
		t.Errorf("requests %v, want who-is and its one retry", got)
	}
}

// A closed port (ICMP port unreachable) is an outcome: one Who-Is, nothing
// else, no observation, no error.
func TestProbeClosedPort(t *testing.T) {
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(pc.LocalAddr().(*net.UDPAddr).Port)
	pc.Close() // nobody listens: the kernel answers port unreachable
	p := New(Config{Port: port})
	l := limits(10*time.Second, 3)
	s := active.NewScheduler(l, active.WithClock(activetest.NewVirtualClock(testStart)))
	var obs []otaudit.Observation
	rep := s.Run(context.Background(), []active.Target{{Addr: localhost}}, []active.Prober{p}, func(o otaudit.Observation) { obs = append(obs, o) })
	if len(obs) != 0 || len(rep.Errors) != 0 || len(rep.Unreachable) != 0 {
		t.Fatalf("observations %+v, report %+v: want nothing", obs, rep)
	}
	if got := kinds(s.Ledger()); !slices.Equal(got, []string{kindWhoIs}) {
		t.Errorf("requests %v, want one who-is", got)
	}
}

// Garbage is not silence: the port answered, so the flow and the host are
// reported, the device gets an error with the evidence, and no identity is
// made up.
func TestProbeGarbageReplies(t *testing.T) {
	d := startFake(t, &fakeDevice{garbage: true})
	r := run(t, d, limits(time.Second, 1))
	if len(r.report.Errors) != 1 || !strings.Contains(r.report.Errors[0].Err, "malformed reply") {
		t.Fatalf("errors %+v, want one with the malformed replies", r.report.Errors)
	}
	if len(byKind(r.obs, otaudit.KindIdentity)) != 0 || len(byKind(r.obs, otaudit.KindFlow)) != 1 || len(byKind(r.obs, otaudit.KindHost)) != 1 {
		t.Errorf("observations %+v: want a flow and a host, no identity", r.obs)
	}
	if got := kinds(r.ledger); !slices.Equal(got, []string{kindWhoIs, kindWhoIs}) {
		t.Errorf("requests %v, want only the who-is attempts", got)
	}
}

// Lying lengths (a string longer than its datagram, a BVLC length longer
// than the datagram) and an oversized datagram end as evidence in the
// device's error; the rest of the identity stands and strings stay
// bounded.
func TestProbeLyingLengthsAndOversizedReplies(t *testing.T) {
	props := allProps()
	props[77] = strings.Repeat("N", 1200)
	// ackFor answers for device 1234.
	d := &fakeDevice{instance: 1234, vendor: 8, props: props, raw: map[uint16][]byte{
		// vendorName: the string claims 256 bytes, two follow.
		121: ackFor(0, 121, 0x75, 254, 0x01, 0x00, 0x00, 'A', 'B'),
		// modelName: the BVLC length claims two bytes more.
		70: func() []byte {
			b := ackFor(0, 70, charStringElement(0, []byte("ghost"))...)
			binary.BigEndian.PutUint16(b[2:], uint16(len(b)+2))
			return b
		}(),
		// description: a 3000-byte datagram.
		28: ackFor(0, 28, charStringElement(0, make([]byte, 3000))...),
	}}
	startFake(t, d)
	r := run(t, d, limits(time.Second, 1))
	if len(r.report.Errors) != 1 {
		t.Fatalf("errors %+v, want one device error", r.report.Errors)
	}
	msg := r.report.Errors[0].Err
	for _, want := range []string{"vendorName", "BVLC length", "exceeds 1536"} {
		if !strings.Contains(msg, want) {
			t.Errorf("device error %q does not mention %q", msg, want)
		}
	}
	id := identityOf(t, r.obs)
	if id.Vendor != "Delta Controls" || id.Model != "" || id.Firmware != "4.2.1" {
		t.Errorf("identity %+v: want the I-Am vendor, no model, the firmware", id)
	}
	name, _, _ := strings.Cut(id.Name, " (device 1234")
	if !utf8.ValidString(id.Name) || len(name) > maxValueLen || !strings.HasSuffix(name, "…") || !strings.HasPrefix(name, "NNNN") {
		t.Errorf("name %q (%d bytes): want a bounded, marked prefix of the 1200-byte name", id.Name, len(name))
	}
}

// Plan is the exact bound: the scheduler's session refuses anything
// beyond it, and the prober stops with that error.
func TestPlanIsTheUpperBound(t *testing.T) {
	p := New(Config{})
	target := active.Target{Addr: netip.MustParseAddr("10.0.0.5")}
	plan := p.Plan(target, limits(time.Second, 2))
	total := map[string]int{}
	for _, r := range plan {
		if r.Protocol != "bacnet" || !active.Allowed[r.Protocol][r.Kind] || r.Detail == "" || r.Target != target.Addr {
			t.Errorf("plan line %+v", r)
		}
		total[r.Kind] += r.MaxAttempts
	}
	if total[kindWhoIs] != 3 || total[kindReadProperty] != len(Properties)+2 {
		t.Errorf("plan totals %v, want who-is 3, read-property %d", total, len(Properties)+2)
	}
	if !strings.Contains(plan[0].Detail, "47808") {
		t.Errorf("who-is detail %q does not name the port", plan[0].Detail)
	}
	if n := len(p.Plan(target, limits(time.Second, 0))); n != 1+len(Properties) {
		t.Errorf("%d plan lines without retries, want no retry line", n)
	}

	// A session that only let the Who-Is through: the first ReadProperty
	// is refused before it is written.
	d := startFake(t, &fakeDevice{instance: 1, vendor: 8, props: allProps()})
	p = New(Config{Port: d.port()})
	s := active.NewScheduler(limits(10*time.Second, 0), active.WithClock(activetest.NewVirtualClock(testStart)))
	sess := s.NewSession(active.Target{Addr: localhost}, p.Plan(active.Target{Addr: localhost}, limits(10*time.Second, 0))[:1])
	err := p.Probe(context.Background(), sess, active.Target{Addr: localhost}, func(otaudit.Observation) {})
	if !errors.Is(err, active.ErrOverPlan) {
		t.Errorf("probe beyond its plan: %v, want ErrOverPlan", err)
	}
	if sent := d.received(t, len(s.Ledger())); len(sent) != 1 {
		t.Errorf("device received %d datagrams, want only the who-is", len(sent))
	}
}

// A datagram that is not what the session was told is refused by the
// guard and never written, even inside an allowed, planned request.
func TestExchangeRefusesWritePropertyBeforeWriting(t *testing.T) {
	d := startFake(t, &fakeDevice{instance: 1234, vendor: 8, props: allProps()})
	conn, err := net.Dial("udp", netip.AddrPortFrom(localhost, d.port()).String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	p := New(Config{Port: d.port()})
	s := active.NewScheduler(limits(time.Second, 0), active.WithClock(activetest.NewVirtualClock(testStart)))
	pr := &probe{p: p, s: s.NewSession(active.Target{Addr: localhost}, p.Plan(active.Target{Addr: localhost}, limits(time.Second, 0))),
		conn: conn, buf: make([]byte, maxDatagram+1), log: p.log}
	write := confirmed(bacnet.ServiceWriteProperty, append(append([]byte{}, deviceObject...), 0x19, 77, 0x3e, 0x75, 0x04, 0x00, 'x', 'y', 'z', 0x3f)...)
	_, err = pr.exchange(context.Background(), kindReadProperty, propertyDetail(Properties[0]), write, answers([]byte{7}))
	if !errors.Is(err, active.ErrNotAllowed) {
		t.Fatalf("writeProperty through exchange: %v, want ErrNotAllowed", err)
	}
	// A Who-Is sent as a read-property is refused too: kinds must agree.
	_, err = pr.exchange(context.Background(), kindReadProperty, propertyDetail(Properties[1]), whoIsDatagram, answers(nil))
	if !errors.Is(err, active.ErrNotAllowed) {
		t.Fatalf("who-is under kind read-property: %v, want ErrNotAllowed", err)
	}
	if pr.sent != 0 {
		t.Errorf("%d datagrams written", pr.sent)
	}
	// The next request the device gets is ours, not the refused ones.
	if _, err := conn.Write(whoIsDatagram); err != nil {
		t.Fatal(err)
	}
	if got := d.received(t, 1); string(got[0]) != string(whoIsDatagram) {
		t.Errorf("device received % x first, want the who-is", got[0])
	}
}

// unreachableConn fails every read as an ICMP host unreachable would.
type unreachableConn struct{ net.Conn }

func (unreachableConn) Write(b []byte) (int, error) { return len(b), nil }
func (unreachableConn) Read([]byte) (int, error) {
	return 0, &net.OpError{Op: "read", Net: "udp", Err: os.NewSyscallError("recvfrom", syscall.EHOSTUNREACH)}
}
func (unreachableConn) SetReadDeadline(time.Time) error { return nil }
func (unreachableConn) LocalAddr() net.Addr             { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// EHOSTUNREACH and ENETUNREACH end the probe with active.ErrUnreachable,
// so that the scheduler skips the device; port unreachable and silence
// are outcomes.
func TestUnreachableAndClassify(t *testing.T) {
	p := New(Config{})
	s := active.NewScheduler(limits(time.Second, 2), active.WithClock(activetest.NewVirtualClock(testStart)))
	pr := &probe{p: p, s: s.NewSession(active.Target{Addr: localhost}, p.Plan(active.Target{Addr: localhost}, limits(time.Second, 2))),
		conn: unreachableConn{}, buf: make([]byte, maxDatagram+1), log: p.log, values: map[uint16]string{}}
	if err := pr.run(context.Background()); !errors.Is(err, active.ErrUnreachable) || !errors.Is(err, syscall.EHOSTUNREACH) {
		t.Errorf("run on an unreachable host: %v, want ErrUnreachable with the network's reason", err)
	}
	if n := len(s.Ledger()); n != 1 {
		t.Errorf("%d requests to an unreachable host, want 1 (no retry)", n)
	}
	for err, want := range map[error]outcome{
		nil: answered,
		&net.OpError{Op: "read", Err: os.NewSyscallError("recvfrom", syscall.ENETUNREACH)}:  unreachable,
		&net.OpError{Op: "read", Err: os.NewSyscallError("recvfrom", syscall.ECONNREFUSED)}: refused,
		os.ErrDeadlineExceeded:    silent,
		context.DeadlineExceeded:  silent,
		errFlooded:                silent,
		context.Canceled:          failed,
		active.ErrOverPlan:        failed,
		active.ErrNotAllowed:      failed,
		errors.New("local error"): failed,
	} {
		if got := classify(err); got != want {
			t.Errorf("classify(%v) = %d, want %d", err, got, want)
		}
	}
}
