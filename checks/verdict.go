package checks

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/otaudit/otaudit"
)

// Commissioning verdicts: the integrator's acceptance test reads the same
// requirement states as the SL-A interval (score.go, reference §4.3), one
// SR/RE at a time, and turns them into a yes/no for the zone's target.

// Verdict is what commissioning concludes about one SR/RE.
type Verdict string

const (
	// VerdictPass: observed as met (MET_OBSERVED): network-observable,
	// nothing disproves it, and every check mapped to it was assessed.
	VerdictPass Verdict = "pass"
	// VerdictFail: open findings of failing checks disprove it.
	VerdictFail Verdict = "fail"
	// VerdictAttested: nothing disproves it and a valid attestation says it
	// is met.
	VerdictAttested Verdict = "attested"
	// VerdictCompensated: a valid compensating countermeasure covers it,
	// whether or not findings disprove the requirement itself.
	VerdictCompensated Verdict = "compensated"
	// VerdictNeedsAttestation: nothing disproves it, but neither the
	// evidence nor a valid attestation shows it is met.
	VerdictNeedsAttestation Verdict = "needs attestation"
)

// Overall is the commissioning verdict of a zone against its target.
type Overall string

const (
	// OverallPass: every requirement up to SL-T passed, or is attested or
	// compensated.
	OverallPass Overall = "PASS"
	// OverallFail: at least one requirement up to SL-T is disproved (a
	// definite gap), whatever else holds.
	OverallFail Overall = "FAIL"
	// OverallNeedsAttestation: nothing is disproved, but some requirements
	// up to SL-T rest on nothing yet. Whether that is accepted is the
	// caller's policy (the CLI needs --allow-attestations).
	OverallNeedsAttestation Overall = "PASS WITH ATTESTATIONS REQUIRED"
)

// RequirementVerdict is one SR/RE's verdict with what it rests on.
type RequirementVerdict struct {
	ID      string     `json:"id"` // "SR 1.5", "SR 4.1 RE1"
	FR      otaudit.FR `json:"fr"`
	Level   int        `json:"level"`
	Name    string     `json:"name"`
	Verdict Verdict    `json:"verdict"`
	// Observable: network evidence can show the requirement met (the
	// catalog's network_observable list); others can only be disproved
	// or attested.
	Observable bool `json:"network_observable"`
	// Severity is the worst severity among Findings.
	Severity otaudit.Severity `json:"severity,omitempty"`
	// Checks are the failing checks whose findings disprove the
	// requirement, worst first (set on fail and on a compensated failure).
	Checks []string `json:"checks,omitempty"`
	// Findings are those open findings, worst first.
	Findings []otaudit.Finding `json:"findings,omitempty"`
	// Attestation is the valid attestation or compensating countermeasure
	// the verdict rests on (attested, compensated), or the one a failure
	// overrides (fail: an attestation never outweighs evidence).
	Attestation *otaudit.Attestation `json:"attestation,omitempty"`
	// Expired are attestations of the requirement that no longer count.
	Expired []otaudit.Attestation `json:"expired,omitempty"`
	// Unassessed are the checks mapped to a network-observable requirement
	// that this evaluation did not assess (not assessed or not applicable);
	// any one of them keeps the requirement from being observed as met.
	Unassessed []string `json:"unassessed,omitempty"`
	// Reason says in a sentence why the verdict is what it is.
	Reason string `json:"reason"`
}

// Commissioning is the acceptance test of one zone against a target.
type Commissioning struct {
	Zone   string           `json:"zone"`
	Target otaudit.SLVector `json:"target"`
	// Time is when attestations were judged valid or expired.
	Time time.Time `json:"time"`
	// Requirements are every SR/RE at or below its FR's target, in the
	// order of the 62443-3-3 table.
	Requirements []RequirementVerdict `json:"requirements"`
	// Failed and NeedsAttestation are the IDs with those verdicts.
	Failed           []string `json:"failed,omitempty"`
	NeedsAttestation []string `json:"needs_attestation,omitempty"`
	// AboveTarget counts the requirements above SL-T, which are not judged.
	AboveTarget int     `json:"above_target"`
	Overall     Overall `json:"overall"`
}

// Count returns how many requirements have verdict v.
func (c *Commissioning) Count(v Verdict) int {
	n := 0
	for _, r := range c.Requirements {
		if r.Verdict == v {
			n++
		}
	}
	return n
}

// Commission judges every requirement of the 62443-3-3 table up to the
// zone's SL-T (zone.SLTarget per FR) from an evaluation's report and the
// zone's attestations valid at now. It is pure and deterministic and agrees
// with ScoreAt by construction: the overall verdict is FAIL exactly when an
// FR has a definite gap, and PASS exactly when no FR has a potential gap.
func Commission(zone otaudit.Zone, rep Report, now time.Time) Commissioning {
	c := Commissioning{Zone: zone.Name, Target: zone.SLTarget, Time: now}
	d, err := Embedded()
	if err != nil {
		// No catalog, no requirement can be judged: never a pass.
		c.Overall = OverallFail
		return c
	}
	state := map[string]otaudit.CheckState{}
	for _, r := range rep.Results {
		state[r.CheckID] = r.State
	}
	mapped := map[string][]string{}
	for _, spec := range d.Checks {
		for _, x := range spec.Refs.SR {
			mapped[x.ID] = append(mapped[x.ID], spec.ID)
		}
	}
	observable := toSet(d.NetworkObservable)

	for _, a := range requirementStates(d, zone, rep, now) {
		if a.Level > zone.SLTarget.Get(a.FR) {
			c.AboveTarget++
			continue
		}
		v := RequirementVerdict{ID: a.ID, FR: a.FR, Level: a.Level, Name: a.Name, Severity: a.severity, Checks: slices.Clone(a.checks)}
		v.Findings = disproving(rep, state, a.ID)
		valid, validComp, expired := attestationsOf(zone, a.ID, now)
		v.Expired, v.Observable = expired, observable[a.ID]
		if v.Observable {
			for _, id := range mapped[a.ID] {
				if s := state[id]; s != otaudit.CheckPassed && s != otaudit.CheckFailed {
					v.Unassessed = append(v.Unassessed, id)
				}
			}
		}
		switch a.state {
		case stateFailed:
			v.Verdict = VerdictFail
			v.Attestation = valid
			v.Reason = fmt.Sprintf("disproved by %d open finding(s) of %s", len(v.Findings), strings.Join(v.Checks, ", "))
			if valid != nil {
				v.Reason += fmt.Sprintf("; the attestation by %s does not outweigh them (declare a compensating countermeasure if one exists)", valid.Approver)
			}
		case stateCompensated:
			v.Verdict, v.Attestation = VerdictCompensated, validComp
			v.Reason = fmt.Sprintf("disproved by %s but covered by a compensating countermeasure: %s", strings.Join(v.Checks, ", "), attestationText(validComp))
		case stateObserved:
			v.Verdict = VerdictPass
			v.Reason = fmt.Sprintf("observed as met: every mapped check was assessed (%s) and none disproves it", strings.Join(mapped[a.ID], ", "))
		case stateAttested:
			if a.attested {
				v.Verdict, v.Attestation = VerdictAttested, valid
			} else {
				v.Verdict, v.Attestation = VerdictCompensated, validComp
			}
			v.Reason = attestationText(v.Attestation)
		default:
			v.Verdict = VerdictNeedsAttestation
			v.Reason = needsAttestationReason(observable[a.ID], mapped[a.ID], v.Unassessed, expired)
		}
		switch v.Verdict {
		case VerdictFail:
			c.Failed = append(c.Failed, v.ID)
		case VerdictNeedsAttestation:
			c.NeedsAttestation = append(c.NeedsAttestation, v.ID)
		}
		c.Requirements = append(c.Requirements, v)
	}
	switch {
	case len(c.Failed) > 0:
		c.Overall = OverallFail
	case len(c.NeedsAttestation) > 0:
		c.Overall = OverallNeedsAttestation
	default:
		c.Overall = OverallPass
	}
	return c
}

// disproving returns the open findings of failing checks that disprove the
// requirement id, worst first, as requirementStates counts them.
func disproving(rep Report, state map[string]otaudit.CheckState, id string) []otaudit.Finding {
	var out []otaudit.Finding
	for _, f := range rep.Findings {
		if !isOpen(f) || state[f.CheckID] != otaudit.CheckFailed {
			continue
		}
		if slices.ContainsFunc(f.Refs.Disproves, func(x otaudit.SRRef) bool { return x.ID == id }) {
			out = append(out, f)
		}
	}
	slices.SortStableFunc(out, func(a, b otaudit.Finding) int {
		return cmp.Or(cmp.Compare(b.Severity, a.Severity), cmp.Compare(a.CheckID, b.CheckID),
			cmp.Compare(a.AssetKey, b.AssetKey), cmp.Compare(a.Key, b.Key))
	})
	return out
}

// attestationsOf returns the requirement's valid attestation and valid
// compensating countermeasure (the one lasting longest of each, a zero
// expiry lasting forever) and its expired ones.
func attestationsOf(zone otaudit.Zone, id string, now time.Time) (valid, validComp *otaudit.Attestation, expired []otaudit.Attestation) {
	longer := func(cur *otaudit.Attestation, a otaudit.Attestation) *otaudit.Attestation {
		if cur == nil || !cur.Expires.IsZero() && (a.Expires.IsZero() || a.Expires.After(cur.Expires)) {
			return &a
		}
		return cur
	}
	for _, a := range zone.Attestations {
		switch {
		case a.Requirement != id:
		case !a.Valid(now):
			expired = append(expired, a)
		case a.Compensating:
			validComp = longer(validComp, a)
		default:
			valid = longer(valid, a)
		}
	}
	return valid, validComp, expired
}

func attestationText(a *otaudit.Attestation) string {
	if a == nil {
		return ""
	}
	kind := "attested"
	if a.Compensating {
		kind = "compensated"
	}
	s := fmt.Sprintf("%s by %s %s", kind, cmp.Or(a.Approver, "(no approver)"), ExpiryText(a.Expires))
	if a.Evidence != "" {
		s += " (evidence " + a.Evidence + ")"
	}
	return s
}

func needsAttestationReason(observable bool, mapped, unassessed []string, expired []otaudit.Attestation) string {
	var why string
	switch {
	case !observable:
		why = "the network cannot show it: attest it"
	case len(mapped) == 0:
		why = "no check of the catalog can show it: attest it"
	default:
		why = fmt.Sprintf("this evaluation cannot show it: %d of its %d checks were not assessed (%s); collect that evidence or attest it",
			len(unassessed), len(mapped), strings.Join(unassessed, ", "))
	}
	if len(expired) > 0 {
		last := expired[0]
		for _, a := range expired[1:] {
			if a.Expires.After(last.Expires) {
				last = a
			}
		}
		why += fmt.Sprintf("; the attestation by %s was valid %s and has expired", cmp.Or(last.Approver, "(no approver)"), ExpiryText(last.Expires))
	}
	return why
}

// ExpiryText says how long an attestation is valid: "through 2027-06-30"
// for a date (configs reads a date as valid through the end of that day,
// so the expiry instant is the next midnight), "until <RFC 3339>" for an
// instant, "with no expiry" for none.
func ExpiryText(t time.Time) string {
	switch t = t.UTC(); {
	case t.IsZero():
		return "with no expiry"
	case t.Equal(t.Truncate(24 * time.Hour)):
		return "through " + t.AddDate(0, 0, -1).Format(time.DateOnly)
	default:
		return "until " + t.Format(time.RFC3339)
	}
}
