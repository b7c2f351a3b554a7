package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/agent"
)

// addLifecycle gives the findings command its --since filter and the
// triage subcommands accept, reopen and mark-false-positive.
func addLifecycle(cmd *cobra.Command, g *globalOptions, io streams, o *listOptions) {
	cmd.Flags().StringVar(&o.Since, "since", "", "only findings last seen at or after this time: RFC 3339, YYYY-MM-DD (UTC) or a duration back from now (72h, 7d)")
	// PreRunE runs before RunE (and its test hook), after flag parsing.
	cmd.PreRunE = func(*cobra.Command, []string) error { return o.parseSince(time.Now()) }
	cmd.AddCommand(
		newTriageCmd(g, io, otaudit.StatusAcceptedRisk, nil),
		newTriageCmd(g, io, otaudit.StatusOpen, nil),
		newTriageCmd(g, io, otaudit.StatusFalsePositive, nil),
	)
}

func (o *listOptions) parseSince(now time.Time) error {
	if o.Since == "" {
		return nil
	}
	t, err := parseTimeArg(o.Since, now, -1)
	if err != nil {
		return usageError{fmt.Errorf("--since: %w", err)}
	}
	o.Filter.Since = t
	return nil
}

// parseTimeArg reads a point in time given as RFC 3339, as a date
// (YYYY-MM-DD, midnight UTC at its start) or as a duration from now (Go
// syntax such as 72h or 90m, or whole days such as 7d) taken in direction
// (-1 back, +1 forward).
func parseTimeArg(s string, now time.Time, direction int) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if days, ok := strings.CutSuffix(s, "d"); ok && err != nil {
		n, aerr := strconv.Atoi(days)
		if aerr == nil && n <= 1<<20 {
			d, err = time.Duration(n)*24*time.Hour, nil
		}
	}
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q: want an RFC 3339 time (2026-03-02T08:00:00Z), a date (2026-03-02) or a positive duration (72h, 7d)", s)
	}
	return now.UTC().Add(time.Duration(direction) * d), nil
}

// ---- findings accept | reopen | mark-false-positive

type triageOptions struct {
	g      *globalOptions
	io     streams
	Status otaudit.FindingStatus
	ID     string
	Reason string
	By     string
	// Until is the raw --until flag; until its parsed value.
	Until string
	until time.Time
}

var triageUse = map[otaudit.FindingStatus]struct{ use, short, long string }{
	otaudit.StatusAcceptedRisk: {"accept ID --reason TEXT --by NAME [--until DATE]", "Accept the risk of a finding (it stops gating --fail-on)",
		`Records that the risk of the finding is accepted: why, by whom and until when.
An accepted finding stays accepted across scans and no longer counts for
--fail-on. When --until passes, reads show it open at once and the next scan
of its zone reopens it in the store. --until takes a date (the acceptance ends
at 00:00 UTC that day), an RFC 3339 time or a duration from now (90d, 2160h).
Without --until the acceptance never expires, which otaudit warns about.`},
	otaudit.StatusOpen: {"reopen ID --reason TEXT [--by NAME]", "Reopen an accepted, false-positive or resolved finding",
		"Sets the finding open again and records why (and by whom) in its history."},
	otaudit.StatusFalsePositive: {"mark-false-positive ID --reason TEXT --by NAME", "Mark a finding as a false positive",
		`Records that the finding is wrong: why and by whom. It stays a false positive
across scans until reopened and never counts for --fail-on.`},
}

func newTriageCmd(g *globalOptions, io streams, status otaudit.FindingStatus, runF func(context.Context, *triageOptions) error) *cobra.Command {
	o := &triageOptions{g: g, io: io, Status: status}
	u := triageUse[status]
	cmd := &cobra.Command{
		Use:   u.use,
		Short: u.short,
		Long:  u.long,
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.ID = args[0]
			if err := o.validate(time.Now()); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runTriage(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Reason, "reason", "", "why (required)")
	switch status {
	case otaudit.StatusAcceptedRisk:
		f.StringVar(&o.By, "by", "", "who accepts the risk (required)")
		f.StringVar(&o.Until, "until", "", "when the acceptance expires: YYYY-MM-DD, RFC 3339 or a duration from now (90d)")
	case otaudit.StatusFalsePositive:
		f.StringVar(&o.By, "by", "", "who judged it a false positive (required)")
	default:
		f.StringVar(&o.By, "by", "", "who reopens it")
	}
	return cmd
}

// validate checks the flags; every mistake is a usage error (exit 2).
func (o *triageOptions) validate(now time.Time) error {
	name := map[otaudit.FindingStatus]string{otaudit.StatusAcceptedRisk: "accept", otaudit.StatusOpen: "reopen",
		otaudit.StatusFalsePositive: "mark-false-positive"}[o.Status]
	if strings.TrimSpace(o.ID) == "" {
		return usageError{fmt.Errorf("findings %s: the finding ID is empty", name)}
	}
	if strings.TrimSpace(o.Reason) == "" {
		return usageError{fmt.Errorf("findings %s: --reason is required: say why", name)}
	}
	if o.Status != otaudit.StatusOpen && strings.TrimSpace(o.By) == "" {
		return usageError{fmt.Errorf("findings %s: --by is required: say who decides", name)}
	}
	if o.Until != "" {
		t, err := parseTimeArg(o.Until, now, +1)
		if err != nil {
			return usageError{fmt.Errorf("--until: %w", err)}
		}
		if !t.After(now) {
			return usageError{fmt.Errorf("--until %s is not in the future", o.Until)}
		}
		o.until = t
	}
	return nil
}

func runTriage(ctx context.Context, o *triageOptions) error {
	a, err := o.g.newAgent(o.io, false)
	if err != nil {
		return err
	}
	f, err := a.SetFindingStatus(ctx, o.ID, agent.Triage{Status: o.Status, Reason: o.Reason, By: o.By, Until: o.until})
	if err != nil {
		return err
	}
	if o.Status == otaudit.StatusAcceptedRisk && o.until.IsZero() {
		fmt.Fprintf(o.io.Err, "otaudit: warning: finding %s is accepted with no expiry; give --until DATE so that the acceptance is reviewed\n", f.ID)
	}
	if o.g.JSON {
		return writeJSON(o.io.Out, f)
	}
	fmt.Fprintf(o.io.Out, "%s  %s  %s: %s\n", f.ID, f.CheckID, hostOf(f.AssetKey), statusLine(f))
	return nil
}

// statusLine describes a finding's status with its owner and expiry.
func statusLine(f otaudit.Finding) string {
	var b strings.Builder
	b.WriteString(string(f.Status))
	if f.StatusBy != "" {
		b.WriteString(" by " + f.StatusBy)
	}
	if !f.StatusUntil.IsZero() {
		b.WriteString(" until " + stamp(f.StatusUntil))
	}
	if f.StatusReason != "" {
		b.WriteString(" — " + f.StatusReason)
	}
	return b.String()
}
