package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/otaudit/otaudit/agent"
	"github.com/otaudit/otaudit/collectors/active"
)

// activeOptions are the `scan --active` flags.
type activeOptions struct {
	Enabled      bool
	Targets      []string
	Exclude      []string
	DryRun       bool
	PassiveFirst bool
}

func addActiveFlags(cmd *cobra.Command, o *activeOptions) {
	f := cmd.Flags()
	f.BoolVar(&o.Enabled, "active", false, "ask devices (read-only, rate-limited): TCP discovery, then the protocol probes")
	f.StringArrayVar(&o.Targets, "target", nil, "with --active: CIDR, address or host name to probe (repeatable; default: active.targets of the zone configuration)")
	f.StringArrayVar(&o.Exclude, "exclude", nil, "with --active: CIDR, address or host name never to probe (repeatable; adds to active.exclude)")
	f.BoolVar(&o.DryRun, "dry-run", false, "with --active: print every request the scan may send, send nothing")
	f.BoolVar(&o.PassiveFirst, "passive-first", false, "with --active: probe only assets already in the store")
}

// validate rejects flag combinations that would be silently ignored.
func (o *activeOptions) validate(pcaps []string) error {
	if !o.Enabled {
		for flag, set := range map[string]bool{"--target": len(o.Targets) > 0, "--exclude": len(o.Exclude) > 0,
			"--dry-run": o.DryRun, "--passive-first": o.PassiveFirst} {
			if set {
				return usageError{fmt.Errorf("%s needs --active", flag)}
			}
		}
		return nil
	}
	if len(pcaps) > 0 {
		return usageError{errors.New("--active and --pcap are separate scans: run one, then the other")}
	}
	return nil
}

func (o *activeOptions) request() agent.ActiveRequest {
	return agent.ActiveRequest{Targets: o.Targets, Exclude: o.Exclude, PassiveFirst: o.PassiveFirst}
}

func runActiveScan(ctx context.Context, o *scanOptions) error {
	if o.Active.DryRun {
		a, err := o.g.newAgent(o.io, false)
		if err != nil {
			return err
		}
		plan, err := a.PlanActive(ctx, o.Active.request())
		if err != nil {
			return err
		}
		if o.g.JSON {
			reqs := plan.Requests
			if reqs == nil {
				reqs = []active.PlannedRequest{}
			}
			return writeJSON(o.io.Out, reqs)
		}
		printActivePlan(o.io.Out, plan)
		return nil
	}
	a, err := o.g.newAgent(o.io, true)
	if err != nil {
		return err
	}
	a.Progress = scanProgress(o.io.Err) // cmd/otaudit/progress.go
	res, scanErr := a.ActiveScan(ctx, o.Active.request())
	if res == nil {
		return scanErr
	}
	if o.g.JSON {
		if err := writeJSON(o.io.Out, activeScanJSON{scanJSON: scanOutput(res), Active: res.Active}); err != nil {
			return err
		}
	} else {
		printActiveScan(o.io.Out, res, a.DBPath)
	}
	if scanErr != nil {
		return scanErr
	}
	return failOn(o.FailOn, res.Report.Findings)
}

type activeScanJSON struct {
	scanJSON
	Active *agent.ActiveRun `json:"active"`
}

func countOf(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

func printLimits(w io.Writer, l active.Limits) {
	guess := "off"
	if l.CredentialGuessing && l.MaxAttemptsPerDevice > 0 {
		guess = fmt.Sprintf("at most %d per device, %s apart", l.MaxAttemptsPerDevice, l.AttemptDelay)
	}
	fmt.Fprintf(w, "Limits: %g requests/s per device, %g/s in the zone, %s at once, %d in flight per device, timeout %s, %s\n",
		l.PerDevicePPS, l.PerZonePPS, countOf(l.Concurrency, "device", "devices"), l.ConnsPerDevice,
		l.Timeout, countOf(l.Retries, "retry", "retries"))
	if l.PauseAfterConnect > 0 || l.PauseBetweenRequests > 0 {
		fmt.Fprintf(w, "Workarounds: pause %s after connect, %s between requests\n", l.PauseAfterConnect, l.PauseBetweenRequests)
	}
	fmt.Fprintf(w, "Credential guessing: %s\n", guess)
}

// printActivePlan is the dry-run table: every target, protocol, request
// kind and its maximum attempts.
func printActivePlan(w io.Writer, p *agent.ActivePlan) {
	total := 0
	perDevice := map[string]int{}
	for _, r := range p.Requests {
		total += r.MaxAttempts
		perDevice[r.Target.String()] += r.MaxAttempts
	}
	fmt.Fprintf(w, "DRY RUN — nothing is sent. %s, %s (at most %d sends with retries); probers: %s\n",
		countOf(len(p.Targets), "target", "targets"), countOf(len(p.Requests), "planned request", "planned requests"),
		total, strings.Join(p.Probers, ", "))
	printLimits(w, p.Limits)
	busiest := 0
	for _, n := range perDevice {
		busiest = max(busiest, n)
	}
	if total > 0 {
		// Worst case (every retry used) at the configured rates; timeouts
		// of silent devices come on top.
		least := max(float64(total)/p.Limits.PerZonePPS, float64(busiest)/p.Limits.PerDevicePPS)
		fmt.Fprintf(w, "At these rates the worst case takes at least %s, plus timeouts of devices that do not answer.\n",
			(time.Duration(least * float64(time.Second))).Round(time.Second))
	}
	for _, warn := range p.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	fmt.Fprintln(w)
	tw := table(w)
	fmt.Fprintln(tw, "TARGET\tPROTOCOL\tKIND\tMAX ATTEMPTS\tDETAIL")
	for _, r := range p.Requests {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", r.Target, r.Protocol, r.Kind, r.MaxAttempts, dash(r.Detail))
	}
	tw.Flush()
	fmt.Fprintln(w, "\nDiscovery (tcp) runs first on each device; the protocol probes skip ports it found closed, so a real scan sends at most this.")
}

func printActiveScan(w io.Writer, res *agent.ScanResult, dbPath string) {
	s := res.Scan
	run := res.Active
	fmt.Fprintf(w, "Scan %d of zone %q (%s): %s\n", s.ID, s.Zone, s.Mode, s.Status)
	fmt.Fprintf(w, "  probed %s (%s) with %s: %s sent of %d planned, %s with errors, %d unreachable, in %s\n",
		countOf(run.Report.Targets, "target", "targets"), strings.Join(s.Sources, ", "), strings.Join(run.Plan.Probers, ", "),
		countOf(run.Report.Requests, "request", "requests"), len(run.Plan.Requests), countOf(len(run.Report.Errors), "device", "devices"),
		len(run.Report.Unreachable), run.Report.Duration.Round(time.Millisecond))
	fmt.Fprintf(w, "  %d assets, %d observations, %d findings %s\n",
		s.Stats.Assets, s.Stats.Observations, s.Stats.Findings, severityCounts(res.Report.Findings))
	for _, warn := range s.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", warn)
	}
	if s.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", s.Error)
	}
	fmt.Fprintln(w)
	if len(res.Assets) > 0 {
		fmt.Fprintln(w, "ASSETS")
		printAssets(w, res.Assets)
		fmt.Fprintln(w)
	}
	if len(res.Report.Findings) > 0 {
		fmt.Fprintln(w, "FINDINGS")
		printFindings(w, res.Report.Findings, false)
		fmt.Fprintln(w)
	}
	printScore(w, res.Score)
	fmt.Fprintf(w, "\nStored in %s. Query with:\n  otaudit findings --db %s\n  otaudit assets --db %s\n", dbPath, dbPath, dbPath)
}
