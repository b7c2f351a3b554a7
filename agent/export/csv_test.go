package export

import (
	"bytes"
	"encoding/csv"
	"slices"
	"strings"
	"testing"
	"time"
)

func readCSV(t *testing.T, data []byte) [][]string {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(data))
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("not RFC 4180 CSV: %v", err)
	}
	return rows
}

func column(t *testing.T, rows [][]string, name string) []string {
	t.Helper()
	i := slices.Index(rows[0], name)
	if i < 0 {
		t.Fatalf("no column %q in %v", name, rows[0])
	}
	var out []string
	for _, r := range rows[1:] {
		out = append(out, r[i])
	}
	return out
}

func TestCSVFiles(t *testing.T) {
	doc := fixedDocument()
	files, err := Render("csv", doc)
	if err != nil {
		t.Fatal(err)
	}
	assets, findings := files[0].Data, files[1].Data
	for _, f := range files {
		if !bytes.HasSuffix(f.Data, []byte("\r\n")) || bytes.Count(f.Data, []byte("\n")) != bytes.Count(f.Data, []byte("\r\n")) {
			t.Errorf("%s: records must end with CRLF", f.Name)
		}
		if bytes.HasPrefix(f.Data, []byte("\xef\xbb\xbf")) {
			t.Errorf("%s starts with a byte-order mark", f.Name)
		}
	}
	ar := readCSV(t, assets)
	if !slices.Equal(ar[0], AssetsCSVHeader) || len(ar) != 1+len(doc.Assets) {
		t.Fatalf("assets.csv: header %v, %d rows", ar[0], len(ar)-1)
	}
	if got := column(t, ar, "asset_key"); !slices.IsSorted(got) {
		t.Errorf("assets not sorted by key: %v", got)
	}
	if got := column(t, ar, "macs")[1]; got != "3c:52:82:aa:bb:cc; 3c:52:82:aa:bb:cd" {
		t.Errorf("macs joined as %q", got)
	}
	if got := column(t, ar, "services")[0]; got != "modbus/tcp/502; snmp/udp/161" {
		t.Errorf("services = %q", got)
	}
	fr := readCSV(t, findings)
	if !slices.Equal(fr[0], FindingsCSVHeader) || len(fr) != 1+len(doc.Findings) {
		t.Fatalf("findings.csv: header %v, %d rows", fr[0], len(fr)-1)
	}
	for _, col := range []string{"first_seen", "last_seen"} {
		for _, v := range column(t, fr, col) {
			if _, err := time.Parse(time.RFC3339, v); err != nil || !strings.HasSuffix(v, "Z") {
				t.Errorf("%s %q is not ISO-8601 UTC", col, v)
			}
		}
	}
	i := slices.Index(column(t, fr, "check_id"), "AC-DEFAULT-SNMP-COMMUNITY")
	row := map[string]string{}
	for j, h := range fr[0] {
		row[h] = fr[1+i][j]
	}
	want := map[string]string{
		"severity": "high", "status": "open", "objective": "AC", "asset": "ip:10.10.1.10",
		"sr": "SR 1.5; SR 1.1 RE1", "sr_disproved": "SR 1.5", "iec62443_2_1": "AC 1.3", "iso27001": "A.9.4.3",
		"first_seen": "2026-03-02T09:00:00Z", "last_seen": "2026-03-02T09:30:00Z",
	}
	for k, v := range want {
		if row[k] != v {
			t.Errorf("findings.csv %s = %q, want %q", k, row[k], v)
		}
	}
	if !strings.Contains(row["evidence"], "pcap snmp_community: SNMPv1 get") {
		t.Errorf("evidence = %q", row["evidence"])
	}
}

func TestCSVEscapesFormulas(t *testing.T) {
	files, err := Render("csv", fixedDocument())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		for _, r := range readCSV(t, f.Data)[1:] {
			for _, cell := range r {
				if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
					t.Errorf("%s: cell %q would run as a formula", f.Name, cell)
				}
			}
		}
	}
	fr := readCSV(t, files[1].Data)
	if !slices.Contains(column(t, fr, "summary"), "'-1 checks: the PLC answers SNMP with a default community") {
		t.Errorf("summary starting with '-' was not prefixed: %v", column(t, fr, "summary"))
	}
	if !slices.Contains(column(t, readCSV(t, files[0].Data), "name"), `'=HYPERLINK("http://evil")`) {
		t.Error("a device name starting with '=' was not prefixed")
	}
	for in, want := range map[string]string{"=1+2": "'=1+2", "+x": "'+x", "@SUM": "'@SUM", "\tx": "'\tx", "\r=": "'\r=", "a=b": "a=b", "": "", "10.0.0.1": "10.0.0.1"} {
		if got := EscapeFormula(in); got != want {
			t.Errorf("EscapeFormula(%q) = %q, want %q", in, got, want)
		}
	}
}
