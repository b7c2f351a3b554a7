package active

import (
	"context"
	"fmt"
)

// Session is a prober's handle on one device for one run. Every request
// goes through Do; credential guesses are reserved with Attempt.
type Session struct {
	sched  *Scheduler
	dev    *device
	target Target
	// budget is what the prober's plan announced for this device, per
	// protocol and kind: the most requests Do lets through.
	budget map[planKey]int
}

type planKey struct{ protocol, kind string }

func newSession(s *Scheduler, dev *device, t Target, plan []PlannedRequest) *Session {
	budget := map[planKey]int{}
	for _, r := range plan {
		budget[planKey{r.Protocol, r.Kind}] += max(r.MaxAttempts, 1)
	}
	return &Session{sched: s, dev: dev, target: t, budget: budget}
}

// Limits are the limits the session runs under (defaults applied).
func (s *Session) Limits() Limits { return s.sched.limits }

// Target is the device this session probes.
func (s *Session) Target() Target { return s.target }

// Do sends one request: it refuses a kind that is not in Allowed[protocol]
// (ErrNotAllowed) or that the prober's plan did not announce, or announced
// fewer times (ErrOverPlan) — in both cases nothing is sent. Otherwise it
// waits for a free connection slot on the device, for the per-device and
// per-zone rates and for PauseBetweenRequests, records the request in the
// ledger and runs send with a context bounded by Limits.Timeout. It returns
// send's error. Retries are the prober's decision, within its plan.
func (s *Session) Do(ctx context.Context, protocol, kind, detail string, send func(ctx context.Context) error) error {
	addr := s.target.Addr
	if !allowed(protocol, kind) {
		s.sched.log.Error("refused a request kind outside the read-only allow-list",
			"target", addr, "protocol", protocol, "kind", kind)
		return fmt.Errorf("%s %s: %s %q: %w", protocol, addr, "request", kind, ErrNotAllowed)
	}
	key := planKey{protocol, kind}
	s.sched.mu.Lock()
	left := s.budget[key]
	if left > 0 {
		s.budget[key] = left - 1
	}
	s.sched.mu.Unlock()
	if left <= 0 {
		s.sched.log.Error("refused a request the plan did not announce",
			"target", addr, "protocol", protocol, "kind", kind, "detail", detail)
		return fmt.Errorf("%s %s: %s %q: %w", protocol, addr, "request", kind, ErrOverPlan)
	}

	select {
	case s.dev.slots <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("%s %s: %s: %w", protocol, addr, kind, ctx.Err())
	}
	defer func() { <-s.dev.slots }()

	if err := s.permit(ctx, protocol, kind, detail); err != nil {
		return fmt.Errorf("%s %s: %s: %w", protocol, addr, kind, err)
	}
	rctx, cancel := context.WithTimeout(ctx, s.sched.limits.Timeout)
	err := send(rctx)
	cancel()

	s.sched.mu.Lock()
	s.dev.quietUntil = s.sched.clock.Now().Add(s.sched.limits.PauseBetweenRequests)
	s.sched.mu.Unlock()
	return err
}

// permit waits until the device's rate, the zone's rate and the device's
// quiet time all let a request through, then takes both rates and records
// the request in the ledger, in one step under the scheduler's lock.
func (s *Session) permit(ctx context.Context, protocol, kind, detail string) error {
	sc := s.sched
	for {
		sc.mu.Lock()
		now := sc.clock.Now()
		wait := max(s.dev.pace.wait(now), sc.zone.wait(now), s.dev.quietUntil.Sub(now))
		if wait <= 0 {
			s.dev.pace.take(now)
			sc.zone.take(now)
			sc.ledger = append(sc.ledger, LedgerEntry{Time: now, Target: s.target.Addr, Protocol: protocol, Kind: kind, Detail: detail})
			sc.mu.Unlock()
			return nil
		}
		sc.mu.Unlock()
		if err := sc.clock.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// PauseAfterConnect waits the device workaround's pause after a connection
// was opened; probers that hold a connection call it once it is up.
func (s *Session) PauseAfterConnect(ctx context.Context) error {
	return s.sched.clock.Sleep(ctx, s.sched.limits.PauseAfterConnect)
}

// Attempt reserves one credential-guessing attempt on this device: false
// when guessing is off for the zone, the device's MaxAttemptsPerDevice is
// used up (across every prober), or ctx ended. It waits so that attempts on
// one device are at least AttemptDelay apart; the prober calls it before
// each guess and needs no pause of its own.
func (s *Session) Attempt(ctx context.Context) bool {
	sc := s.sched
	l := sc.limits
	if !l.CredentialGuessing || l.MaxAttemptsPerDevice <= 0 {
		return false
	}
	sc.mu.Lock()
	if s.dev.attempts >= l.MaxAttemptsPerDevice {
		sc.mu.Unlock()
		return false
	}
	s.dev.attempts++
	now := sc.clock.Now()
	at := now
	if s.dev.nextAttempt.After(now) {
		at = s.dev.nextAttempt
	}
	s.dev.nextAttempt = at.Add(l.AttemptDelay)
	sc.mu.Unlock()
	if err := sc.clock.Sleep(ctx, at.Sub(now)); err != nil {
		return false
	}
	return ctx.Err() == nil
}

// NewSession returns a session on t, within plan, with a device state of
// its own. The scheduler makes its own sessions; this is for a prober's or
// sweeper's tests that call it directly.
func (s *Scheduler) NewSession(t Target, plan []PlannedRequest) *Session {
	return newSession(s, s.newDevice(), t, plan)
}
