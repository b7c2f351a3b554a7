package main

import (
	"cmp"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/agent"
	"github.com/otaudit/otaudit/store"
)

func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

// ipCell is the address, or "-" for a device known only by its MAC.
func ipCell(ip netip.Addr) string {
	if !ip.IsValid() {
		return "-"
	}
	return ip.String()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func hostOf(key string) string { return strings.TrimPrefix(key, "ip:") }

func printScan(w io.Writer, res *agent.ScanResult, dbPath string) {
	s := res.Scan
	fmt.Fprintf(w, "Scan %d of zone %q (%s): %s\n", s.ID, s.Zone, s.Mode, s.Status)
	fmt.Fprintf(w, "  read %d packets (%d bytes, %d decode errors) from %s\n",
		s.Stats.Packets, s.Stats.Bytes, s.Stats.DecodeErrors, strings.Join(s.Sources, ", "))
	fmt.Fprintf(w, "  %d assets, %d observations, %d findings %s\n",
		s.Stats.Assets, s.Stats.Observations, s.Stats.Findings, severityCounts(res.Report.Findings))
	for _, warn := range s.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", warn)
	}
	if s.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", s.Error)
	}
	fmt.Fprintln(w)
	if len(res.Report.Findings) > 0 {
		fmt.Fprintln(w, "FINDINGS")
		printFindings(w, res.Report.Findings, true)
		fmt.Fprintln(w)
	}
	printScore(w, res.Score)
	fmt.Fprintf(w, "\nStored in %s. Query with:\n  otaudit findings --db %s\n  otaudit assets --db %s\n  otaudit score --db %s\n",
		dbPath, dbPath, dbPath, dbPath)
}

func printDemo(w io.Writer, res *agent.ScanResult, capture, dbPath string) {
	fmt.Fprintf(w, "otaudit demo — zone %q: %s\n", res.Zone.Name, res.Zone.Description)
	fmt.Fprintf(w, "Generated capture: %s (%d packets)\n\n", capture, res.Scan.Stats.Packets)
	fmt.Fprintln(w, "INVENTORY")
	printAssets(w, res.Assets)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "FINDINGS (%d) %s\n", len(res.Report.Findings), severityCounts(res.Report.Findings))
	printFindings(w, res.Report.Findings, true)
	fmt.Fprintln(w)
	printScore(w, res.Score)
	fmt.Fprintf(w, "\nEverything is stored in %s. Try:\n", dbPath)
	fmt.Fprintf(w, "  otaudit findings --db %s --objective AC\n", dbPath)
	if len(res.Report.Findings) > 0 {
		fmt.Fprintf(w, "  otaudit findings show --db %s %s\n", dbPath, res.Report.Findings[0].ID)
	}
	fmt.Fprintf(w, "  otaudit score --db %s --json\n", dbPath)
	fmt.Fprintf(w, "  otaudit export --db %s --format json -o findings.json\n", dbPath)
}

func severityCounts(fs []otaudit.Finding) string {
	if len(fs) == 0 {
		return ""
	}
	counts := map[otaudit.Severity]int{}
	for _, f := range fs {
		counts[f.Severity]++
	}
	var parts []string
	for s := otaudit.SeverityCritical; s >= otaudit.SeverityInfo; s-- {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

func printAssets(w io.Writer, assets []otaudit.Asset) {
	if len(assets) == 0 {
		fmt.Fprintln(w, "No assets.")
		return
	}
	tw := table(w)
	fmt.Fprintln(tw, "IP\tMAC\tVENDOR\tMODEL\tFIRMWARE\tROLE\tZONE\tREGISTERED\tSERVES\tUSES")
	for _, a := range assets {
		reg := "no"
		if a.Registered {
			reg = "yes"
		}
		zone := a.Zone
		if zone == "" {
			zone = "(outside)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ipCell(a.IP), dash(strings.Join(a.MACs, ",")),
			dash(tableCell(cmp.Or(a.Vendor, a.MACVendor))), dash(tableCell(a.Model)), dash(tableCell(a.Firmware)), dash(a.Role), zone, reg,
			dash(services(a.Services)), dash(services(a.Uses)))
	}
	tw.Flush()
}

// tableCell keeps a table column readable: device-reported strings (a full
// sysDescr, say) can run to hundreds of characters and carry control
// characters. --json keeps them whole.
func tableCell(s string) string {
	const max = 40
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if r := []rune(s); len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return s
}

func services(s []otaudit.Service) string {
	seen := map[string]bool{}
	var names []string
	for _, sv := range s {
		if !seen[sv.Protocol] {
			seen[sv.Protocol] = true
			names = append(names, sv.Protocol)
		}
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

func srList(refs []otaudit.SRRef) string {
	parts := make([]string, len(refs))
	for i, r := range refs {
		parts[i] = fmt.Sprintf("%s (SL%d)", r.ID, r.SL)
	}
	return strings.Join(parts, ", ")
}

func refLine(r otaudit.Refs) string {
	parts := []string{"62443-3-3 " + dash(srList(r.SR))}
	if len(r.IEC62443_2_1) > 0 {
		parts = append(parts, "62443-2-1 "+strings.Join(r.IEC62443_2_1, ", "))
	}
	if len(r.ISO27001) > 0 {
		parts = append(parts, "ISO 27001 "+strings.Join(r.ISO27001, ", "))
	}
	return strings.Join(parts, " · ")
}

func printFindings(w io.Writer, fs []otaudit.Finding, withStatus bool) {
	if len(fs) == 0 {
		fmt.Fprintln(w, "No findings.")
		return
	}
	for _, f := range fs {
		status := ""
		if withStatus && f.Status != otaudit.StatusOpen {
			status = " [" + string(f.Status) + "]"
		}
		fmt.Fprintf(w, "%-8s  %s  %s  %s%s\n", strings.ToUpper(f.Severity.String()), f.CheckID, hostOf(f.AssetKey), f.ID, status)
		fmt.Fprintf(w, "          %s\n", f.Summary)
		fmt.Fprintf(w, "          %s\n", refLine(f.Refs))
	}
}

func printFinding(w io.Writer, f otaudit.Finding, hist []otaudit.FindingEvent) {
	fmt.Fprintf(w, "%s  %s — %s\n", f.ID, f.CheckID, f.Title)
	fmt.Fprintf(w, "  severity:   %s\n  status:     %s\n  objective:  %s %s (%s)\n  zone:       %s\n  asset:      %s\n",
		f.Severity, statusLine(f), f.Objective, f.Objective.Title(), dash(f.SubObjective), f.Zone, hostOf(f.AssetKey))
	fmt.Fprintf(w, "  seen:       %s .. %s\n  summary:    %s\n", stamp(f.FirstSeen), stamp(f.LastSeen), f.Summary)
	fmt.Fprintf(w, "  62443-3-3:  %s\n", dash(srList(f.Refs.SR)))
	if len(f.Refs.Disproves) > 0 {
		fmt.Fprintf(w, "  disproves:  %s\n", srList(f.Refs.Disproves))
	}
	fmt.Fprintf(w, "  62443-2-1:  %s\n  62443-4-2:  %s\n  ISO 27001:  %s\n",
		dash(strings.Join(f.Refs.IEC62443_2_1, ", ")), dash(strings.Join(f.Refs.IEC62443_4_2, ", ")), dash(strings.Join(f.Refs.ISO27001, ", ")))
	if f.Remediation != "" {
		fmt.Fprintf(w, "  remedy:     %s\n", f.Remediation)
	}
	fmt.Fprintln(w, "  evidence:")
	for _, e := range f.Evidence {
		fmt.Fprintf(w, "    - %s %s: %s", e.Source, e.Kind, e.Detail)
		if e.Client != "" || e.Server != "" {
			fmt.Fprintf(w, " (%s → %s)", dash(e.Client), dash(e.Server))
		}
		if e.Count > 0 {
			fmt.Fprintf(w, " ×%d", e.Count)
		}
		if e.FirstFrame > 0 {
			fmt.Fprintf(w, ", first at frame %d", e.FirstFrame)
		}
		fmt.Fprintf(w, ", %s .. %s\n", stamp(e.FirstSeen), stamp(e.LastSeen))
	}
	if len(hist) > 0 {
		fmt.Fprintln(w, "  history:")
		for _, h := range hist {
			fmt.Fprintf(w, "    - scan %d at %s: %s %s %s\n", h.ScanID, stamp(h.Time), h.Status, h.Severity, h.Note)
		}
	}
}

func printScore(w io.Writer, s otaudit.ZoneScore) {
	fmt.Fprintf(w, "SCORES — zone %q (scan %d)\n", s.Zone, s.ScanID)
	tw := table(w)
	fmt.Fprintln(tw, "OBJECTIVE\tSCORE\tBAND\tCOVERAGE\tFAILING CHECKS")
	for _, o := range s.Objectives {
		score := "-"
		if o.Score >= 0 {
			score = fmt.Sprintf("%d", o.Score)
		}
		var failing []string
		for _, f := range o.Failing {
			failing = append(failing, fmt.Sprintf("%s (%s, %d/%d)", f.CheckID, f.Severity, f.Failing, f.InScope))
		}
		band := o.Band
		if o.Cap != "" {
			// The failing-checks column already names the findings behind the cap.
			band += " (capped)"
		}
		fmt.Fprintf(tw, "%s %s\t%s\t%s\t%d/%d\t%s\n", o.Objective, o.Objective.Title(), score, band,
			o.Assessed, o.Applicable, dash(strings.Join(failing, ", ")))
	}
	tw.Flush()
	if len(s.SubObjectives) > 0 {
		fmt.Fprintln(w)
		tw = table(w)
		fmt.Fprintln(tw, "SUB-OBJECTIVE\tSCORE\tBAND\tCOVERAGE")
		for _, o := range s.SubObjectives {
			if o.Applicable == 0 {
				continue
			}
			score := "-"
			if o.Score >= 0 {
				score = fmt.Sprintf("%d", o.Score)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\n", o.SubObjective, score, o.Band, o.Assessed, o.Applicable)
		}
		tw.Flush()
	}
	if len(s.FRs) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw = table(w)
	fmt.Fprintln(tw, "FR\tSL-T\tSL-A [lower, upper]\tDEFINITE GAP\tPOTENTIAL GAP\tDISPROVED")
	for _, f := range s.FRs {
		fmt.Fprintf(tw, "%s %s\t%d\t[%d, %d]\t%d\t%d\t%s\n", f.FR, f.FR.Code(), f.Target, f.Lower, f.Upper,
			f.DefiniteGap, f.PotentialGap, dash(strings.Join(f.Failed, ", ")))
	}
	tw.Flush()
	for _, a := range s.Attestations {
		kind := "attested"
		if a.Compensating {
			kind = "compensated"
		}
		fmt.Fprintf(w, "  %s %s by %s (evidence %s, expires %s)\n", a.Requirement, kind, a.Approver, a.Evidence, stamp(a.Expires))
	}
	if len(s.Backlog) > 0 {
		fmt.Fprintln(w, "\nREMEDIATION BACKLOG (failed requirements at or below SL-T, worst first)")
		for i, b := range s.Backlog {
			fmt.Fprintf(w, "  %2d. %-12s %s SL%d  %-8s %s\n", i+1, b.Requirement, b.FR.Code(), b.Level, b.Severity, strings.Join(b.Checks, ", "))
		}
	}
}

func printScans(w io.Writer, scans []otaudit.Scan) {
	if len(scans) == 0 {
		fmt.Fprintln(w, "No scans.")
		return
	}
	tw := table(w)
	fmt.Fprintln(tw, "ID\tZONE\tMODE\tSTATUS\tSTARTED\tPACKETS\tASSETS\tFINDINGS\tSOURCES")
	for _, s := range scans {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", s.ID, s.Zone, s.Mode, s.Status, stamp(s.Started),
			s.Stats.Packets, s.Stats.Assets, s.Stats.Findings, strings.Join(s.Sources, ","))
	}
	tw.Flush()
}

func printCheckReport(w io.Writer, path string, rep store.CheckReport) {
	state := "ok"
	if !rep.OK() {
		state = fmt.Sprintf("%d problem(s)", len(rep.Problems))
	}
	fmt.Fprintf(w, "%s: %s (schema version %d)\n", path, state, rep.SchemaVersion)
	for _, b := range rep.Buckets {
		fmt.Fprintf(w, "  %-18s %d\n", b.Bucket, b.Keys)
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "  problem: %s\n", p)
	}
}
