package otaudit

// CheckState is the result of one check over a zone.
type CheckState string

const (
	CheckPassed CheckState = "PASS"
	CheckFailed CheckState = "FAIL"
	// CheckNotAssessed: the evidence the check needs was not collected
	// (for instance an active-only check in a passive scan). Never a pass.
	CheckNotAssessed CheckState = "NOT_ASSESSED"
	// CheckNotApplicable: nothing in scope the check applies to.
	CheckNotApplicable CheckState = "NOT_APPLICABLE"
)

// CheckResult is one check's outcome over a zone: how many items (assets,
// flows) were in scope and how many failed.
type CheckResult struct {
	CheckID   string     `json:"check_id"`
	Objective Objective  `json:"objective"`
	State     CheckState `json:"state"`
	InScope   int        `json:"in_scope"`
	Failing   int        `json:"failing"`
	// Severity is the worst severity among the check's findings.
	Severity Severity `json:"severity"`
	// Reason says why a check was NOT_ASSESSED or NOT_APPLICABLE.
	Reason string `json:"reason,omitempty"`
}

// ObjectiveScore is the 0–100 score of one objective in one zone.
type ObjectiveScore struct {
	Objective Objective `json:"objective"`
	// SubObjective is set on sub-objective scores ("AC 3").
	SubObjective string `json:"sub_objective,omitempty"`
	// Score is nil-equivalent (-1) when nothing was assessed.
	Score int `json:"score"`
	// Band is good, acceptable, weak, poor, "insufficient evidence" or
	// "not assessable".
	Band       string  `json:"band"`
	Assessed   int     `json:"assessed"`
	Applicable int     `json:"applicable"`
	Coverage   float64 `json:"coverage"`
	// Failing are the failing checks that pull the score down, worst first.
	Failing []CheckResult `json:"failing,omitempty"`
	// Cap explains a severity cap applied to the score, if any.
	Cap string `json:"cap,omitempty"`
}

// FRLevel is the achieved security level of one foundational requirement
// as an interval, against its target.
type FRLevel struct {
	FR     FR  `json:"fr"`
	Target int `json:"target"`
	// Upper is what the evidence leaves possible; Lower what it proves.
	Upper        int      `json:"upper"`
	Lower        int      `json:"lower"`
	DefiniteGap  int      `json:"definite_gap"`
	PotentialGap int      `json:"potential_gap"`
	Failed       []string `json:"failed,omitempty"` // SR/RE IDs disproved
	// Attested are met by a valid attestation; Compensated failed but are
	// covered by a compensating countermeasure; Expired had an attestation
	// that no longer counts. All are shown, never hidden.
	Attested    []string `json:"attested,omitempty"`
	Compensated []string `json:"compensated,omitempty"`
	Expired     []string `json:"expired,omitempty"`
}

// BacklogItem is one disproved requirement the zone must fix to reach its
// target, in the order to fix them.
type BacklogItem struct {
	FR          FR       `json:"fr"`
	Requirement string   `json:"requirement"`
	Level       int      `json:"level"`
	Severity    Severity `json:"severity"`
	Checks      []string `json:"checks"`
}

// ZoneScore is the scoring of one zone after a scan.
type ZoneScore struct {
	Zone       string           `json:"zone"`
	ScanID     uint64           `json:"scan_id"`
	Objectives []ObjectiveScore `json:"objectives"`
	FRs        []FRLevel        `json:"frs,omitempty"`
	Results    []CheckResult    `json:"results"`
	// SubObjectives are the scores per sub-objective ("AC 1", "AC 3", …).
	SubObjectives []ObjectiveScore `json:"sub_objectives,omitempty"`
	// Backlog lists the FAILED requirements at or below SL-T, worst first.
	Backlog []BacklogItem `json:"backlog,omitempty"`
	// Attestations are the zone's attestations and compensating
	// countermeasures as they were applied (expired ones included).
	Attestations []Attestation `json:"attestations,omitempty"`
}
