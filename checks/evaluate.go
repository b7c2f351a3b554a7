package checks

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/otaudit/otaudit"
)

// Input is everything one evaluation of one zone looks at.
type Input struct {
	Zone otaudit.Zone
	// Assets is the merged inventory; Asset.Zone equal to the zone's name
	// means inside, "" means outside.
	Assets       []otaudit.Asset
	Observations []otaudit.Observation
	// Collected names the collectors that ran in this scan ("pcap", "snmp",
	// "modbus", "opcua") and the optional data inputs that were supplied
	// ("baseline", "advisory_db", "eol_db"). The asset register
	// ("inventory") is present when Zone.Register is non-empty.
	Collected map[string]bool
	// Baseline is the zone's approved state, nil when none was set; the
	// drift checks need it (and Collected["baseline"]).
	Baseline *otaudit.Baseline
	// Now is the evaluation time (certificate expiry, attestation expiry,
	// accepted risks); zero means the latest evidence time.
	Now time.Time

	idx  *index
	defs *Definitions
}

// Report is the outcome of one evaluation.
type Report struct {
	// Findings are sorted by severity (worst first), check, asset and key.
	Findings []otaudit.Finding
	// Results hold one entry per catalog check, in catalog order.
	Results []otaudit.CheckResult
	// Reasons says, per check ID, why a check was NOT_ASSESSED or
	// NOT_APPLICABLE (CheckResult has no field for it yet).
	Reasons map[string]string
}

// Evaluate runs every catalog check over in. It is pure and deterministic.
// If the embedded catalog is broken (see Embedded) the report is empty.
func Evaluate(in Input) Report {
	d, err := Embedded()
	if err != nil {
		return Report{Reasons: map[string]string{"": err.Error()}}
	}
	return evaluateWith(d, &in)
}

func evaluateWith(d *Definitions, in *Input) Report {
	in.idx = nil // never trust a caller-built index
	in.defs = d
	rep := Report{Reasons: map[string]string{}}
	for _, spec := range d.Checks {
		res := otaudit.CheckResult{CheckID: spec.ID, Objective: spec.Objective}
		r, registered := rules[spec.ID]
		switch {
		case !registered:
			res.State = otaudit.CheckNotAssessed
			rep.Reasons[spec.ID] = "no evaluator: the check needs evidence this agent does not interpret yet"
		case missingNeed(spec, in) != "":
			res.State = otaudit.CheckNotAssessed
			rep.Reasons[spec.ID] = missingNeed(spec, in)
		default:
			scope := r.scope(in)
			if scope.notAssessed != "" {
				res.State = otaudit.CheckNotAssessed
				rep.Reasons[spec.ID] = scope.notAssessed
				break
			}
			findings := r.evaluate(in)
			failing := map[string]bool{}
			for _, f := range findings {
				failing[f.AssetKey] = true
				res.Severity = max(res.Severity, f.Severity)
			}
			inScope := map[string]bool{}
			for _, k := range scope.assets {
				inScope[k] = true
			}
			for k := range failing {
				inScope[k] = true // a finding's asset is in scope by definition
			}
			res.InScope, res.Failing = len(inScope), len(failing)
			switch {
			case res.Failing > 0:
				res.State = otaudit.CheckFailed
			case res.InScope > 0:
				res.State = otaudit.CheckPassed
			default:
				res.State = otaudit.CheckNotApplicable
				rep.Reasons[spec.ID] = cmp.Or(scope.notApplicable, "nothing in the zone that the check applies to")
			}
			rep.Findings = append(rep.Findings, findings...)
		}
		res.Reason = rep.Reasons[spec.ID]
		rep.Results = append(rep.Results, res)
	}
	sortFindings(rep.Findings)
	return rep
}

// missingNeed explains why a check's inputs are absent, or returns "".
func missingNeed(spec Spec, in *Input) string {
	var ran, wanted []string
	for _, n := range spec.Needs {
		switch {
		case collectorNeeds[n]:
			wanted = append(wanted, n)
			if in.Collected[n] {
				ran = append(ran, n)
			}
		case n == "inventory":
			if len(in.Zone.Register) == 0 {
				return fmt.Sprintf("zone %s has no asset register", in.Zone.Name)
			}
		case !in.Collected[n]:
			return fmt.Sprintf("no %s was supplied", n)
		}
	}
	if len(ran) == 0 {
		return fmt.Sprintf("none of the collectors it needs ran (%s)", strings.Join(wanted, ", "))
	}
	return ""
}

func sortFindings(fs []otaudit.Finding) {
	slices.SortStableFunc(fs, func(a, b otaudit.Finding) int {
		return cmp.Or(
			cmp.Compare(b.Severity, a.Severity),
			cmp.Compare(a.CheckID, b.CheckID),
			cmp.Compare(a.AssetKey, b.AssetKey),
			cmp.Compare(a.Key, b.Key),
		)
	})
}

// hit is what an evaluator found, before the catalog turns it into a
// Finding.
type hit struct {
	asset netip.Addr
	// assetKey names an asset without an address (a device known only by
	// its MAC); empty means otaudit.AssetKey(asset).
	assetKey string
	key      string
	summary  string
	evidence []otaudit.Observation
	// severity overrides the catalog's base severity when set (evaluator
	// rules such as "high if it speaks a control protocol").
	severity otaudit.Severity
	// crossed: the evidence crossed the zone boundary (modifier M1, and
	// the catalog's disproves_on_boundary apply).
	crossed bool
	// slTargets are further SL-T vectors (e.g. a conduit's) that the
	// sl_target modifier considers besides the zone's.
	slTargets []otaudit.SLVector
}

// maxEvidence bounds the evidence kept per finding; the summary carries the
// totals and FirstSeen/LastSeen cover every contributing observation.
const maxEvidence = 25

// findings turns hits of one check into Findings.
func (in *Input) findings(checkID string, hits []hit) []otaudit.Finding {
	defs := in.defs
	if defs == nil {
		var err error
		if defs, err = Embedded(); err != nil {
			return nil
		}
	}
	spec, ok := defs.Lookup(checkID)
	if !ok {
		return nil // registry_test fails on a rule without a catalog entry
	}
	out := make([]otaudit.Finding, 0, len(hits))
	for _, h := range hits {
		out = append(out, in.finding(spec, h))
	}
	return out
}

func (in *Input) finding(spec Spec, h hit) otaudit.Finding {
	sev := spec.Severity
	if h.severity != otaudit.SeverityInfo {
		sev = h.severity
	}
	steps := 0
	if h.crossed {
		steps += spec.Modifiers.Boundary
	}
	if in.criticalTarget() {
		steps += spec.Modifiers.CriticalTarget
	}
	if m := spec.Modifiers.SLTarget; m != nil {
		if fr, err := otaudit.ParseFR(m.FR); err == nil {
			level := in.Zone.SLTarget.Get(fr)
			for _, v := range h.slTargets {
				level = max(level, v.Get(fr))
			}
			if level >= m.AtLeast {
				steps += m.Raise
			}
		}
	}
	sev = sev.Raise(steps)

	refs := spec.Refs.Refs
	refs.SR = slices.Clone(refs.SR)
	refs.Disproves = slices.Clone(refs.Disproves)
	if h.crossed {
		refs.Disproves = append(refs.Disproves, spec.Refs.DisprovesOnBoundary...)
	}

	assetKey := h.assetKey
	if assetKey == "" {
		assetKey = otaudit.AssetKey(h.asset.Unmap())
	}
	f := otaudit.Finding{
		ID:           otaudit.FindingID(spec.ID, assetKey, h.key),
		CheckID:      spec.ID,
		Title:        spec.Title,
		Objective:    spec.Objective,
		SubObjective: spec.SubObjective,
		Severity:     sev,
		Refs:         refs,
		Zone:         in.Zone.Name,
		AssetKey:     assetKey,
		Key:          h.key,
		Summary:      h.summary,
		Remediation:  spec.Remediation,
		Status:       otaudit.StatusOpen,
	}
	for _, o := range h.evidence {
		if f.FirstSeen.IsZero() || (!o.FirstSeen.IsZero() && o.FirstSeen.Before(f.FirstSeen)) {
			f.FirstSeen = o.FirstSeen
		}
		if o.LastSeen.After(f.LastSeen) {
			f.LastSeen = o.LastSeen
		}
	}
	kept := earliest(h.evidence, maxEvidence)
	evidence := make([]otaudit.Evidence, 0, len(kept))
	for _, o := range kept {
		evidence = append(evidence, evidenceOf(o))
	}
	// A total order, so that the input order of observations never shows.
	slices.SortFunc(evidence, func(a, b otaudit.Evidence) int {
		return cmp.Or(a.FirstSeen.Compare(b.FirstSeen), cmp.Compare(a.Source, b.Source),
			cmp.Compare(a.FirstFrame, b.FirstFrame), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Client, b.Client),
			cmp.Compare(a.Server, b.Server), cmp.Compare(a.Detail, b.Detail), a.LastSeen.Compare(b.LastSeen),
			cmp.Compare(a.Count, b.Count))
	})
	evidence = slices.CompactFunc(evidence, func(a, b otaudit.Evidence) bool { return a == b })
	if len(evidence) > maxEvidence {
		evidence = evidence[:maxEvidence]
	}
	f.Evidence = evidence
	return f
}

// earliest returns the first n observations by (FirstSeen, Source,
// FirstFrame, Kind), plus any tied with the n-th, so that which ones are
// kept never depends on the input order; the caller orders them fully once
// they are formatted.
func earliest(obs []otaudit.Observation, n int) []otaudit.Observation {
	if len(obs) <= n {
		return obs
	}
	key := func(a, b otaudit.Observation) int {
		return cmp.Or(a.FirstSeen.Compare(b.FirstSeen), cmp.Compare(a.Source, b.Source),
			cmp.Compare(a.FirstFrame, b.FirstFrame), cmp.Compare(a.Kind, b.Kind))
	}
	sorted := slices.Clone(obs)
	slices.SortFunc(sorted, key)
	end := n
	for end < len(sorted) && key(sorted[end], sorted[n-1]) == 0 {
		end++
	}
	return sorted[:end]
}

// criticalTarget is modifier M2: a safety zone or Purdue L0/L1.
func (in *Input) criticalTarget() bool {
	return in.Zone.Safety || (in.Zone.PurdueLevel >= 0 && in.Zone.PurdueLevel <= 1)
}

// evidenceOf describes an observation without any secret: credentials are
// reduced to user, fingerprint and the default flag.
func evidenceOf(o otaudit.Observation) otaudit.Evidence {
	e := otaudit.Evidence{
		Source: o.Source, Kind: string(o.Kind), Count: o.Count,
		FirstFrame: o.FirstFrame, FirstSeen: o.FirstSeen, LastSeen: o.LastSeen,
	}
	addr := func(a netip.Addr) string {
		if !a.IsValid() {
			return ""
		}
		return a.String()
	}
	switch {
	case o.Host != nil:
		h := o.Host
		e.Server = addr(h.IP)
		e.Detail = fmt.Sprintf("host %s mac %s vendor %q vlan %d: %d packets, %d bytes",
			h.IP, cmp.Or(h.MAC, "unknown"), h.MACVendor, h.VLAN, h.Packets, h.Bytes)
	case o.Flow != nil:
		f := o.Flow
		e.Client, e.Server = addr(f.Client), addr(f.Server)
		e.Detail = fmt.Sprintf("%s %s/%d: %d connections, %d packets, %d bytes to server, %d to client, server answered %t",
			cmp.Or(f.Protocol, "unknown protocol"), f.Transport, f.ServerPort, f.Connections, f.Packets,
			f.BytesToServer, f.BytesToClient, f.ServerAnswered)
	case o.Operation != nil:
		p := o.Operation
		e.Client, e.Server = addr(p.Client), addr(p.Server)
		e.Detail = fmt.Sprintf("%s unit %d function %d %s (%s): %d requests, %d responses, %d exceptions",
			p.Protocol, p.Unit, p.Function, p.Name, p.Class, p.Requests, p.Responses, p.Exceptions)
	case o.Credential != nil:
		c := o.Credential
		e.Client, e.Server = addr(c.Client), addr(c.Server)
		e.Detail = fmt.Sprintf("%s credential user %q %s fingerprint %s known default %t outcome %s",
			c.Protocol, c.User, c.Detail, cmp.Or(c.Fingerprint, "none"), c.KnownDefault, cmp.Or(c.Outcome, "unseen"))
	case o.RemoteSession != nil:
		r := o.RemoteSession
		e.Client, e.Server = addr(r.Client), addr(r.Server)
		e.Detail = fmt.Sprintf("%s session to port %d from %s for %s, encrypted %t, open at end %t, %d bytes to server",
			r.Protocol, r.ServerPort, r.Start.UTC().Format(time.RFC3339), r.Duration().Round(time.Second),
			r.Encrypted, r.OpenAtEnd, r.BytesToServer)
		if r.Detail != "" {
			e.Detail += " (" + r.Detail + ")"
		}
	case o.Identity != nil:
		id := o.Identity
		e.Server = addr(id.IP)
		e.Detail = fmt.Sprintf("identity by %s: vendor %q model %q product %q firmware %q name %q",
			id.Method, id.Vendor, id.Model, id.ProductCode, id.Firmware, id.Name)
	case o.NameLookup != nil:
		l := o.NameLookup
		e.Client, e.Server = addr(l.Client), addr(l.Server)
		e.Detail = fmt.Sprintf("DNS lookup of %s (%s)", l.Name, l.Tool)
		if len(l.Answers) > 0 {
			e.Detail += fmt.Sprintf(", answered %v", l.Answers)
		}
	case o.SecureChannel != nil:
		s := o.SecureChannel
		e.Client, e.Server = addr(s.Client), addr(s.Server)
		e.Detail = fmt.Sprintf("%s secure channel policy %q protected %t", s.Protocol, s.Policy, s.Protected)
		if s.Endpoint != "" {
			e.Detail += " endpoint " + s.Endpoint
		}
	default:
		if active, ok := describeActive(o); ok {
			return active
		}
		e.Detail = "observation without detail"
	}
	return e
}
