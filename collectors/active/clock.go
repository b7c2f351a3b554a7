package active

import (
	"context"
	"time"
)

// Clock is the scheduler's time source. Rate limits, pauses and ledger
// timestamps all read the same clock, so a test with a virtual clock
// (activetest.VirtualClock) checks the limits exactly, without waiting.
type Clock interface {
	Now() time.Time
	// Sleep waits d or until ctx is done, whichever is first, and returns
	// ctx.Err() in the second case.
	Sleep(ctx context.Context, d time.Duration) error
}

// realClock is the wall clock.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error { return Sleep(ctx, d) }

// Sleep waits d on the wall clock or until ctx is done, whichever is
// first, and returns ctx.Err() in the second case.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// pacer is a rate limiter with a burst of one (GCRA): a request may go at
// or after next, and each one pushes next a full interval later. Unlike a
// token bucket with a burst, two requests are never closer than interval,
// so no window of one second ever holds more than ceil(rate) of them.
type pacer struct {
	interval time.Duration
	next     time.Time
}

func newPacer(pps float64) pacer {
	// Rounded up, so that rounding can only make the pace gentler.
	iv := time.Duration(float64(time.Second)/pps) + 1
	return pacer{interval: iv}
}

// wait is how long from now until the pacer lets a request through.
func (p *pacer) wait(now time.Time) time.Duration {
	if p.next.IsZero() || !now.Before(p.next) {
		return 0
	}
	return p.next.Sub(now)
}

// take records a request let through at now (wait(now) must be 0).
func (p *pacer) take(now time.Time) { p.next = now.Add(p.interval) }
