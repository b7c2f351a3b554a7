package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	stdio "io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/agent"
	"github.com/otaudit/otaudit/agent/export"
	"github.com/otaudit/otaudit/configs"
	"github.com/otaudit/otaudit/store"
)

func writeJSON(w stdio.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// failOn returns findingsError when any open finding is at or above the
// named severity ("" disables the gate).
func failOn(threshold string, fs []otaudit.Finding) error {
	if threshold == "" {
		return nil
	}
	min, err := otaudit.ParseSeverity(threshold)
	if err != nil {
		return usageError{fmt.Errorf("--fail-on: %w", err)}
	}
	n := 0
	for _, f := range fs {
		if f.Status == otaudit.StatusOpen && f.Severity >= min {
			n++
		}
	}
	if n > 0 {
		return findingsError{count: n}
	}
	return nil
}

func validateFailOn(s string) error {
	if s == "" {
		return nil
	}
	if _, err := otaudit.ParseSeverity(s); err != nil {
		return usageError{fmt.Errorf("--fail-on: %w", err)}
	}
	return nil
}

// ---- scan

type scanOptions struct {
	g      *globalOptions
	io     streams
	Pcaps  []string
	FailOn string
	Active activeOptions // cmd/otaudit/active.go
	Live   liveOptions   // cmd/otaudit/live.go
}

func newScanCmd(g *globalOptions, io streams, runF func(context.Context, *scanOptions) error) *cobra.Command {
	o := &scanOptions{g: g, io: io}
	cmd := &cobra.Command{
		Use:   "scan [--pcap FILE|DIR ...] | --active [--target CIDR|IP|NAME ...] [--dry-run]",
		Short: "Analyse captures, evaluate the zone and store the results",
		Long: `Reads pcap/pcapng captures (files, or directories of captures), builds the
inventory, evaluates the IEC 62443 checks and scores the zone. Without --pcap
it reads the capture files named in the zone configuration. With --active it
asks the devices instead (read-only, rate-limited; --dry-run shows the plan).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := validateFailOn(o.FailOn); err != nil {
				return err
			}
			if err := o.Active.validate(o.Pcaps); err != nil {
				return err
			}
			if err := o.Live.validate(o); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			if o.Live.Interface != "" {
				return runLiveScan(cmd.Context(), o)
			}
			if o.Active.Enabled {
				return runActiveScan(cmd.Context(), o)
			}
			return runScan(cmd.Context(), o)
		},
	}
	cmd.Flags().StringArrayVar(&o.Pcaps, "pcap", nil, "capture file or directory (repeatable)")
	cmd.Flags().StringVar(&o.FailOn, "fail-on", "", "exit 3 when an open finding is at or above this severity (low, medium, high, critical)")
	addActiveFlags(cmd, &o.Active)
	addLiveFlags(cmd, &o.Live)
	return cmd
}

func runScan(ctx context.Context, o *scanOptions) error {
	a, err := o.g.newAgent(o.io, true)
	if err != nil {
		return err
	}
	a.Progress = scanProgress(o.io.Err) // cmd/otaudit/progress.go
	res, scanErr := a.Scan(ctx, agent.ScanRequest{Pcaps: o.Pcaps})
	if res == nil {
		return scanErr
	}
	if o.g.JSON {
		if err := writeJSON(o.io.Out, scanOutput(res)); err != nil {
			return err
		}
	} else {
		printScan(o.io.Out, res, a.DBPath)
	}
	if scanErr != nil {
		return scanErr
	}
	return failOn(o.FailOn, res.Report.Findings)
}

type scanJSON struct {
	Scan     otaudit.Scan        `json:"scan"`
	Assets   int                 `json:"assets"`
	Findings []otaudit.Finding   `json:"findings"`
	Scores   []otaudit.ZoneScore `json:"scores"`
}

func scanOutput(res *agent.ScanResult) scanJSON {
	fs := res.Report.Findings
	if fs == nil {
		fs = []otaudit.Finding{}
	}
	return scanJSON{Scan: res.Scan, Assets: len(res.Assets), Findings: fs, Scores: []otaudit.ZoneScore{res.Score}}
}

// ---- assets

type listOptions struct {
	g      *globalOptions
	io     streams
	Filter store.FindingFilter
	// raw filter flags, parsed in RunE
	Objective, Severity, Status, Since string
	FailOn                             string
}

func newAssetsCmd(g *globalOptions, io streams) *cobra.Command {
	return queryCmd(g, io, "assets", "List the device inventory",
		func(ctx context.Context, a *agent.Agent) ([]otaudit.Asset, error) { return orEmpty(a.Assets(ctx)) },
		printAssets)
}

// ---- findings

func newFindingsCmd(g *globalOptions, io streams, runF func(context.Context, *listOptions) error) *cobra.Command {
	o := &listOptions{g: g, io: io}
	cmd := &cobra.Command{
		Use:   "findings",
		Short: "List findings with their IEC 62443 references",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.parseFilter(); err != nil {
				return err
			}
			if err := validateFailOn(o.FailOn); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runFindings(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Filter.Zone, "zone", "", "only this zone")
	f.StringVar(&o.Objective, "objective", "", "only this objective (AC, AM, SI, DC, IM, RA)")
	f.StringVar(&o.Severity, "severity", "", "only this severity and above")
	f.StringVar(&o.Status, "status", "", "only this status (open, resolved, accepted, false_positive)")
	f.StringVar(&o.Filter.CheckID, "check", "", "only this check ID")
	f.StringVar(&o.Filter.AssetKey, "asset", "", "only this asset (ip:ADDRESS or ADDRESS)")
	f.StringVar(&o.FailOn, "fail-on", "", "exit 3 when a listed open finding is at or above this severity")
	cmd.AddCommand(newFindingShowCmd(g, io))
	addLifecycle(cmd, g, io, o) // --since; accept, reopen, mark-false-positive
	return cmd
}

func (o *listOptions) parseFilter() error {
	if o.Objective != "" {
		obj := otaudit.Objective(strings.ToUpper(o.Objective))
		if !obj.Valid() {
			return usageError{fmt.Errorf("--objective %q: want one of AC, AM, SI, DC, IM, RA, SM, LF, RM", o.Objective)}
		}
		o.Filter.Objective = obj
	}
	if o.Severity != "" {
		s, err := otaudit.ParseSeverity(o.Severity)
		if err != nil {
			return usageError{fmt.Errorf("--severity: %w", err)}
		}
		o.Filter.MinSeverity = s
	}
	if o.Status != "" {
		st := otaudit.FindingStatus(strings.ToLower(o.Status))
		switch st {
		case otaudit.StatusOpen, otaudit.StatusResolved, otaudit.StatusAcceptedRisk, otaudit.StatusFalsePositive:
			o.Filter.Status = st
		default:
			return usageError{fmt.Errorf("--status %q: want open, resolved, accepted or false_positive", o.Status)}
		}
	}
	if o.Filter.AssetKey != "" && !strings.HasPrefix(o.Filter.AssetKey, "ip:") {
		o.Filter.AssetKey = "ip:" + o.Filter.AssetKey
	}
	return nil
}

func runFindings(ctx context.Context, o *listOptions) error {
	a, err := o.g.newAgent(o.io, false)
	if err != nil {
		return err
	}
	fs, err := a.Findings(ctx, o.Filter)
	if err != nil {
		return err
	}
	if o.g.JSON {
		if fs == nil {
			fs = []otaudit.Finding{}
		}
		if err := writeJSON(o.io.Out, fs); err != nil {
			return err
		}
	} else {
		printFindings(o.io.Out, fs, true)
	}
	return failOn(o.FailOn, fs)
}

func newFindingShowCmd(g *globalOptions, io streams) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show one finding with its evidence, references and history",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := g.newAgent(io, false)
			if err != nil {
				return err
			}
			f, hist, err := a.Finding(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if g.JSON {
				return writeJSON(io.Out, struct {
					Finding otaudit.Finding        `json:"finding"`
					History []otaudit.FindingEvent `json:"history"`
				}{f, hist})
			}
			printFinding(io.Out, f, hist)
			return nil
		},
	}
}

// ---- score

func newScoreCmd(g *globalOptions, io streams) *cobra.Command {
	return queryCmd(g, io, "score", "Per-zone, per-objective scores and achieved vs target security levels",
		func(ctx context.Context, a *agent.Agent) ([]otaudit.ZoneScore, error) { return orEmpty(a.Scores(ctx)) },
		func(w stdio.Writer, scores []otaudit.ZoneScore) {
			if len(scores) == 0 {
				fmt.Fprintln(w, "No scores yet: run `otaudit scan` first.")
			}
			for _, s := range scores {
				printScore(w, s)
			}
		})
}

// ---- scans

func newScansCmd(g *globalOptions, io streams) *cobra.Command {
	return queryCmd(g, io, "scans", "List the scans in the store",
		func(ctx context.Context, a *agent.Agent) ([]otaudit.Scan, error) { return orEmpty(a.Scans(ctx)) },
		printScans)
}

// queryCmd is a read command without flags of its own: it asks the agent
// for T and prints it as JSON with --json, else as a table.
func queryCmd[T any](g *globalOptions, io streams, use, short string,
	fetch func(context.Context, *agent.Agent) (T, error), print func(stdio.Writer, T)) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := g.newAgent(io, false)
			if err != nil {
				return err
			}
			v, err := fetch(cmd.Context(), a)
			if err != nil {
				return err
			}
			if g.JSON {
				return writeJSON(io.Out, v)
			}
			print(io.Out, v)
			return nil
		},
	}
}

// orEmpty turns a nil list into an empty one, so JSON consumers never have
// to tell null from [].
func orEmpty[S ~[]E, E any](s S, err error) (S, error) {
	if s == nil {
		s = S{}
	}
	return s, err
}

// ---- export

type exportOptions struct {
	g      *globalOptions
	io     streams
	Format string
	Output string
	Zone   string
	Since  string
	since  time.Time
}

func newExportCmd(g *globalOptions, io streams, runF func(context.Context, *exportOptions) error) *cobra.Command {
	o := &exportOptions{g: g, io: io}
	cmd := &cobra.Command{
		Use:   "export --format F [--since DATE|DURATION] [--zone Z] [-o FILE|DIR]",
		Short: "Export assets, findings, scores and scans for another tool",
		Long: `Writes the store's content in one of these formats:

  json        otaudit's own versioned document (docs/schema/otaudit-export.schema.json)
  csv         assets.csv and findings.csv (RFC 4180, UTF-8, ISO-8601 UTC); -o names a directory
  ocsf        OCSF 1.8 JSON Lines: Device Inventory Info (5001) per asset, Compliance Finding (2003)
              per finding and per check result no finding stands for
  defectdojo  DefectDojo Generic Findings Import JSON (unique_id_from_tool = finding ID)
  cyclonedx   CycloneDX 1.6 JSON of the zone's devices with their firmware

Without -o a single-file format goes to standard output; csv needs -o DIR.
--since keeps findings and assets last seen (and scans started) at or after
a time: RFC 3339, a date (YYYY-MM-DD, UTC) or a duration back from now (72h,
7d). --zone keeps one zone's scans, scores, findings and assets.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !slices.Contains(agent.Formats, o.Format) {
				return usageError{fmt.Errorf("--format %q: this build writes %s", o.Format, strings.Join(agent.Formats, ", "))}
			}
			if o.Since != "" {
				t, err := parseTimeArg(o.Since, time.Now(), -1)
				if err != nil {
					return usageError{fmt.Errorf("--since: %w", err)}
				}
				o.since = t
			}
			toStdout := o.Output == "" || o.Output == "-"
			if toStdout && !export.SingleFile(o.Format) {
				return usageError{fmt.Errorf("--format %s writes several files: name a directory with -o DIR", o.Format)}
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			a, err := g.newAgent(io, false)
			if err != nil {
				return err
			}
			files, err := a.ExportFiles(cmd.Context(), o.Format, agent.ExportQuery{Zone: o.Zone, Since: o.since, Generator: "otaudit " + version})
			if err != nil {
				return err
			}
			if toStdout {
				_, err := io.Out.Write(files[0].Data)
				return err
			}
			paths, err := agent.WriteExportFiles(files, o.Output)
			for _, p := range paths {
				fmt.Fprintf(io.Err, "wrote %s\n", p)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&o.Format, "format", "json", "export format: "+strings.Join(agent.Formats, ", "))
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "output file, or directory for csv (default: standard output)")
	cmd.Flags().StringVar(&o.Zone, "zone", "", "export only this zone (default: every zone in the store)")
	cmd.Flags().StringVar(&o.Since, "since", "", "only findings and assets last seen at or after this time: RFC 3339, YYYY-MM-DD or a duration back from now (72h, 7d)")
	return cmd
}

// ---- demo

type demoOptions struct {
	g      *globalOptions
	io     streams
	Dir    string
	FailOn string
}

func newDemoCmd(g *globalOptions, io streams, runF func(context.Context, *demoOptions) error) *cobra.Command {
	o := &demoOptions{g: g, io: io}
	cmd := &cobra.Command{
		Use:   "demo [--dir DIR]",
		Short: "Scan a generated packaging-line capture and show what otaudit finds",
		Long: `Generates a realistic capture of a packaging-line control zone (Modbus polling
and an unauthorised write, device identification, SNMPv1 with community public,
a Telnet login with a default password, RDP from outside the zone, OPC UA with
SecurityPolicy None), scans it with the demo zone configuration, stores the
results in DIR/otaudit.db and prints the inventory, findings and scores.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := validateFailOn(o.FailOn); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runDemo(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Dir, "dir", "", "directory for the capture and the store (default: a new temporary directory)")
	cmd.Flags().StringVar(&o.FailOn, "fail-on", "", "exit 3 when an open finding is at or above this severity")
	return cmd
}

func runDemo(ctx context.Context, o *demoOptions) error {
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "otaudit-demo-")
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		dir = d
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	g := *o.g
	if g.DB == "" {
		g.DB = filepath.Join(dir, "otaudit.db")
	}
	a, err := g.newAgent(o.io, true)
	if err != nil {
		return err
	}
	res, err := a.RunDemo(ctx, dir)
	if err != nil {
		return err
	}
	if o.g.JSON {
		if err := writeJSON(o.io.Out, scanOutput(res)); err != nil {
			return err
		}
		return failOn(o.FailOn, res.Report.Findings)
	}
	printDemo(o.io.Out, res, filepath.Join(dir, agent.DemoCaptureName), a.DBPath)
	return failOn(o.FailOn, res.Report.Findings)
}

// ---- config check

func newConfigCmd(g *globalOptions, io streams) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Work with zone configuration files", Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError{errors.New("config: name a subcommand (check)")}
		}}
	cmd.AddCommand(&cobra.Command{
		Use:   "check FILE",
		Short: "Validate a zone configuration and report every problem at once",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := configs.Load(args[0])
			if err != nil {
				return err
			}
			z, err := cfg.ZoneModel()
			if err != nil {
				return err
			}
			if g.JSON {
				return writeJSON(io.Out, z)
			}
			fmt.Fprintf(io.Out, "%s: ok — zone %q, %d CIDR(s), %d registered asset(s), %d conduit(s)\n",
				args[0], z.Name, len(z.CIDRs), len(z.Register), len(z.Conduits))
			return nil
		},
	})
	return cmd
}

// ---- db check

func newDBCmd(g *globalOptions, io streams) *cobra.Command {
	cmd := &cobra.Command{Use: "db", Short: "Work with the store file", Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError{errors.New("db: name a subcommand (check)")}
		}}
	cmd.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Verify the store file and mark interrupted scans",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := g.newAgent(io, false)
			if err != nil {
				return err
			}
			rep, err := a.CheckStore(cmd.Context())
			if err != nil {
				return err
			}
			if g.JSON {
				if err := writeJSON(io.Out, rep); err != nil {
					return err
				}
			} else {
				printCheckReport(io.Out, a.DBPath, rep)
			}
			if len(rep.Problems) > 0 {
				return fmt.Errorf("store %s: %d problem(s)", a.DBPath, len(rep.Problems))
			}
			return nil
		},
	})
	return cmd
}

// ---- version

func newVersionCmd(io streams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(io.Out, "otaudit %s\n", version)
			return nil
		},
	}
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Errorf("%s takes no arguments, got %q", cmd.CommandPath(), args)}
	}
	return nil
}

func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{fmt.Errorf("%s takes %d argument(s), got %d", cmd.CommandPath(), n, len(args))}
		}
		return nil
	}
}
