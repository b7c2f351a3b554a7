package main

import (
	"context"
	"errors"
	"fmt"
	stdio "io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/agent"
	"github.com/otaudit/otaudit/store"
)

// ---- outbox: results waiting for delivery to the central assessment tool

func newOutboxCmd(g *globalOptions, io streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "outbox",
		Short: "Show results waiting for delivery to the export targets",
		Long: `Every result for an export target (an HTTPS endpoint or a directory drop,
the "export:" list of the zone configuration) goes into the outbox in the store
first, and leaves it only when the target has taken it. Without a subcommand
this lists what is pending: target, format, file, attempts, next attempt and
last error.

  otaudit outbox deliver      try every pending item now (ignores the backoff)
  otaudit outbox queue        queue a scan's results (default: the latest scan)
  otaudit outbox drop ID...   remove items without delivering them

deliver and queue need the zone configuration (--config) that names the
targets and their token, CA and certificate files.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := g.newAgent(io, false)
			if err != nil {
				return err
			}
			items, stats, err := a.Outbox(cmd.Context())
			if err != nil {
				return err
			}
			if g.JSON {
				if items == nil {
					items = []store.OutboxItem{}
				}
				return writeJSON(io.Out, outboxJSON{Items: items, Stats: stats})
			}
			printOutbox(io.Out, items, stats)
			return nil
		},
	}
	cmd.AddCommand(newOutboxDeliverCmd(g, io), newOutboxQueueCmd(g, io), newOutboxDropCmd(g, io))
	return cmd
}

type outboxJSON struct {
	Items []store.OutboxItem `json:"items"`
	Stats store.OutboxStats  `json:"stats"`
}

func newOutboxDeliverCmd(g *globalOptions, io streams) *cobra.Command {
	return &cobra.Command{
		Use:   "deliver",
		Short: "Try every pending outbox item now",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := g.newAgent(io, false)
			if err != nil {
				return err
			}
			rep, err := a.Delivery().DeliverNow(cmd.Context())
			if err != nil {
				return err
			}
			if g.JSON {
				if err := writeJSON(io.Out, rep); err != nil {
					return err
				}
			} else {
				printDeliveryReport(io.Out, rep)
			}
			return deliveryOutcome(rep)
		},
	}
}

// deliveryOutcome fails the command (exit 1) when something that was
// tried did not arrive, or could not be tried with this configuration.
func deliveryOutcome(rep agent.DeliveryReport) error {
	switch {
	case rep.Failed > 0:
		return fmt.Errorf("%d item(s) could not be delivered; they stay in the outbox and are retried", rep.Failed)
	case rep.Unconfigured > 0:
		return fmt.Errorf("%d item(s) are for targets this configuration does not name; pass the agent's --config", rep.Unconfigured)
	}
	return nil
}

func newOutboxQueueCmd(g *globalOptions, io streams) *cobra.Command {
	var scanID uint64
	cmd := &cobra.Command{
		Use:   "queue [--scan ID]",
		Short: "Queue a scan's results for every configured export target",
		Long: `Renders the zone's results as of scan ID (default: the latest finished scan)
in each configured target's format and puts the files into the outbox. For
one-shot scans from cron or a systemd timer:

  otaudit scan --config zone.yaml && otaudit outbox queue --config zone.yaml && otaudit outbox deliver --config zone.yaml`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := g.newAgent(io, false)
			if err != nil {
				return err
			}
			if len(a.Config.Export) == 0 {
				return usageError{errors.New("outbox queue: the configuration names no export targets (add an \"export:\" list, pass --config)")}
			}
			if scanID == 0 {
				if scanID, err = latestFinishedScan(cmd.Context(), a); err != nil {
					return err
				}
			}
			d := a.Delivery()
			d.Options.Generator = "otaudit " + version
			res, err := d.Queue(cmd.Context(), scanID)
			if err != nil {
				return err
			}
			if g.JSON {
				return writeJSON(io.Out, map[string]any{"scan": scanID, "queued": outboxItemsOrEmpty(res.Queued), "already_queued": outboxItemsOrEmpty(res.AlreadyQueued)})
			}
			fmt.Fprintf(io.Out, "Scan %d: %d file(s) queued, %d already in the outbox.\n", scanID, len(res.Queued), len(res.AlreadyQueued))
			for _, it := range res.Queued {
				fmt.Fprintf(io.Out, "  %d  %s  %s (%s)\n", it.ID, it.TargetLabel, it.Name, outboxSize(it.Size))
			}
			return nil
		},
	}
	cmd.Flags().Uint64Var(&scanID, "scan", 0, "scan ID (default: the latest finished scan)")
	return cmd
}

func outboxItemsOrEmpty(items []store.OutboxItem) []store.OutboxItem {
	if items == nil {
		return []store.OutboxItem{}
	}
	return items
}

func latestFinishedScan(ctx context.Context, a *agent.Agent) (uint64, error) {
	scans, err := a.Scans(ctx)
	if err != nil {
		return 0, err
	}
	for i := len(scans) - 1; i >= 0; i-- {
		if scans[i].Status != otaudit.ScanRunning {
			return scans[i].ID, nil
		}
	}
	return 0, fmt.Errorf("no finished scan in %s to queue: run `otaudit scan` first", a.DBPath)
}

func newOutboxDropCmd(g *globalOptions, io streams) *cobra.Command {
	return &cobra.Command{
		Use:   "drop ID...",
		Short: "Remove outbox items without delivering them",
		Long: `Removes the named items (IDs as "otaudit outbox" lists them) from the
outbox. Their results are not delivered; use this for a target that no longer
exists. Every ID must exist, or nothing is removed.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ids := make([]uint64, 0, len(args))
			for _, arg := range args {
				id, err := strconv.ParseUint(arg, 10, 64)
				if err != nil || id == 0 {
					return usageError{fmt.Errorf("outbox drop: %q is not an item ID", arg)}
				}
				ids = append(ids, id)
			}
			a, err := g.newAgent(io, false)
			if err != nil {
				return err
			}
			dropped, err := a.DropOutbox(cmd.Context(), ids)
			if err != nil {
				return err
			}
			if g.JSON {
				return writeJSON(io.Out, outboxItemsOrEmpty(dropped))
			}
			for _, it := range dropped {
				fmt.Fprintf(io.Out, "dropped %d: %s %s of scan %d (not delivered)\n", it.ID, it.TargetLabel, it.Name, it.ScanID)
			}
			return nil
		},
	}
}

func printOutbox(w stdio.Writer, items []store.OutboxItem, st store.OutboxStats) {
	if len(items) == 0 {
		fmt.Fprintf(w, "The outbox is empty (%d item(s) delivered so far).\n", st.Delivered)
		return
	}
	tw := table(w)
	fmt.Fprintln(tw, "ID\tTARGET\tFILE\tSCAN\tSIZE\tATTEMPTS\tNEXT ATTEMPT\tLAST ERROR")
	for _, it := range items {
		next := "now"
		if !it.NextAttempt.IsZero() {
			next = stamp(it.NextAttempt)
		}
		if !it.LeaseUntil.IsZero() {
			next = "in flight until " + stamp(it.LeaseUntil)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%d\t%s\t%s\n", it.ID, it.TargetLabel, it.Name, it.ScanID, outboxSize(it.Size),
			it.Attempts, next, dash(outboxLine(it.LastError, 160)))
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d item(s), %s pending (bounds: %d items, %s by default); oldest queued %s; %d delivered so far.\n",
		st.Items, outboxSize(st.Bytes), store.DefaultOutboxMaxItems, outboxSize(store.DefaultOutboxMaxBytes), stamp(st.Oldest), st.Delivered)
}

func printDeliveryReport(w stdio.Writer, rep agent.DeliveryReport) {
	fmt.Fprintf(w, "Tried %d item(s): %d delivered, %d failed; %d pending in the outbox.\n", rep.Attempted, rep.Delivered, rep.Failed, rep.Pending)
	if rep.Busy > 0 {
		fmt.Fprintf(w, "%d item(s) were being delivered by another otaudit process.\n", rep.Busy)
	}
	for _, e := range rep.Errors {
		fmt.Fprintf(w, "  failed: %s\n", outboxLine(e, 300))
	}
}

func outboxSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func outboxLine(s string, limit int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > limit {
		s = string(r[:limit]) + "…"
	}
	return s
}
