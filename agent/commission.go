package agent

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/checks"
	"github.com/otaudit/otaudit/store"
)

// Commissioning is the integrator's acceptance test of a new or changed
// system: run the zone's collection, judge every requirement up to SL-T
// (checks.Commission) and answer yes or no. The scans it runs are ordinary
// scans, stored and scored like any other; the verdict itself is computed
// over all of the run's evidence together.

// CommissionRequest says what a commissioning run collects, against which
// target, and what it may accept.
type CommissionRequest struct {
	// Pcaps are captures (files or directories) to read. With neither
	// Pcaps nor Active the configuration's collection runs: its capture
	// files, and its active scan when active.enabled and active.targets
	// are set. Anything given here replaces the configured collection.
	Pcaps []string
	// Active, when set, runs an active scan (after the captures, so that
	// PassiveFirst can use what they found).
	Active *ActiveRequest
	// TargetSL overrides the zone's SL-T for every FR (1–4); 0 keeps the
	// configured targets. It applies to the verdict only: the scans are
	// stored and scored against the configured zone.
	TargetSL int
	// AllowAttestations accepts a run where nothing is disproved but some
	// requirements still need attestation (checks.OverallNeedsAttestation).
	AllowAttestations bool
	// SetBaseline records the commissioned state as the zone's baseline,
	// only when the run is accepted.
	SetBaseline bool
	// BaselineBy and BaselineNote go on the baseline.
	BaselineBy, BaselineNote string
}

// CommissionResult is a commissioning run's outcome.
type CommissionResult struct {
	// Zone is the zone as judged: the configured zone with TargetSL
	// applied.
	Zone  otaudit.Zone   `json:"zone"`
	Scans []otaudit.Scan `json:"scans"`
	// Collected names the collectors whose evidence the verdict rests on.
	Collected []string             `json:"collected"`
	Verdict   checks.Commissioning `json:"verdict"`
	// Score is the zone's score over the run's evidence against Zone's
	// target (its FR intervals agree with Verdict).
	Score otaudit.ZoneScore `json:"score"`
	// Accepted is the yes/no: PASS, or PASS WITH ATTESTATIONS REQUIRED
	// when AllowAttestations.
	Accepted bool `json:"accepted"`
	// Baseline is the baseline recorded by SetBaseline; nil when none was.
	Baseline *otaudit.Baseline `json:"baseline,omitempty"`
	// Warnings are the scans' warnings and unknown attestations.
	Warnings []string `json:"warnings,omitempty"`
}

// ErrNothingToCollect: neither the request nor the configuration names any
// evidence to collect.
var ErrNothingToCollect = errors.New("nothing to collect")

// Commission runs the collection, judges the zone and, when accepted and
// asked to, records the baseline. A scan that could not read every source
// or was interrupted is an error: a verdict on partial evidence is not an
// acceptance test. The scans it ran stay in the store either way.
func (a *Agent) Commission(ctx context.Context, req CommissionRequest) (*CommissionResult, error) {
	if req.TargetSL < 0 || req.TargetSL > 4 {
		return nil, fmt.Errorf("commission: target security level %d: want 1 to 4", req.TargetSL)
	}
	cfg := a.config()
	zone, err := a.Zone()
	if err != nil {
		return nil, err
	}
	pcaps, activeReq := req.Pcaps, req.Active
	if len(pcaps) == 0 && activeReq == nil {
		pcaps = cfg.Capture.Files
		if cfg.Active.Enabled && len(cfg.Active.Targets) > 0 {
			activeReq = &ActiveRequest{}
		}
	}
	if len(pcaps) == 0 && activeReq == nil {
		return nil, fmt.Errorf("commission zone %s: %w: give --pcap FILE or --active, or list capture.files (or enable active with active.targets) in %s",
			zone.Name, ErrNothingToCollect, cfg.Path)
	}

	res := &CommissionResult{}
	var runs []*ScanResult
	if len(pcaps) > 0 {
		r, err := a.Scan(ctx, ScanRequest{Pcaps: pcaps})
		if err != nil {
			return nil, fmt.Errorf("commission zone %s: passive collection: %w", zone.Name, err)
		}
		runs = append(runs, r)
	}
	if activeReq != nil {
		r, err := a.ActiveScan(ctx, *activeReq)
		if err != nil {
			return nil, fmt.Errorf("commission zone %s: active collection: %w", zone.Name, err)
		}
		runs = append(runs, r)
	}
	collected := map[string]bool{}
	for _, r := range runs {
		res.Scans = append(res.Scans, r.Scan)
		res.Warnings = append(res.Warnings, r.Scan.Warnings...)
		if r.Active != nil {
			for _, p := range r.Active.Plan.Probers {
				collected[p] = true
			}
		} else {
			collected["pcap"] = true
		}
	}
	res.Collected = slices.Sorted(maps.Keys(collected))

	// One scan's report already carries the store's finding statuses
	// (commitLifecycle). Several are judged together: their observations
	// are evaluated as one body of evidence.
	report := runs[0].Report
	if len(runs) > 1 {
		if report, err = a.combinedReport(ctx, zone, res.Scans, collected); err != nil {
			return nil, err
		}
	}

	judged := zone
	if req.TargetSL > 0 {
		for i := range judged.SLTarget {
			judged.SLTarget[i] = req.TargetSL
		}
	}
	now := a.now()
	last := res.Scans[len(res.Scans)-1].ID
	res.Zone = judged
	res.Verdict = checks.Commission(judged, report, now)
	res.Score = checks.ScoreAt(judged, report, last, now)
	res.Accepted = res.Verdict.Overall == checks.OverallPass ||
		res.Verdict.Overall == checks.OverallNeedsAttestation && req.AllowAttestations
	a.logger().Info("commissioning verdict", "zone", zone.Name, "overall", res.Verdict.Overall, "accepted", res.Accepted,
		"failed", len(res.Verdict.Failed), "needs_attestation", len(res.Verdict.NeedsAttestation))

	if req.SetBaseline && res.Accepted {
		note := req.BaselineNote
		if note == "" {
			note = fmt.Sprintf("commissioned: %s against SL-T %s", res.Verdict.Overall, slText(judged.SLTarget))
		}
		if res.Baseline, err = a.commissionedBaseline(ctx, zone, res.Scans, req.BaselineBy, note); err != nil {
			return res, fmt.Errorf("commission zone %s: record baseline: %w", zone.Name, err)
		}
	}
	return res, nil
}

// slText is an SL vector as "IAC 2, UC 2, …".
func slText(v otaudit.SLVector) string {
	parts := make([]string, len(otaudit.FRs))
	for i, fr := range otaudit.FRs {
		parts[i] = fmt.Sprintf("%s %d", fr.Code(), v.Get(fr))
	}
	return strings.Join(parts, ", ")
}

// runObservations reads back what the scans stored.
func runObservations(ctx context.Context, db *store.DB, scans []otaudit.Scan) ([]otaudit.Observation, error) {
	var obs []otaudit.Observation
	for _, s := range scans {
		if err := db.Observations(ctx, s.ID, func(o otaudit.Observation) error {
			obs = append(obs, o)
			return nil
		}); err != nil {
			return nil, fmt.Errorf("scan %d: observations: %w", s.ID, err)
		}
	}
	return obs, nil
}

// combinedReport evaluates the observations of several scans as one body
// of evidence, with the baseline the scans used, and gives its findings
// their status in the store (a false positive does not fail the zone; an
// accepted risk does, as it does in the score).
func (a *Agent) combinedReport(ctx context.Context, zone otaudit.Zone, scans []otaudit.Scan, collected map[string]bool) (checks.Report, error) {
	var rep checks.Report
	err := a.read(ctx, func(db *store.DB) error {
		obs, err := runObservations(ctx, db, scans)
		if err != nil {
			return err
		}
		approved, err := loadBaseline(ctx, db, zone.Name)
		if err != nil {
			a.logger().Warn("baseline not used", "zone", zone.Name, "error", err)
			approved = nil
		}
		in := checks.Input{Zone: zone, Assets: BuildInventory(&zone, obs), Observations: obs,
			Collected: maps.Clone(collected), Baseline: approved}
		if approved != nil {
			in.Collected["baseline"] = true
		}
		rep = checks.Evaluate(in)
		stored, err := db.Findings(ctx, store.FindingFilter{Zone: zone.Name, Now: a.now()})
		if err != nil {
			return err
		}
		status := make(map[string]otaudit.Finding, len(stored))
		for _, f := range stored {
			status[f.ID] = f
		}
		for i := range rep.Findings {
			f := &rep.Findings[i]
			if s, ok := status[findingID(*f)]; ok {
				f.Status, f.StatusReason, f.StatusBy, f.StatusUntil = s.Status, s.StatusReason, s.StatusBy, s.StatusUntil
			}
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("commission zone %s: combine scans: %w", zone.Name, err)
	}
	return rep, nil
}

// commissionedBaseline records what the run's scans saw, together, as the
// zone's baseline.
func (a *Agent) commissionedBaseline(ctx context.Context, zone otaudit.Zone, scans []otaudit.Scan, by, note string) (*otaudit.Baseline, error) {
	var b otaudit.Baseline
	err := a.withStore(ctx, func(db *store.DB) error {
		obs, err := runObservations(ctx, db, scans)
		if err != nil {
			return err
		}
		if len(obs) == 0 {
			return fmt.Errorf("%w: the commissioning scans stored no observations", ErrNoScan)
		}
		b = checks.BuildBaseline(&zone, BuildInventory(&zone, obs), obs)
		b.ScanID = scans[len(scans)-1].ID
		b.Created, b.ApprovedBy, b.Note = a.now(), by, note
		doc, err := json.Marshal(b)
		if err != nil {
			return fmt.Errorf("baseline of zone %s: encode: %w", zone.Name, err)
		}
		return db.PutBaseline(ctx, zone.Name, doc)
	})
	if err != nil {
		return nil, err
	}
	a.logger().Info("baseline set by commissioning", "zone", zone.Name, "scan", b.ScanID, "assets", len(b.Assets))
	return &b, nil
}

// ---- JUnit XML

// The JUnit XML that CI systems read (the Jenkins/Surefire dialect): one
// testsuite per FR, one testcase per requirement up to SL-T. A failure
// carries the findings that disprove the requirement; "needs attestation"
// is skipped; attested and compensated requirements pass and say on what.

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Timestamp  string          `xml:"timestamp,attr"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitMessage `xml:"failure"`
	Skipped   *junitMessage `xml:"skipped"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	// Text is CDATA so that a CI page shows the findings one per line.
	Text string `xml:",cdata"`
}

// frTitles name the foundational requirements of IEC 62443-3-3.
var frTitles = map[otaudit.FR]string{
	otaudit.FR1: "Identification and authentication control",
	otaudit.FR2: "Use control",
	otaudit.FR3: "System integrity",
	otaudit.FR4: "Data confidentiality",
	otaudit.FR5: "Restricted data flow",
	otaudit.FR6: "Timely response to events",
	otaudit.FR7: "Resource availability",
}

// WriteJUnit writes the commissioning result as JUnit XML.
func (r *CommissionResult) WriteJUnit(w io.Writer) error {
	v := r.Verdict
	doc := junitSuites{Name: fmt.Sprintf("otaudit commission %s: %s", v.Zone, v.Overall)}
	levels := map[otaudit.FR]otaudit.FRLevel{}
	for _, l := range r.Score.FRs {
		levels[l.FR] = l
	}
	for _, fr := range otaudit.FRs {
		l := levels[fr]
		s := junitSuite{
			Name:      fmt.Sprintf("%s %s %s", fr, fr.Code(), frTitles[fr]),
			Timestamp: v.Time.UTC().Format(time.RFC3339),
			Properties: []junitProperty{
				{Name: "zone", Value: v.Zone},
				{Name: "sl_target", Value: fmt.Sprint(v.Target.Get(fr))},
				{Name: "sl_achieved", Value: fmt.Sprintf("[%d, %d]", l.Lower, l.Upper)},
			},
		}
		for _, req := range v.Requirements {
			if req.FR != fr {
				continue
			}
			c := junitCase{
				Name:      fmt.Sprintf("%s %s (SL%d)", req.ID, req.Name, req.Level),
				Classname: fmt.Sprintf("otaudit.commission.%s.%s", v.Zone, fr),
			}
			switch req.Verdict {
			case checks.VerdictFail:
				c.Failure = &junitMessage{Message: req.Reason, Type: req.Severity.String(), Text: findingsText(req.Findings)}
				s.Failures++
			case checks.VerdictNeedsAttestation:
				c.Skipped = &junitMessage{Message: "needs attestation: " + req.Reason}
				s.Skipped++
			default:
				c.SystemOut = req.Reason
			}
			s.Cases = append(s.Cases, c)
			s.Tests++
		}
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Skipped += s.Skipped
		doc.Suites = append(doc.Suites, s)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// findingsText lists findings one per line with what identifies them.
func findingsText(fs []otaudit.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		status := ""
		if f.Status == otaudit.StatusAcceptedRisk {
			status = fmt.Sprintf(" [accepted risk by %s]", f.StatusBy)
		}
		fmt.Fprintf(&b, "%s %s %s: %s (finding %s)%s\n", strings.ToUpper(f.Severity.String()), f.CheckID,
			strings.TrimPrefix(f.AssetKey, "ip:"), f.Summary, findingID(f), status)
	}
	return b.String()
}
