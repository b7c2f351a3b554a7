package main

import (
	"context"
	"fmt"
	stdio "io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/checks"
)

// ---- checks: the catalog

type checksOptions struct {
	g  *globalOptions
	io streams
	// raw filter flags; parsed into the fields below in RunE
	ObjectiveFlag, SRFlag, RoleFlag string

	Objective otaudit.Objective
	SR        string
	Role      string
}

func newChecksCmd(g *globalOptions, io streams, runF func(context.Context, *checksOptions) error) *cobra.Command {
	o := &checksOptions{g: g, io: io}
	cmd := &cobra.Command{
		Use:   "checks [--objective AC] [--sr \"SR 1.5\"] [--role AO|SP|PS]",
		Short: "List the IEC 62443 check catalog",
		Long: `Lists every check of the catalog with its objective, sub-objective, base
severity, the IEC 62443-3-3 requirements it traces to, and whether this build
evaluates it (a check without an evaluator is always NOT_ASSESSED, never a
pass). --sr "SR 1.5" also matches the requirement's enhancements (SR 1.5 RE1).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.parse(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runChecks(o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.ObjectiveFlag, "objective", "", "only checks of this objective (AC, AM, SI, DC, IM, RA)")
	f.StringVar(&o.SRFlag, "sr", "", `only checks that trace to this 62443-3-3 SR or RE, e.g. "SR 1.5" or "SR 1.5 RE1"`)
	f.StringVar(&o.RoleFlag, "role", "", "only checks this role takes part in: AO (asset owner), SP (service provider), PS (product supplier)")
	cmd.AddCommand(newCheckShowCmd(g, io))
	return cmd
}

func (o *checksOptions) parse() error {
	if o.ObjectiveFlag != "" {
		obj := otaudit.Objective(strings.ToUpper(strings.TrimSpace(o.ObjectiveFlag)))
		if !obj.Valid() {
			return usageError{fmt.Errorf("--objective %q: want one of AC, AM, SI, DC, IM, RA, SM, LF, RM", o.ObjectiveFlag)}
		}
		o.Objective = obj
	}
	if o.SRFlag != "" {
		sr := normaliseSR(o.SRFlag)
		known := slices.ContainsFunc(checks.Requirements(), func(r checks.Requirement) bool { return r.ID == sr })
		if !known {
			return usageError{fmt.Errorf("--sr %q: not an IEC 62443-3-3 requirement of the catalog (e.g. \"SR 1.5\" or \"SR 1.5 RE1\")", o.SRFlag)}
		}
		o.SR = sr
	}
	if o.RoleFlag != "" {
		role := strings.ToUpper(strings.TrimSpace(o.RoleFlag))
		if role != "AO" && role != "SP" && role != "PS" {
			return usageError{fmt.Errorf("--role %q: want AO, SP or PS", o.RoleFlag)}
		}
		o.Role = role
	}
	return nil
}

// normaliseSR accepts "sr 1.5", "1.5", "SR  1.5  re1" and returns the
// catalog's spelling, "SR 1.5" / "SR 1.5 RE1".
func normaliseSR(s string) string {
	fields := strings.Fields(strings.ToUpper(s))
	if len(fields) > 0 && fields[0] != "SR" {
		fields = append([]string{"SR"}, fields...)
	}
	return strings.Join(fields, " ")
}

// tracesTo reports whether the check cites sr or one of its enhancements.
func tracesTo(c checks.Spec, sr string) bool {
	return slices.ContainsFunc(c.Refs.SR, func(r otaudit.SRRef) bool {
		return r.ID == sr || strings.HasPrefix(r.ID, sr+" RE")
	})
}

func (o *checksOptions) match(c checks.Spec) bool {
	return (o.Objective == "" || c.Objective == o.Objective) &&
		(o.SR == "" || tracesTo(c, o.SR)) &&
		(o.Role == "" || slices.Contains(c.Roles.All, o.Role))
}

// checkJSON is a catalog entry as `otaudit checks --json` prints it.
type checkJSON struct {
	ID                  string            `json:"id"`
	Number              int               `json:"number"`
	Title               string            `json:"title"`
	Objective           otaudit.Objective `json:"objective"`
	SubObjective        string            `json:"sub_objective"`
	Secondary           []string          `json:"secondary,omitempty"`
	Severity            otaudit.Severity  `json:"severity"`
	SeverityRationale   string            `json:"severity_rationale,omitempty"`
	Refs                otaudit.Refs      `json:"refs"`
	DisprovesOnBoundary []otaudit.SRRef   `json:"disproves_on_boundary,omitempty"`
	Roles               rolesJSON         `json:"roles"`
	Remediation         string            `json:"remediation,omitempty"`
	Needs               []string          `json:"needs"`
	Optional            bool              `json:"optional,omitempty"`
	Implemented         bool              `json:"implemented"`
}

type rolesJSON struct {
	Primary string   `json:"primary"`
	All     []string `json:"all"`
}

func checkOutput(c checks.Spec, implemented bool, full bool) checkJSON {
	out := checkJSON{
		ID: c.ID, Number: c.Number, Title: c.Title, Objective: c.Objective, SubObjective: c.SubObjective,
		Severity: c.Severity, Refs: c.Refs.Refs, Roles: rolesJSON{Primary: c.Roles.Primary, All: c.Roles.All},
		Needs: c.Needs, Optional: c.Optional, Implemented: implemented,
	}
	if out.Refs.SR == nil {
		out.Refs.SR = []otaudit.SRRef{}
	}
	if full {
		out.Secondary, out.SeverityRationale, out.Remediation = c.Secondary, c.SeverityRationale, c.Remediation
		out.DisprovesOnBoundary = c.Refs.DisprovesOnBoundary
	} else {
		// The list carries the SRs; the other references are for `show`.
		out.Refs = otaudit.Refs{SR: out.Refs.SR}
	}
	return out
}

// catalog returns the embedded catalog and the set of implemented checks.
func catalog() ([]checks.Spec, map[string]bool, error) {
	if _, err := checks.Embedded(); err != nil {
		return nil, nil, fmt.Errorf("check catalog: %w", err)
	}
	implemented := map[string]bool{}
	for _, id := range checks.Evaluators() {
		implemented[id] = true
	}
	return checks.Catalog(), implemented, nil
}

func runChecks(o *checksOptions) error {
	specs, implemented, err := catalog()
	if err != nil {
		return err
	}
	var picked []checks.Spec
	for _, c := range specs {
		if o.match(c) {
			picked = append(picked, c)
		}
	}
	if o.g.JSON {
		out := make([]checkJSON, 0, len(picked))
		for _, c := range picked {
			out = append(out, checkOutput(c, implemented[c.ID], false))
		}
		return writeJSON(o.io.Out, out)
	}
	printCatalog(o.io.Out, picked, implemented)
	return nil
}

func printCatalog(w stdio.Writer, specs []checks.Spec, implemented map[string]bool) {
	if len(specs) == 0 {
		fmt.Fprintln(w, "No check matches the filters.")
		return
	}
	tw := table(w)
	fmt.Fprintln(tw, "#\tID\tOBJ\tSUB\tSEVERITY\tSR/RE\tIMPLEMENTED\tTITLE")
	n := 0
	for _, c := range specs {
		impl := "no"
		if implemented[c.ID] {
			impl = "yes"
			n++
		}
		srs := make([]string, 0, len(c.Refs.SR))
		for _, r := range c.Refs.SR {
			srs = append(srs, strings.TrimPrefix(r.ID, "SR "))
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Number, c.ID, c.Objective, c.SubObjective, c.Severity,
			dash(strings.Join(srs, ", ")), impl, c.Title)
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d check(s), %d implemented; the others are NOT_ASSESSED in every scan.\n", len(specs), n)
}

func newCheckShowCmd(g *globalOptions, io streams) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show one check with all its references, severity, roles and remediation",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, implemented, err := catalog()
			if err != nil {
				return err
			}
			id := strings.ToUpper(strings.TrimSpace(args[0]))
			c, ok := checks.Lookup(id)
			if !ok {
				return fmt.Errorf("unknown check %q: `otaudit checks` lists the catalog", args[0])
			}
			if g.JSON {
				return writeJSON(io.Out, checkOutput(c, implemented[c.ID], true))
			}
			printCheck(io.Out, c, implemented[c.ID])
			return nil
		},
	}
}

func printCheck(w stdio.Writer, c checks.Spec, implemented bool) {
	fmt.Fprintf(w, "%s (#%d): %s\n\n", c.ID, c.Number, c.Title)
	obj := fmt.Sprintf("%s (%s), sub-objective %s", c.Objective, c.Objective.Title(), c.SubObjective)
	if len(c.Secondary) > 0 {
		obj += "; also " + strings.Join(c.Secondary, ", ")
	}
	fmt.Fprintf(w, "Objective:    %s\n", obj)
	fmt.Fprintf(w, "Severity:     %s — %s\n", c.Severity, c.SeverityRationale)
	if m := modifiersText(c.Modifiers); m != "" {
		fmt.Fprintf(w, "Modifiers:    %s\n", m)
	}
	roles := make([]string, 0, len(c.Roles.All))
	for _, r := range c.Roles.All {
		if r == c.Roles.Primary {
			r += " (primary)"
		}
		roles = append(roles, r)
	}
	fmt.Fprintf(w, "Roles:        %s\n", strings.Join(roles, ", "))
	fmt.Fprintf(w, "Needs:        %s\n", strings.Join(c.Needs, ", "))
	if implemented {
		fmt.Fprintln(w, "Implemented:  yes")
	} else {
		fmt.Fprintln(w, "Implemented:  no (NOT_ASSESSED in every scan until this build can evaluate it)")
	}
	if c.Optional {
		fmt.Fprintln(w, "Optional:     yes")
	}

	fmt.Fprintln(w, "\nIEC 62443-3-3 (SR/RE, lowest SL that requires it):")
	names := map[string]string{}
	for _, r := range checks.Requirements() {
		names[r.ID] = r.Name
	}
	disproves := func(list []otaudit.SRRef, id string) bool {
		return slices.ContainsFunc(list, func(r otaudit.SRRef) bool { return r.ID == id })
	}
	if len(c.Refs.SR) == 0 {
		fmt.Fprintln(w, "  -")
	}
	for _, r := range c.Refs.SR {
		note := ""
		switch {
		case disproves(c.Refs.Disproves, r.ID):
			note = "  [a failure disproves it]"
		case disproves(c.Refs.DisprovesOnBoundary, r.ID):
			note = "  [disproved when the finding crosses the zone boundary]"
		}
		fmt.Fprintf(w, "  %-12s SL%d  %s%s\n", r.ID, r.SL, names[r.ID], note)
	}
	refLine := func(label string, xs []string) {
		fmt.Fprintf(w, "%-22s %s\n", label+":", dash(strings.Join(xs, ", ")))
	}
	fmt.Fprintln(w)
	refLine("IEC 62443-2-1", c.Refs.IEC62443_2_1)
	refLine("IEC 62443-4-2", c.Refs.IEC62443_4_2)
	refLine("ISO/IEC 27001 Annex A", c.Refs.ISO27001)
	refLine("MITRE ATT&CK for ICS", c.Refs.ATTACK)
	fmt.Fprintf(w, "\nRemediation:\n  %s\n", c.Remediation)
}

func modifiersText(m checks.Modifiers) string {
	var parts []string
	if m.Boundary > 0 {
		parts = append(parts, fmt.Sprintf("+%d across the zone boundary", m.Boundary))
	}
	if m.CriticalTarget > 0 {
		parts = append(parts, fmt.Sprintf("+%d against a safety zone or Purdue L0/L1", m.CriticalTarget))
	}
	if s := m.SLTarget; s != nil {
		parts = append(parts, fmt.Sprintf("+%d when SL-T(%s) >= %d", s.Raise, s.FR, s.AtLeast))
	}
	return strings.Join(parts, "; ")
}
