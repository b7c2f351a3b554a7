package main

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/otaudit/otaudit"
)

func TestRegisterExportRoundTrips(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "o.db")
	zone := writeDemoZone(t, dir)
	capture, _ := writeDemoCapture(t, dir)
	if code, _, stderr := runCLI(t, "scan", "--db", db, "--config", zone, "--pcap", capture); code != exitOK {
		t.Fatalf("scan: exit %d: %s", code, stderr)
	}
	code, out, _ := runCLI(t, "assets", "--db", db, "--json")
	var assets []otaudit.Asset
	if code != exitOK || json.Unmarshal([]byte(out), &assets) != nil {
		t.Fatalf("assets: exit %d", code)
	}
	inside := map[netip.Addr]otaudit.Asset{}
	for _, a := range assets {
		if a.Zone == "cell-1" {
			inside[a.IP] = a
		}
	}

	for _, from := range []string{"inventory", "config"} {
		t.Run(from, func(t *testing.T) {
			csvPath := filepath.Join(dir, from+".csv")
			code, _, stderr := runCLI(t, "register", "export", "--db", db, "--config", zone, "--from", from, "-o", csvPath)
			if code != exitOK || !strings.Contains(stderr, "wrote ") {
				t.Fatalf("export: exit %d: %s", code, stderr)
			}
			raw, err := os.ReadFile(csvPath)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(raw), "ip,mac,name,vendor,model,firmware,role\r\n") {
				t.Errorf("export does not start with the register header and a CRLF: %q", raw[:min(len(raw), 60)])
			}
			// configs reads the file back: same entries, no problem.
			code, out, stderr := runCLI(t, "register", "check", csvPath, "--json")
			var res registerCheckJSON
			if code != exitOK || json.Unmarshal([]byte(out), &res) != nil || !res.OK || len(res.Problems) != 0 {
				t.Fatalf("check of the export: exit %d\n%s\n%s", code, out, stderr)
			}
			var want []otaudit.RegisteredAsset
			if from == "config" {
				code, out, _ := runCLI(t, "config", "check", zone, "--json")
				var z otaudit.Zone
				if code != exitOK || json.Unmarshal([]byte(out), &z) != nil {
					t.Fatalf("config check: exit %d", code)
				}
				want = z.Register
			} else {
				if len(res.Entries) != len(inside) {
					t.Errorf("%d entries exported, the zone has %d assets", len(res.Entries), len(inside))
				}
				for _, e := range res.Entries {
					a, ok := inside[e.IP]
					if !ok {
						t.Errorf("exported %s, which is not an asset inside the zone", e.IP)
						continue
					}
					if e.Firmware != a.Firmware || e.Model != a.Model || e.Role != a.Role || e.Name != a.Name ||
						(e.MAC != "" && !slices.Contains(a.MACs, e.MAC)) {
						t.Errorf("entry %+v does not match asset %+v", e, a)
					}
				}
				a, _ := runRegisterExportEntries(t, db, zone)
				want = a
			}
			if !slices.Equal(res.Entries, want) {
				t.Errorf("read back:\n%+v\nwant:\n%+v", res.Entries, want)
			}
		})
	}
}

// runRegisterExportEntries exports to standard output and parses it with
// encoding/csv only, independently of configs, so that the round trip is
// not checked against itself.
func runRegisterExportEntries(t *testing.T, db, zone string) ([]otaudit.RegisteredAsset, string) {
	t.Helper()
	code, out, stderr := runCLI(t, "register", "export", "--db", db, "--config", zone)
	if code != exitOK {
		t.Fatalf("export to stdout: exit %d: %s", code, stderr)
	}
	var entries []otaudit.RegisteredAsset
	lines := strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n")
	for _, line := range lines[1:] {
		f := splitCSVLine(t, line)
		e := otaudit.RegisteredAsset{MAC: f[1], Name: f[2], Vendor: f[3], Model: f[4], Firmware: f[5], Role: f[6]}
		if f[0] != "" {
			e.IP = netip.MustParseAddr(f[0])
		}
		entries = append(entries, e)
	}
	return entries, out
}

func splitCSVLine(t *testing.T, line string) []string {
	t.Helper()
	var fields []string
	var cur strings.Builder
	quoted := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quoted && c == '"' && i+1 < len(line) && line[i+1] == '"':
			cur.WriteByte('"')
			i++
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			fields = append(fields, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	fields = append(fields, cur.String())
	if len(fields) != 7 {
		t.Fatalf("line %q has %d fields", line, len(fields))
	}
	return fields
}

func TestRegisterCSVNeutralisesFormulas(t *testing.T) {
	var b strings.Builder
	err := writeRegisterCSV(&b, []otaudit.RegisteredAsset{
		{IP: netip.MustParseAddr("10.0.0.9"), Name: `=HYPERLINK("http://x","y")`, Vendor: "+cmd", Model: "@SUM(A1)", Firmware: "-2", Role: "PLC, cell 1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "ip,mac,name,vendor,model,firmware,role\r\n" +
		`10.0.0.9,,"'=HYPERLINK(""http://x"",""y"")",'+cmd,'@SUM(A1),'-2,"PLC, cell 1"` + "\r\n"
	if b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}
}

func TestRegisterCheckReportsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.csv")
	content := "ip,mac,name,role\n" +
		"10.0.0.1,00:80:f4:00:00:01,plc-1,PLC\n" +
		"10.0.0.300,,plc-2,PLC\n" + // line 3: bad address
		"10.0.0.3,zz,plc-3,PLC\n" + // line 4: bad MAC
		"10.0.0.1,,plc-1-again,PLC\n" + // line 5: duplicate IP
		",,nobody,\n" // line 6: no address
	if err := os.WriteFile(bad, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI(t, "register", "check", bad)
	if code != exitError || !strings.Contains(stderr, "4 problem(s)") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for _, want := range []string{bad + ":3:1: ip: invalid IP address", bad + ":4:10: mac: invalid MAC", bad + ":5:1: ip: duplicate IP 10.0.0.1", bad + ":6: a register entry needs an ip or a mac"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runCLI(t, "register", "check", bad, "--json")
	var res registerCheckJSON
	if code != exitError || json.Unmarshal([]byte(out), &res) != nil || res.OK || len(res.Problems) != 4 || res.Problems[0].Line != 3 {
		t.Errorf("--json: exit %d: %s", code, out)
	}
	good := filepath.Join(dir, "good.csv")
	if err := os.WriteFile(good, []byte("\xef\xbb\xbfmac,name\r\n00-80-F4-00-00-07,dhcp-hmi\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := runCLI(t, "register", "check", good); code != exitOK || !strings.Contains(out, "ok — 1 entry (1 by MAC only)") {
		t.Errorf("good file: exit %d: %s", code, out)
	}
	if code, _, stderr := runCLI(t, "register", "check", filepath.Join(dir, "missing.csv")); code != exitError || !strings.Contains(stderr, "no such file") {
		t.Errorf("missing file: exit %d: %s", code, stderr)
	}
	for _, args := range [][]string{{"register"}, {"register", "check"}, {"register", "export", "--from", "spreadsheet"}} {
		if code, _, _ := runCLI(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
}
