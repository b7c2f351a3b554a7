// Package arpsweep is the "arp" active sweeper: before any device is
// probed, it asks every target that sits on a directly attached IPv4 link
// "who has this address?" with one ARP request — the broadcast any host
// sends before it talks to a neighbour — so that an empty address of a
// range costs one packet and a short wait instead of a connect timeout,
// and the hosts that answer are probed at once, with their MAC address
// (and its OUI vendor) in the inventory.
//
// What must not live here: anything above layer 2 (pings, connects);
// ARP replies or gratuitous ARP (the sweeper only asks, it never claims an
// address: a forged reply is an attack, not a probe); IPv6 neighbour
// discovery (IPv6 targets are left to the probers).
package arpsweep

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/collectors/active"
	"github.com/otaudit/otaudit/configs/oui"
)

// DefaultReplyWait is how long a request is given to be answered before it
// is repeated (within the retry budget) or the address is taken as empty.
// A host on the same link answers ARP within milliseconds, even a busy PLC.
const DefaultReplyWait = 500 * time.Millisecond

// Network is the part of the machine the sweeper needs; tests replace it.
type Network interface {
	// Attached returns the directly attached IPv4 link target is on, or
	// false (routed, IPv6, the machine's own address, a link without ARP).
	Attached(target netip.Addr) (Link, bool)
	// Open opens link for ARP: WhoHas sends a request; heard is called,
	// from any goroutine, with the sender of every ARP packet another
	// host sends on the link, until Close returns.
	Open(link Link, heard func(ip netip.Addr, mac net.HardwareAddr)) (Conn, error)
}

// Link is one attached IPv4 link: the interface and the address the
// sweeper speaks from on it.
type Link struct {
	Interface string
	Index     int
	MAC       string // the interface's own MAC, colon-separated
	Source    netip.Addr
}

func (l Link) String() string { return l.Interface + " (" + l.Source.String() + ")" }

// Conn is an open link.
type Conn interface {
	WhoHas(ctx context.Context, target netip.Addr) error
	Close() error
}

// Config configures the sweeper. The zero value is the real one.
type Config struct {
	// ReplyWait: see DefaultReplyWait.
	ReplyWait time.Duration
	// Network replaces the machine's (tests).
	Network Network
	Logger  *slog.Logger
	// Now stamps observations (default time.Now).
	Now func() time.Time
}

// Prober is the "arp" sweeper (an active.Sweeper).
type Prober struct {
	wait time.Duration
	net  Network
	log  *slog.Logger
	now  func() time.Time
}

// New returns the sweeper.
func New(cfg Config) *Prober {
	p := &Prober{wait: cfg.ReplyWait, net: cfg.Network, log: cfg.Logger, now: cfg.Now}
	if p.wait <= 0 {
		p.wait = DefaultReplyWait
	}
	if p.net == nil {
		p.net = newSystemNetwork()
	}
	if p.log == nil {
		p.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if p.now == nil {
		p.now = time.Now
	}
	return p
}

// Name is "arp".
func (p *Prober) Name() string { return "arp" }

func detail(l Link) string { return "is the address in use? (ARP request on " + l.Interface + ")" }

// Plan is one ARP request per target on an attached link, plus its
// retries; nothing for the others.
func (p *Prober) Plan(t active.Target, l active.Limits) []active.PlannedRequest {
	link, ok := p.net.Attached(t.Addr)
	if !ok {
		return nil
	}
	return []active.PlannedRequest{{Target: t.Addr, Protocol: "arp", Kind: "who-has",
		MaxAttempts: 1 + max(l.Retries, 0), Detail: detail(link)}}
}

// Probe is never called: the scheduler runs Sweep instead.
func (p *Prober) Probe(context.Context, *active.Session, active.Target, func(otaudit.Observation)) error {
	return errors.New("arp: the sweeper is run by Sweep, not per device")
}

// sweepTarget is one target's progress.
type sweepTarget struct {
	j      int
	addr   netip.Addr
	link   Link
	sess   *active.Session
	sent   int
	lastAt time.Time
	// decided: answered (reported present) or reported absent.
	decided bool
	macs    []string
}

// Sweep asks each target on an attached link, in rounds: every target
// once, then, within the retry budget, those still silent ReplyWait after
// their last request. A reply decides its target at once (present); a
// target silent ReplyWait after its last request is absent. Targets on no
// attached link, or whose link could not be opened, stay undecided.
func (p *Prober) Sweep(ctx context.Context, targets []active.SweepTarget, emit func(otaudit.Observation), report func(int, active.SweepState, string)) error {
	var (
		mu      sync.Mutex
		pending = map[netip.Addr][]*sweepTarget{}
		all     []*sweepTarget
		links   = map[string]Link{}
	)
	for j, st := range targets {
		link, ok := p.net.Attached(st.Target.Addr)
		if !ok {
			continue
		}
		t := &sweepTarget{j: j, addr: st.Target.Addr.Unmap(), link: link, sess: st.Session}
		all = append(all, t)
		pending[t.addr] = append(pending[t.addr], t)
		links[link.Interface] = link
	}
	if len(all) == 0 {
		return nil
	}

	// closing is set, under mu, before the links are closed: no report
	// after Sweep returns.
	closing := false
	heard := func(ip netip.Addr, mac net.HardwareAddr) {
		ip = ip.Unmap()
		m := mac.String()
		mu.Lock()
		defer mu.Unlock()
		if closing {
			return
		}
		for _, t := range pending[ip] {
			if slices.Contains(t.macs, m) {
				continue
			}
			if len(t.macs) > 0 {
				p.log.Warn("two MAC addresses answer for one IP address (address conflict or spoofing)",
					"ip", ip, "mac", t.macs[0], "other_mac", m)
			}
			t.macs = append(t.macs, m)
			now := p.now()
			emit(otaudit.Observation{Kind: otaudit.KindHost, Source: "arp:active", FirstSeen: now, LastSeen: now, Count: 1,
				Host: &otaudit.HostSighting{IP: ip, MAC: m, MACVendor: oui.LookupString(m), Packets: 1}})
			if !t.decided {
				t.decided = true
				report(t.j, active.SweepPresent, "")
			}
		}
	}

	conns := map[string]Conn{}
	var openErrs []error
	for name, link := range links {
		c, err := p.net.Open(link, heard)
		if err != nil {
			openErrs = append(openErrs, fmt.Errorf("arp %s: %w", link, err))
			continue
		}
		conns[name] = c
	}
	defer func() {
		mu.Lock()
		closing = true
		mu.Unlock()
		for name, c := range conns {
			if err := c.Close(); err != nil {
				p.log.Debug("close", "link", name, "error", err)
			}
		}
	}()
	if len(conns) == 0 {
		return errors.Join(openErrs...)
	}

	undecided := func(t *sweepTarget) bool {
		mu.Lock()
		defer mu.Unlock()
		return !t.decided
	}
	rounds := 1 + max(targets[0].Session.Limits().Retries, 0)
	var lastSent time.Time
	var sendErr error
	for round := 0; round < rounds && sendErr == nil; round++ {
		for _, t := range all {
			c := conns[t.link.Interface]
			if c == nil || !undecided(t) {
				continue
			}
			if round > 0 {
				// Give the previous request its full wait before asking again.
				if d := t.lastAt.Add(p.wait).Sub(p.now()); d > 0 {
					if err := active.Sleep(ctx, d); err != nil {
						return err
					}
					if !undecided(t) {
						continue
					}
				}
			}
			err := t.sess.Do(ctx, "arp", "who-has", detail(t.link), func(ctx context.Context) error {
				return c.WhoHas(ctx, t.addr)
			})
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, active.ErrNotAllowed) || errors.Is(err, active.ErrOverPlan) {
				sendErr = err
				break
			}
			if err != nil {
				// Not sent: the target stays undecided unless an
				// earlier request went out.
				p.log.Debug("who-has not sent", "target", t.addr, "error", err)
				continue
			}
			t.sent++
			t.lastAt = p.now()
			lastSent = t.lastAt
		}
	}
	if !lastSent.IsZero() {
		if err := p.waitReplies(ctx, lastSent, all, undecided); err != nil {
			return err
		}
	}
	mu.Lock()
	closing = true
	for _, t := range all {
		if !t.decided && t.sent > 0 {
			t.decided = true
			report(t.j, active.SweepAbsent, fmt.Sprintf("no ARP reply to %d request(s) on %s within %v", t.sent, t.link.Interface, p.wait))
		}
	}
	mu.Unlock()
	return errors.Join(append(openErrs, sendErr)...)
}

// waitReplies waits until ReplyWait after the last request, or less when
// every target has answered.
func (p *Prober) waitReplies(ctx context.Context, lastSent time.Time, all []*sweepTarget, undecided func(*sweepTarget) bool) error {
	const tick = 10 * time.Millisecond
	for {
		open := false
		for _, t := range all {
			if t.sent > 0 && undecided(t) {
				open = true
				break
			}
		}
		d := lastSent.Add(p.wait).Sub(p.now())
		if !open || d <= 0 {
			return nil
		}
		if err := active.Sleep(ctx, min(d, tick)); err != nil {
			return err
		}
	}
}
