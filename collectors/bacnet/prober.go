package bacnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/collectors/active"
	"github.com/otaudit/otaudit/collectors/pcap/bacnet"
)

const (
	// DefaultPort is the BACnet/IP UDP port (0xBAC0).
	DefaultPort = bacnet.Port
	// DefaultGiveUpAfterSilent is how many properties in a row may get no
	// answer at all (after their retries) before a device that has not
	// answered any ReadProperty is left alone: it answers Who-Is only, and
	// asking on would add a timeout per property.
	DefaultGiveUpAfterSilent = 2
	// maxRepliesPerRequest bounds the datagrams read while waiting for one
	// answer: a device that floods the socket with stale or foreign replies
	// gets its request counted as unanswered instead of a busy loop.
	maxRepliesPerRequest = 32

	protocol = "bacnet"
	source   = "bacnet:active"
)

// Property is one Device-object property the prober reads.
type Property struct {
	ID   uint16
	Name string
}

// Properties are the Device-object properties read from every device that
// answers Who-Is, in this order (objectName first: every device has it, so
// its silence says the device does not serve ReadProperty).
var Properties = []Property{
	{77, "objectName"}, {121, "vendorName"}, {70, "modelName"}, {44, "firmwareRevision"},
	{12, "applicationSoftwareVersion"}, {58, "location"}, {28, "description"},
}

const (
	propObjectName  = 77
	propVendorName  = 121
	propModelName   = 70
	propFirmware    = 44
	propAppSoftware = 12
	propLocation    = 58
	propDescription = 28
)

// Config configures the prober; the zero value is the real one.
type Config struct {
	// Port is the BACnet/IP port asked (DefaultPort when 0). Only tests
	// set it.
	Port uint16
	// LocalPort is the port the prober listens on besides its own
	// (DefaultPort when 0): many devices answer a Who-Is with an I-Am
	// broadcast to the BACnet port rather than sent to the asker's port.
	// When another program holds the port without sharing it, only
	// replies to the asker's port are heard. Only tests set it.
	LocalPort uint16
	// GiveUpAfterSilent: see DefaultGiveUpAfterSilent; 0 takes the
	// default, a negative value never gives up.
	GiveUpAfterSilent int
	Logger            *slog.Logger
	// Now stamps observations (time.Now when nil).
	Now func() time.Time
}

// Prober is the active BACnet/IP prober (active.Prober "bacnet").
type Prober struct {
	port     uint16
	local    uint16
	iAms     *iAmListener
	giveUpAt int
	log      *slog.Logger
	now      func() time.Time
}

var _ active.Prober = (*Prober)(nil)

// New returns the prober for cfg.
func New(cfg Config) *Prober {
	p := &Prober{port: cfg.Port, local: cfg.LocalPort, giveUpAt: cfg.GiveUpAfterSilent, log: cfg.Logger, now: cfg.Now}
	if p.port == 0 {
		p.port = DefaultPort
	}
	if p.local == 0 {
		p.local = DefaultPort
	}
	p.iAms = &iAmListener{port: p.local}
	if p.giveUpAt == 0 {
		p.giveUpAt = DefaultGiveUpAfterSilent
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	return p
}

// Name is "bacnet".
func (p *Prober) Name() string { return protocol }

func (p *Prober) whoIsDetail() string {
	return "unicast who-is to udp port " + strconv.Itoa(int(p.port))
}

func propertyDetail(pr Property) string {
	return fmt.Sprintf("readProperty device object %s (%d)", pr.Name, pr.ID)
}

// readRetryDetail names the ReadProperty retries in the plan and the ledger.
const readRetryDetail = "retry of a readProperty that got no answer"

// retryBudget is the ReadProperty retries per device: l.Retries, shared by
// every property (a device that drops every request must not cost every
// property 1+Retries timeouts), and never more than one per property.
func retryBudget(l active.Limits) int { return min(max(l.Retries, 0), len(Properties)) }

// Plan is one Who-Is (1+l.Retries attempts) and one ReadProperty per
// property, plus the shared ReadProperty retry budget. Probe may send less
// (a silent or refusing address gets only the Who-Is), never more.
func (p *Prober) Plan(t active.Target, l active.Limits) []active.PlannedRequest {
	plan := make([]active.PlannedRequest, 0, len(Properties)+2)
	plan = append(plan, active.PlannedRequest{Target: t.Addr, Protocol: protocol, Kind: kindWhoIs,
		MaxAttempts: 1 + max(l.Retries, 0), Detail: p.whoIsDetail()})
	for _, pr := range Properties {
		plan = append(plan, active.PlannedRequest{Target: t.Addr, Protocol: protocol, Kind: kindReadProperty,
			MaxAttempts: 1, Detail: propertyDetail(pr)})
	}
	if r := retryBudget(l); r > 0 {
		plan = append(plan, active.PlannedRequest{Target: t.Addr, Protocol: protocol, Kind: kindReadProperty,
			MaxAttempts: r, Detail: readRetryDetail})
	}
	return plan
}

// probe is the state of one device's probe.
type probe struct {
	p    *Prober
	s    *active.Session
	addr netip.AddrPort
	log  *slog.Logger
	conn net.Conn
	buf  []byte
	// heard carries what the device sent to the BACnet port (its I-Am
	// broadcast), nil when that port could not be had.
	heard <-chan []byte

	nextInvoke byte
	// Traffic, for the flow observation.
	sent, received        int64
	bytesOut, bytesIn     int64
	first, last           time.Time
	malformed             []error
	moreMalformed         int
	iam                   *bacnet.IAm
	values                map[uint16]string
	answeredReadProperty  bool
	silentPropertiesInRow int
}

// Probe asks t with a unicast Who-Is and, when a device answers, reads its
// Device-object properties, then emits what it learnt. Silence and a
// closed port (ICMP port unreachable) mean no BACnet device: nil, no
// observation, nothing more sent. An unreachable network or host wraps
// active.ErrUnreachable. Error, Reject and Abort answers are outcomes;
// malformed replies are returned as the device's error after the
// observations are emitted.
func (p *Prober) Probe(ctx context.Context, s *active.Session, t active.Target, emit func(otaudit.Observation)) error {
	addr := netip.AddrPortFrom(t.Addr, p.port)
	// A connected socket: the kernel hands us only datagrams from addr
	// and reports ICMP port and host unreachable on the next read.
	// Opening it sends nothing.
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", addr.String())
	if err != nil {
		if isUnreachable(err) {
			return fmt.Errorf("bacnet %s: %w: %w", addr, active.ErrUnreachable, err)
		}
		return fmt.Errorf("bacnet %s: open socket: %w", addr, err)
	}
	defer conn.Close()
	pr := &probe{p: p, s: s, addr: addr, conn: conn, buf: make([]byte, maxDatagram+1),
		log: p.log.With("collector", protocol, "target", addr.String()), values: map[uint16]string{}, nextInvoke: 1}
	heard, release, err := p.iAms.hear(t.Addr)
	if err != nil {
		pr.log.Debug("BACnet port not available locally: an I-Am broadcast to it will not be heard", "port", p.local, "error", err)
	}
	defer release()
	pr.heard = heard
	err = pr.run(ctx)
	pr.emit(emit)
	if err != nil {
		return fmt.Errorf("bacnet %s: %w", addr, err)
	}
	if len(pr.malformed) > 0 {
		if pr.moreMalformed > 0 {
			pr.malformed = append(pr.malformed, fmt.Errorf("%d more malformed replies", pr.moreMalformed))
		}
		return fmt.Errorf("bacnet %s: %w", addr, errors.Join(pr.malformed...))
	}
	return nil
}

// outcome of one request.
type outcome int

const (
	answered    outcome = iota
	silent              // no matching answer before the timeout
	refused             // ICMP port unreachable: nothing listens
	unreachable         // the network says the host cannot be reached
	failed              // anything else: our own refusal, cancellation, a local error
)

func classify(err error) outcome {
	switch {
	case err == nil:
		return answered
	case errors.Is(err, active.ErrNotAllowed), errors.Is(err, active.ErrOverPlan):
		return failed
	case errors.Is(err, syscall.ECONNREFUSED):
		return refused
	case isUnreachable(err):
		return unreachable
	case errors.Is(err, errFlooded), errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return silent
	}
	return failed
}

func isUnreachable(err error) bool {
	return errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTDOWN)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// errFlooded: more datagrams than maxRepliesPerRequest, none the answer.
var errFlooded = errors.New("too many replies that are not the answer")

func (pr *probe) run(ctx context.Context) error {
	limits := pr.s.Limits()
	tries := 1 + max(limits.Retries, 0)
	var r reply
	var err error
	for try := 0; try < tries; try++ {
		r, err = pr.exchange(ctx, kindWhoIs, pr.p.whoIsDetail(), whoIsDatagram, func(r reply) bool {
			// An I-Am with a source network speaks for a device behind a
			// router, which our ReadProperty (no DNET) would not reach.
			return r.kind == replyIAm && r.sourceNetwork == 0
		})
		if classify(err) != silent {
			break
		}
	}
	if classify(err) == silent {
		if iam, ok := pr.broadcastIAm(); ok {
			r, err = iam, nil
		}
	}
	switch classify(err) {
	case answered:
	case silent:
		pr.log.Debug("no I-Am: no BACnet device here", "replies", pr.received)
		return nil
	case refused:
		pr.log.Debug("port unreachable: no BACnet device here")
		return nil
	case unreachable:
		return fmt.Errorf("who-is: %w: %w", active.ErrUnreachable, err)
	default:
		return fmt.Errorf("who-is: %w", err)
	}
	iam := r.iam
	pr.iam = &iam
	pr.log.Debug("i-Am", "instance", iam.DeviceInstance, "vendor", iam.VendorID)
	return pr.readProperties(ctx, limits)
}

// broadcastIAm is the I-Am the device sent to the BACnet port while the
// Who-Is went unanswered on the asker's port, if any.
func (pr *probe) broadcastIAm() (reply, bool) {
	for {
		select {
		case b := <-pr.heard:
			pr.count(&pr.received, &pr.bytesIn, len(b))
			r, err := decodeReply(b)
			if err != nil {
				pr.note(err)
				continue
			}
			if r.kind == replyIAm && r.sourceNetwork == 0 {
				return r, true
			}
		default:
			return reply{}, false
		}
	}
}

// readProperties reads every property of Properties once, retrying one
// that got no answer while the shared budget lasts.
func (pr *probe) readProperties(ctx context.Context, limits active.Limits) error {
	retriesLeft := retryBudget(limits)
	for _, prop := range Properties {
		var ids []byte
		var err error
		var r reply
		for attempt := 0; ; attempt++ {
			detail := propertyDetail(prop)
			if attempt > 0 {
				detail = readRetryDetail
			}
			id := pr.nextInvoke
			pr.nextInvoke++
			ids = append(ids, id)
			datagram := encodeReadProperty(id, pr.iam.DeviceInstance, prop.ID)
			r, err = pr.exchange(ctx, kindReadProperty, detail, datagram, answers(ids))
			if classify(err) != silent || retriesLeft == 0 {
				break
			}
			retriesLeft--
		}
		switch classify(err) {
		case answered:
			pr.answeredReadProperty = true
			pr.silentPropertiesInRow = 0
			pr.record(prop, r)
		case silent:
			pr.silentPropertiesInRow++
			pr.log.Debug("readProperty: no answer", "property", prop.Name)
			if !pr.answeredReadProperty && pr.p.giveUpAt > 0 && pr.silentPropertiesInRow >= pr.p.giveUpAt {
				pr.log.Debug("answers Who-Is but not ReadProperty: reporting what I-Am gave", "silent", pr.silentPropertiesInRow)
				return nil
			}
		case refused, unreachable:
			// It answered Who-Is a moment ago: report what it gave.
			pr.log.Info("device stopped answering", "property", prop.Name, "error", err)
			return nil
		default:
			return fmt.Errorf("readProperty %s: %w", prop.Name, err)
		}
	}
	return nil
}

// answers matches the reply to a ReadProperty of prop sent with one of
// ids (a retry has an invoke ID of its own, and a late answer to the first
// attempt is as good as one to the retry): an acknowledgement or a refusal
// with one of those invoke IDs. Another invoke ID is a stale or foreign
// reply and is not the answer.
func answers(ids []byte) func(reply) bool {
	return func(r reply) bool {
		mine := false
		for _, id := range ids {
			mine = mine || r.invokeID == id
		}
		switch {
		case !mine:
			return false
		case r.kind == replyAck, r.kind == replyError:
			return r.service == serviceReadProp
		case r.kind == replyReject, r.kind == replyAbort:
			return true
		}
		return false
	}
}

// record keeps a property's value, or notes why there is none. An
// acknowledgement for another object or property than asked is malformed.
func (pr *probe) record(prop Property, r reply) {
	want := uint32(objectTypeDevice)<<22 | pr.iam.DeviceInstance&instanceMask
	switch {
	case r.kind != replyAck:
		// unknown-property is the normal answer of a device without it.
		pr.log.Debug("readProperty refused", "property", prop.Name, "outcome", r.outcome())
	case r.value.Problem == "" && (r.object != want || r.property != uint32(prop.ID)):
		pr.note(fmt.Errorf("%w: readProperty %s: acknowledgement for object 0x%08x property %d", errMalformed, prop.Name, r.object, r.property))
	case strings.HasPrefix(r.value.Problem, "malformed"):
		pr.note(fmt.Errorf("%w: readProperty %s: %s", errMalformed, prop.Name, r.value.Problem))
	case r.value.Problem != "":
		pr.log.Info("readProperty value not kept", "property", prop.Name, "why", r.value.Problem)
	case r.value.Text != "":
		pr.values[prop.ID] = r.value.Text
	}
}

// maxMalformedKept bounds the malformed replies kept as evidence in the
// device's error; the rest are counted.
const maxMalformedKept = 8

// note keeps a malformed reply as evidence, within maxMalformedKept.
func (pr *probe) note(err error) {
	if len(pr.malformed) < maxMalformedKept {
		pr.malformed = append(pr.malformed, err)
		return
	}
	pr.moreMalformed++
}

// exchange sends one datagram through the session (which checks it is
// allowed and planned, paces it and bounds it by the request timeout) and
// reads replies until match accepts one. The datagram is checked by the
// guard right before it is written.
func (pr *probe) exchange(ctx context.Context, kind, detail string, datagram []byte, match func(reply) bool) (reply, error) {
	var got reply
	err := pr.s.Do(ctx, protocol, kind, detail, func(ctx context.Context) error {
		k, err := checkOutgoing(datagram)
		if err != nil {
			return err
		}
		if k != kind {
			return fmt.Errorf("bacnet guard: datagram is a %s, the session let through a %s: %w", k, kind, active.ErrNotAllowed)
		}
		if _, err := pr.conn.Write(datagram); err != nil {
			return err
		}
		pr.count(&pr.sent, &pr.bytesOut, len(datagram))
		got, err = pr.await(ctx, kind == kindWhoIs, match)
		return err
	})
	return got, err
}

func (pr *probe) count(packets, bytes *int64, n int) {
	now := pr.p.now()
	if pr.first.IsZero() {
		pr.first = now
	}
	pr.last = now
	*packets++
	*bytes += int64(n)
}

// await reads datagrams until one decodes and match accepts it, the
// context ends, or maxRepliesPerRequest were read.
func (pr *probe) await(ctx context.Context, iAm bool, match func(reply) bool) (reply, error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = pr.conn.SetReadDeadline(dl)
	}
	// A cancelled scan ends the blocked read at once. The function runs on
	// its own goroutine: wait for it, or it could cut short the next
	// request's read after that one set its deadline.
	cut := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		_ = pr.conn.SetReadDeadline(time.Now())
		close(cut)
	})
	defer func() {
		if !stop() {
			<-cut
		}
	}()
	dl, _ := ctx.Deadline()
	for replies := 0; replies < maxRepliesPerRequest; {
		if pr.heard != nil && iAm {
			// Look at the BACnet port's I-Am broadcasts every tick while
			// the device has not answered the asker's port.
			_ = pr.conn.SetReadDeadline(earliest(dl, time.Now().Add(iAmTick)))
		}
		n, err := pr.conn.Read(pr.buf)
		if err != nil {
			if ctx.Err() != nil {
				return reply{}, ctx.Err()
			}
			if pr.heard != nil && iAm && errors.Is(err, os.ErrDeadlineExceeded) {
				if r, ok := pr.broadcastIAm(); ok {
					return r, nil
				}
				if dl.IsZero() || time.Now().Before(dl) {
					continue
				}
			}
			return reply{}, err
		}
		replies++
		pr.count(&pr.received, &pr.bytesIn, n)
		r, err := decodeReply(pr.buf[:n])
		if err != nil {
			pr.note(err)
			continue
		}
		if match(r) {
			return r, nil
		}
		pr.log.Debug("reply is not the answer", "kind", r.kind, "invoke", r.invokeID)
	}
	return reply{}, errFlooded
}

// emit reports the service, the host and its identity when anything
// answered; a silent address reports nothing.
func (pr *probe) emit(emit func(otaudit.Observation)) {
	if pr.received == 0 {
		return
	}
	var client netip.Addr
	if la, ok := pr.conn.LocalAddr().(*net.UDPAddr); ok {
		client = la.AddrPort().Addr().Unmap()
	}
	server := pr.addr.Addr()
	emit(otaudit.Observation{Kind: otaudit.KindFlow, Source: source, FirstSeen: pr.first, LastSeen: pr.last,
		Count: pr.sent + pr.received,
		Flow: &otaudit.Flow{Client: client, Server: server, Transport: otaudit.UDP, ServerPort: pr.addr.Port(),
			Protocol: protocol, ServerAnswered: true, Packets: pr.sent + pr.received,
			BytesToServer: pr.bytesOut, BytesToClient: pr.bytesIn}})
	emit(otaudit.Observation{Kind: otaudit.KindHost, Source: source, FirstSeen: pr.first, LastSeen: pr.last,
		Count: pr.received, Host: &otaudit.HostSighting{IP: server, Packets: pr.received, Bytes: pr.bytesIn}})
	if pr.iam == nil {
		return
	}
	id := pr.identity(server)
	if loc, desc := pr.values[propLocation], pr.values[propDescription]; loc != "" || desc != "" {
		// DeviceIdentity has no field for them yet.
		pr.log.Info("device location and description", "location", loc, "description", desc)
	}
	emit(otaudit.Observation{Kind: otaudit.KindIdentity, Source: source, FirstSeen: pr.first, LastSeen: pr.last,
		Count: 1, Identity: &id})
}

// identity combines the I-Am and the properties read. The device instance,
// which DeviceIdentity has no field for, is the name when the device gave
// none (as the passive decoder names it) and follows the object name
// otherwise, with the application software version, so that neither is
// lost.
func (pr *probe) identity(ip netip.Addr) otaudit.DeviceIdentity {
	v := pr.values
	instance := "device " + strconv.FormatUint(uint64(pr.iam.DeviceInstance), 10)
	id := otaudit.DeviceIdentity{IP: ip, Method: "bacnet-iam", Vendor: v[propVendorName],
		Model: v[propModelName], Firmware: v[propFirmware], Name: instance}
	if id.Vendor == "" {
		id.Vendor = bacnet.VendorName(pr.iam.VendorID)
	}
	for _, prop := range Properties {
		if v[prop.ID] != "" {
			id.Method = "bacnet-readproperty"
		}
	}
	var notes []string
	if name := v[propObjectName]; name != "" {
		id.Name = name
		notes = append(notes, instance)
	}
	if app := v[propAppSoftware]; app != "" {
		notes = append(notes, "application software "+app)
	}
	if len(notes) > 0 {
		id.Name += " (" + strings.Join(notes, ", ") + ")"
	}
	return id
}

// iAmTick is how often a Who-Is wait looks for an I-Am broadcast.
const iAmTick = 50 * time.Millisecond

// earliest is the earlier of a deadline (zero: none) and t.
func earliest(deadline, t time.Time) time.Time {
	if !deadline.IsZero() && deadline.Before(t) {
		return deadline
	}
	return t
}
