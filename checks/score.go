package checks

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/otaudit/otaudit"
)

// Bands of an objective score (reference §4.5).
const (
	BandGood          = "good"
	BandAcceptable    = "acceptable"
	BandWeak          = "weak"
	BandPoor          = "poor"
	BandInsufficient  = "insufficient evidence"
	BandNotAssessed   = "not assessed"
	BandNotAssessable = "not assessable from the network"
	capCriticalScore  = 39
	capHighScore      = 69
	minimumCoverage   = 0.5
	scoreNotAssessed  = -1
	maxSecurityLevel  = 4
)

// Score is ScoreAt with the latest evidence time of the report as "now":
// attestations and compensating countermeasures are judged valid or
// expired as of the newest finding. A report without findings has no
// evidence time, and then every attestation with an expiry counts; callers
// that know when they evaluate should use ScoreAt.
func Score(zone otaudit.Zone, rep Report, scanID uint64) otaudit.ZoneScore {
	var latest time.Time
	for _, f := range rep.Findings {
		if f.LastSeen.After(latest) {
			latest = f.LastSeen
		}
	}
	return ScoreAt(zone, rep, scanID, latest)
}

// ScoreAt turns a report into the zone's objective and sub-objective scores
// (reference §4.5), the achieved-SL interval per foundational requirement
// with attestations and compensating countermeasures valid at now (§4.3,
// §4.4), and the remediation backlog (§4.4). It is pure and deterministic.
func ScoreAt(zone otaudit.Zone, rep Report, scanID uint64, now time.Time) otaudit.ZoneScore {
	zs := otaudit.ZoneScore{Zone: zone.Name, ScanID: scanID, Results: slices.Clone(rep.Results)}
	d, err := Embedded()
	if err != nil {
		return zs
	}
	for _, o := range otaudit.Objectives {
		zs.Objectives = append(zs.Objectives, scoreObjective(d, zone, o, rep))
	}
	zs.SubObjectives = scoreSubObjectives(d, zone, rep)
	states := requirementStates(d, zone, rep, now)
	zs.FRs = frLevels(d, zone, states)
	zs.Backlog = backlog(d, zone, states)
	zs.Attestations = slices.Clone(zone.Attestations)
	return zs
}

// zoneSeverity is a check's base severity with the modifiers that depend
// on the zone alone (M2 and SL-T), used to weight a passing check.
func zoneSeverity(spec Spec, zone otaudit.Zone) otaudit.Severity {
	steps := 0
	if zone.Safety || (zone.PurdueLevel >= 0 && zone.PurdueLevel <= 1) {
		steps += spec.Modifiers.CriticalTarget
	}
	if m := spec.Modifiers.SLTarget; m != nil {
		if fr, err := otaudit.ParseFR(m.FR); err == nil && zone.SLTarget.Get(fr) >= m.AtLeast {
			steps += m.Raise
		}
	}
	return spec.Severity.Raise(steps)
}

// isOpen: accepted risks stay open for scoring; resolved and false
// positives do not count.
func isOpen(f otaudit.Finding) bool {
	return f.Status == "" || f.Status == otaudit.StatusOpen || f.Status == otaudit.StatusAcceptedRisk
}

func scoreObjective(d *Definitions, zone otaudit.Zone, o otaudit.Objective, rep Report) otaudit.ObjectiveScore {
	os := otaudit.ObjectiveScore{Objective: o}
	if !o.NetworkObservable() {
		os.Score, os.Band = scoreNotAssessed, BandNotAssessable
		return os
	}
	return scoreChecks(d, zone, os, rep,
		func(r otaudit.CheckResult) bool { return r.Objective == o },
		func(f otaudit.Finding) bool { return f.Objective == o })
}

// subObjectiveOf is the sub-objective a result or finding counts for: its
// check's primary one in the catalog (secondary sub-objectives do not
// count, so that no check weighs twice within one objective).
func subObjectiveOf(d *Definitions, checkID, fallback string) string {
	if spec, ok := d.Lookup(checkID); ok {
		return spec.SubObjective
	}
	return fallback
}

// subObjectives lists the catalog's sub-objectives in report order: by
// objective (otaudit.Objectives), then by number ("AC 1" … "AC 4").
func subObjectives(d *Definitions) []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range d.Checks {
		if !seen[c.SubObjective] {
			seen[c.SubObjective] = true
			out = append(out, c.SubObjective)
		}
	}
	rank := func(sub string) (int, int) {
		obj, num, _ := strings.Cut(sub, " ")
		n, _ := strconv.Atoi(num)
		return slices.Index(otaudit.Objectives, otaudit.Objective(obj)), n
	}
	slices.SortFunc(out, func(a, b string) int {
		oa, na := rank(a)
		ob, nb := rank(b)
		return cmp.Or(cmp.Compare(oa, ob), cmp.Compare(na, nb), cmp.Compare(a, b))
	})
	return out
}

// scoreSubObjectives applies the §4.5 formula per sub-objective.
func scoreSubObjectives(d *Definitions, zone otaudit.Zone, rep Report) []otaudit.ObjectiveScore {
	var out []otaudit.ObjectiveScore
	for _, sub := range subObjectives(d) {
		obj, _, _ := strings.Cut(sub, " ")
		os := otaudit.ObjectiveScore{Objective: otaudit.Objective(obj), SubObjective: sub}
		out = append(out, scoreChecks(d, zone, os, rep,
			func(r otaudit.CheckResult) bool { return subObjectiveOf(d, r.CheckID, "") == sub },
			func(f otaudit.Finding) bool { return subObjectiveOf(d, f.CheckID, f.SubObjective) == sub }))
	}
	return out
}

// scoreChecks is the §4.5 score over the results resultIn selects, capped
// by the open findings findingIn selects.
func scoreChecks(d *Definitions, zone otaudit.Zone, os otaudit.ObjectiveScore, rep Report,
	resultIn func(otaudit.CheckResult) bool, findingIn func(otaudit.Finding) bool) otaudit.ObjectiveScore {
	var weighted, weights float64
	for _, r := range rep.Results {
		if !resultIn(r) || r.State == otaudit.CheckNotApplicable {
			continue
		}
		os.Applicable++
		if r.State != otaudit.CheckPassed && r.State != otaudit.CheckFailed {
			continue
		}
		os.Assessed++
		spec, ok := d.Lookup(r.CheckID)
		if !ok {
			continue
		}
		sev := zoneSeverity(spec, zone)
		ratio := 1.0
		if r.State == otaudit.CheckFailed {
			sev = max(sev, r.Severity)
			ratio = 0
			if r.InScope > 0 {
				ratio = 1 - float64(r.Failing)/float64(r.InScope)
			}
			os.Failing = append(os.Failing, r)
		}
		w := float64(sev.Weight())
		weighted += w * ratio
		weights += w
	}
	if os.Applicable > 0 {
		os.Coverage = float64(os.Assessed) / float64(os.Applicable)
	}
	slices.SortStableFunc(os.Failing, func(a, b otaudit.CheckResult) int {
		return cmp.Or(cmp.Compare(b.Severity, a.Severity),
			cmp.Compare(failRatio(b), failRatio(a)), cmp.Compare(a.CheckID, b.CheckID))
	})
	if os.Assessed == 0 || weights == 0 {
		os.Score, os.Band = scoreNotAssessed, BandNotAssessed
		return os
	}
	os.Score = int(math.Round(100 * weighted / weights))

	worst := map[otaudit.Severity]map[string]bool{otaudit.SeverityCritical: {}, otaudit.SeverityHigh: {}}
	for _, f := range rep.Findings {
		if findingIn(f) && isOpen(f) && worst[f.Severity] != nil {
			worst[f.Severity][f.CheckID] = true
		}
	}
	switch {
	case len(worst[otaudit.SeverityCritical]) > 0:
		os.Cap = fmt.Sprintf("score capped at %d: open critical findings (%s)", capCriticalScore,
			strings.Join(sortedKeys(worst[otaudit.SeverityCritical]), ", "))
		os.Score = min(os.Score, capCriticalScore)
	case len(worst[otaudit.SeverityHigh]) > 0:
		os.Cap = fmt.Sprintf("score capped at %d: open high findings (%s)", capHighScore,
			strings.Join(sortedKeys(worst[otaudit.SeverityHigh]), ", "))
		os.Score = min(os.Score, capHighScore)
	}
	switch {
	case os.Coverage < minimumCoverage:
		os.Band = BandInsufficient
	case os.Score >= 90:
		os.Band = BandGood
	case os.Score >= 70:
		os.Band = BandAcceptable
	case os.Score >= 40:
		os.Band = BandWeak
	default:
		os.Band = BandPoor
	}
	return os
}

func failRatio(r otaudit.CheckResult) float64 {
	if r.InScope == 0 {
		return 1
	}
	return float64(r.Failing) / float64(r.InScope)
}

// requirementState is what the evidence and the zone's attestations say
// about one SR/RE (reference §4.3).
type requirementState int

const (
	stateUnknown requirementState = iota
	// stateFailed: an open finding of a failing check disproves it.
	stateFailed
	// stateCompensated: it would be FAILED, but a valid compensating
	// countermeasure covers it; it counts for the lower bound and no longer
	// lowers the upper bound.
	stateCompensated
	// stateObserved: MET_OBSERVED, see metObserved.
	stateObserved
	// stateAttested: no failure, and a valid attestation (or compensating
	// countermeasure) says it is met.
	stateAttested
)

// requirementAssessment is one SR/RE's state with what led to it.
type requirementAssessment struct {
	Requirement
	state requirementState
	// attested / compensating: a valid attestation of that kind exists;
	// expired: an attestation exists but none is valid any more.
	attested, compensating, expired bool
	// severity is the worst severity among the open findings disproving
	// it; checks are those findings' checks, worst first.
	severity otaudit.Severity
	checks   []string
}

// counts reports whether the state counts for the lower bound.
func (a *requirementAssessment) counts() bool {
	return a.state == stateObserved || a.state == stateAttested || a.state == stateCompensated
}

// requirementStates assesses every SR/RE of the catalog's table, in table
// order.
//
// MET_OBSERVED follows §4.3 with one reading made explicit: an item is
// observed as met when it is network-observable, nothing disproves it, and
// every check mapped to it (refs.sr) was assessed, that is PASS, or FAIL
// with findings that disprove other items only. §4.3 says a check's 3-3
// field "lists every related SR/RE; only the disproof set lowers SL-A", and
// a failure the catalog judges to say nothing against an item is not
// evidence against it. Reading "assessed and passed" literally instead
// would let AC-FLOW-UNDECLARED-CONDUIT, which disproves only SR 5.2 RE1,
// also withdraw SR 5.1 and SR 5.2 from the lower bound; the reference's own
// worked example (§4.7: RDF lower bound 1 with that check failing, "SR 5.1-5.3
// observed as met at SL1") uses the reading implemented here.
func requirementStates(d *Definitions, zone otaudit.Zone, rep Report, now time.Time) []*requirementAssessment {
	state := map[string]otaudit.CheckState{}
	for _, r := range rep.Results {
		state[r.CheckID] = r.State
	}
	// worst[x][check] is the worst severity of the check's open findings
	// that disprove x.
	worst := map[string]map[string]otaudit.Severity{}
	for _, f := range rep.Findings {
		if !isOpen(f) || state[f.CheckID] != otaudit.CheckFailed {
			continue
		}
		for _, x := range f.Refs.Disproves {
			if worst[x.ID] == nil {
				worst[x.ID] = map[string]otaudit.Severity{}
			}
			if sev, ok := worst[x.ID][f.CheckID]; !ok || f.Severity > sev {
				worst[x.ID][f.CheckID] = f.Severity
			}
		}
	}
	mapped := map[string][]string{}
	for _, c := range d.Checks {
		for _, x := range c.Refs.SR {
			mapped[x.ID] = append(mapped[x.ID], c.ID)
		}
	}
	observable := toSet(d.NetworkObservable)
	metObserved := func(id string) bool {
		if !observable[id] || len(mapped[id]) == 0 {
			return false
		}
		for _, c := range mapped[id] {
			if s := state[c]; s != otaudit.CheckPassed && s != otaudit.CheckFailed {
				return false
			}
		}
		return true
	}
	type attestation struct{ valid, validComp, expired bool }
	attested := map[string]*attestation{}
	for _, a := range zone.Attestations {
		if _, ok := d.Requirement(a.Requirement); !ok {
			continue // reported by UnknownAttestations
		}
		at := attested[a.Requirement]
		if at == nil {
			at = &attestation{}
			attested[a.Requirement] = at
		}
		switch {
		case !a.Valid(now):
			at.expired = true
		case a.Compensating:
			at.validComp = true
		default:
			at.valid = true
		}
	}
	number := func(id string) int {
		if spec, ok := d.Lookup(id); ok {
			return spec.Number
		}
		return math.MaxInt
	}
	out := make([]*requirementAssessment, 0, len(d.Requirements))
	for _, r := range d.Requirements {
		a := &requirementAssessment{Requirement: r}
		if at := attested[r.ID]; at != nil {
			a.attested, a.compensating = at.valid, at.validComp
			a.expired = at.expired && !at.valid && !at.validComp
		}
		for c, sev := range worst[r.ID] {
			a.checks = append(a.checks, c)
			a.severity = max(a.severity, sev)
		}
		slices.SortFunc(a.checks, func(x, y string) int {
			return cmp.Or(cmp.Compare(worst[r.ID][y], worst[r.ID][x]), cmp.Compare(number(x), number(y)), cmp.Compare(x, y))
		})
		switch {
		case len(a.checks) > 0 && a.compensating:
			a.state = stateCompensated
		case len(a.checks) > 0:
			a.state = stateFailed
		case metObserved(r.ID):
			a.state = stateObserved
		case a.attested || a.compensating:
			a.state = stateAttested
		}
		out = append(out, a)
	}
	return out
}

// frLevels computes the SL-A interval of every FR (§4.4) from the
// requirement states: the upper bound is below the lowest FAILED item, the
// lower bound below the lowest item that is neither observed, attested nor
// compensated (the cumulative rule of 62443-3-3). Attested, compensated and
// expired items are listed, never hidden.
func frLevels(d *Definitions, zone otaudit.Zone, states []*requirementAssessment) []otaudit.FRLevel {
	var out []otaudit.FRLevel
	for _, fr := range otaudit.FRs {
		lv := otaudit.FRLevel{FR: fr, Target: zone.SLTarget.Get(fr), Upper: maxSecurityLevel, Lower: maxSecurityLevel}
		for _, a := range states {
			if a.FR != fr {
				continue
			}
			if a.state == stateFailed {
				lv.Failed = append(lv.Failed, a.ID)
				lv.Upper = min(lv.Upper, a.Level-1)
			}
			if !a.counts() {
				lv.Lower = min(lv.Lower, a.Level-1)
			}
			if a.attested && a.state != stateFailed && a.state != stateCompensated {
				lv.Attested = append(lv.Attested, a.ID)
			}
			if a.compensating && a.state != stateFailed {
				lv.Compensated = append(lv.Compensated, a.ID)
			}
			if a.expired {
				lv.Expired = append(lv.Expired, a.ID)
			}
		}
		lv.Lower = min(lv.Lower, lv.Upper)
		lv.DefiniteGap = max(0, lv.Target-lv.Upper)
		lv.PotentialGap = max(0, lv.Target-lv.Lower)
		out = append(out, lv)
	}
	return out
}

// backlog lists every FAILED item at or below its FR's target (§4.4), the
// worst severity of the findings disproving it first, then the lowest
// level (an SL1 failure before an SL2 one), then FR and table order.
func backlog(d *Definitions, zone otaudit.Zone, states []*requirementAssessment) []otaudit.BacklogItem {
	type item struct {
		otaudit.BacklogItem
		order int
	}
	var items []item
	for i, a := range states {
		if a.state != stateFailed || a.Level > zone.SLTarget.Get(a.FR) {
			continue
		}
		items = append(items, item{otaudit.BacklogItem{FR: a.FR, Requirement: a.ID, Level: a.Level, Severity: a.severity,
			Checks: slices.Clone(a.checks)}, i})
	}
	slices.SortStableFunc(items, func(x, y item) int {
		return cmp.Or(cmp.Compare(y.Severity, x.Severity), cmp.Compare(x.Level, y.Level),
			cmp.Compare(x.FR, y.FR), cmp.Compare(x.order, y.order))
	})
	out := make([]otaudit.BacklogItem, len(items))
	for i, it := range items {
		out[i] = it.BacklogItem
	}
	return out
}

// UnknownAttestations returns the zone's attestations whose requirement is
// not in the catalog's SR/RE table (configs checks only the ID's shape).
// They never count; the agent shows them as configuration problems next
// to the score, which lists every attestation as it was given.
func UnknownAttestations(zone otaudit.Zone) []otaudit.Attestation {
	d, err := Embedded()
	if err != nil {
		return nil
	}
	var out []otaudit.Attestation
	for _, a := range zone.Attestations {
		if _, ok := d.Requirement(a.Requirement); !ok {
			out = append(out, a)
		}
	}
	return out
}
