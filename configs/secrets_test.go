package configs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// fullYAMLSecrets are the secret values in testdata/full.yaml.
var fullYAMLSecrets = []string{
	"Xq7-community-PUBLIC-9f", "Xq7-community-PRIVATE-9f",
	"Xq7-auth-secret-9f", "Xq7-priv-secret-9f", "Xq7-opcua-secret-9f",
}

func TestLoadedSecretsNeverPrint(t *testing.T) {
	cfg, err := Load(filepath.Join("testdata", "full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// The values were loaded: a redaction test on empty secrets would
	// prove nothing.
	loaded := []string{
		cfg.Credentials.SNMP.Communities[0].Reveal(), cfg.Credentials.SNMP.Communities[1].Reveal(),
		cfg.Credentials.SNMP.V3Users[0].AuthPassword.Reveal(), cfg.Credentials.SNMP.V3Users[0].PrivPassword.Reveal(),
		cfg.Credentials.OPCUA.Users[0].Password.Reveal(),
	}
	if strings.Join(loaded, ",") != strings.Join(fullYAMLSecrets, ",") {
		t.Fatalf("loaded secrets = %q, want %q", loaded, fullYAMLSecrets)
	}

	renderings := map[string]string{
		"%v":  fmt.Sprintf("%v", cfg),
		"%+v": fmt.Sprintf("%+v", cfg),
		"%#v": fmt.Sprintf("%#v", cfg),
		"%s":  fmt.Sprintf("%s", cfg.Credentials),
		"*%v": fmt.Sprintf("%+v", *cfg),
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	renderings["json"] = string(js)
	ys, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	renderings["yaml"] = string(ys)
	for name, h := range map[string]func(*bytes.Buffer) slog.Handler{
		"slog text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		"slog json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	} {
		var b bytes.Buffer
		slog.New(h(&b)).Info("loaded", "config", cfg, "credentials", cfg.Credentials)
		renderings[name] = b.String()
	}

	for name, out := range renderings {
		for _, s := range fullYAMLSecrets {
			if strings.Contains(out, s) {
				t.Errorf("%s rendering shows secret %q", name, s)
			}
		}
		if !strings.Contains(out, "[redacted]") {
			t.Errorf("%s rendering has no [redacted] placeholder: the secrets did not print at all?\n%s", name, out)
		}
	}
}

// TestProblemsDoNotEchoSecrets: a mistake near a password is reported
// without quoting it.
func TestProblemsDoNotEchoSecrets(t *testing.T) {
	const secret = "Xq7-leak-9f"
	doc := zoneDocHead + `credentials:
  snmp:
    communities: [[` + secret + `]]
    v3_users:
      - {name: a, auth_protocol: SHA, auth_password: ` + secret[:6] + `}
      - {name: b, auth_password: ` + secret + `}
      - {name: c, pasword: ` + secret + `}
      - {name: d, auth_protocol: SHA, auth_password: {x: ` + secret + `}}
  opcua:
    users: [{username: op, password: [` + secret + `]}]
export:
  - {format: json, url: "https://op:` + secret + `@x.example/"}
`
	problems := parseZoneProblems(t, doc)
	if len(problems) != 7 {
		t.Errorf("%d problems, want one per mistake (7): %v", len(problems), problems)
	}
	for _, p := range problems {
		if strings.Contains(p.String(), secret[:6]) {
			t.Errorf("problem echoes the secret: %s", p)
		}
	}
}
