package export

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/otaudit/otaudit"
)

// DefectDojo Generic Findings Import (JSON). DefectDojo rejects a finding
// with a key it does not know ("Not allowed fields are present"), so the
// finding struct below is the whole vocabulary: its JSON names must stay a
// subset of DefectDojoAllowedKeys. unique_id_from_tool is the finding's
// stable ID, so a re-import updates findings instead of duplicating them;
// vuln_id_from_tool is the check ID.

// DefectDojoAllowedKeys are the finding keys DefectDojo's generic JSON
// parser accepts (dojo/tools/generic/json_parser.py: required, allowed, and
// the endpoints/files/vulnerability_ids it takes out before the check).
var DefectDojoAllowedKeys = []string{
	"title", "severity", "description",
	"date", "cwe", "cve", "cvssv3", "cvssv3_score", "mitigation", "impact", "steps_to_reproduce",
	"severity_justification", "references", "active", "verified", "false_p", "out_of_scope",
	"risk_accepted", "under_review", "is_mitigated", "thread_id", "mitigated", "numerical_severity",
	"param", "payload", "line", "file_path", "component_name", "component_version", "static_finding",
	"dynamic_finding", "scanner_confidence", "unique_id_from_tool", "vuln_id_from_tool",
	"sast_source_object", "sast_sink_object", "sast_source_line", "sast_source_file_path",
	"nb_occurences", "publish_date", "service", "planned_remediation_date",
	"planned_remediation_version", "effort_for_fixing", "tags",
	"endpoints", "files", "vulnerability_ids",
}

type defectDojoReport struct {
	Name     string              `json:"name"`
	Version  string              `json:"version"`
	Findings []defectDojoFinding `json:"findings"`
}

type defectDojoFinding struct {
	Title             string   `json:"title"`
	Severity          string   `json:"severity"`
	Description       string   `json:"description"`
	Date              string   `json:"date,omitempty"`
	Mitigation        string   `json:"mitigation,omitempty"`
	References        string   `json:"references,omitempty"`
	Active            bool     `json:"active"`
	Verified          bool     `json:"verified"`
	FalseP            bool     `json:"false_p"`
	RiskAccepted      bool     `json:"risk_accepted"`
	IsMitigated       bool     `json:"is_mitigated"`
	StaticFinding     bool     `json:"static_finding"`
	DynamicFinding    bool     `json:"dynamic_finding"`
	ComponentName     string   `json:"component_name,omitempty"`
	ComponentVersion  string   `json:"component_version,omitempty"`
	UniqueIDFromTool  string   `json:"unique_id_from_tool"`
	VulnIDFromTool    string   `json:"vuln_id_from_tool"`
	NbOccurences      int64    `json:"nb_occurences,omitempty"`
	Endpoints         []string `json:"endpoints,omitempty"`
	Tags              []string `json:"tags,omitempty"`
	SeverityJustified string   `json:"severity_justification,omitempty"`
}

// defectDojoSeverity is DefectDojo's severity name for s.
func defectDojoSeverity(s otaudit.Severity) string {
	switch s {
	case otaudit.SeverityCritical:
		return "Critical"
	case otaudit.SeverityHigh:
		return "High"
	case otaudit.SeverityMedium:
		return "Medium"
	case otaudit.SeverityLow:
		return "Low"
	}
	return "Info"
}

func renderDefectDojo(doc Document) ([]byte, error) {
	byKey := assetIndex(doc.Assets)
	rep := defectDojoReport{Name: "otaudit", Version: productVersion(doc.Generator), Findings: []defectDojoFinding{}}
	if doc.Zone != "" {
		rep.Name = "otaudit zone " + doc.Zone
	}
	for _, f := range sortedFindings(doc.Findings) {
		rep.Findings = append(rep.Findings, defectDojoFindingOf(f, byKey[f.AssetKey]))
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // "ATT&CK", not "ATT\u0026CK"
	if err := enc.Encode(rep); err != nil {
		return nil, fmt.Errorf("export defectdojo: %w", err)
	}
	return b.Bytes(), nil
}

func defectDojoFindingOf(f otaudit.Finding, a *otaudit.Asset) defectDojoFinding {
	d := defectDojoFinding{
		Title:            f.Title,
		Severity:         defectDojoSeverity(f.Severity),
		Description:      defectDojoDescription(f),
		Mitigation:       f.Remediation,
		References:       strings.Join(referenceLines(f.Refs), "\n"),
		Active:           f.Status == otaudit.StatusOpen,
		FalseP:           f.Status == otaudit.StatusFalsePositive,
		RiskAccepted:     f.Status == otaudit.StatusAcceptedRisk,
		IsMitigated:      f.Status == otaudit.StatusResolved,
		DynamicFinding:   true,
		UniqueIDFromTool: f.ID,
		VulnIDFromTool:   f.CheckID,
		Tags:             []string{"otaudit", "iec62443", "objective-" + strings.ToLower(string(f.Objective))},
	}
	if !f.FirstSeen.IsZero() {
		d.Date = f.FirstSeen.UTC().Format("2006-01-02")
	}
	for _, e := range f.Evidence {
		d.NbOccurences += max(e.Count, 1)
	}
	if a != nil {
		d.Title = f.Title + " on " + assetLabel(a)
		d.ComponentName = strings.TrimSpace(a.Vendor + " " + a.Model)
		d.ComponentVersion = a.Firmware
		if a.IP.IsValid() {
			host := a.IP.String()
			if a.IP.Is6() {
				host = "[" + host + "]"
			}
			d.Endpoints = []string{host}
		}
	} else if f.AssetKey != "" {
		d.Title = f.Title + " on " + f.AssetKey
	}
	if len(f.Refs.Disproves) > 0 {
		d.SeverityJustified = "Disproves " + strings.Join(srIDs(f.Refs.Disproves), ", ") + " of IEC 62443-3-3"
	}
	return d
}

// referenceLines lists the standards references, one per line.
func referenceLines(r otaudit.Refs) []string {
	var out []string
	for _, sr := range r.SR {
		out = append(out, fmt.Sprintf("%s %s (SL %d)", std62443_3_3, sr.ID, sr.SL))
	}
	for _, id := range r.IEC62443_2_1 {
		out = append(out, std62443_2_1+" "+id)
	}
	for _, id := range r.IEC62443_4_2 {
		out = append(out, std62443_4_2+" "+id)
	}
	for _, id := range r.ISO27001 {
		out = append(out, stdISO27001+" "+id)
	}
	for _, id := range r.ATTACK {
		out = append(out, "MITRE ATT&CK for ICS "+id)
	}
	return out
}

// defectDojoDescription is the finding as Markdown: summary, where, and
// the evidence it rests on.
func defectDojoDescription(f otaudit.Finding) string {
	var b strings.Builder
	b.WriteString(f.Summary)
	fmt.Fprintf(&b, "\n\n**Check:** %s  \n**Objective:** %s %s", f.CheckID, f.Objective, f.Objective.Title())
	if f.SubObjective != "" {
		fmt.Fprintf(&b, " (%s)", f.SubObjective)
	}
	fmt.Fprintf(&b, "  \n**Zone:** %s  \n**Asset:** %s", f.Zone, f.AssetKey)
	if f.Key != "" {
		fmt.Fprintf(&b, "  \n**Key:** %s", f.Key)
	}
	fmt.Fprintf(&b, "  \n**Status:** %s", f.Status)
	if f.StatusReason != "" {
		fmt.Fprintf(&b, " (%s", f.StatusReason)
		if f.StatusBy != "" {
			fmt.Fprintf(&b, ", by %s", f.StatusBy)
		}
		if !f.StatusUntil.IsZero() {
			fmt.Fprintf(&b, ", until %s", isoTime(f.StatusUntil))
		}
		b.WriteString(")")
	}
	fmt.Fprintf(&b, "  \n**First seen:** %s  \n**Last seen:** %s", isoTime(f.FirstSeen), isoTime(f.LastSeen))
	if len(f.Evidence) > 0 {
		b.WriteString("\n\n**Evidence**\n")
		for _, e := range f.Evidence {
			fmt.Fprintf(&b, "\n- %s %s: %s", e.Source, e.Kind, e.Detail)
			if e.Client != "" || e.Server != "" {
				fmt.Fprintf(&b, " (%s → %s)", e.Client, e.Server)
			}
			if e.Count > 0 {
				fmt.Fprintf(&b, ", %d×", e.Count)
			}
			if e.FirstFrame > 0 {
				fmt.Fprintf(&b, ", first frame %d", e.FirstFrame)
			}
			if !e.FirstSeen.IsZero() {
				fmt.Fprintf(&b, ", %s … %s", isoTime(e.FirstSeen), isoTime(e.LastSeen))
			}
		}
	}
	return b.String()
}
