// Package discovery is the "tcp" active prober: it finds which OT and
// management TCP ports a device has open with plain TCP connects — connect,
// then close at once, not a byte of payload — and reports them as flows,
// plus the device itself when anything answered. The scheduler hands what
// it found to the protocol probers, which then skip closed ports.
//
// What must not live here: any payload, banner grabbing or service
// fingerprinting (a connect is the gentlest probe there is, and the only
// one this package may make); UDP services (SNMP on 161 belongs to the snmp
// prober, BACnet/IP on 47808 to the bacnet prober).
package discovery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"time"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/collectors/active"
)

// Port is one TCP port discovery tries, with the application protocol its
// flows are labelled with (the same names as the passive collector).
type Port struct {
	Number   uint16
	Protocol string
}

// DefaultPorts are the only ports a real scan connects to: industrial
// protocols first, so that a device that stops answering half-way has been
// asked about what matters most.
var DefaultPorts = []Port{
	{102, "s7comm"}, {502, "modbus"}, {4840, "opcua"}, {44818, "enip"}, {20000, "dnp3"}, {2404, "iec104"},
	{21, "ftp"}, {22, "ssh"}, {23, "telnet"}, {80, "http"}, {443, "https"}, {3389, "rdp"}, {5900, "vnc"},
}

// DefaultGiveUpAfterSilent is how many consecutive connects that got no
// answer at all (no accept, no refusal) end discovery of a device that has
// not answered anything yet: a dead address otherwise costs a timeout for
// every port.
const DefaultGiveUpAfterSilent = 4

// Config configures the prober. The zero value is the real one.
type Config struct {
	// Ports replaces DefaultPorts. Only tests set it (listeners on port 0).
	Ports []Port
	// GiveUpAfterSilent: see DefaultGiveUpAfterSilent; 0 takes the
	// default, a negative value never gives up.
	GiveUpAfterSilent int
	// Dial opens a TCP connection (default: a net.Dialer).
	Dial   func(ctx context.Context, network, address string) (net.Conn, error)
	Logger *slog.Logger
	// Now stamps observations (default time.Now).
	Now func() time.Time
}

// Prober is the "tcp" discovery prober.
type Prober struct {
	ports      []Port
	giveUpAt   int
	dial       func(ctx context.Context, network, address string) (net.Conn, error)
	log        *slog.Logger
	now        func() time.Time
	sourceName string
}

// New returns the discovery prober.
func New(cfg Config) *Prober {
	p := &Prober{ports: cfg.Ports, giveUpAt: cfg.GiveUpAfterSilent, dial: cfg.Dial, log: cfg.Logger, now: cfg.Now,
		sourceName: "tcp:active"}
	if p.ports == nil {
		p.ports = DefaultPorts
	}
	if p.giveUpAt == 0 {
		p.giveUpAt = DefaultGiveUpAfterSilent
	}
	if p.dial == nil {
		var d net.Dialer
		p.dial = d.DialContext
	}
	if p.log == nil {
		p.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if p.now == nil {
		p.now = time.Now
	}
	return p
}

// Name is "tcp".
func (p *Prober) Name() string { return "tcp" }

func detail(port Port) string {
	if port.Protocol == "" {
		return "port " + strconv.Itoa(int(port.Number))
	}
	return fmt.Sprintf("port %d (%s)", port.Number, port.Protocol)
}

// retryDetail names the retry connects in the plan and the ledger.
const retryDetail = "retry of a port that did not answer"

// Plan is one connect per port, plus the device's retry budget: a connect
// that got no answer at all may have been lost, so it is tried again while
// the budget lasts (l.Retries per device, not per port: the kernel already
// repeats a lost SYN within one connect, and a device that drops every
// port must not cost every port twice). A refusal is never retried.
func (p *Prober) Plan(t active.Target, l active.Limits) []active.PlannedRequest {
	out := make([]active.PlannedRequest, 0, len(p.ports)+1)
	for _, port := range p.ports {
		out = append(out, active.PlannedRequest{Target: t.Addr, Protocol: "tcp", Kind: "connect",
			MaxAttempts: 1, Detail: detail(port)})
	}
	if r := max(l.Retries, 0); r > 0 && len(p.ports) > 0 {
		out = append(out, active.PlannedRequest{Target: t.Addr, Protocol: "tcp", Kind: "connect",
			MaxAttempts: min(r, len(p.ports)), Detail: retryDetail})
	}
	return out
}

// outcome of one connect.
type outcome int

const (
	silent      outcome = iota // no answer before the timeout (dropped, or nobody there)
	open                       // accepted
	refused                    // RST: the device is alive, the port closed
	unreachable                // the network says the host cannot be reached
	failed                     // anything else (local errors)
)

func classify(err error) outcome {
	switch {
	case err == nil:
		return open
	case errors.Is(err, syscall.ECONNREFUSED):
		return refused
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTDOWN):
		return unreachable
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, syscall.ETIMEDOUT), isTimeout(err):
		return silent
	}
	return failed
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// ErrUnreachable: the network reported the device unreachable. It is
// active.ErrUnreachable, so the scheduler skips the other probers.
var ErrUnreachable = active.ErrUnreachable

// Probe connects to each port in turn (through s.Do, so within the rate
// limits and the plan) and emits a flow per open port and the host when
// anything answered. A device that answers nothing is not an error (a
// range holds many empty addresses, and a device may serve SNMP only); one
// the network reports unreachable ends with ErrUnreachable and the
// network's reason, which tells the scheduler to try nothing else there.
func (p *Prober) Probe(ctx context.Context, s *active.Session, t active.Target, emit func(otaudit.Observation)) error {
	log := p.log.With("collector", "tcp", "target", t.Addr)
	retriesLeft := max(s.Limits().Retries, 0)
	var (
		client       netip.Addr
		answered     int64
		openPorts    []Port
		silentInARow int
		first, last  time.Time
	)
	for _, port := range p.ports {
		address := net.JoinHostPort(t.Addr.String(), strconv.Itoa(int(port.Number)))
		var result outcome
		var lastErr error
		for attempt := 0; ; attempt++ {
			what := detail(port)
			if attempt > 0 {
				what = retryDetail + ": " + what
			}
			err := s.Do(ctx, "tcp", "connect", what, func(ctx context.Context) error {
				conn, err := p.dial(ctx, "tcp", address)
				if err != nil {
					return err
				}
				if la, ok := conn.LocalAddr().(*net.TCPAddr); ok {
					client = la.AddrPort().Addr().Unmap()
				}
				// Closed at once: no payload is ever written.
				return conn.Close()
			})
			now := p.now()
			if first.IsZero() {
				first = now
			}
			last = now
			if errors.Is(err, active.ErrNotAllowed) || errors.Is(err, active.ErrOverPlan) {
				return fmt.Errorf("tcp %s port %d: %w", t.Addr, port.Number, err)
			}
			if ctx.Err() != nil {
				return fmt.Errorf("tcp %s: %w", t.Addr, ctx.Err())
			}
			result, lastErr = classify(err), err
			if result != silent || retriesLeft == 0 {
				break
			}
			retriesLeft--
		}
		switch result {
		case open:
			answered++
			silentInARow = 0
			openPorts = append(openPorts, port)
		case refused:
			answered++
			silentInARow = 0
		case unreachable:
			return fmt.Errorf("tcp %s port %d: %w: %w", t.Addr, port.Number, ErrUnreachable, lastErr)
		case silent:
			silentInARow++
		case failed:
			log.Debug("connect failed", "port", port.Number, "error", lastErr)
		}
		if answered == 0 && p.giveUpAt > 0 && silentInARow >= p.giveUpAt {
			log.Debug("no answer on any port so far: giving up on this address", "silent", silentInARow)
			break
		}
	}
	if answered == 0 {
		return nil
	}
	for _, port := range openPorts {
		emit(otaudit.Observation{Kind: otaudit.KindFlow, Source: p.sourceName, FirstSeen: first, LastSeen: last, Count: 1,
			Flow: &otaudit.Flow{Client: client, Server: t.Addr, Transport: otaudit.TCP, ServerPort: port.Number,
				Protocol: port.Protocol, ServerAnswered: true, Connections: 1, Packets: 1}})
	}
	emit(otaudit.Observation{Kind: otaudit.KindHost, Source: p.sourceName, FirstSeen: first, LastSeen: last, Count: answered,
		Host: &otaudit.HostSighting{IP: t.Addr, Packets: 1}})
	log.Debug("discovered", "open", len(openPorts), "answered", answered)
	return nil
}
