package modbus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/goburrow/modbus"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/collectors/active"
)

const (
	// DefaultPort is the Modbus/TCP port.
	DefaultPort = 502
	// DefaultMaxPages bounds the "more follows" pages read per FC 43 read
	// code: a device that always says "more" cannot keep the probe busy.
	DefaultMaxPages = 8
	// MaxUnits bounds the unit IDs probed per device.
	MaxUnits = 16

	protocol = "modbus"
	source   = "modbus:active"
)

// DefaultUnits are the unit IDs every device is asked about: 0 and 255 are
// the usual "this device" addresses of Modbus/TCP servers, 1 the usual
// first unit behind a gateway.
var DefaultUnits = []byte{0, 1, 255}

// Request kinds, exactly as active.Allowed spells them.
const (
	kindDeviceID    = "read-device-id"
	kindServerID    = "report-server-id"
	kindHoldingRegs = "read-holding-registers"
	kindConnect     = "connect"
	protocolTCP     = "tcp"
	registerAddress = 0
)

// Config is what the Modbus collector needs; zero values take defaults.
type Config struct {
	// Port is the Modbus/TCP port (DefaultPort when 0).
	Port uint16
	// Units are unit IDs to ask about besides DefaultUnits (the zone's
	// known gateways' units); the whole list is capped at MaxUnits.
	Units []byte
	// MaxPages bounds FC 43 "more follows" pages per read code.
	MaxPages int
	Logger   *slog.Logger
	// Now is the clock for observation times (time.Now when nil).
	Now func() time.Time
}

// Collector is the active Modbus/TCP prober (active.Prober "modbus").
type Collector struct {
	port     uint16
	units    []byte
	maxPages int
	log      *slog.Logger
	now      func() time.Time
	// dial makes the client for one device; tests may replace it.
	dial func(addr netip.AddrPort, timeout time.Duration) client
}

var _ active.Prober = (*Collector)(nil)

// New returns a collector for cfg.
func New(cfg Config) *Collector {
	c := &Collector{port: cfg.Port, maxPages: cfg.MaxPages, log: cfg.Logger, now: cfg.Now}
	if c.port == 0 {
		c.port = DefaultPort
	}
	if c.maxPages <= 0 {
		c.maxPages = DefaultMaxPages
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	for _, u := range append(slices.Clone(DefaultUnits), cfg.Units...) {
		if !slices.Contains(c.units, u) && len(c.units) < MaxUnits {
			c.units = append(c.units, u)
		}
	}
	c.dial = func(addr netip.AddrPort, timeout time.Duration) client { return newGoburrowClient(addr, timeout) }
	return c
}

// Name is the prober's name in plans, ledgers and errors.
func (c *Collector) Name() string { return protocol }

// Units returns the unit IDs each device is asked about, in order.
func (c *Collector) Units() []byte { return slices.Clone(c.units) }

// skip reports whether discovery found the Modbus port closed.
func (c *Collector) skip(t active.Target) bool { return t.OpenTCP != nil && !t.OpenTCP[c.port] }

// Plan lists every request Probe may send to t, with the most it may send
// of each: per unit, FC 43 basic and regular (MaxPages pages each), FC 17,
// FC 3 of one register, each retried at most l.Retries times after a
// timeout, plus the TCP connections (one per request at worst, because a
// connection that saw an error is never reused).
func (c *Collector) Plan(t active.Target, l active.Limits) []active.PlannedRequest {
	if c.skip(t) {
		return nil
	}
	tries := 1 + max(l.Retries, 0)
	var plan []active.PlannedRequest
	total := 0
	for _, u := range c.units {
		for _, r := range []struct {
			kind, detail string
			n            int
		}{
			{kindDeviceID, deviceIDDetail(u, readCodeBasic), c.maxPages * tries},
			{kindDeviceID, deviceIDDetail(u, readCodeRegular), c.maxPages * tries},
			{kindServerID, unitDetail(u), tries},
			{kindHoldingRegs, registerDetail(u), tries},
		} {
			plan = append(plan, active.PlannedRequest{Target: t.Addr, Protocol: protocol, Kind: r.kind, MaxAttempts: r.n, Detail: r.detail})
			total += r.n
		}
	}
	conn := active.PlannedRequest{Target: t.Addr, Protocol: protocolTCP, Kind: kindConnect, MaxAttempts: total, Detail: c.connectDetail()}
	return append([]active.PlannedRequest{conn}, plan...)
}

func (c *Collector) connectDetail() string { return "modbus port " + strconv.Itoa(int(c.port)) }
func unitDetail(u byte) string             { return "unit " + strconv.Itoa(int(u)) }
func registerDetail(u byte) string {
	return unitDetail(u) + " holding register " + strconv.Itoa(registerAddress) + " count 1"
}
func deviceIDDetail(u byte, code byte) string {
	if code == readCodeBasic {
		return unitDetail(u) + " basic"
	}
	return unitDetail(u) + " regular"
}

// Probe asks t's Modbus/TCP server, unit by unit, who it is and whether it
// answers an unauthenticated read, and emits what it learned. Exceptions
// are evidence, not errors. The error says why a device could not be
// probed (refused, silent, garbage); observations gathered before it are
// still emitted.
func (c *Collector) Probe(ctx context.Context, s *active.Session, t active.Target, emit func(otaudit.Observation)) error {
	if c.skip(t) {
		return nil
	}
	addr := netip.AddrPortFrom(t.Addr, c.port)
	p := &probe{
		c:     c,
		s:     s,
		addr:  addr,
		log:   c.log.With("collector", protocol, "target", addr.String()),
		cl:    c.dial(addr, s.Limits().Timeout),
		agent: localAddrTo(addr),
		start: c.now(),
	}
	defer p.cl.Close()
	err := p.run(ctx)
	p.emit(emit)
	if err != nil {
		return fmt.Errorf("modbus %s: %w", addr, err)
	}
	return nil
}

// probe is the state of one device's probe.
type probe struct {
	c         *Collector
	s         *active.Session
	addr      netip.AddrPort
	log       *slog.Logger
	cl        client
	connected bool
	agent     netip.Addr
	start     time.Time
	// anyAnswer: the device answered something (response or exception).
	anyAnswer bool
	units     []*unitResult
}

// unitResult is what one unit ID answered.
type unitResult struct {
	unit       byte
	ops        map[byte]*otaudit.Operation // by function code
	objects    map[byte]string             // FC 43 objects by ID
	serverID   string                      // FC 17 text
	malformed  []error
	lastAnswer time.Time
}

func (u *unitResult) op(fc byte) *otaudit.Operation {
	if o, ok := u.ops[fc]; ok {
		return o
	}
	names := map[byte]string{fcEncapsulatedIface: "Read Device Identification", fcReportServerID: "Report Server ID", fcReadHoldingRegisters: "Read Holding Registers"}
	class := otaudit.OpIdentify
	if fc == fcReadHoldingRegisters {
		class = otaudit.OpRead
	}
	o := &otaudit.Operation{Protocol: protocol, Unit: int(u.unit), Function: int(fc), Name: names[fc], Class: class}
	u.ops[fc] = o
	return o
}

// errSilent: the device took the request and never answered.
var errSilent = errors.New("no answer")

func (p *probe) run(ctx context.Context) error {
	var errs []error
	for i, unit := range p.c.units {
		u := &unitResult{unit: unit, ops: map[byte]*otaudit.Operation{}, objects: map[byte]string{}}
		p.units = append(p.units, u)
		err := p.unit(ctx, u)
		for _, m := range u.malformed {
			errs = append(errs, fmt.Errorf("unit %d: %w", unit, m))
		}
		if err == nil {
			continue
		}
		if ctx.Err() != nil || errors.Is(err, active.ErrNotAllowed) || isRefused(err) {
			return errors.Join(append(errs, fmt.Errorf("unit %d: %w", unit, err))...)
		}
		if i == 0 && !p.anyAnswer {
			// Accepted TCP (or not) and never answered the first unit: a
			// silent device. Asking more units would only add timeouts.
			return errors.Join(append(errs, fmt.Errorf("unit %d: %w", unit, err))...)
		}
		p.log.Info("unit did not answer", "unit", unit, "err", err)
	}
	if !p.anyAnswer {
		errs = append(errs, errSilent)
	}
	return errors.Join(errs...)
}

// unit asks one unit ID: FC 43 basic (and regular when the device conforms
// to it), FC 17 when FC 43 is refused, then one FC 3 register read. Garbage
// answers are kept in u.malformed and do not stop the unit; silence to
// both FC 43 and FC 3 is returned as errSilent.
func (p *probe) unit(ctx context.Context, u *unitResult) error {
	first, err := p.readDeviceID(ctx, u, readCodeBasic)
	if err != nil && !soft(err) {
		return err
	}
	switch {
	case err == nil && first.exception == 0 && first.resp.supportsRegular():
		if _, err := p.readDeviceID(ctx, u, readCodeRegular); err != nil && !soft(err) {
			return err
		}
	case err == nil && first.exception != 0:
		if err := p.reportServerID(ctx, u); err != nil && !soft(err) {
			return err
		}
	}
	fcErr := p.readRegister(ctx, u)
	switch {
	case fcErr == nil || errors.Is(fcErr, errMalformed):
		return nil
	case !soft(fcErr):
		return fcErr
	case errors.Is(err, errSilent):
		return fcErr // silent to FC 43 and to FC 3
	}
	return nil
}

// soft errors end one request, not the device: silence and garbage.
func soft(err error) bool { return errors.Is(err, errSilent) || errors.Is(err, errMalformed) }

// idPage is the first page of a read device identification.
type idPage struct {
	resp      deviceIDResponse
	exception byte
}

// readDeviceID reads one category, following "more follows" for at most
// MaxPages pages and only while the next object ID moves forward.
func (p *probe) readDeviceID(ctx context.Context, u *unitResult, code byte) (idPage, error) {
	var first idPage
	objectID := byte(0)
	for page := 0; page < p.c.maxPages; page++ {
		req := modbus.ProtocolDataUnit{FunctionCode: fcEncapsulatedIface, Data: []byte{meiReadDeviceID, code, objectID}}
		resp, exc, err := p.exchange(ctx, u, kindDeviceID, deviceIDDetail(u.unit, code), req)
		if err != nil {
			return first, err
		}
		if exc != 0 {
			if page == 0 {
				first.exception = exc
			}
			return first, nil
		}
		r, derr := decodeDeviceID(resp.Data)
		for _, o := range r.Objects {
			if _, dup := u.objects[o.ID]; !dup {
				u.objects[o.ID] = o.Value
			}
		}
		if page == 0 {
			first.resp = r
		}
		if derr != nil {
			u.malformed = append(u.malformed, derr)
			return first, nil
		}
		if !r.MoreFollows {
			return first, nil
		}
		if r.NextObjectID <= objectID {
			u.malformed = append(u.malformed, fmt.Errorf("%w: read device identification: next object 0x%02x does not move past 0x%02x", errMalformed, r.NextObjectID, objectID))
			return first, nil
		}
		objectID = r.NextObjectID
	}
	p.log.Info("read device identification: page limit reached", "unit", u.unit, "pages", p.c.maxPages)
	return first, nil
}

func (p *probe) reportServerID(ctx context.Context, u *unitResult) error {
	resp, exc, err := p.exchange(ctx, u, kindServerID, unitDetail(u.unit), modbus.ProtocolDataUnit{FunctionCode: fcReportServerID})
	if err != nil || exc != 0 {
		return err
	}
	id, derr := decodeServerID(resp.Data)
	if derr != nil {
		u.malformed = append(u.malformed, derr)
	}
	u.serverID = id
	return nil
}

// readRegister reads holding register 0, count 1: the least a device can
// be asked, to establish that it serves unauthenticated reads. The value
// is process data and is not kept.
func (p *probe) readRegister(ctx context.Context, u *unitResult) error {
	req := modbus.ProtocolDataUnit{FunctionCode: fcReadHoldingRegisters, Data: []byte{0, registerAddress, 0, 1}}
	resp, exc, err := p.exchange(ctx, u, kindHoldingRegs, registerDetail(u.unit), req)
	if err != nil || exc != 0 {
		return err
	}
	if len(resp.Data) != 3 || resp.Data[0] != 2 {
		u.malformed = append(u.malformed, fmt.Errorf("%w: read holding registers: %d data bytes for one register", errMalformed, len(resp.Data)))
	}
	return nil
}

// exchange sends one request through the session, connecting first if
// needed, and counts it. It closes the connection after any error and
// retries only silence (timeouts, resets), within Limits.Retries. It
// returns the exception code (0 for a normal answer).
func (p *probe) exchange(ctx context.Context, u *unitResult, kind, detail string, req modbus.ProtocolDataUnit) (modbus.ProtocolDataUnit, byte, error) {
	op := u.op(req.FunctionCode)
	tries := 1 + max(p.s.Limits().Retries, 0)
	var err error
	for try := 0; try < tries; try++ {
		if err = p.connect(ctx); err != nil {
			return modbus.ProtocolDataUnit{}, 0, err
		}
		var resp modbus.ProtocolDataUnit
		err = p.s.Do(ctx, protocol, kind, detail, func(ctx context.Context) error {
			op.Requests++
			var e error
			resp, e = p.cl.Exchange(ctx, u.unit, req)
			return e
		})
		if err == nil {
			p.anyAnswer = true
			u.lastAnswer = p.c.now()
			if resp.FunctionCode&exceptionBit != 0 {
				op.Exceptions++
				exc := byte(0xFF) // an exception with no code is still a refusal
				if len(resp.Data) > 0 && resp.Data[0] != 0 {
					exc = resp.Data[0]
				}
				return resp, exc, nil
			}
			op.Responses++
			return resp, 0, nil
		}
		p.disconnect()
		if errors.Is(err, active.ErrNotAllowed) || ctx.Err() != nil {
			return modbus.ProtocolDataUnit{}, 0, err
		}
		if errors.Is(err, errMalformed) {
			u.malformed = append(u.malformed, err)
			p.anyAnswer = true
			return modbus.ProtocolDataUnit{}, 0, err
		}
		if !isSilence(err) {
			return modbus.ProtocolDataUnit{}, 0, err
		}
	}
	return modbus.ProtocolDataUnit{}, 0, fmt.Errorf("%w after %d tries: %v", errSilent, tries, err)
}

// connect opens the connection through the session (kind tcp/connect) and
// honours the device's pause-after-connect workaround.
func (p *probe) connect(ctx context.Context) error {
	if p.connected {
		return nil
	}
	err := p.s.Do(ctx, protocolTCP, kindConnect, p.c.connectDetail(), func(ctx context.Context) error { return p.cl.Connect(ctx) })
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	p.connected = true
	return p.s.PauseAfterConnect(ctx)
}

func (p *probe) disconnect() {
	_ = p.cl.Close()
	p.connected = false
}

// isSilence: the device did not answer in time or dropped the connection:
// worth one more try on a fresh connection.
func isSilence(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// isRefused: nothing listens (or a firewall rejects): no point asking more.
func isRefused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH)
}

// emit turns the probe's results into observations: one Operation per
// (unit, function code) that was answered, one Identity per distinct
// identity.
func (p *probe) emit(emit func(otaudit.Observation)) {
	end := p.c.now()
	seen := map[otaudit.DeviceIdentity]bool{}
	for _, u := range p.units {
		for _, fc := range []byte{fcEncapsulatedIface, fcReportServerID, fcReadHoldingRegisters} {
			o, ok := u.ops[fc]
			if !ok || o.Responses+o.Exceptions == 0 {
				continue
			}
			op := *o
			op.Client, op.Server = p.agent, p.addr.Addr()
			emit(otaudit.Observation{Kind: otaudit.KindOperation, Source: source, FirstSeen: p.start, LastSeen: end,
				Count: op.Responses + op.Exceptions, Operation: &op})
		}
		id, ok := u.identity(p.addr.Addr())
		if !ok || seen[id] {
			continue
		}
		seen[id] = true
		emit(otaudit.Observation{Kind: otaudit.KindIdentity, Source: source, FirstSeen: p.start, LastSeen: end,
			Count: 1, Identity: &id})
	}
}

// identity maps FC 43 objects (same mapping as the passive decoder, so the
// inventory merges them alike) or, failing those, the FC 17 text.
func (u *unitResult) identity(ip netip.Addr) (otaudit.DeviceIdentity, bool) {
	if len(u.objects) > 0 {
		id := otaudit.DeviceIdentity{
			IP:          ip,
			Method:      "modbus-fc43",
			Vendor:      u.objects[objVendorName],
			ProductCode: u.objects[objProductCode],
			Firmware:    u.objects[objMajorMinorRevision],
			Name:        u.objects[objProductName],
			Model:       u.objects[objModelName],
		}
		if id.Model == "" {
			id.Model = u.objects[objProductName]
		}
		if id.Vendor != "" || id.ProductCode != "" || id.Firmware != "" || id.Model != "" {
			return id, true
		}
	}
	if u.serverID != "" {
		// FC 17's layout is vendor specific: keep its text as the name the
		// device gives itself rather than guess vendor and model from it.
		return otaudit.DeviceIdentity{IP: ip, Method: "modbus-fc17", Name: u.serverID}, true
	}
	return otaudit.DeviceIdentity{}, false
}

// localAddrTo is the agent's source address towards addr, from a routing
// lookup: connecting a UDP socket sends nothing. Invalid when unknown.
func localAddrTo(addr netip.AddrPort) netip.Addr {
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return netip.Addr{}
	}
	defer conn.Close()
	if a, ok := conn.LocalAddr().(*net.UDPAddr); ok {
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}
