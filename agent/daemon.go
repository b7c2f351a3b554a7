package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/configs"
	"github.com/otaudit/otaudit/store"
)

// Daemon is the resident agent (`otaudit agent run`): it scans its zone on
// the configuration's schedule — passive runs over the configured captures,
// active runs only inside the maintenance windows when the zone declares
// any — queues every committed scan for delivery, and answers reads for the
// HTTP API (daemon_source.go). A reload swaps the configuration between
// runs; a scan in progress finishes with the one it started with.
//
// The daemon holds the store only during a scan's write phases, as every
// scan does, so CLI reads work while it runs.
type Daemon struct {
	// ConfigPath is the file Reload reads again; "" (the embedded default
	// zone) leaves nothing to reload.
	ConfigPath string
	// LoadConfig reads a configuration (configs.Load when nil).
	LoadConfig func(path string) (*configs.Config, error)
	// OnRun hears about every scheduled scan when it has ended, and about
	// every scan the schedule skipped (metrics).
	OnRun func(RunEvent)
	// SettleTime keeps a capture-directory file that changed more recently
	// than this for the next run: a capture tool is probably still writing
	// it. Zero means defaultSettleTime; negative means none.
	SettleTime time.Duration
	// DeliveryRetry is how often results the outbox still holds are
	// offered again between scans; zero means defaultDeliveryRetry.
	DeliveryRetry time.Duration
	// LiveWindow is how long each run captures on capture.interface; zero
	// means until shortly before the next scheduled run (daemon_live.go).
	LiveWindow time.Duration

	agent atomic.Pointer[Agent]
	// Files of capture directories already read (daemon_captures.go),
	// touched by the Run goroutine only.
	captures capturesState
}

// defaultDeliveryRetry is how often the outbox is retried between scans;
// every item also waits out its own backoff (agent/deliver.go).
const defaultDeliveryRetry = time.Minute

// defaultSettleTime suits tcpdump -G/-C rotation, which writes a file
// continuously until it rotates.
const defaultSettleTime = 10 * time.Second

// NewDaemon returns the resident agent for a. a is not modified: a reload
// gives the daemon a copy with the new configuration.
func NewDaemon(a *Agent, configPath string) *Daemon {
	d := &Daemon{ConfigPath: configPath}
	d.agent.Store(a)
	return d
}

// Agent is the agent of the configuration in force.
func (d *Daemon) Agent() *Agent { return d.agent.Load() }

// RunEvent is one scheduled scan: run, failed to start, or skipped.
type RunEvent struct {
	// Mode is "passive" or "active"; Collector is what collected: "pcap"
	// for passive scans, "active" for the active probers together.
	Mode      string
	Collector string
	Started   time.Time
	Duration  time.Duration
	// Result is the committed scan; nil when the scan did not start.
	Result *ScanResult
	Err    error
	// Skipped says why the schedule did not run the scan; "" when it ran.
	Skipped string
	// OutboxPending is what the outbox holds after delivery; -1 unknown.
	OutboxPending int
}

// Status is the scan's status, "error" for a scan that could not start and
// "skipped" for one the schedule skipped.
func (e RunEvent) Status() string {
	switch {
	case e.Skipped != "":
		return "skipped"
	case e.Result == nil:
		return "error"
	}
	return string(e.Result.Scan.Status)
}

// schedule is when the daemon scans: every interval, at the minutes a cron
// expression names, or (neither) never on its own.
type schedule struct {
	interval time.Duration
	cron     *cronSchedule
	text     string
}

func newSchedule(c configs.ScheduleConfig) (schedule, error) {
	switch {
	case c.Interval > 0:
		return schedule{interval: c.Interval, text: "every " + c.Interval.String()}, nil
	case c.Cron != "":
		cs, err := parseCron(c.Cron)
		if err != nil {
			return schedule{}, fmt.Errorf("schedule: %w", err)
		}
		return schedule{cron: cs, text: "cron " + c.Cron + " (UTC)"}, nil
	}
	return schedule{text: "none"}, nil
}

// next is when to scan after a run that started at lastStart (zero: no run
// yet), as of now. An interval schedule scans at once on start and never
// queues up missed runs: a run that overran its interval is followed by the
// next one straight away, once. Zero means never.
func (s schedule) next(lastStart, now time.Time) time.Time {
	switch {
	case s.interval > 0:
		if lastStart.IsZero() {
			return now
		}
		if n := lastStart.Add(s.interval); n.After(now) {
			return n
		}
		return now
	case s.cron != nil:
		return s.cron.Next(now)
	}
	return time.Time{}
}

// Run scans on the schedule until ctx ends, reloading the configuration
// whenever reload delivers (SIGHUP). It returns nil once ctx has ended and
// the scan in progress, if any, has committed or been marked interrupted.
// An error means the daemon could not start.
func (d *Daemon) Run(ctx context.Context, reload <-chan struct{}) error {
	a := d.Agent()
	// Create the store (and mark scans of a dead predecessor incomplete)
	// before the first read arrives.
	if err := a.withStore(ctx, func(*store.DB) error { return nil }); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	sched, err := d.announce(a)
	if err != nil {
		return fmt.Errorf("agent: %s: %w", a.config().Path, err)
	}
	// What a previous run left in the outbox goes first.
	pending := d.deliver(ctx, a)
	var lastStart time.Time
	next := sched.next(lastStart, time.Now())
	for {
		var (
			timer, retryTimer *time.Timer
			fire, retry       <-chan time.Time
		)
		if !next.IsZero() {
			timer = time.NewTimer(time.Until(next))
			fire = timer.C
		}
		// Results waiting for a target that was down are retried between
		// scans (each item keeps its own backoff), not only after the
		// next scan, which may be a day away.
		if pending != 0 {
			retryTimer = time.NewTimer(d.deliveryRetry())
			retry = retryTimer.C
		}
		select {
		case <-ctx.Done():
			stopTimer(timer)
			stopTimer(retryTimer)
			d.Agent().logger().Info("agent stopping", "reason", context.Cause(ctx))
			return nil
		case <-reload:
			if d.Reload() == nil {
				if s, err := d.announce(d.Agent()); err == nil {
					sched = s
				}
			}
			next = sched.next(lastStart, time.Now())
		case <-retry:
			pending = d.deliver(ctx, d.Agent())
		case <-fire:
			lastStart = time.Now()
			for _, ev := range d.RunOnce(ctx) {
				if ev.Result != nil && ev.Result.Scan.Status != otaudit.ScanFailed {
					pending = ev.OutboxPending // what delivery left after the scan
				}
			}
			next = sched.next(lastStart, time.Now())
		}
		stopTimer(timer)
		stopTimer(retryTimer)
	}
}

func stopTimer(t *time.Timer) {
	if t != nil {
		t.Stop()
	}
}

// announce logs what the configuration asks of the daemon and returns its
// schedule.
func (d *Daemon) announce(a *Agent) (schedule, error) {
	cfg := a.config()
	sched, err := newSchedule(cfg.Schedule)
	if err != nil {
		return sched, err
	}
	log := a.logger()
	zone, err := a.Zone()
	if err != nil {
		return sched, err
	}
	log.Info("agent schedule", "zone", zone.Name, "config", cfg.Path, "schedule", sched.text,
		"captures", len(cfg.Capture.Files), "active", cfg.Active.Enabled, "maintenance_windows", len(zone.MaintenanceWindows))
	if sched.interval == 0 && sched.cron == nil {
		log.Warn("no schedule in the configuration: the agent serves its API but never scans on its own; set schedule.interval or schedule.cron", "config", cfg.Path)
	}
	if cfg.Capture.Interface != "" {
		log.Info("live capture on every scheduled run", "interface", cfg.Capture.Interface, "window", d.liveWindow(sched, time.Now()))
	}
	if len(cfg.Capture.Files) == 0 && cfg.Capture.Interface == "" && !cfg.Active.Enabled {
		log.Warn("nothing to scan: no capture.files and active scanning disabled", "config", cfg.Path)
	}
	return sched, nil
}

// Reload reads the configuration file again. A configuration that does not
// load, or whose zone does not build, is logged and refused: the daemon
// keeps the one it has.
func (d *Daemon) Reload() error {
	old := d.Agent()
	log := old.logger()
	if d.ConfigPath == "" {
		err := errors.New("reload: the agent runs on the embedded default zone; there is no configuration file to read again")
		log.Warn("configuration not reloaded", "error", err)
		return err
	}
	load := d.LoadConfig
	if load == nil {
		load = configs.Load
	}
	cfg, err := load(d.ConfigPath)
	if err == nil {
		_, err = cfg.ZoneModel()
	}
	if err == nil {
		_, err = newSchedule(cfg.Schedule)
	}
	if err != nil {
		log.Error("configuration reload rejected; keeping the configuration in force", "config", d.ConfigPath, "error", err)
		return fmt.Errorf("reload %s: %w", d.ConfigPath, err)
	}
	next := *old
	next.Config = cfg
	d.agent.Store(&next)
	log.Info("configuration reloaded", "config", d.ConfigPath)
	return nil
}

// RunOnce runs what one scheduled run does: a passive scan of the new
// capture data, then an active scan when the zone allows one now. Each
// committed scan is queued for delivery. It returns the events it also
// reported to OnRun.
func (d *Daemon) RunOnce(ctx context.Context) []RunEvent {
	a := d.Agent()
	var events []RunEvent
	if ev, ok := d.runPassive(ctx, a); ok {
		events = append(events, ev)
	}
	if ev, ok := d.runLive(ctx, a); ok { // agent/daemon_live.go
		events = append(events, ev)
	}
	if ctx.Err() != nil {
		return events
	}
	if ev, ok := d.runActive(ctx, a); ok {
		events = append(events, ev)
	}
	return events
}

func (d *Daemon) runPassive(ctx context.Context, a *Agent) (RunEvent, bool) {
	cfg := a.config()
	if len(cfg.Capture.Files) == 0 {
		return RunEvent{}, false
	}
	log := a.logger()
	zone, err := a.Zone()
	if err != nil {
		return d.report(RunEvent{Mode: "passive", Collector: "pcap", Started: time.Now(), Err: err, OutboxPending: -1}), true
	}
	pick, err := d.captures.pick(ctx, a, zone.Name, cfg.Capture.Files, d.settleTime())
	if err != nil {
		// Without the record of files already read (the store is busy,
		// say), scanning would read whole directories again: wait for the
		// next run instead.
		log.Error("passive scan not started", "zone", zone.Name, "error", err)
		return d.report(RunEvent{Mode: "passive", Collector: "pcap", Started: time.Now(), Err: err, OutboxPending: -1}), true
	}
	if len(pick.read) == 0 && len(pick.unavailable) > 0 {
		err := fmt.Errorf("passive scan of zone %s: no capture source available: %s", zone.Name, strings.Join(pick.unavailable, ", "))
		log.Error("passive scan not started", "zone", zone.Name, "error", err)
		return d.report(RunEvent{Mode: "passive", Collector: "pcap", Started: time.Now(), Err: err, OutboxPending: -1}), true
	}
	if len(pick.read) == 0 {
		log.Info("passive scan skipped: no new capture data", "zone", zone.Name)
		return d.report(RunEvent{Mode: "passive", Collector: "pcap", Started: time.Now(), Skipped: "no new capture data", OutboxPending: -1}), true
	}
	ev := RunEvent{Mode: "passive", Collector: "pcap", Started: time.Now(), OutboxPending: -1}
	ev.Result, ev.Err = a.Scan(ctx, ScanRequest{Pcaps: pick.read})
	ev.Duration = time.Since(ev.Started)
	// Files count as read once their scan is committed; an interrupted
	// scan reads them again next time rather than lose what they hold.
	if ev.Result != nil && ctx.Err() == nil {
		d.captures.commit(context.WithoutCancel(ctx), a, zone.Name, pick)
	}
	d.afterScan(ctx, a, &ev)
	return d.report(ev), true
}

func (d *Daemon) runActive(ctx context.Context, a *Agent) (RunEvent, bool) {
	if !a.config().Active.Enabled {
		return RunEvent{}, false
	}
	ev := RunEvent{Mode: "active", Collector: "active", Started: time.Now(), OutboxPending: -1}
	zone, err := a.Zone()
	if err != nil {
		ev.Err = err
		return d.report(ev), true
	}
	// Probing, and the credential checks it carries, only happen inside
	// the windows operations agreed to, when the zone declares any.
	if len(zone.MaintenanceWindows) > 0 && !zone.InMaintenanceWindow(a.now()) {
		a.logger().Info("active scan skipped: outside the zone's maintenance windows", "zone", zone.Name)
		ev.Skipped = "outside the maintenance windows"
		return d.report(ev), true
	}
	ev.Result, ev.Err = a.ActiveScan(ctx, ActiveRequest{})
	ev.Duration = time.Since(ev.Started)
	d.afterScan(ctx, a, &ev)
	return d.report(ev), true
}

// afterScan queues a committed scan for delivery and tries to deliver.
func (d *Daemon) afterScan(ctx context.Context, a *Agent, ev *RunEvent) {
	log := a.logger()
	if ev.Err != nil {
		level := slog.LevelWarn
		if ev.Result == nil {
			level = slog.LevelError
		}
		log.Log(ctx, level, "scheduled scan", "mode", ev.Mode, "status", ev.Status(), "error", ev.Err)
	}
	if ev.Result == nil || ev.Result.Scan.Status == otaudit.ScanFailed {
		return
	}
	// Queued even when ctx has ended (a short store write, so a stop loses
	// nothing); sent only while the daemon is not stopping.
	if err := a.QueueDelivery(context.WithoutCancel(ctx), ev.Result.Scan.ID); err != nil {
		log.Error("results not queued for delivery", "scan", ev.Result.Scan.ID, "error", err)
	}
	if ctx.Err() != nil {
		return
	}
	ev.OutboxPending = d.deliver(ctx, a)
}

// deliver tries the outbox's due items once and returns what it still
// holds; -1 when the outbox could not be read (the store was busy).
func (d *Daemon) deliver(ctx context.Context, a *Agent) int {
	log := a.logger()
	rep, err := a.Deliver(ctx)
	if err != nil {
		if ctx.Err() == nil {
			log.Error("delivery", "error", err)
		}
		return -1
	}
	if rep.Attempted > 0 || rep.Pending > 0 {
		log.Info("delivery", "attempted", rep.Attempted, "delivered", rep.Delivered, "failed", rep.Failed, "pending", rep.Pending)
	}
	for _, e := range rep.Errors {
		log.Warn("delivery attempt failed", "error", e)
	}
	return rep.Pending
}

func (d *Daemon) report(ev RunEvent) RunEvent {
	if d.OnRun != nil {
		d.OnRun(ev)
	}
	return ev
}

func (d *Daemon) settleTime() time.Duration {
	switch {
	case d.SettleTime == 0:
		return defaultSettleTime
	case d.SettleTime < 0:
		return 0
	}
	return d.SettleTime
}

func (d *Daemon) deliveryRetry() time.Duration {
	if d.DeliveryRetry <= 0 {
		return defaultDeliveryRetry
	}
	return d.DeliveryRetry
}
