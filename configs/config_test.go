package configs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// zoneDocHead is a minimal valid zone file; cases append lines from line 4.
const zoneDocHead = "version: 1\nzone:\n  name: cell-1\n"

// wantProblem is one expected problem: its exact location and field, and a
// part of its message.
type wantProblem struct {
	at    string // "bad.yaml:4:23"
	field string
	msg   string
}

func (w wantProblem) matches(p Problem) bool {
	return p.location() == w.at && p.Field == w.field && strings.Contains(p.Message, w.msg)
}

// parseZoneProblems parses doc as bad.yaml (relative paths against
// testdata) and returns its problems, failing if it parsed cleanly or the
// error is not a *ConfigError.
func parseZoneProblems(t *testing.T, doc string) []Problem {
	t.Helper()
	cfg, err := Parse("bad.yaml", []byte(doc), "testdata")
	if err == nil {
		t.Fatalf("Parse accepted the document:\n%s", doc)
	}
	if cfg != nil {
		t.Errorf("Parse returned a config along with error %v", err)
	}
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v is %T, want *ConfigError", err, err)
	}
	if len(ce.Problems) == 0 {
		t.Fatal("ConfigError without problems")
	}
	return ce.Problems
}

func assertProblems(t *testing.T, got []Problem, want []wantProblem) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = want[i].matches(got[i])
	}
	if ok {
		return
	}
	var b strings.Builder
	for _, p := range got {
		b.WriteString("\n  " + p.String())
	}
	var w strings.Builder
	for _, p := range want {
		w.WriteString("\n  " + p.at + ": " + p.field + ": …" + p.msg + "…")
	}
	t.Errorf("problems:%s\nwant:%s", b.String(), w.String())
}

func TestParseReportsBadConfigs(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []wantProblem
	}{
		{"unknown key", zoneDocHead + "  colour: blue\n",
			[]wantProblem{{"bad.yaml:4:3", "zone.colour", "unknown key (want one of allowed_protocols,"}}},
		{"unknown top-level key", zoneDocHead + "zones: []\n",
			[]wantProblem{{"bad.yaml:4:1", "zones", "unknown key"}}},
		{"bad CIDR", zoneDocHead + "  cidrs: [10.0.0.0/8, 10.0.0.0/33]\n",
			[]wantProblem{{"bad.yaml:4:23", "zone.cidrs[1]", `invalid CIDR "10.0.0.0/33"`}}},
		{"bad IP", zoneDocHead + "  engineering_workstations: [10.10.1.256]\n",
			[]wantProblem{{"bad.yaml:4:30", "zone.engineering_workstations[0]", `invalid IP address "10.10.1.256"`}}},
		{"CIDR with host bits", zoneDocHead + "  engineering_workstations: [10.10.1.5/24]\n",
			[]wantProblem{{"bad.yaml:4:30", "zone.engineering_workstations[0]", "host bits set (the network is 10.10.1.0/24"}}},
		{"SL 5", zoneDocHead + "  sl_target: {default: 2, IAC: 5}\n",
			[]wantProblem{{"bad.yaml:4:32", "zone.sl_target.IAC", "5 out of range 1-4"}}},
		{"SL 0", zoneDocHead + "  sl_target: {default: 0}\n",
			[]wantProblem{{"bad.yaml:4:24", "zone.sl_target.default", "0 out of range 1-4"}}},
		{"unknown FR", zoneDocHead + "  sl_target: {FR8: 2}\n",
			[]wantProblem{{"bad.yaml:4:15", "zone.sl_target.FR8", "unknown key"}}},
		{"FR set twice", zoneDocHead + "  sl_target: {IAC: 2, FR1: 3}\n",
			[]wantProblem{{"bad.yaml:4:28", "zone.sl_target.FR1", "FR1 is FR1, already set as IAC"}}},
		{"purdue level 6", zoneDocHead + "  purdue_level: 6\n",
			[]wantProblem{{"bad.yaml:4:17", "zone.purdue_level", "6 out of range 0-5"}}},
		{"purdue level not a number", zoneDocHead + "  purdue_level: two\n",
			[]wantProblem{{"bad.yaml:4:17", "zone.purdue_level", `want an integer, got string "two"`}}},
		{"bad duration", zoneDocHead + "active:\n  timeout: 2\n",
			[]wantProblem{{"bad.yaml:5:12", "active.timeout", `invalid duration "2"`}}},
		{"zero timeout", zoneDocHead + "active:\n  timeout: 0s\n",
			[]wantProblem{{"bad.yaml:5:12", "active.timeout", "must be greater than 0"}}},
		{"negative delay", zoneDocHead + "active:\n  credential_guessing: {delay: -1s}\n",
			[]wantProblem{{"bad.yaml:5:32", "active.credential_guessing.delay", "must not be negative"}}},
		{"too many guesses", zoneDocHead + "active:\n  credential_guessing: {max_attempts_per_device: 21}\n",
			[]wantProblem{{"bad.yaml:5:50", "active.credential_guessing.max_attempts_per_device", "21 out of range 0-20"}}},
		{"pps 0", zoneDocHead + "active:\n  per_device_pps: 0\n",
			[]wantProblem{{"bad.yaml:5:19", "active.per_device_pps", "must be greater than 0"}}},
		{"per-device above per-zone", zoneDocHead + "active:\n  per_device_pps: 30\n",
			[]wantProblem{{"bad.yaml:5:19", "active.per_device_pps", "per_device_pps (30) is higher than per_zone_pps (20)"}}},
		{"concurrency 0", zoneDocHead + "active:\n  concurrency: 0\n",
			[]wantProblem{{"bad.yaml:5:16", "active.concurrency", "0 out of range 1-1024"}}},
		{"missing zone name", "version: 1\nzone:\n  description: x\n",
			[]wantProblem{{"bad.yaml:3:3", "zone.name", "required"}}},
		{"empty zone name", "version: 1\nzone:\n  name: \"\"\n",
			[]wantProblem{{"bad.yaml:3:9", "zone.name", "required"}}},
		{"bad zone name", "version: 1\nzone:\n  name: cell 1/a\n",
			[]wantProblem{{"bad.yaml:3:9", "zone.name", `invalid zone name "cell 1/a"`}}},
		{"missing zone", "version: 1\n",
			[]wantProblem{{"bad.yaml:1:1", "zone", "required"}}},
		{"missing version", "zone: {name: a}\n",
			[]wantProblem{{"bad.yaml:1:1", "version", "required"}}},
		{"version 2", "version: 2\nzone: {name: a}\n",
			[]wantProblem{{"bad.yaml:1:10", "version", "unsupported version 2"}}},
		{"http url", zoneDocHead + "export:\n  - {format: json, url: http://x.example/in}\n",
			[]wantProblem{{"bad.yaml:5:25", "export[0].url", `url must use https, got scheme "http"`}}},
		{"url with credentials", zoneDocHead + "export:\n  - {format: json, url: \"https://bob:Xq7-url-pw@x.example/\"}\n",
			[]wantProblem{{"bad.yaml:5:25", "export[0].url", "must not carry credentials"}}},
		{"unknown export format", zoneDocHead + "export:\n  - {format: xml, directory: out}\n",
			[]wantProblem{{"bad.yaml:5:14", "export[0].format", `unknown format "xml"`}}},
		{"directory and url", zoneDocHead + "export:\n  - {format: csv, directory: out, url: \"https://x.example/\"}\n",
			[]wantProblem{{"bad.yaml:5:35", "export[0]", "either directory or url, not both"}}},
		{"neither directory nor url", zoneDocHead + "export:\n  - {format: csv}\n",
			[]wantProblem{{"bad.yaml:5:5", "export[0]", "needs a directory or a url"}}},
		{"token file for a directory", zoneDocHead + "export:\n  - {format: csv, directory: out, token_file: t}\n",
			[]wantProblem{{"bad.yaml:5:35", "export[0].token_file", "only applies to a url target"}}},
		{"client certificate without its key", zoneDocHead + "export:\n  - {format: json, url: \"https://c.example/in\", cert_file: c.pem}\n",
			[]wantProblem{{"bad.yaml:5:5", "export[0]", "cert_file and key_file go together"}}},
		{"missing export format", zoneDocHead + "export:\n  - {directory: out}\n",
			[]wantProblem{{"bad.yaml:5:5", "export[0].format", "required"}}},
		{"cron with 4 fields", zoneDocHead + "schedule:\n  cron: \"0 2 * *\"\n",
			[]wantProblem{{"bad.yaml:5:9", "schedule.cron", "has 4 fields, want 5"}}},
		{"cron hour 25", zoneDocHead + "schedule:\n  cron: \"0 25 * * *\"\n",
			[]wantProblem{{"bad.yaml:5:9", "schedule.cron", `hour field "25": 25 out of range 0-23`}}},
		{"interval and cron", zoneDocHead + "schedule:\n  interval: 1h\n  cron: \"0 2 * * *\"\n",
			[]wantProblem{{"bad.yaml:6:3", "schedule.cron", "either interval or cron, not both"}}},
		{"bad maintenance day", zoneDocHead + "schedule:\n  maintenance_windows: [{days: [sat, funday], start: \"02:00\", end: \"04:00\"}]\n",
			[]wantProblem{{"bad.yaml:5:38", "schedule.maintenance_windows[0].days[1]", `unknown day "funday"`}}},
		{"bad maintenance time", zoneDocHead + "schedule:\n  maintenance_windows: [{start: \"25:00\", end: \"04:00\"}]\n",
			[]wantProblem{{"bad.yaml:5:33", "schedule.maintenance_windows[0].start", `invalid time "25:00"`}}},
		{"empty maintenance window", zoneDocHead + "schedule:\n  maintenance_windows: [{start: \"02:00\", end: \"02:00\"}]\n",
			[]wantProblem{{"bad.yaml:5:42", "schedule.maintenance_windows[0].end", "end equals start"}}},
		{"register entry without ip or mac", zoneDocHead + "  assets: [{name: plc}]\n",
			[]wantProblem{{"bad.yaml:4:12", "zone.assets[0]", "needs an ip or a mac"}}},
		{"register bad MAC", zoneDocHead + "  assets: [{ip: 10.10.2.1, mac: \"00:11:22:33:44\"}]\n",
			[]wantProblem{{"bad.yaml:4:33", "zone.assets[0].mac", `invalid MAC address "00:11:22:33:44"`}}},
		{"register duplicate inline IP", zoneDocHead + "  assets:\n    - {ip: 10.10.2.1, name: a}\n    - {ip: 10.10.2.1, name: b}\n",
			[]wantProblem{{"bad.yaml:6:12", "zone.assets[1]", "duplicate IP 10.10.2.1 in the asset register (already at bad.yaml:5:12)"}}},
		{"CSV missing", zoneDocHead + "  asset_register_csv: missing.csv\n",
			[]wantProblem{{"bad.yaml:4:23", "zone.asset_register_csv", "no such file or directory"}}},
		{"CSV bad rows", zoneDocHead + "  asset_register_csv: register-bad.csv\n",
			[]wantProblem{
				{filepath.Join("testdata", "register-bad.csv") + ":3:1", "ip", `invalid IP address "10.10.2.300"`},
				{filepath.Join("testdata", "register-bad.csv") + ":4:12", "mac", `invalid MAC address "00:11:22:33:44"`},
				{filepath.Join("testdata", "register-bad.csv") + ":5", "", "4 fields, the header has 3"},
			}},
		{"CSV duplicate IP", zoneDocHead + "  asset_register_csv: register-dup.csv\n",
			[]wantProblem{{filepath.Join("testdata", "register-dup.csv") + ":4:1", "ip",
				"duplicate IP 10.10.2.40 in the asset register (already at " + filepath.Join("testdata", "register-dup.csv") + ":2:1)"}}},
		{"CSV duplicates inline entry", zoneDocHead + "  assets: [{ip: 10.10.2.10}]\n  asset_register_csv: register-dup-inline.csv\n",
			[]wantProblem{{filepath.Join("testdata", "register-dup-inline.csv") + ":2:1", "ip",
				"duplicate IP 10.10.2.10 in the asset register (already at bad.yaml:4:17)"}}},
		{"unknown capture backend", zoneDocHead + "capture:\n  backend: pfring\n",
			[]wantProblem{{"bad.yaml:5:12", "capture.backend", `unknown capture backend "pfring" (want one of socket, afpacket)`}}},
		{"YAML syntax error", zoneDocHead + "  cidrs: [10.0.0.0/8\ncapture: {}\n",
			[]wantProblem{{"bad.yaml:4", "", "YAML syntax: did not find expected ',' or ']'"}}},
		// yaml.v3 gives parser errors 0-based lines; these pin the fix-up.
		{"unclosed flow list", "version: 1\nzone: [1\n",
			[]wantProblem{{"bad.yaml:2", "", "YAML syntax: did not find expected ',' or ']'"}}},
		{"bad block indentation", zoneDocHead + "  cidrs:\n  - a\n - b\n",
			[]wantProblem{{"bad.yaml:6", "", "YAML syntax: did not find expected key"}}},
		{"tab indentation", "version: 1\nzone:\n\tname: a\n",
			[]wantProblem{{"bad.yaml:3", "", "YAML syntax: found character that cannot start any token"}}},
		{"repeated key", zoneDocHead + "  name: cell-2\n",
			[]wantProblem{{"bad.yaml:4:3", "zone.name", "repeated key (first set at line 3)"}}},
		{"list where a mapping belongs", zoneDocHead + "active: [enabled]\n",
			[]wantProblem{{"bad.yaml:4:9", "active", "want a mapping, got a list"}}},
		{"string where a list belongs", zoneDocHead + "  cidrs: 10.0.0.0/8\n",
			[]wantProblem{{"bad.yaml:4:10", "zone.cidrs", `want a list, got string "10.0.0.0/8"`}}},
		{"empty document", "# nothing\n",
			[]wantProblem{{"bad.yaml", "", "empty configuration"}}},
		{"two documents", zoneDocHead + "---\nversion: 1\n",
			[]wantProblem{{"bad.yaml:4:1", "", "a second YAML document"}}},
		{"conduit without peer ranges", zoneDocHead + "  conduits: [{name: c1, peer_zone: dmz, protocols: [opcua]}]\n",
			[]wantProblem{{"bad.yaml:4:14", "zone.conduits[0].peer_cidrs", "required"}}},
		{"conduit declared twice", zoneDocHead + "  conduits:\n    - {name: c1, peer_zone: dmz, peer_cidrs: [10.2.0.0/16], protocols: [opcua]}\n    - {name: c1, peer_zone: dmz, peer_cidrs: [10.3.0.0/16], protocols: [opcua]}\n",
			[]wantProblem{{"bad.yaml:6:7", "zone.conduits[1].name", `conduit "c1" declared twice`}}},
		{"bad protocol name", zoneDocHead + "  allowed_protocols: [modbus, \"s7 comm\"]\n",
			[]wantProblem{{"bad.yaml:4:31", "zone.allowed_protocols[1]", `invalid protocol name "s7 comm"`}}},
		{"merge key", zoneDocHead + "active:\n  <<: {enabled: true}\n",
			[]wantProblem{{"bad.yaml:5:3", "active.<<", "merge keys are not supported"}}},
		{"recursive alias", zoneDocHead + "active: &a\n  workarounds: *a\n",
			[]wantProblem{{"bad.yaml:5:3", "active.workarounds.workarounds", "unknown key"}}},
		{"SNMPv3 unknown protocol", zoneDocHead + "credentials:\n  snmp:\n    v3_users: [{name: m, auth_protocol: SHA1, auth_password: Xq7-secret-pw}]\n",
			[]wantProblem{{"bad.yaml:6:41", "credentials.snmp.v3_users[0].auth_protocol", `unknown protocol "SHA1"`}}},
		{"SNMPv3 priv without auth", zoneDocHead + "credentials:\n  snmp:\n    v3_users: [{name: m, priv_protocol: AES, priv_password: Xq7-secret-pw}]\n",
			[]wantProblem{{"bad.yaml:6:26", "credentials.snmp.v3_users[0].priv_protocol", "privacy needs authentication"}}},
		{"empty community", zoneDocHead + "credentials:\n  snmp: {communities: [\"\"]}\n",
			[]wantProblem{{"bad.yaml:5:24", "credentials.snmp.communities[0]", "empty community"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertProblems(t, parseZoneProblems(t, tt.doc), tt.want)
		})
	}
}

// TestParseReportsEveryProblem: one file with mistakes in every section
// gets all of them back, in file order, the register CSV's last.
func TestParseReportsEveryProblem(t *testing.T) {
	doc := `version: 3
zone:
  cidrs: [10.0.0.0/33]
  sl_target: {UC: 9}
  asset_register_csv: register-bad.csv
  colour: red
active:
  timeout: soon
  concurrency: 2000
schedule:
  cron: "* * * *"
export:
  - {format: json, url: "http://x.example/"}
`
	csv := filepath.Join("testdata", "register-bad.csv")
	assertProblems(t, parseZoneProblems(t, doc), []wantProblem{
		{"bad.yaml:1:10", "version", "unsupported version 3"},
		{"bad.yaml:3:3", "zone.name", "required"},
		{"bad.yaml:3:11", "zone.cidrs[0]", "invalid CIDR"},
		{"bad.yaml:4:19", "zone.sl_target.UC", "9 out of range 1-4"},
		{"bad.yaml:6:3", "zone.colour", "unknown key"},
		{"bad.yaml:8:12", "active.timeout", `invalid duration "soon"`},
		{"bad.yaml:9:16", "active.concurrency", "2000 out of range 1-1024"},
		{"bad.yaml:11:9", "schedule.cron", "has 4 fields"},
		{"bad.yaml:13:25", "export[0].url", "must use https"},
		{csv + ":3:1", "ip", "invalid IP address"},
		{csv + ":4:12", "mac", "invalid MAC address"},
		{csv + ":5", "", "4 fields"},
	})
}

func TestConfigErrorPrintsOneProblemPerLine(t *testing.T) {
	err := &ConfigError{Problems: []Problem{
		{File: "zone.yaml", Line: 12, Column: 5, Field: "zone.cidrs[1]", Message: `invalid CIDR "10.0.0.0/33"`},
		{File: "zone.yaml", Line: 3, Message: "YAML syntax: bad"},
		{File: "zone.yaml", Message: "empty configuration"},
	}}
	want := "zone.yaml:12:5: zone.cidrs[1]: invalid CIDR \"10.0.0.0/33\"\n" +
		"zone.yaml:3: YAML syntax: bad\n" +
		"zone.yaml: empty configuration"
	if got := err.Error(); got != want {
		t.Errorf("Error() =\n%s\nwant\n%s", got, want)
	}
}

func TestLoadResolvesPathsAgainstTheFile(t *testing.T) {
	path := filepath.Join("testdata", "full.yaml")
	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	if cfg.Path != path {
		t.Errorf("Path = %q, want %q", cfg.Path, path)
	}
	checks := []struct{ what, got, want string }{
		{"capture file", cfg.Capture.Files[0], filepath.Join("testdata", "captures", "line1.pcapng")},
		{"absolute capture dir", cfg.Capture.Files[1], "/abs/rotated"},
		{"register CSV", cfg.Zone.AssetRegisterCSV, filepath.Join("testdata", "register.csv")},
		{"export directory", cfg.Export[0].Directory, filepath.Join("testdata", "outbox")},
		{"absolute token file", cfg.Export[1].TokenFile, "/etc/otaudit/token"},
		{"CA file", cfg.Export[1].CAFile, filepath.Join("testdata", "ca.pem")},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
}

func TestLoadDecodesEverySection(t *testing.T) {
	cfg, err := Load(filepath.Join("testdata", "full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Active
	if !a.Enabled || !a.PassiveFirst || a.PerDevicePPS != 0.5 || a.PerZonePPS != 50 || a.Concurrency != 8 ||
		a.Timeout.String() != "2s" || a.Retries != 2 {
		t.Errorf("active = %+v", a)
	}
	if g := a.CredentialGuessing; !g.Enabled || g.MaxAttemptsPerDevice != 5 || g.Delay.String() != "1.5s" {
		t.Errorf("credential guessing = %+v", g)
	}
	if w := a.Workarounds; w.PauseAfterConnect.String() != "250ms" || w.PauseBetweenRequests.String() != "50ms" {
		t.Errorf("workarounds = %+v", w)
	}
	if !a.Excluded(mustAddr(t, "10.10.2.99")) || a.Excluded(mustAddr(t, "10.10.2.98")) {
		t.Errorf("Excluded disagrees with exclude: %v", a.Exclude)
	}
	u := cfg.Credentials.SNMP.V3Users
	if len(u) != 2 || u[0].AuthProtocol != "SHA" || u[0].PrivProtocol != "AES" || u[0].AuthPassword.Reveal() != "Xq7-auth-secret-9f" || u[1].AuthProtocol != "" {
		t.Errorf("v3 users = %+v", u)
	}
	if s := cfg.Schedule; s.Cron != "0 2 * * mon-fri" || s.Interval != 0 || len(s.MaintenanceWindows) != 2 {
		t.Errorf("schedule = %+v", s)
	}
	if e := cfg.Export; len(e) != 2 || e[1].Format != "ocsf" || e[1].URL != "https://assess.example/ingest" {
		t.Errorf("export = %+v", e)
	}
	if got := strings.Join(cfg.Zone.AllowedProtocols, ","); got != "modbus,opcua,snmp,ntp" {
		t.Errorf("allowed protocols = %s, want lower-cased modbus,opcua,snmp,ntp", got)
	}
	if cfg.Zone.Assets[0].Firmware != "3.10" {
		t.Errorf("firmware = %q, want \"3.10\" as written", cfg.Zone.Assets[0].Firmware)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "absent.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a missing file: %v, want fs.ErrNotExist", err)
	}
}

func TestLoadRejectsOversizedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "huge.yaml")
	if err := os.WriteFile(path, make([]byte, maxConfigBytes+1), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	var ce *ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Load of an oversized file: %v", err)
	}
}

// TestActiveDefaultsFillGaps: a zone file that enables probing without
// rates gets the conservative defaults, not zeros.
func TestActiveDefaultsFillGaps(t *testing.T) {
	cfg, err := Parse("min.yaml", []byte(zoneDocHead+"active: {enabled: true, concurrency: 2}\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	want := Default().Active
	want.Enabled, want.Concurrency = true, 2
	if got := cfg.Active; got.PerDevicePPS != want.PerDevicePPS || got.PerZonePPS != want.PerZonePPS ||
		got.Concurrency != 2 || got.Timeout != want.Timeout || got.Retries != want.Retries ||
		got.CredentialGuessing != want.CredentialGuessing || !got.Enabled {
		t.Errorf("active = %+v, want %+v", got, want)
	}
	if cfg.Zone.PurdueLevel != -1 {
		t.Errorf("purdue level without the key = %d, want -1", cfg.Zone.PurdueLevel)
	}
	for _, fr := range cfg.Zone.SLTarget {
		if fr != 2 {
			t.Fatalf("SL-T without sl_target = %v, want 2 everywhere", cfg.Zone.SLTarget)
		}
	}
}

func TestAliasesAreFollowed(t *testing.T) {
	doc := zoneDocHead + "  cidrs: &cell [10.10.0.0/16]\n  engineering_workstations: *cell\n"
	cfg, err := Parse("alias.yaml", []byte(doc), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Zone.EngineeringWorkstations) != 1 || cfg.Zone.EngineeringWorkstations[0].String() != "10.10.0.0/16" {
		t.Errorf("aliased list = %v", cfg.Zone.EngineeringWorkstations)
	}
}

// TestAliasExpansionIsBounded: the walk follows aliases itself, so a file
// that dereferences more than the budget stops with one problem instead of
// multiplying work.
func TestAliasExpansionIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString(zoneDocHead + "  assets:\n    - &dev {mac: \"00:11:22:33:44:55\"}\n")
	for range maxAliasExpansions + 500 {
		b.WriteString("    - *dev\n")
	}
	problems := parseZoneProblems(t, b.String())
	at := fmt.Sprintf("bad.yaml:%d:7", 6+maxAliasExpansions)
	assertProblems(t, problems, []wantProblem{{at, fmt.Sprintf("zone.assets[%d]", maxAliasExpansions+1), "more than 1000 alias expansions"}})
}
