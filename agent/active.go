package agent

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/checks"
	"github.com/otaudit/otaudit/collectors/active"
	"github.com/otaudit/otaudit/collectors/arpsweep"
	"github.com/otaudit/otaudit/collectors/bacnet"
	"github.com/otaudit/otaudit/collectors/discovery"
	"github.com/otaudit/otaudit/collectors/modbus"
	"github.com/otaudit/otaudit/collectors/opcua"
	"github.com/otaudit/otaudit/collectors/snmp"
	"github.com/otaudit/otaudit/configs"
)

// ActiveRequest says what one active scan probes.
type ActiveRequest struct {
	// Targets are CIDRs, addresses or host names given explicitly (the
	// command line); they may lie outside the zone. Empty means the
	// configuration's active.targets.
	Targets []string
	// Exclude adds to the configuration's active.exclude.
	Exclude []string
	// PassiveFirst probes only assets already in the store (also switched
	// on by the configuration's active.passive_first).
	PassiveFirst bool

	// Probers replaces the registry (activeProbers); tests only.
	Probers []active.Prober
	// SchedulerOptions are passed to the scheduler; tests only (a
	// virtual clock).
	SchedulerOptions []active.Option
}

// ActivePlan is what an active scan would do: its targets, limits and
// every request it may send (the dry-run).
type ActivePlan struct {
	// Specs are the target specifications the targets came from.
	Specs    []string                `json:"specs"`
	Targets  []active.Target         `json:"targets"`
	Limits   active.Limits           `json:"limits"`
	Probers  []string                `json:"probers"`
	Requests []active.PlannedRequest `json:"requests"`
	// Warnings are targets that could not be used and targets outside
	// the zone.
	Warnings []string `json:"warnings,omitempty"`
}

// ActiveRun is what an active scan planned and what it actually sent.
type ActiveRun struct {
	Plan   ActivePlan           `json:"plan"`
	Ledger []active.LedgerEntry `json:"ledger"`
	Report active.RunReport     `json:"report"`
}

// ErrActiveDisabled: the zone configuration does not allow active probing.
var ErrActiveDisabled = errors.New("active probing is disabled in the zone configuration (active.enabled: false)")

// proberDeps is what the active collectors are built from.
type proberDeps struct {
	config *configs.Config
	judge  otaudit.CredentialJudge
}

// activeProbers is the explicit registry of active collectors: the ARP
// sweep (when the zone allows it), then discovery first. Adding a collector
// is one line here.
func (a *Agent) activeProbers(d proberDeps) []active.Prober {
	log := a.logger()
	creds := d.config.Credentials
	var probers []active.Prober
	if d.config.Active.ARPSweep {
		probers = append(probers, arpsweep.New(arpsweep.Config{Logger: log.With("collector", "arp")}))
	}
	return append(probers,
		discovery.New(discovery.Config{Logger: log.With("collector", "tcp")}),
		snmp.New(snmp.Config{Communities: creds.SNMP.Communities, V3Users: snmp.V3UsersFrom(creds.SNMP.V3Users),
			Judge: d.judge, Logger: log.With("collector", "snmp")}),
		modbus.New(modbus.Config{Logger: log.With("collector", "modbus")}),
		opcua.New(opcua.Config{Logins: opcua.Logins(creds.OPCUA.Users), Judge: d.judge, Logger: log.With("collector", "opcua")}),
		bacnet.New(bacnet.Config{Logger: log.With("collector", "bacnet")}),
	)
}

// activeLimits maps the zone configuration's active section to the
// scheduler's limits. Credential guessing also needs a maintenance window
// when the zone declares any: guessing can lock accounts out.
func (a *Agent) activeLimits(zone *otaudit.Zone) active.Limits {
	c := a.config().Active
	l := active.Limits{
		PerDevicePPS:         c.PerDevicePPS,
		PerZonePPS:           c.PerZonePPS,
		Concurrency:          c.Concurrency,
		ConnsPerDevice:       1,
		Timeout:              c.Timeout,
		Retries:              c.Retries,
		PauseAfterConnect:    c.Workarounds.PauseAfterConnect,
		PauseBetweenRequests: c.Workarounds.PauseBetweenRequests,
		CredentialGuessing:   c.CredentialGuessing.Enabled,
		MaxAttemptsPerDevice: c.CredentialGuessing.MaxAttemptsPerDevice,
		AttemptDelay:         c.CredentialGuessing.Delay,
	}
	if l.CredentialGuessing && len(zone.MaintenanceWindows) > 0 && !zone.InMaintenanceWindow(a.now()) {
		a.logger().Warn("credential guessing off: outside the zone's maintenance windows", "zone", zone.Name)
		l.CredentialGuessing = false
	}
	return active.NewScheduler(l).Limits()
}

// prefixWithin reports whether p lies entirely inside one of zone's CIDRs.
func prefixWithin(p netip.Prefix, zone []netip.Prefix) bool {
	for _, z := range zone {
		if z.Bits() <= p.Bits() && z.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

// resolveActive checks the configuration allows the scan and resolves its
// targets and limits; it sends nothing and writes nothing.
func (a *Agent) resolveActive(ctx context.Context, req ActiveRequest, dryRun bool) (*ActivePlan, otaudit.Zone, error) {
	cfg := a.config()
	zone, err := a.Zone()
	if err != nil {
		return nil, zone, err
	}
	if cfg.Path != configs.DefaultConfigPath && !cfg.Active.Enabled && !dryRun {
		return nil, zone, fmt.Errorf("%s: %w", cfg.Path, ErrActiveDisabled)
	}
	// A zone configuration may only aim at its own zone; the command line
	// may aim anywhere (the operator said so explicitly).
	if zone.Bounded() {
		for _, p := range cfg.Active.Targets {
			if !prefixWithin(p, zone.CIDRs) {
				return nil, zone, fmt.Errorf("%s: active.targets: %s lies outside zone %q (%s): a zone configuration may only target its own zone",
					cfg.Path, p, zone.Name, joinPrefixes(zone.CIDRs))
			}
		}
	}
	plan := &ActivePlan{Limits: a.activeLimits(&zone)}

	specs, explicit := req.Targets, len(req.Targets) > 0
	if !explicit {
		for _, p := range cfg.Active.Targets {
			specs = append(specs, p.String())
		}
	}
	passiveFirst := req.PassiveFirst || cfg.Active.PassiveFirst
	var known map[netip.Addr]bool
	if passiveFirst {
		assets, err := a.Assets(ctx)
		if err != nil {
			return nil, zone, fmt.Errorf("passive-first: %w", err)
		}
		known = map[netip.Addr]bool{}
		for _, as := range assets {
			known[as.IP.Unmap()] = true
		}
		if len(specs) == 0 {
			for _, as := range assets {
				if as.Zone != "" || zone.Contains(as.IP) {
					specs = append(specs, as.IP.String())
				}
			}
		}
	}
	if len(specs) == 0 {
		return nil, zone, errors.New("active scan: no targets: give --target, set active.targets in the zone configuration, or use --passive-first after a passive scan")
	}
	exclude := slices.Clone(req.Exclude)
	for _, p := range cfg.Active.Exclude {
		exclude = append(exclude, p.String())
	}
	targets, errs := active.ExpandTargets(ctx, specs, exclude)
	var exclusionErrs []error
	for _, err := range errs {
		var te *active.TargetError
		if errors.As(err, &te) && te.Exclusion {
			exclusionErrs = append(exclusionErrs, err)
			continue
		}
		plan.Warnings = append(plan.Warnings, err.Error())
		a.logger().Warn("target not probed", "error", err)
	}
	if len(exclusionErrs) > 0 {
		// An exclusion protects a fragile device: without it, no scan.
		return nil, zone, fmt.Errorf("active scan: exclusions could not be applied: %w", errors.Join(exclusionErrs...))
	}
	if known != nil {
		targets = slices.DeleteFunc(targets, func(t active.Target) bool { return !known[t.Addr] })
	}
	if zone.Bounded() {
		var outside []string
		for _, t := range targets {
			if !zone.Contains(t.Addr) {
				outside = append(outside, t.Addr.String())
			}
		}
		if len(outside) > 0 {
			msg := fmt.Sprintf("%d target(s) outside zone %q, probed because given explicitly: %s", len(outside), zone.Name, abbreviate(outside, 8))
			plan.Warnings = append(plan.Warnings, msg)
			a.logger().Warn("targets outside the zone", "zone", zone.Name, "count", len(outside), "first", outside[0])
		}
	}
	if len(targets) == 0 {
		why := "exclusions"
		if known != nil {
			why += " and the passive-first filter (only assets already in the store)"
		}
		return nil, zone, fmt.Errorf("active scan: no target left to probe after %s", why)
	}
	plan.Specs, plan.Targets = specs, targets
	return plan, zone, nil
}

// probers returns the request's probers or the registry's, and completes
// the plan with what they will send.
func (a *Agent) probers(req ActiveRequest, judge otaudit.CredentialJudge, plan *ActivePlan) []active.Prober {
	probers := req.Probers
	if probers == nil {
		probers = a.activeProbers(proberDeps{config: a.config(), judge: judge})
	}
	plan.Probers = plan.Probers[:0]
	for _, p := range probers {
		plan.Probers = append(plan.Probers, p.Name())
	}
	plan.Requests = active.Plan(plan.Targets, probers, plan.Limits)
	return probers
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

func abbreviate(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:n], ", ") + fmt.Sprintf(", … (%d more)", len(items)-n)
}

// PlanActive is the dry-run of ActiveScan: the exact plan, sending nothing
// and writing nothing. It works even where the configuration has active
// probing disabled, so the plan can be reviewed before it is enabled.
func (a *Agent) PlanActive(ctx context.Context, req ActiveRequest) (*ActivePlan, error) {
	plan, _, err := a.resolveActive(ctx, req, true)
	if err != nil {
		return nil, err
	}
	// Plans need no fingerprint key: they only say whether a secret is a
	// known default.
	a.probers(req, otaudit.CredentialJudge{Defaults: configs.DefaultCredentials()}, plan)
	return plan, nil
}

// ActiveScan probes the zone's devices within the configured limits and
// commits the scan like Scan does: it records the scan, releases the store
// while probing, then commits observations, assets, findings and scores.
// Per-device failures are warnings on a complete scan; an interrupted scan
// keeps what it found and returns the context's error.
func (a *Agent) ActiveScan(ctx context.Context, req ActiveRequest) (*ScanResult, error) {
	log := a.logger()
	if _, err := checks.Embedded(); err != nil {
		return nil, fmt.Errorf("check catalog: %w", err)
	}
	// Targets are resolved before the scan is recorded: a scan that cannot
	// start leaves no record.
	plan, zone, err := a.resolveActive(ctx, req, false)
	if err != nil {
		return nil, err
	}
	scan := otaudit.Scan{Zone: zone.Name, Mode: "active", Started: a.now(),
		Sources: slices.Clone(plan.Specs), Warnings: slices.Clone(plan.Warnings)}
	judge, approved, err := a.beginScan(ctx, &scan)
	if err != nil {
		return nil, err
	}
	// The probers are built with the store's fingerprint key.
	probers := a.probers(req, judge, plan)
	log = log.With("scan", scan.ID, "zone", zone.Name)
	log.Info("active scan started", "targets", len(plan.Targets), "planned_requests", len(plan.Requests))
	if a.afterBegin != nil {
		a.afterBegin()
	}

	sched := active.NewScheduler(plan.Limits, append([]active.Option{active.WithLogger(log)}, req.SchedulerOptions...)...)
	var obs []otaudit.Observation
	running, progress := a.withProbeProgress(probers, len(plan.Targets))
	rep := sched.Run(ctx, plan.Targets, running, func(o otaudit.Observation) { obs = append(obs, o) })
	progress.finish()
	run := &ActiveRun{Plan: *plan, Ledger: sched.Ledger(), Report: rep}
	interrupted := ctx.Err()

	collected := map[string]bool{}
	for _, p := range probers {
		collected[p.Name()] = true
	}
	res := &ScanResult{Zone: zone, Active: run}
	evaluate(res, &scan, obs, collected, approved)
	scan.Stats.Packets = int64(rep.Requests)
	for _, e := range rep.Errors {
		scan.Warnings = append(scan.Warnings, e.Error())
	}
	scan.Warnings = append(scan.Warnings, unreachableWarnings(plan, rep.Unreachable)...)
	scan.Finished = a.now()
	if interrupted != nil {
		scan.Status = otaudit.ScanIncomplete
		scan.Error = "interrupted: " + interrupted.Error()
	} else {
		scan.Status = otaudit.ScanComplete
	}
	// Committed even when the caller gave up: what was asked is kept.
	if err := a.commitScan(context.WithoutCancel(ctx), &scan, res, obs, collected, true); err != nil {
		return nil, err
	}
	res.Scan = scan
	log.Info("active scan finished", "status", scan.Status, "requests", rep.Requests,
		"device_errors", len(rep.Errors), "unreachable", len(rep.Unreachable), "assets", len(res.Assets), "findings", len(res.Report.Findings))
	return res, interrupted
}

// unreachableWarnings are scan warnings for the unreachable targets that
// were named one by one (an address or a host name): the operator expected
// a device there. Empty addresses of a range are normal and only counted
// in the run report.
func unreachableWarnings(plan *ActivePlan, unreachable []netip.Addr) []string {
	if len(unreachable) == 0 {
		return nil
	}
	named := map[netip.Addr]bool{}
	for _, spec := range plan.Specs {
		if a, err := netip.ParseAddr(strings.TrimSpace(spec)); err == nil {
			named[a.Unmap()] = true
		}
	}
	for _, t := range plan.Targets {
		if t.Name != "" {
			named[t.Addr.Unmap()] = true
		}
	}
	var out []string
	for _, a := range unreachable {
		if named[a.Unmap()] {
			out = append(out, fmt.Sprintf("%s: %v: not probed further (no ARP answer or no route)", a, active.ErrUnreachable))
		}
	}
	return out
}
