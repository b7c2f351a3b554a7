package agent

import (
	"context"
	"time"
)

// Live capture in the resident agent: when the configuration names
// capture.interface, every scheduled run listens on it for the run's
// window and commits one passive scan of what it saw.

const (
	// defaultLiveWindow is the window when the schedule does not say when
	// the next run is (no schedule: a single run on demand).
	defaultLiveWindow = 5 * time.Minute
	// minLiveWindow keeps a very short schedule from capturing nothing.
	minLiveWindow = 10 * time.Second
)

// liveWindow is how long a run started at now captures: Daemon.LiveWindow,
// else up to the next scheduled run less a tenth (evaluation, commit and
// the active run need the rest), at least minLiveWindow.
func (d *Daemon) liveWindow(sched schedule, now time.Time) time.Duration {
	if d.LiveWindow > 0 {
		return d.LiveWindow
	}
	next := sched.next(now, now)
	if !next.After(now) {
		return defaultLiveWindow
	}
	return max(next.Sub(now)*9/10, minLiveWindow)
}

func (d *Daemon) runLive(ctx context.Context, a *Agent) (RunEvent, bool) {
	cfg := a.config()
	if cfg.Capture.Interface == "" {
		return RunEvent{}, false
	}
	ev := RunEvent{Mode: "passive", Collector: "live", Started: time.Now(), OutboxPending: -1}
	sched, err := newSchedule(cfg.Schedule)
	if err != nil {
		ev.Err = err
		return d.report(ev), true
	}
	ev.Result, ev.Err = a.LiveScan(ctx, LiveRequest{Interface: cfg.Capture.Interface, Duration: d.liveWindow(sched, ev.Started)})
	ev.Duration = time.Since(ev.Started)
	d.afterScan(ctx, a, &ev)
	return d.report(ev), true
}
