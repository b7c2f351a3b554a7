package active

import (
	"cmp"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/otaudit/otaudit"
)

// discoveryProber is the Name of the prober whose KindFlow observations
// tell the others which TCP ports are open; it runs first on every device.
const discoveryProber = "tcp"

// Option configures a Scheduler.
type Option func(*Scheduler)

// WithClock replaces the wall clock, for tests.
func WithClock(c Clock) Option { return func(s *Scheduler) { s.clock = c } }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(s *Scheduler) { s.log = l } }

// Scheduler runs probers against devices within Limits. One Scheduler is one
// zone: its zone-wide rate holds across Run calls.
type Scheduler struct {
	limits Limits
	clock  Clock
	log    *slog.Logger

	// mu guards the pacers, every device's state and the ledger, so that
	// a request's permit and its ledger entry are one step: ledger order
	// is the order requests were let through.
	mu     sync.Mutex
	zone   pacer
	ledger []LedgerEntry
}

// NewScheduler returns a scheduler for l (zero fields take DefaultLimits).
func NewScheduler(l Limits, opts ...Option) *Scheduler {
	s := &Scheduler{limits: l.normalised(), clock: realClock{}}
	for _, o := range opts {
		o(s)
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s.zone = newPacer(s.limits.PerZonePPS)
	return s
}

// Limits are the scheduler's limits after defaults were applied.
func (s *Scheduler) Limits() Limits { return s.limits }

// Ledger returns a copy of every request let through so far, in order.
func (s *Scheduler) Ledger() []LedgerEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ledger)
}

// device is the scheduler's state for one device in one Run.
type device struct {
	pace pacer
	// quietUntil is the end of the PauseBetweenRequests after the last
	// request finished.
	quietUntil time.Time
	// slots holds one token per request in flight (ConnsPerDevice).
	slots chan struct{}
	// attempts and nextAttempt are the credential-guessing budget.
	attempts    int
	nextAttempt time.Time
}

func (s *Scheduler) newDevice() *device {
	return &device{pace: newPacer(s.limits.PerDevicePPS), slots: make(chan struct{}, s.limits.ConnsPerDevice)}
}

// orderProbers puts discovery first and keeps the rest in the given order.
func orderProbers(probers []Prober) []Prober {
	out := slices.Clone(probers)
	rank := func(p Prober) int {
		if p.Name() == discoveryProber {
			return 0
		}
		return 1
	}
	slices.SortStableFunc(out, func(a, b Prober) int { return cmp.Compare(rank(a), rank(b)) })
	return out
}

// Plan returns the dry-run plan of Run: for every target in order, what
// each prober (discovery first) may send to it. It sends nothing. Run may
// send less (discovery can rule out ports), never more: Session.Do refuses
// what the plan did not announce.
func Plan(targets []Target, probers []Prober, l Limits) []PlannedRequest {
	l = l.normalised()
	probers = orderProbers(probers)
	var plan []PlannedRequest
	for _, t := range targets {
		for _, p := range probers {
			plan = append(plan, p.Plan(t, l)...)
		}
	}
	return plan
}

// Run probes every target with every prober, discovery first on each
// device: at most Concurrency devices at once and ConnsPerDevice requests
// in flight per device; a slow or silent device holds only its own worker,
// and a device's failure is recorded in the report, never fatal. A prober
// that finds the device unreachable (ErrUnreachable) ends that device's
// probe: the others are skipped and the target is reported in
// RunReport.Unreachable, not as an error. emit is
// called from one goroutine at a time. When ctx ends, devices not yet
// started are skipped and the ones running stop at their next request.
func (s *Scheduler) Run(ctx context.Context, targets []Target, probers []Prober, emit func(otaudit.Observation)) RunReport {
	start := s.clock.Now()
	probers = orderProbers(probers)
	ledgerBefore := len(s.Ledger())

	var (
		emitMu      sync.Mutex
		errMu       sync.Mutex
		errs        []DeviceError
		unreachable []netip.Addr
	)
	safeEmit := func(o otaudit.Observation) {
		emitMu.Lock()
		defer emitMu.Unlock()
		emit(o)
	}
	fail := func(t Target, prober string, err error) {
		errMu.Lock()
		defer errMu.Unlock()
		if errors.Is(err, ErrUnreachable) {
			unreachable = append(unreachable, t.Addr)
			return
		}
		errs = append(errs, DeviceError{Target: t.Addr, Prober: prober, Err: err.Error()})
	}

	work := make(chan int)
	var wg sync.WaitGroup
	for range min(s.limits.Concurrency, len(targets)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				s.probeDevice(ctx, targets[i], probers, safeEmit, fail)
			}
		}()
	}
feed:
	for i := range targets {
		select {
		case work <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()

	slices.SortFunc(errs, func(a, b DeviceError) int {
		return cmp.Or(a.Target.Compare(b.Target), cmp.Compare(a.Prober, b.Prober))
	})
	slices.SortFunc(unreachable, netip.Addr.Compare)
	return RunReport{
		Targets:     len(targets),
		Requests:    len(s.Ledger()) - ledgerBefore,
		Errors:      errs,
		Unreachable: slices.Compact(unreachable),
		Duration:    s.clock.Now().Sub(start),
	}
}

// probeDevice runs every prober against one device, in order.
func (s *Scheduler) probeDevice(ctx context.Context, t Target, probers []Prober, emit func(otaudit.Observation), fail func(Target, string, error)) {
	dev := s.newDevice()
	log := s.log.With("target", t.Addr)
	for _, p := range probers {
		if ctx.Err() != nil {
			fail(t, p.Name(), ctx.Err())
			return
		}
		plan := p.Plan(t, s.limits)
		if len(plan) == 0 {
			log.Debug("nothing to probe", "prober", p.Name())
			continue
		}
		sess := newSession(s, dev, t, plan)
		isDiscovery := p.Name() == discoveryProber
		var open map[uint16]bool
		if isDiscovery {
			open = map[uint16]bool{}
		}
		err := p.Probe(ctx, sess, t, func(o otaudit.Observation) {
			if isDiscovery {
				noteOpenPort(open, t.Addr, o)
			}
			emit(o)
		})
		if errors.Is(err, ErrUnreachable) {
			// Nothing else would get there: every other prober would
			// only add its own timeouts (a dead address in a range costs
			// one ARP failure, not one per protocol).
			log.Debug("unreachable: no other prober runs on this device", "prober", p.Name(), "error", err)
			fail(t, p.Name(), err)
			return
		}
		if err != nil {
			log.Warn("probe failed", "prober", p.Name(), "error", err)
			fail(t, p.Name(), err)
		}
		if isDiscovery {
			// What discovery found narrows what the others try. A
			// discovery that failed (unreachable, cancelled) found what it
			// found: the others would not get further.
			t.OpenTCP = open
		}
	}
}

// noteOpenPort records a TCP port that answered on t.
func noteOpenPort(open map[uint16]bool, t netip.Addr, o otaudit.Observation) {
	if o.Kind == otaudit.KindFlow && o.Flow != nil && o.Flow.Transport == otaudit.TCP &&
		o.Flow.ServerAnswered && o.Flow.Server.Unmap() == t.Unmap() {
		open[o.Flow.ServerPort] = true
	}
}
