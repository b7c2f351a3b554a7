package checks

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

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

// Score turns a report into the zone's objective scores (reference §4.5)
// and the achieved-SL interval per foundational requirement (§4.3, §4.4).
// It is pure and deterministic.
func Score(zone otaudit.Zone, rep Report, scanID uint64) otaudit.ZoneScore {
	zs := otaudit.ZoneScore{Zone: zone.Name, ScanID: scanID, Results: slices.Clone(rep.Results)}
	d, err := Embedded()
	if err != nil {
		return zs
	}
	for _, o := range otaudit.Objectives {
		zs.Objectives = append(zs.Objectives, scoreObjective(d, zone, o, rep))
	}
	zs.FRs = frLevels(d, zone, rep)
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
	var weighted, weights float64
	for _, r := range rep.Results {
		if r.Objective != o || r.State == otaudit.CheckNotApplicable {
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
		if f.Objective == o && isOpen(f) && worst[f.Severity] != nil {
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

// frLevels computes the SL-A interval of every FR. FAILED items are the
// disproof sets carried by the open findings of failing checks (a finding
// that crossed the boundary already carries the on-boundary part);
// MET_OBSERVED items are network-observable ones whose every mapped check
// passed. There are no attestations or compensations yet, so they are
// never MET_ATTESTED or COMPENSATED.
func frLevels(d *Definitions, zone otaudit.Zone, rep Report) []otaudit.FRLevel {
	failedChecks := map[string]bool{}
	state := map[string]otaudit.CheckState{}
	for _, r := range rep.Results {
		state[r.CheckID] = r.State
		if r.State == otaudit.CheckFailed {
			failedChecks[r.CheckID] = true
		}
	}
	failed := map[string]bool{}
	for _, f := range rep.Findings {
		if !isOpen(f) || !failedChecks[f.CheckID] {
			continue
		}
		for _, x := range f.Refs.Disproves {
			failed[x.ID] = true
		}
	}
	// mapped: SR/RE → checks that list it.
	mapped := map[string][]string{}
	for _, c := range d.Checks {
		for _, x := range c.Refs.SR {
			mapped[x.ID] = append(mapped[x.ID], c.ID)
		}
	}
	observable := toSet(d.NetworkObservable)
	metObserved := func(id string) bool {
		if !observable[id] || len(mapped[id]) == 0 || failed[id] {
			return false
		}
		for _, c := range mapped[id] {
			if state[c] != otaudit.CheckPassed {
				return false
			}
		}
		return true
	}
	var out []otaudit.FRLevel
	for _, fr := range otaudit.FRs {
		lv := otaudit.FRLevel{FR: fr, Target: zone.SLTarget.Get(fr), Upper: maxSecurityLevel, Lower: maxSecurityLevel}
		for _, r := range d.Requirements {
			if r.FR != fr {
				continue
			}
			if failed[r.ID] {
				lv.Failed = append(lv.Failed, r.ID)
				lv.Upper = min(lv.Upper, r.Level-1)
			}
			if !metObserved(r.ID) {
				lv.Lower = min(lv.Lower, r.Level-1)
			}
		}
		lv.Lower = min(lv.Lower, lv.Upper)
		lv.DefiniteGap = max(0, lv.Target-lv.Upper)
		lv.PotentialGap = max(0, lv.Target-lv.Lower)
		out = append(out, lv)
	}
	return out
}
