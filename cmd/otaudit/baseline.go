package main

import (
	"context"
	"errors"
	"fmt"
	stdio "io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/agent"
	"github.com/otaudit/otaudit/checks"
)

// ---- baseline: the zone's approved state, and drift from it

type baselineSetOptions struct {
	g        *globalOptions
	io       streams
	FromScan uint64
	By, Note string
}

type baselineDiffOptions struct {
	g    *globalOptions
	io   streams
	Scan uint64
}

func newBaselineCmd(g *globalOptions, io streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "baseline",
		Short: "Record the zone's approved state and show drift from it",
		Long: `A baseline is the approved state of the zone as one scan saw it: its assets
with identity and firmware, the protocols each answers for, the flows that
cross the zone boundary, the remote-access paths and the hosts that write to
controllers. Later scans evaluate AM-NEW-DEVICE-SINCE-BASELINE and
AM-FIRMWARE-CHANGED against it, and 'baseline diff' lists every drift.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError{errors.New("baseline: name a subcommand (set, show, diff)")}
		},
	}
	cmd.AddCommand(newBaselineSetCmd(g, io, nil), newBaselineShowCmd(g, io), newBaselineDiffCmd(g, io, nil))
	return cmd
}

func newBaselineSetCmd(g *globalOptions, io streams, runF func(context.Context, *baselineSetOptions) error) *cobra.Command {
	o := &baselineSetOptions{g: g, io: io}
	cmd := &cobra.Command{
		Use:   "set [--from-scan ID] [--by NAME] [--note TEXT]",
		Short: "Record what a scan saw as the zone's approved baseline (default: the latest complete scan)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			a, err := g.newAgent(io, false)
			if err != nil {
				return err
			}
			b, err := a.SetBaseline(cmd.Context(), agent.BaselineRequest{FromScan: o.FromScan, By: o.By, Note: o.Note})
			if err != nil {
				return err
			}
			if g.JSON {
				return writeJSON(io.Out, b)
			}
			printBaselineRecorded(io.Out, b)
			return nil
		},
	}
	f := cmd.Flags()
	f.Uint64Var(&o.FromScan, "from-scan", 0, "scan to record (default: the latest complete scan of the zone)")
	f.StringVar(&o.By, "by", "", "who approved this state")
	f.StringVar(&o.Note, "note", "", "why, or the change record it belongs to")
	return cmd
}

func newBaselineShowCmd(g *globalOptions, io streams) *cobra.Command {
	return queryCmd(g, io, "show", "Print the zone's baseline",
		func(ctx context.Context, a *agent.Agent) (*otaudit.Baseline, error) { return a.Baseline(ctx) },
		printBaseline)
}

func newBaselineDiffCmd(g *globalOptions, io streams, runF func(context.Context, *baselineDiffOptions) error) *cobra.Command {
	o := &baselineDiffOptions{g: g, io: io}
	cmd := &cobra.Command{
		Use:   "diff [--scan ID]",
		Short: "List how a scan (default: the latest) drifted from the zone's baseline",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			a, err := g.newAgent(io, false)
			if err != nil {
				return err
			}
			rep, err := a.BaselineDiff(cmd.Context(), o.Scan)
			if err != nil {
				return err
			}
			if g.JSON {
				return writeJSON(io.Out, rep)
			}
			printDrift(io.Out, rep)
			return nil
		},
	}
	cmd.Flags().Uint64Var(&o.Scan, "scan", 0, "scan to compare (default: the latest scan of the zone)")
	return cmd
}

func printBaselineRecorded(w stdio.Writer, b *otaudit.Baseline) {
	withFirmware := 0
	for _, a := range b.Assets {
		if a.Firmware != "" {
			withFirmware++
		}
	}
	fmt.Fprintf(w, "Baseline of zone %q recorded from scan %d", b.Zone, b.ScanID)
	if b.ApprovedBy != "" {
		fmt.Fprintf(w, ", approved by %s", b.ApprovedBy)
	}
	fmt.Fprintln(w, ":")
	fmt.Fprintf(w, "  %d asset(s), %d with firmware\n", len(b.Assets), withFirmware)
	fmt.Fprintf(w, "  %d flow(s) across the zone boundary\n", len(b.BoundaryFlows))
	fmt.Fprintf(w, "  %d remote-access path(s)\n", len(b.RemotePaths))
	fmt.Fprintf(w, "  %d host → controller write path(s)\n", len(b.Writers))
	if b.Note != "" {
		fmt.Fprintf(w, "  note: %s\n", b.Note)
	}
	fmt.Fprintln(w, "Later scans evaluate AM-NEW-DEVICE-SINCE-BASELINE and AM-FIRMWARE-CHANGED against it; `otaudit baseline diff` lists drift.")
}

func printBaseline(w stdio.Writer, b *otaudit.Baseline) {
	fmt.Fprintf(w, "Baseline of zone %q from scan %d, set %s", b.Zone, b.ScanID, stamp(b.Created))
	if b.ApprovedBy != "" {
		fmt.Fprintf(w, " by %s", b.ApprovedBy)
	}
	fmt.Fprintln(w)
	if b.Note != "" {
		fmt.Fprintf(w, "Note: %s\n", b.Note)
	}
	fmt.Fprintf(w, "\nASSETS (%d)\n", len(b.Assets))
	tw := table(w)
	fmt.Fprintln(tw, "IP\tMAC\tVENDOR\tMODEL\tFIRMWARE\tSERVICES")
	for _, a := range b.Assets {
		svcs := make([]string, 0, len(a.Services))
		for _, s := range a.Services {
			svcs = append(svcs, fmt.Sprintf("%s %s/%d", s.Protocol, s.Transport, s.Port))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", a.IP, dash(strings.Join(a.MACs, ",")), dash(a.Vendor), dash(a.Model),
			dash(a.Firmware), dash(strings.Join(svcs, ", ")))
	}
	tw.Flush()
	printPaths(w, "FLOWS ACROSS THE ZONE BOUNDARY", b.BoundaryFlows)
	printPaths(w, "REMOTE-ACCESS PATHS", b.RemotePaths)
	printPaths(w, "WRITERS TO CONTROLLERS", b.Writers)
}

func printPaths(w stdio.Writer, title string, paths []otaudit.BaselinePath) {
	fmt.Fprintf(w, "\n%s (%d)\n", title, len(paths))
	if len(paths) == 0 {
		return
	}
	tw := table(w)
	fmt.Fprintln(tw, "CLIENT\tSERVER\tPROTOCOL\tPORT")
	for _, p := range paths {
		port := "-"
		if p.Port != 0 {
			port = fmt.Sprint(p.Port)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Client, p.Server, dash(p.Protocol), port)
	}
	tw.Flush()
}

func printDrift(w stdio.Writer, rep checks.DriftReport) {
	fmt.Fprintf(w, "Drift of zone %q: scan %d against the baseline from scan %d\n", rep.Zone, rep.CurrentScan, rep.BaselineScan)
	if len(rep.Items) == 0 {
		fmt.Fprintln(w, "No drift: the scan shows the approved state.")
		return
	}
	fmt.Fprintln(w)
	tw := table(w)
	fmt.Fprintln(tw, "KIND\tASSET\tWAS\tNOW\tDETAIL")
	for _, it := range rep.Items {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", it.Kind, dash(hostOf(it.Asset)), dash(it.Was), dash(it.Now), it.Summary)
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d drift item(s). Approve the new state with `otaudit baseline set`, or investigate.\n", len(rep.Items))
}
