package configs

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestNormalizeMAC(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"00:80:F4:01:02:03", "00:80:f4:01:02:03"},
		{"00-80-f4-01-02-03", "00:80:f4:01:02:03"},
		{"0080.f401.0203", "00:80:f4:01:02:03"},
		{"0080F4010203", "00:80:f4:01:02:03"},
		{" 00:80:f4:01:02:03 ", "00:80:f4:01:02:03"},
		{"00:80:f4:01:02", ""},
		{"00:80:f4:01:02:03:04:05", ""}, // EUI-64 is not an Ethernet MAC
		{"0080f401020g", ""},
		{"", ""},
	} {
		got, err := normalizeMAC(c.in)
		if got != c.want || (err != nil) != (c.want == "") {
			t.Errorf("normalizeMAC(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestRegisterCSVWithBOMAndReorderedColumns(t *testing.T) {
	rows, problems, err := readRegisterCSV(filepath.Join("testdata", "register-bom.csv"))
	if err != nil || len(problems) != 0 {
		t.Fatalf("read: %v %v", err, problems)
	}
	if len(rows) != 1 || rows[0].asset.Name != "plc, bom" || rows[0].asset.IP.String() != "10.10.3.1" || rows[0].asset.Role != "PLC" {
		t.Errorf("rows = %+v", rows)
	}
	// The IP is the second column, after a quoted name with a comma.
	if rows[0].at.line != 2 || rows[0].at.column != 12 {
		t.Errorf("row position = %+v, want line 2 column 12", rows[0].at)
	}
}

func TestRegisterCSVHeaderProblems(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ name, content, want string }{
		{"unknown column", "ip,serial\n10.0.0.1,x\n", `h.csv:1:4: unknown column "serial"`},
		{"repeated column", "ip,name,IP\n", `h.csv:1:9: column "ip" appears twice`},
		{"no address column", "name,role\n", "h.csv:1: the header needs an ip or a mac column"},
		{"empty", "", "h.csv:1: empty asset register"},
		{"bare quote", "ip,name\n10.0.0.1,a\"b\n", `h.csv:2:11: CSV: bare " in non-quoted-field`},
		{"row without address", "ip,mac,name\n,,lonely\n", "h.csv:2: a register entry needs an ip or a mac"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, "h.csv")
			writeZoneFixture(t, path, c.content)
			_, problems, err := readRegisterCSV(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(problems) != 1 || !strings.HasPrefix(problems[0].String(), filepath.Join(dir, c.want)) {
				t.Errorf("problems = %v, want one starting %s", problems, c.want)
			}
		})
	}
}

func TestRegisterCSVMustBeARegularFile(t *testing.T) {
	_, _, err := readRegisterCSV(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("reading a directory as the register: %v", err)
	}
}
