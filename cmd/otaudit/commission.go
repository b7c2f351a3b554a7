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

// ---- commission: the integrator's acceptance test

type commissionOptions struct {
	g                 *globalOptions
	io                streams
	Pcaps             []string
	Active            activeOptions
	TargetSL          int
	AllowAttestations bool
	SetBaseline       bool
	By, Note          string
	JUnit             string
}

// commissionRejected is a commissioning run that was not accepted: exit 3,
// like the findings gate of scan --fail-on.
type commissionRejected struct {
	overall checks.Overall
	failed  int
	pending int
}

func (e commissionRejected) Error() string {
	if e.overall == checks.OverallFail {
		return fmt.Sprintf("commissioning failed: %d requirement(s) at or below SL-T disproved", e.failed)
	}
	return fmt.Sprintf("commissioning not accepted: %d requirement(s) at or below SL-T need attestation (attest them in the zone configuration, or accept with --allow-attestations)", e.pending)
}

// ExitCode makes a rejected run exit 3, like the findings gate.
func (e commissionRejected) ExitCode() int { return exitFindings }

func newCommissionCmd(g *globalOptions, io streams, runF func(context.Context, *commissionOptions) error) *cobra.Command {
	o := &commissionOptions{g: g, io: io}
	cmd := &cobra.Command{
		Use:   "commission [--pcap FILE|DIR ...] [--active [--target …]] [--target-sl N] [--allow-attestations] [--set-baseline] [--junit FILE]",
		Short: "Acceptance test: judge every requirement up to SL-T, pass or fail (exit 0 pass, 3 fail, 1 error)",
		Long: `Runs the zone's collection (the captures given with --pcap and/or an active
scan with --active; without either, the capture files and active scan of the
zone configuration), scores the zone and gives a verdict per IEC 62443-3-3
requirement up to the target security level:

  pass               observed as met: every check mapped to it was assessed, none disproves it
  fail               disproved by open findings (listed); an attestation does not outweigh them
  attested           nothing disproves it and a valid attestation says it is met
  compensated        a valid compensating countermeasure covers it
  needs attestation  neither the evidence nor a valid attestation shows it

Overall: FAIL when any requirement at or below SL-T fails (exit 3). PASS when
every one passed or is attested or compensated (exit 0). PASS WITH
ATTESTATIONS REQUIRED when nothing failed but some need attestation: exit 3
unless --allow-attestations (then 0). Errors, including a capture that could
not be read, exit 1.

--target-sl N judges every FR against SL N instead of the configured SL-T.
--set-baseline records what the run saw as the zone's baseline, only when
the run is accepted (exit 0). --junit FILE writes JUnit XML for CI: one
testsuite per FR, one testcase per requirement, failures with their findings,
"needs attestation" as skipped.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(cmd); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runCommission(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.Pcaps, "pcap", nil, "capture file or directory (repeatable)")
	addActiveFlags(cmd, &o.Active)
	f.IntVar(&o.TargetSL, "target-sl", 0, "judge every FR against this security level (1-4) instead of the configured SL-T")
	f.BoolVar(&o.AllowAttestations, "allow-attestations", false, "accept (exit 0) when nothing failed but requirements still need attestation")
	f.BoolVar(&o.SetBaseline, "set-baseline", false, "record what the run saw as the zone's baseline when it is accepted")
	f.StringVar(&o.By, "by", "", "with --set-baseline: who approved the commissioned state")
	f.StringVar(&o.Note, "note", "", "with --set-baseline: why, or the change record it belongs to")
	f.StringVar(&o.JUnit, "junit", "", "write the verdicts as JUnit XML to FILE")
	return cmd
}

// validate rejects flag values and combinations that would be ignored.
func (o *commissionOptions) validate(cmd *cobra.Command) error {
	if cmd.Flags().Changed("target-sl") && (o.TargetSL < 1 || o.TargetSL > 4) {
		return usageError{fmt.Errorf("--target-sl %d: want a security level from 1 to 4", o.TargetSL)}
	}
	if !o.SetBaseline && (o.By != "" || o.Note != "") {
		return usageError{errors.New("--by and --note need --set-baseline")}
	}
	if o.Active.DryRun {
		return usageError{errors.New("--dry-run: a commissioning run must collect; plan the active scan with `otaudit scan --active --dry-run`")}
	}
	// --active with --pcap is allowed here (unlike scan): the verdict
	// judges both scans' evidence together.
	return o.Active.validate(nil)
}

func (o *commissionOptions) request() agent.CommissionRequest {
	req := agent.CommissionRequest{Pcaps: o.Pcaps, TargetSL: o.TargetSL, AllowAttestations: o.AllowAttestations,
		SetBaseline: o.SetBaseline, BaselineBy: o.By, BaselineNote: o.Note}
	if o.Active.Enabled {
		r := o.Active.request()
		req.Active = &r
	}
	return req
}

func runCommission(ctx context.Context, o *commissionOptions) error {
	a, err := o.g.newAgent(o.io, true)
	if err != nil {
		return err
	}
	res, err := a.Commission(ctx, o.request())
	if res == nil {
		return err
	}
	// The verdict was reached; a failure to record the baseline is
	// reported after it is shown.
	if o.JUnit != "" {
		if jerr := agent.WriteFileAtomic(o.JUnit, res.WriteJUnit); jerr != nil {
			return errors.Join(err, jerr)
		}
	}
	if o.g.JSON {
		if jerr := writeJSON(o.io.Out, res); jerr != nil {
			return errors.Join(err, jerr)
		}
	} else {
		printCommission(o.io.Out, res, o.SetBaseline, o.AllowAttestations)
	}
	if err != nil {
		return err
	}
	if !res.Accepted {
		v := res.Verdict
		return commissionRejected{overall: v.Overall, failed: len(v.Failed), pending: len(v.NeedsAttestation)}
	}
	return nil
}

func printCommission(w stdio.Writer, res *agent.CommissionResult, setBaseline, allowAttestations bool) {
	v := res.Verdict
	var scans []string
	for _, s := range res.Scans {
		scans = append(scans, fmt.Sprintf("scan %d (%s: %s)", s.ID, s.Mode, strings.Join(s.Sources, ", ")))
	}
	fmt.Fprintf(w, "Commissioning zone %q against SL-T %s\n", v.Zone, slVector(v.Target))
	fmt.Fprintf(w, "  evidence: %s; collectors: %s\n", strings.Join(scans, ", "), strings.Join(res.Collected, ", "))
	for _, warn := range res.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", warn)
	}
	levels := map[otaudit.FR]otaudit.FRLevel{}
	for _, l := range res.Score.FRs {
		levels[l.FR] = l
	}
	for _, fr := range otaudit.FRs {
		l := levels[fr]
		fmt.Fprintf(w, "\n%s %s  SL-T %d  SL-A [%d, %d]\n", fr, fr.Code(), v.Target.Get(fr), l.Lower, l.Upper)
		n := 0
		for _, r := range v.Requirements {
			if r.FR != fr {
				continue
			}
			n++
			fmt.Fprintf(w, "  %-11s SL%d  %-18s %s\n", r.ID, r.Level, verdictLabel(r.Verdict), r.Name)
			// "The network cannot show it" would repeat on most lines; the
			// legend below says it once.
			if r.Verdict != checks.VerdictNeedsAttestation || r.Observable || len(r.Expired) > 0 {
				fmt.Fprintf(w, "      %s\n", r.Reason)
			}
			for _, f := range r.Findings {
				fmt.Fprintf(w, "      %-8s %s %s %s: %s\n", f.Severity, f.ID, f.CheckID, hostOf(f.AssetKey), f.Summary)
			}
		}
		if n == 0 {
			fmt.Fprintln(w, "  (no requirement at this target)")
		}
	}
	fmt.Fprintf(w, "\n%d requirement(s) judged: %d pass, %d attested, %d compensated, %d need attestation, %d fail; %d above SL-T not judged.\n",
		len(v.Requirements), v.Count(checks.VerdictPass), v.Count(checks.VerdictAttested), v.Count(checks.VerdictCompensated),
		v.Count(checks.VerdictNeedsAttestation), v.Count(checks.VerdictFail), v.AboveTarget)
	if len(v.Failed) > 0 {
		fmt.Fprintf(w, "Failed: %s\n", strings.Join(v.Failed, ", "))
	}
	if len(v.NeedsAttestation) > 0 {
		fmt.Fprintf(w, "Still needing attestation: %s\n", strings.Join(v.NeedsAttestation, ", "))
		fmt.Fprintln(w, "  (a requirement shown without a reason cannot be seen on the network: attest it in zone.attestations)")
	}
	verdict := string(v.Overall)
	switch {
	case v.Overall == checks.OverallNeedsAttestation && !allowAttestations:
		verdict += " — not accepted without --allow-attestations"
	case v.Overall == checks.OverallNeedsAttestation:
		verdict += " — accepted (--allow-attestations)"
	}
	fmt.Fprintf(w, "\nVERDICT: %s\n", verdict)
	switch {
	case res.Baseline != nil:
		fmt.Fprintf(w, "Baseline recorded for zone %q from scan %d: %d assets.\n", v.Zone, res.Baseline.ScanID, len(res.Baseline.Assets))
	case setBaseline:
		fmt.Fprintln(w, "Baseline not recorded: the run was not accepted.")
	}
}

func verdictLabel(v checks.Verdict) string {
	if v == checks.VerdictFail {
		return "FAIL"
	}
	return string(v)
}

func slVector(v otaudit.SLVector) string {
	parts := make([]string, len(otaudit.FRs))
	for i, fr := range otaudit.FRs {
		parts[i] = fmt.Sprintf("%s %d", fr.Code(), v.Get(fr))
	}
	return strings.Join(parts, ", ")
}
