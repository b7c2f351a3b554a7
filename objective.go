package otaudit

import "fmt"

// Objective is one of the nine security objectives the restructured IEC 62443
// series is organised by. Only some can be judged from network evidence.
type Objective string

const (
	ObjectiveSM Objective = "SM" // security management
	ObjectiveLF Objective = "LF" // security lifecycle
	ObjectiveRM Objective = "RM" // risk management
	ObjectiveAC Objective = "AC" // access control
	ObjectiveDC Objective = "DC" // data confidentiality
	ObjectiveAM Objective = "AM" // asset management
	ObjectiveIM Objective = "IM" // incident management
	ObjectiveSI Objective = "SI" // system integrity
	ObjectiveRA Objective = "RA" // resource availability
)

// Objectives lists every objective in report order.
var Objectives = []Objective{
	ObjectiveAC, ObjectiveAM, ObjectiveSI, ObjectiveDC, ObjectiveIM, ObjectiveRA,
	ObjectiveSM, ObjectiveLF, ObjectiveRM,
}

var objectiveTitles = map[Objective]string{
	ObjectiveSM: "Security management",
	ObjectiveLF: "Security lifecycle",
	ObjectiveRM: "Risk management",
	ObjectiveAC: "Access control",
	ObjectiveDC: "Data confidentiality",
	ObjectiveAM: "Asset management",
	ObjectiveIM: "Incident management",
	ObjectiveSI: "System integrity",
	ObjectiveRA: "Resource availability",
}

// Title is the objective's name.
func (o Objective) Title() string { return objectiveTitles[o] }

// NetworkObservable reports whether network evidence can say anything about
// the objective at all; SM, LF and RM are process objectives.
func (o Objective) NetworkObservable() bool {
	switch o {
	case ObjectiveSM, ObjectiveLF, ObjectiveRM:
		return false
	}
	return true
}

// Valid reports whether o is one of the nine objectives.
func (o Objective) Valid() bool { _, ok := objectiveTitles[o]; return ok }

// FR is one of the seven foundational requirements of IEC 62443-3-3.
type FR int

const (
	FR1 FR = iota + 1 // identification and authentication control (IAC)
	FR2               // use control (UC)
	FR3               // system integrity (SI)
	FR4               // data confidentiality (DC)
	FR5               // restricted data flow (RDF)
	FR6               // timely response to events (TRE)
	FR7               // resource availability (RA)
)

// FRs lists the foundational requirements in order.
var FRs = []FR{FR1, FR2, FR3, FR4, FR5, FR6, FR7}

var frCodes = [...]string{"", "IAC", "UC", "SI", "DC", "RDF", "TRE", "RA"}

// Code is the FR's abbreviation, e.g. "IAC".
func (f FR) Code() string {
	if f < FR1 || f > FR7 {
		return fmt.Sprintf("FR%d", int(f))
	}
	return frCodes[f]
}

func (f FR) String() string { return fmt.Sprintf("FR%d", int(f)) }

// ParseFR accepts "FR1".."FR7" and the abbreviations "IAC".."RA".
func ParseFR(s string) (FR, error) {
	for i := 1; i <= 7; i++ {
		if s == frCodes[i] || s == fmt.Sprintf("FR%d", i) {
			return FR(i), nil
		}
	}
	return 0, fmt.Errorf("unknown foundational requirement %q (want FR1..FR7 or IAC, UC, SI, DC, RDF, TRE, RA)", s)
}

// SLVector holds one security level (0–4) per foundational requirement,
// indexed by FR-1.
type SLVector [7]int

// Get returns the level for f.
func (v SLVector) Get(f FR) int { return v[f-1] }
