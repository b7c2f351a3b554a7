package configs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: no input panics, and every outcome is either a config with a
// valid zone name or a *ConfigError whose problems all name the file.
func FuzzParse(f *testing.F) {
	seeds := []string{"default.yaml", "example-plant.yaml", filepath.Join("testdata", "full.yaml")}
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(zoneDocHead + "active: &a\n  workarounds: *a\n"))
	f.Add([]byte("version: 1\nzone: {name: a, sl_target: {IAC: 9, FR1: 2}}\nschedule: {cron: '0 0-6/2 * * SUN'}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Relative paths resolve into testdata so a fuzzed register name
		// can only reach the fixtures.
		cfg, err := Parse("fuzz.yaml", data, "testdata")
		if err == nil {
			if cfg == nil || !validZoneName(cfg.Zone.Name) || cfg.Version != 1 {
				t.Fatalf("accepted config %+v", cfg)
			}
			return
		}
		var ce *ConfigError
		if !errors.As(err, &ce) || len(ce.Problems) == 0 {
			t.Fatalf("error %v is not a *ConfigError with problems", err)
		}
		for _, p := range ce.Problems {
			if p.File == "" || p.Message == "" {
				t.Fatalf("problem without file or message: %+v", p)
			}
		}
	})
}
