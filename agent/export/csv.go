package export

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"

	"github.com/otaudit/otaudit"
)

// CSV: RFC 4180 (CRLF line ends, quoting by encoding/csv), UTF-8 without a
// byte-order mark, ISO-8601 UTC times, lists joined with "; ".
//
// Formula injection: a spreadsheet treats a cell that starts with = + - @
// (or a tab or carriage return before one of them) as a formula, and a
// device name or an SNMP sysDescr seen on the wire is attacker-controlled.
// Such cells get a leading apostrophe ('), which spreadsheets show as text
// and CSV consumers keep verbatim; nothing else in the cell changes.

// AssetsCSVHeader and FindingsCSVHeader are the column names, in order.
var (
	AssetsCSVHeader = []string{
		"asset_key", "ip", "macs", "mac_vendor", "vendor", "model", "product_code", "firmware", "serial",
		"name", "role", "zone", "registered", "services", "uses", "first_seen", "last_seen", "sources",
	}
	FindingsCSVHeader = []string{
		"finding_id", "check_id", "title", "objective", "sub_objective", "severity", "status", "zone",
		"asset", "key", "sr", "sr_disproved", "iec62443_2_1", "iec62443_4_2", "iso27001", "attack",
		"first_seen", "last_seen", "summary", "remediation", "evidence", "status_reason", "status_by", "status_until",
	}
)

const listSep = "; "

func renderCSV(doc Document) ([]File, error) {
	assets, err := writeCSV("assets.csv", AssetsCSVHeader, assetRows(sortedAssets(doc.Assets)))
	if err != nil {
		return nil, err
	}
	findings, err := writeCSV("findings.csv", FindingsCSVHeader, findingRows(sortedFindings(doc.Findings)))
	if err != nil {
		return nil, err
	}
	return []File{
		{Name: "assets.csv", ContentType: "text/csv; charset=utf-8", Data: assets},
		{Name: "findings.csv", ContentType: "text/csv; charset=utf-8", Data: findings},
	}, nil
}

func assetRows(as []otaudit.Asset) [][]string {
	rows := make([][]string, 0, len(as))
	for _, a := range as {
		ip := ""
		if a.IP.IsValid() {
			ip = a.IP.String()
		}
		rows = append(rows, []string{
			a.Key, ip, strings.Join(a.MACs, listSep), a.MACVendor, a.Vendor, a.Model, a.ProductCode, a.Firmware,
			a.Serial, a.Name, a.Role, a.Zone, strconv.FormatBool(a.Registered),
			strings.Join(services(a.Services), listSep), strings.Join(services(a.Uses), listSep),
			isoTime(a.FirstSeen), isoTime(a.LastSeen), strings.Join(a.Sources, listSep),
		})
	}
	return rows
}

func findingRows(fs []otaudit.Finding) [][]string {
	rows := make([][]string, 0, len(fs))
	for _, f := range fs {
		rows = append(rows, []string{
			f.ID, f.CheckID, f.Title, string(f.Objective), f.SubObjective, f.Severity.String(), string(f.Status),
			f.Zone, f.AssetKey, f.Key,
			strings.Join(srIDs(f.Refs.SR), listSep), strings.Join(srIDs(f.Refs.Disproves), listSep),
			strings.Join(f.Refs.IEC62443_2_1, listSep), strings.Join(f.Refs.IEC62443_4_2, listSep),
			strings.Join(f.Refs.ISO27001, listSep), strings.Join(f.Refs.ATTACK, listSep),
			isoTime(f.FirstSeen), isoTime(f.LastSeen), f.Summary, f.Remediation, evidenceText(f.Evidence),
			f.StatusReason, f.StatusBy, isoTime(f.StatusUntil),
		})
	}
	return rows
}

// evidenceText is one line per evidence item: "source kind: detail".
func evidenceText(ev []otaudit.Evidence) string {
	lines := make([]string, 0, len(ev))
	for _, e := range ev {
		lines = append(lines, fmt.Sprintf("%s %s: %s", e.Source, e.Kind, e.Detail))
	}
	return strings.Join(lines, "\n")
}

func writeCSV(name string, header []string, rows [][]string) ([]byte, error) {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.UseCRLF = true
	if err := w.Write(header); err != nil {
		return nil, fmt.Errorf("export csv %s: %w", name, err)
	}
	for i, row := range rows {
		for j := range row {
			row[j] = EscapeFormula(row[j])
		}
		if err := w.Write(row); err != nil {
			return nil, fmt.Errorf("export csv %s: row %d: %w", name, i+1, err)
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, fmt.Errorf("export csv %s: %w", name, err)
	}
	return b.Bytes(), nil
}

// EscapeFormula prefixes an apostrophe to a cell a spreadsheet would read
// as a formula: one starting with = + - @, a tab or a carriage return.
func EscapeFormula(cell string) string {
	if cell == "" {
		return cell
	}
	switch cell[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + cell
	}
	return cell
}
