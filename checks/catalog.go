package checks

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/configs"
	"go.yaml.in/yaml/v3"
)

// CatalogVersion is the catalog file format this package understands.
const CatalogVersion = 1

// Requirement is one IEC 62443-3-3 system requirement (SR) or requirement
// enhancement (RE) with the lowest security level that requires it.
type Requirement struct {
	ID    string     `yaml:"id"` // "SR 1.5", "SR 4.1 RE1"
	FR    otaudit.FR `yaml:"fr"`
	Level int        `yaml:"level"`
	Name  string     `yaml:"name"`
}

// Roles are the parties that own a check's remediation (asset owner AO,
// service provider SP, product supplier PS).
type Roles struct {
	Primary string   `yaml:"primary"`
	All     []string `yaml:"all"`
}

// SLTargetModifier raises a finding's severity when the zone's target
// security level for FR is at least AtLeast.
type SLTargetModifier struct {
	FR      string `yaml:"fr"` // "IAC", "SI", …
	AtLeast int    `yaml:"at_least"`
	Raise   int    `yaml:"raise"`
}

// Modifiers are the severity steps of reference §3.0 that a check uses.
type Modifiers struct {
	// Boundary (M1): the evidence crosses the zone boundary.
	Boundary int `yaml:"boundary"`
	// CriticalTarget (M2): the target is in a safety zone or at Purdue L0/L1.
	CriticalTarget int               `yaml:"critical_target"`
	SLTarget       *SLTargetModifier `yaml:"sl_target"`
}

// SpecRefs are a check's references. DisprovesOnBoundary is the part of the
// disproof set that applies only when the finding crossed the boundary; a
// finding's own Refs.Disproves already includes it when it did.
type SpecRefs struct {
	otaudit.Refs        `yaml:",inline"`
	DisprovesOnBoundary []otaudit.SRRef `yaml:"disproves_on_boundary"`
}

// Spec is one check of the catalog.
type Spec struct {
	ID                string            `yaml:"id"`
	Number            int               `yaml:"number"`
	Optional          bool              `yaml:"optional"`
	Title             string            `yaml:"title"`
	Objective         otaudit.Objective `yaml:"objective"`
	SubObjective      string            `yaml:"sub_objective"`
	Secondary         []string          `yaml:"secondary"`
	Refs              SpecRefs          `yaml:"refs"`
	Severity          otaudit.Severity  `yaml:"severity"`
	SeverityRationale string            `yaml:"severity_rationale"`
	Roles             Roles             `yaml:"roles"`
	Remediation       string            `yaml:"remediation"`
	Needs             []string          `yaml:"needs"`
	Modifiers         Modifiers         `yaml:"modifiers"`
}

// Definitions is the whole parsed catalog file.
type Definitions struct {
	Version      int           `yaml:"version"`
	Requirements []Requirement `yaml:"requirements"`
	// NetworkObservable are the SR/REs that passing checks can positively
	// demonstrate (reference §4.3); all others can only be disproved.
	NetworkObservable []string `yaml:"network_observable"`
	Checks            []Spec   `yaml:"checks"`

	byID  map[string]int
	reqBy map[string]Requirement
}

// collectorNeeds are the collectors a check can be fed by; any one that ran
// is enough. dataNeeds are inputs that must all be present.
var (
	collectorNeeds = map[string]bool{"pcap": true, "snmp": true, "modbus": true, "opcua": true}
	dataNeeds      = map[string]bool{"inventory": true, "baseline": true, "advisory_db": true, "eol_db": true}
	roleNames      = map[string]bool{"AO": true, "SP": true, "PS": true}
)

// networkObjectives are the objectives a catalog check may belong to.
var networkObjectives = map[otaudit.Objective]bool{
	otaudit.ObjectiveAC: true, otaudit.ObjectiveAM: true, otaudit.ObjectiveSI: true,
	otaudit.ObjectiveDC: true, otaudit.ObjectiveIM: true, otaudit.ObjectiveRA: true,
}

// Parse decodes and validates a catalog file. Every problem found is
// reported, not only the first.
func Parse(data []byte) (*Definitions, error) {
	var d Definitions
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("check catalog: decode: %w", err)
	}
	if err := d.validate(); err != nil {
		return nil, fmt.Errorf("check catalog: %w", err)
	}
	return &d, nil
}

func (d *Definitions) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if d.Version != CatalogVersion {
		bad("version %d, want %d", d.Version, CatalogVersion)
	}
	d.reqBy = make(map[string]Requirement, len(d.Requirements))
	for _, r := range d.Requirements {
		switch {
		case r.ID == "" || r.Name == "":
			bad("requirement %q: id and name are required", r.ID)
		case r.FR < otaudit.FR1 || r.FR > otaudit.FR7:
			bad("requirement %s: fr %d out of 1..7", r.ID, int(r.FR))
		case r.Level < 1 || r.Level > 4:
			bad("requirement %s: level %d out of 1..4", r.ID, r.Level)
		case !strings.HasPrefix(r.ID, fmt.Sprintf("SR %d.", int(r.FR))):
			bad("requirement %s: id does not belong to FR%d", r.ID, int(r.FR))
		}
		if _, dup := d.reqBy[r.ID]; dup {
			bad("requirement %s: listed twice", r.ID)
		}
		d.reqBy[r.ID] = r
	}
	for _, id := range d.NetworkObservable {
		if _, ok := d.reqBy[id]; !ok {
			bad("network_observable: %s is not in the requirement table", id)
		}
	}
	checkRefs := func(c Spec, field string, refs []otaudit.SRRef) {
		for _, r := range refs {
			req, ok := d.reqBy[r.ID]
			if !ok {
				bad("check %s: refs.%s: %s is not in the requirement table", c.ID, field, r.ID)
				continue
			}
			if r.SL != req.Level {
				bad("check %s: refs.%s: %s has sl %d, the table says %d", c.ID, field, r.ID, r.SL, req.Level)
			}
		}
	}
	d.byID = make(map[string]int, len(d.Checks))
	for i, c := range d.Checks {
		if c.ID == "" {
			bad("check #%d: id is required", i+1)
			continue
		}
		if _, dup := d.byID[c.ID]; dup {
			bad("check %s: listed twice", c.ID)
		}
		d.byID[c.ID] = i
		if c.Title == "" || c.Remediation == "" || c.SeverityRationale == "" {
			bad("check %s: title, remediation and severity_rationale are required", c.ID)
		}
		if !networkObjectives[c.Objective] {
			bad("check %s: objective %q is not one of AC, AM, SI, DC, IM, RA", c.ID, c.Objective)
		}
		if !strings.HasPrefix(c.SubObjective, string(c.Objective)+" ") {
			bad("check %s: sub_objective %q does not belong to %s", c.ID, c.SubObjective, c.Objective)
		}
		if c.Severity < otaudit.SeverityLow {
			bad("check %s: severity must be low, medium, high or critical", c.ID)
		}
		r := c.Refs
		if len(r.SR)+len(r.IEC62443_2_1)+len(r.IEC62443_4_2)+len(r.ISO27001) == 0 {
			bad("check %s: refs are empty", c.ID)
		}
		checkRefs(c, "sr", r.SR)
		checkRefs(c, "disproves", r.Disproves)
		checkRefs(c, "disproves_on_boundary", r.DisprovesOnBoundary)
		for _, x := range append(slices.Clone(r.Disproves), r.DisprovesOnBoundary...) {
			if !slices.ContainsFunc(r.SR, func(s otaudit.SRRef) bool { return s.ID == x.ID }) {
				bad("check %s: disproves %s but does not list it in refs.sr", c.ID, x.ID)
			}
		}
		if !roleNames[c.Roles.Primary] || !slices.Contains(c.Roles.All, c.Roles.Primary) {
			bad("check %s: roles.primary %q must be AO, SP or PS and listed in roles.all", c.ID, c.Roles.Primary)
		}
		for _, role := range c.Roles.All {
			if !roleNames[role] {
				bad("check %s: unknown role %q", c.ID, role)
			}
		}
		collectors := 0
		for _, n := range c.Needs {
			switch {
			case collectorNeeds[n]:
				collectors++
			case dataNeeds[n]:
			default:
				bad("check %s: unknown need %q", c.ID, n)
			}
		}
		if collectors == 0 {
			bad("check %s: needs names no collector", c.ID)
		}
		if m := c.Modifiers.SLTarget; m != nil {
			if _, err := otaudit.ParseFR(m.FR); err != nil {
				bad("check %s: modifiers.sl_target: %v", c.ID, err)
			}
			if m.AtLeast < 1 || m.AtLeast > 4 || m.Raise < 1 {
				bad("check %s: modifiers.sl_target needs at_least in 1..4 and raise >= 1", c.ID)
			}
		}
	}
	return errors.Join(errs...)
}

// Lookup returns the check with id.
func (d *Definitions) Lookup(id string) (Spec, bool) {
	i, ok := d.byID[id]
	if !ok {
		return Spec{}, false
	}
	return d.Checks[i], true
}

// Requirement returns the SR/RE with id.
func (d *Definitions) Requirement(id string) (Requirement, bool) {
	r, ok := d.reqBy[id]
	return r, ok
}

var embedded = sync.OnceValues(func() (*Definitions, error) { return Parse(configs.ChecksYAML) })

// Embedded returns the catalog embedded in the binary. An error here is a
// programming error in configs/checks.yaml; the agent should call Embedded
// once at start-up and refuse to run on an error.
func Embedded() (*Definitions, error) { return embedded() }

// Catalog returns the embedded catalog's checks in catalog order, or nil if
// the embedded file does not parse (see Embedded for the error).
func Catalog() []Spec {
	d, err := embedded()
	if err != nil {
		return nil
	}
	return slices.Clone(d.Checks)
}

// Lookup returns the embedded catalog's check with id.
func Lookup(id string) (Spec, bool) {
	d, err := embedded()
	if err != nil {
		return Spec{}, false
	}
	return d.Lookup(id)
}

// Requirements returns the embedded IEC 62443-3-3 SR/RE table.
func Requirements() []Requirement {
	d, err := embedded()
	if err != nil {
		return nil
	}
	return slices.Clone(d.Requirements)
}
