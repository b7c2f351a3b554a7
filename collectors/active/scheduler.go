package active

import (
	"cmp"
	"context"
	"errors"
	"fmt"
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

// orderProbers puts sweepers first, then discovery, and keeps the rest in
// the given order.
func orderProbers(probers []Prober) []Prober {
	out := slices.Clone(probers)
	rank := func(p Prober) int {
		if _, ok := p.(Sweeper); ok {
			return -1
		}
		if p.Name() == discoveryProber {
			return 0
		}
		return 1
	}
	slices.SortStableFunc(out, func(a, b Prober) int { return cmp.Compare(rank(a), rank(b)) })
	return out
}

// splitSweepers separates the sweepers from the per-device probers.
func splitSweepers(probers []Prober) (sweepers []Sweeper, perDevice []Prober) {
	for _, p := range probers {
		if sw, ok := p.(Sweeper); ok {
			sweepers = append(sweepers, sw)
			continue
		}
		perDevice = append(perDevice, p)
	}
	return sweepers, perDevice
}

// Plan returns the dry-run plan of Run: for every target in order, what
// each prober (sweepers first, then discovery) may send to it. It sends nothing. Run may
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
// RunReport.Unreachable, not as an error.
//
// Sweepers among probers run first, over every target at once: a target a
// sweeper finds absent is reported unreachable and never probed; one it
// finds present is handed to the device workers at once, while the sweep
// goes on; the rest follow in target order when the sweep ends. emit is
// called from one goroutine at a time. When ctx ends, devices not yet
// started are skipped and the ones running stop at their next request.
func (s *Scheduler) Run(ctx context.Context, targets []Target, probers []Prober, emit func(otaudit.Observation)) RunReport {
	start := s.clock.Now()
	sweepers, probers := splitSweepers(orderProbers(probers))
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

	// A device's state (its rate, its credential budget) is shared by the
	// sweep and the probers.
	devs := make([]*device, len(targets))
	for i := range devs {
		devs[i] = s.newDevice()
	}
	// Buffered for every target: the sweep never waits for a worker.
	ready := make(chan int, len(targets))
	go func() {
		defer close(ready)
		s.sweep(ctx, targets, devs, sweepers, safeEmit, fail, ready)
	}()

	var wg sync.WaitGroup
	for range min(s.limits.Concurrency, len(targets)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ready {
				if ctx.Err() != nil {
					continue // drained: nothing starts after cancellation
				}
				s.probeDevice(ctx, targets[i], devs[i], probers, safeEmit, fail)
			}
		}()
	}
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

// sweep runs the sweepers in turn over the targets none of them has
// decided yet and sends each target to ready once: as soon as a sweeper
// finds it present, or in target order at the end when no sweeper could
// tell. Absent targets go to fail as unreachable instead.
func (s *Scheduler) sweep(ctx context.Context, targets []Target, devs []*device, sweepers []Sweeper,
	emit func(otaudit.Observation), fail func(Target, string, error), ready chan<- int) {
	var mu sync.Mutex
	decided := make([]bool, len(targets))
	for _, sw := range sweepers {
		if ctx.Err() != nil {
			break
		}
		var batch []SweepTarget
		var index []int
		for i, t := range targets {
			if decided[i] {
				continue
			}
			plan := sw.Plan(t, s.limits)
			if len(plan) == 0 {
				continue
			}
			batch = append(batch, SweepTarget{Target: t, Session: newSession(s, devs[i], t, plan)})
			index = append(index, i)
		}
		if len(batch) == 0 {
			continue
		}
		report := func(j int, state SweepState, why string) {
			if j < 0 || j >= len(index) || state == SweepUnknown {
				return
			}
			i := index[j]
			mu.Lock()
			defer mu.Unlock()
			if decided[i] {
				return
			}
			decided[i] = true
			if state == SweepPresent {
				ready <- i
				return
			}
			fail(targets[i], sw.Name(), fmt.Errorf("%s %s: %s: %w", sw.Name(), targets[i].Addr, why, ErrUnreachable))
		}
		if err := sw.Sweep(ctx, batch, emit, report); err != nil && ctx.Err() == nil {
			s.log.Warn("sweep failed: the targets it did not decide are probed one by one", "sweeper", sw.Name(), "error", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range targets {
		if !decided[i] {
			decided[i] = true
			ready <- i
		}
	}
}

// probeDevice runs every prober against one device, in order.
func (s *Scheduler) probeDevice(ctx context.Context, t Target, dev *device, probers []Prober, emit func(otaudit.Observation), fail func(Target, string, error)) {
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
