// Package activetest has test helpers for code built on collectors/active:
// a virtual clock that lets rate-limit tests run without waiting. Nothing
// here may be used by a real scan — with it, the rate limits pace virtual
// time only.
package activetest

import (
	"context"
	"sync"
	"time"
)

// VirtualClock is an active.Clock whose Sleep returns at once after moving
// the clock forward by the duration asked for. Time only moves when
// something sleeps, so every rate limit holds exactly on its timestamps,
// and tests that check them never wait.
type VirtualClock struct {
	mu     sync.Mutex
	now    time.Time
	slept  time.Duration
	sleeps int
}

// NewVirtualClock starts a virtual clock at start.
func NewVirtualClock(start time.Time) *VirtualClock { return &VirtualClock{now: start} }

// Now is the current virtual time.
func (c *VirtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep advances the clock by d (concurrent sleepers each advance it, so
// virtual time can only run ahead of what the limits need, never behind)
// and returns ctx.Err().
func (c *VirtualClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d > 0 {
		c.mu.Lock()
		c.now = c.now.Add(d)
		c.slept += d
		c.sleeps++
		c.mu.Unlock()
	}
	return ctx.Err()
}

// Slept is the total virtual time spent sleeping and how many sleeps.
func (c *VirtualClock) Slept() (time.Duration, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.slept, c.sleeps
}
