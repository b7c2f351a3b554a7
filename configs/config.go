package configs

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/otaudit/otaudit"
)

// DefaultConfigPath is Config.Path of the embedded default configuration.
const DefaultConfigPath = "<embedded default>"

// maxConfigBytes bounds what Load reads: a zone file is a few kilobytes, and
// a bound keeps a wrong --config (a capture, /dev/zero) from eating memory.
const maxConfigBytes = 8 << 20

//go:embed default.yaml
var embeddedDefaultConfig []byte

// Config is one zone's configuration: what the zone is, where its traffic
// comes from, whether and how gently devices may be probed, the credentials
// for those probes, when to scan and where to send results.
type Config struct {
	Version     int               `json:"version" yaml:"version"`
	Zone        ZoneConfig        `json:"zone" yaml:"zone"`
	Capture     CaptureConfig     `json:"capture" yaml:"capture"`
	Active      ActiveConfig      `json:"active" yaml:"active"`
	Credentials CredentialsConfig `json:"credentials" yaml:"credentials"`
	Schedule    ScheduleConfig    `json:"schedule" yaml:"schedule"`
	Export      []ExportTarget    `json:"export,omitempty" yaml:"export,omitempty"`
	// Path is the file the configuration came from, DefaultConfigPath for
	// the embedded default.
	Path string `json:"path" yaml:"path"`
}

// CaptureConfig names the passive inputs.
type CaptureConfig struct {
	// Files are capture files or directories of them, resolved against the
	// configuration file's directory. They are not checked at load time:
	// a rotating capture directory may legitimately be empty until later.
	Files []string `json:"files,omitempty" yaml:"files,omitempty"`
	// Interface is a live capture interface (a SPAN or mirror port): each
	// scheduled run also captures on it, receive-only.
	Interface string `json:"interface,omitempty" yaml:"interface,omitempty"`
	// Backend is how live frames come from the kernel: "socket" (pure Go,
	// the default when empty) or "afpacket" (a shared-memory ring, only
	// in builds with the afpacket tag).
	Backend string `json:"backend,omitempty" yaml:"backend,omitempty"`
}

// CaptureBackends are the values capture.backend accepts.
var CaptureBackends = []string{"socket", "afpacket"}

// ActiveConfig says whether devices may be queried and how gently. Fields
// absent from the file keep the conservative values of the embedded default.
type ActiveConfig struct {
	Enabled bool `json:"enabled" yaml:"enabled"`
	// Targets are the addresses that may be probed.
	Targets []netip.Prefix `json:"targets,omitempty" yaml:"targets,omitempty"`
	// Exclude are fragile devices that are never probed, whatever Targets
	// says.
	Exclude []netip.Prefix `json:"exclude,omitempty" yaml:"exclude,omitempty"`
	// PassiveFirst: probe only devices already seen passively.
	PassiveFirst bool `json:"passive_first" yaml:"passive_first"`
	// ARPSweep asks every target on a directly attached link with one ARP
	// request before probing, so that empty addresses are skipped at the
	// cost of one broadcast each (default on; needs CAP_NET_RAW).
	ARPSweep bool `json:"arp_sweep" yaml:"arp_sweep"`
	// PerDevicePPS and PerZonePPS are request-rate limits in packets per
	// second; fractions are allowed for very fragile devices.
	PerDevicePPS float64 `json:"per_device_pps" yaml:"per_device_pps"`
	PerZonePPS   float64 `json:"per_zone_pps" yaml:"per_zone_pps"`
	// Concurrency bounds devices probed at once.
	Concurrency        int                      `json:"concurrency" yaml:"concurrency"`
	Timeout            time.Duration            `json:"timeout" yaml:"timeout"`
	Retries            int                      `json:"retries" yaml:"retries"`
	CredentialGuessing CredentialGuessingConfig `json:"credential_guessing" yaml:"credential_guessing"`
	Workarounds        DeviceWorkarounds        `json:"workarounds" yaml:"workarounds"`
}

// Excluded reports whether ip must never be probed.
func (a *ActiveConfig) Excluded(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range a.Exclude {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// CredentialGuessingConfig bounds trying default credentials against a
// device, which can lock accounts out: few attempts, spaced apart.
type CredentialGuessingConfig struct {
	Enabled              bool          `json:"enabled" yaml:"enabled"`
	MaxAttemptsPerDevice int           `json:"max_attempts_per_device" yaml:"max_attempts_per_device"`
	Delay                time.Duration `json:"delay" yaml:"delay"`
}

// DeviceWorkarounds are pauses for devices whose network stacks cannot keep
// up with back-to-back requests.
type DeviceWorkarounds struct {
	PauseAfterConnect    time.Duration `json:"pause_after_connect" yaml:"pause_after_connect"`
	PauseBetweenRequests time.Duration `json:"pause_between_requests" yaml:"pause_between_requests"`
}

// CredentialsConfig holds the credentials active collectors log in with.
// Every password and community string is an otaudit.Secret.
type CredentialsConfig struct {
	SNMP  SNMPCredentials  `json:"snmp" yaml:"snmp"`
	OPCUA OPCUACredentials `json:"opcua" yaml:"opcua"`
}

// SNMPCredentials are the communities (v1/v2c) and USM users (v3) to try.
type SNMPCredentials struct {
	Communities []otaudit.Secret `json:"communities,omitempty" yaml:"communities,omitempty"`
	V3Users     []SNMPv3User     `json:"v3_users,omitempty" yaml:"v3_users,omitempty"`
}

// SNMPv3User is a USM user. Protocols are upper-case names as gosnmp
// spells them (SHA, SHA256, AES, AES256, …); empty means noAuth / noPriv.
type SNMPv3User struct {
	Name         string         `json:"name" yaml:"name"`
	AuthProtocol string         `json:"auth_protocol,omitempty" yaml:"auth_protocol,omitempty"`
	AuthPassword otaudit.Secret `json:"auth_password" yaml:"auth_password"`
	PrivProtocol string         `json:"priv_protocol,omitempty" yaml:"priv_protocol,omitempty"`
	PrivPassword otaudit.Secret `json:"priv_password" yaml:"priv_password"`
}

// OPCUACredentials are the user identities to open OPC UA sessions with.
type OPCUACredentials struct {
	Users []OPCUAUser `json:"users,omitempty" yaml:"users,omitempty"`
}

// OPCUAUser is a user-name identity token.
type OPCUAUser struct {
	Username string         `json:"username" yaml:"username"`
	Password otaudit.Secret `json:"password" yaml:"password"`
}

// ExportTarget is where a scan's results go: a local directory or an HTTPS
// endpoint, in one format.
type ExportTarget struct {
	// Format is json, csv, ocsf, defectdojo or cyclonedx.
	Format string `json:"format" yaml:"format"`
	// Exactly one of Directory and URL is set. URL is always https.
	Directory string `json:"directory,omitempty" yaml:"directory,omitempty"`
	URL       string `json:"url,omitempty" yaml:"url,omitempty"`
	// TokenFile holds the bearer token for URL; the token itself never
	// enters the configuration. CAFile pins the endpoint's CA ("" = system
	// roots). Both are resolved against the configuration file's directory.
	TokenFile string `json:"token_file,omitempty" yaml:"token_file,omitempty"`
	CAFile    string `json:"ca_file,omitempty" yaml:"ca_file,omitempty"`
	// CertFile and KeyFile are a client certificate for URL (both or
	// neither), for endpoints that authenticate agents by certificate.
	CertFile string `json:"cert_file,omitempty" yaml:"cert_file,omitempty"`
	KeyFile  string `json:"key_file,omitempty" yaml:"key_file,omitempty"`
}

// baseline is the configuration every file starts from before its own keys
// are applied: the conservative probing limits of the embedded default, so
// a zone file that enables active scanning without spelling out the rates
// gets the gentle ones. TestDefaultMatchesBaseline keeps default.yaml and
// this in step.
func baseline() Config {
	return Config{
		Zone: ZoneConfig{PurdueLevel: -1},
		Active: ActiveConfig{
			ARPSweep:     true,
			PerDevicePPS: 2,
			PerZonePPS:   20,
			Concurrency:  4,
			Timeout:      3 * time.Second,
			Retries:      1,
			CredentialGuessing: CredentialGuessingConfig{
				Enabled:              true,
				MaxAttemptsPerDevice: 3,
				Delay:                2 * time.Second,
			},
		},
	}
}

// Load reads, parses and validates the zone configuration at path. Relative
// paths inside it resolve against its directory. Problems with the content
// come back as a *ConfigError listing all of them; a file that cannot be read
// gives an error wrapping the os error (errors.Is(err, fs.ErrNotExist)).
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("load config %s: %w", path, err)
	}
	if len(data) > maxConfigBytes {
		return nil, &ConfigError{Problems: []Problem{{File: path,
			Message: fmt.Sprintf("larger than %d MiB: not a zone configuration", maxConfigBytes>>20)}}}
	}
	return Parse(path, data, filepath.Dir(path))
}

// Parse parses and validates a zone configuration. name labels problems (the
// file name, usually); relative paths inside resolve against baseDir ("" =
// the working directory). A YAML syntax error is reported alone, as yaml.v3
// cannot continue past it; otherwise every problem in the document is
// reported, as a *ConfigError.
func Parse(name string, data []byte, baseDir string) (*Config, error) {
	root, problem := parseYAMLDocument(name, data)
	if problem != nil {
		return nil, &ConfigError{Problems: []Problem{*problem}}
	}
	d := newConfigDecoder(name, baseDir)
	cfg := baseline()
	cfg.Path = name
	d.config(root, &cfg)
	// The register CSV is read here, not only in ZoneModel, so that a
	// broken register fails the load with everything else.
	_, registerProblems := cfg.Zone.register(cfg.Path)
	d.problems = append(d.problems, registerProblems...)
	if len(d.problems) > 0 {
		sortProblems(d.problems)
		return nil, &ConfigError{Problems: d.problems}
	}
	return &cfg, nil
}

// yamlErrorLine extracts the line yaml.v3 puts in its syntax errors.
var yamlErrorLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAMLDocument parses data into its single document's root node.
func parseYAMLDocument(name string, data []byte) (*yaml.Node, *Problem) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Problem{File: name, Message: "empty configuration: want at least version and zone"}
		}
		return nil, syntaxProblem(name, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, syntaxProblem(name, err)
	default:
		return nil, &Problem{File: name, Line: extra.Line, Column: extra.Column,
			Message: "a second YAML document: a zone configuration is one document (one zone per file)"}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, &Problem{File: name, Message: "empty configuration: want at least version and zone"}
	}
	return doc.Content[0], nil
}

// yamlParserProblems are yaml.v3's parser (not scanner) errors. For these
// it reports the 0-based line of the construct the error is in (and no line
// at all for the first), where scanner errors get a 1-based line; the
// difference is undone here so every problem has a 1-based line.
var yamlParserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

func syntaxProblem(name string, err error) *Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlErrorLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	if yamlParserProblems[msg] {
		line++
	}
	return &Problem{File: name, Line: line, Message: "YAML syntax: " + msg}
}

// config walks the document root.
func (d *configDecoder) config(root *yaml.Node, cfg *Config) {
	seen := d.mapping(root, "", map[string]fieldHandler{
		"version": func(n *yaml.Node, f string) {
			v, ok := d.integer(n, f)
			if ok && v != 1 {
				d.problemAt(d.resolve(n, f), f, "unsupported version %d (this otaudit reads version 1)", v)
			}
			cfg.Version = v
		},
		"zone":        func(n *yaml.Node, f string) { d.zone(n, f, &cfg.Zone) },
		"capture":     func(n *yaml.Node, f string) { d.capture(n, f, &cfg.Capture) },
		"active":      func(n *yaml.Node, f string) { d.active(n, f, &cfg.Active) },
		"credentials": func(n *yaml.Node, f string) { d.credentials(n, f, &cfg.Credentials) },
		"schedule":    func(n *yaml.Node, f string) { d.schedule(n, f, &cfg.Schedule) },
		"export":      func(n *yaml.Node, f string) { cfg.Export = d.exports(n, f) },
	})
	if seen == nil {
		return
	}
	if seen["version"] == nil {
		d.problemAt(root, "version", "required (version: 1)")
	}
	if seen["zone"] == nil {
		d.problemAt(root, "zone", "required (at least zone.name)")
	}
}

func (d *configDecoder) capture(n *yaml.Node, field string, c *CaptureConfig) {
	d.mapping(n, field, map[string]fieldHandler{
		"files": func(n *yaml.Node, f string) {
			for _, p := range d.strs(n, f) {
				c.Files = append(c.Files, resolvePath(d.baseDir, p))
			}
		},
		"interface": func(n *yaml.Node, f string) { c.Interface = d.str(n, f) },
		"backend": func(n *yaml.Node, f string) {
			c.Backend = d.str(n, f)
			if c.Backend != "" && !slices.Contains(CaptureBackends, c.Backend) {
				d.problemAt(d.resolve(n, f), f, "unknown capture backend %q (want one of %s)", c.Backend, strings.Join(CaptureBackends, ", "))
			}
		},
	})
}

// Default returns the embedded default configuration: one unbounded zone
// named "default" with SL-T 2, no register, active probing disabled. Each
// call returns a fresh copy the caller may change.
func Default() *Config {
	cfg, err := Parse(DefaultConfigPath, embeddedDefaultConfig, "")
	if err != nil {
		// The file is compiled in and TestDefault loads it: this is a
		// build defect, not an input error.
		panic("configs: embedded default.yaml is invalid: " + err.Error())
	}
	return cfg
}
