package configs

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/otaudit/otaudit"
)

// requirementID is the shape of an IEC 62443-3-3 system requirement or
// requirement enhancement ID: "SR 7.3", "SR 1.1 RE2". Whether the ID exists
// in the standard's table is for package checks to say (configs cannot
// import it: checks imports configs), so an unknown but well-formed ID loads
// and is reported with the score.
var requirementID = regexp.MustCompile(`^SR [1-7]\.[1-9][0-9]?( RE[1-9])?$`)

// attestations decodes zone.attestations: statements, signed off by someone,
// that a requirement the network cannot show is met (attestation) or covered
// by other means (compensating countermeasure), each until an expiry date.
func (d *configDecoder) attestations(n *yaml.Node, field string) []otaudit.Attestation {
	out := []otaudit.Attestation{}
	d.sequence(n, field, func(e *yaml.Node, ef string) {
		if a, ok := d.attestation(e, ef); ok {
			out = append(out, a)
		}
	})
	return out
}

func (d *configDecoder) attestation(n *yaml.Node, field string) (otaudit.Attestation, bool) {
	before := len(d.problems)
	entry := d.resolve(n, field)
	var a otaudit.Attestation
	seen := d.mapping(entry, field, map[string]fieldHandler{
		"requirement": func(n *yaml.Node, f string) {
			raw := d.str(n, f)
			id := normalizeRequirementID(raw)
			if !requirementID.MatchString(id) {
				if s := d.resolve(n, f); s != nil && s.Kind == yaml.ScalarNode {
					d.problemAt(s, f, `invalid requirement %q: want an IEC 62443-3-3 ID such as "SR 7.3" or "SR 1.1 RE2"`, raw)
				}
				return
			}
			a.Requirement = id
		},
		"compensating": func(n *yaml.Node, f string) { a.Compensating = d.boolean(n, f) },
		"description":  func(n *yaml.Node, f string) { a.Description = d.str(n, f) },
		"evidence":     func(n *yaml.Node, f string) { a.Evidence = d.str(n, f) },
		"approver":     func(n *yaml.Node, f string) { a.Approver = d.str(n, f) },
		"expires": func(n *yaml.Node, f string) {
			s, ok := d.scalar(n, f, "a date YYYY-MM-DD")
			if !ok || isNull(s) {
				return
			}
			t, err := parseExpiry(s.Value)
			if err != nil {
				d.problemAt(s, f, "%v", err)
				return
			}
			a.Expires = t
		},
	})
	if seen == nil {
		return a, false
	}
	// An attestation nobody signed, that points at no document, or that
	// never expires is not one an assessor can accept: 62443 asks for
	// attestations to be reviewed, so each one carries its review date.
	for _, k := range []string{"requirement", "evidence", "approver", "expires"} {
		if seen[k] == nil {
			d.problemAt(entry, joinField(field, k), "required")
		}
	}
	if a.Compensating && a.Description == "" && seen["description"] == nil {
		d.problemAt(entry, joinField(field, "description"), "required for a compensating countermeasure: say what compensates")
	}
	for k, v := range map[string]string{"evidence": a.Evidence, "approver": a.Approver} {
		if seen[k] != nil && v == "" && !hasProblemAt(d.problems[before:], joinField(field, k)) {
			d.problemAt(seen[k], joinField(field, k), "must not be empty")
		}
	}
	return a, len(d.problems) == before
}

// normalizeRequirementID accepts the spacing and case people type ("sr7.3",
// "SR 1.1  re2") and returns the catalog's form.
func normalizeRequirementID(s string) string {
	s = strings.ToUpper(strings.Join(strings.Fields(s), " "))
	s = strings.Replace(s, "SR", "SR ", 1)
	s = strings.Replace(s, "RE", " RE", 1)
	return strings.Join(strings.Fields(s), " ")
}

// parseExpiry reads a date (valid through the end of that day, UTC) or an
// RFC 3339 instant.
func parseExpiry(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.AddDate(0, 0, 1), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("invalid expiry %q: want a date YYYY-MM-DD (valid through that day, UTC) or an RFC 3339 time", s)
}

// zoneWindows converts the schedule's maintenance windows to the zone
// model's. The root type reads them in UTC: a plant in another time zone
// writes its windows in UTC.
func zoneWindows(ws []MaintenanceWindow) []otaudit.MaintenanceWindow {
	if len(ws) == 0 {
		return nil
	}
	out := make([]otaudit.MaintenanceWindow, 0, len(ws))
	for _, w := range ws {
		mw := otaudit.MaintenanceWindow{
			Start: time.Duration(w.Start) * time.Minute,
			End:   time.Duration(w.End) * time.Minute,
		}
		if len(w.Days) > 0 {
			mw.Days = append([]time.Weekday(nil), w.Days...)
		}
		out = append(out, mw)
	}
	return out
}
