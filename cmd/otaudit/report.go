package main

import (
	"context"
	"fmt"
	stdio "io"

	"github.com/spf13/cobra"

	"github.com/otaudit/otaudit/agent"
	"github.com/otaudit/otaudit/agent/report"
)

// ---- report

type reportOptions struct {
	g      *globalOptions
	io     streams
	Format string
	Output string
}

func newReportCmd(g *globalOptions, io streams, runF func(context.Context, *reportOptions) error) *cobra.Command {
	o := &reportOptions{g: g, io: io}
	cmd := &cobra.Command{
		Use:   "report --format html [-o FILE]",
		Short: "Write the zone's audit report as one self-contained HTML file",
		Long: `Writes the zone's report for the asset owner: SL-T against the achieved SL
interval per foundational requirement, objective and sub-objective scores,
findings by severity with their IEC 62443 references and evidence, the asset
inventory, remote-access sessions and the conduit map. The file has its CSS and
SVG inline and loads nothing from any network. Without --config the report
follows the store's latest scan (the demo zone for 'otaudit demo').`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Format != "html" {
				return usageError{fmt.Errorf("--format %q: the report is written as html", o.Format)}
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runReport(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Format, "format", "html", "report format: html")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "output file (default: standard output)")
	return cmd
}

func runReport(ctx context.Context, o *reportOptions) error {
	a, err := o.g.newAgent(o.io, false)
	if err != nil {
		return err
	}
	data, err := a.ReportData(ctx)
	if err != nil {
		return err
	}
	write := func(w stdio.Writer) error { return report.Render(w, data) }
	if o.Output == "" || o.Output == "-" {
		return write(o.io.Out)
	}
	if err := agent.WriteFileAtomic(o.Output, write); err != nil {
		return err
	}
	fmt.Fprintf(o.io.Err, "wrote %s\n", o.Output)
	return nil
}
