package configs

import (
	"fmt"
	"net/netip"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/otaudit/otaudit"
)

// defaultSLTarget is the target security level of every foundational
// requirement a file does not set: SL 2 (protection against intentional
// violation with simple means) is the usual floor for a control zone.
const defaultSLTarget = 2

// maxRemoteSessionMinutes bounds max_remote_session_minutes at one week;
// anything longer is a typo for "no limit", which is 0 or leaving it out.
const maxRemoteSessionMinutes = 7 * 24 * 60

// ZoneConfig is the zone section as written, validated. ZoneModel turns it
// into the otaudit.Zone the checks use.
type ZoneConfig struct {
	Name        string `json:"name" yaml:"name"`
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
	// CIDRs are the zone's ranges; none puts everything seen in scope.
	CIDRs []netip.Prefix `json:"cidrs,omitempty" yaml:"cidrs,omitempty"`
	// PurdueLevel is 0–5, -1 when the file does not say.
	PurdueLevel int  `json:"purdue_level" yaml:"purdue_level"`
	Safety      bool `json:"safety" yaml:"safety"`
	// SLTarget is complete: levels the file leaves out are filled in.
	SLTarget                otaudit.SLVector `json:"sl_target" yaml:"sl_target"`
	EngineeringWorkstations []netip.Prefix   `json:"engineering_workstations,omitempty" yaml:"engineering_workstations,omitempty"`
	RemoteAccessGateways    []netip.Prefix   `json:"remote_access_gateways,omitempty" yaml:"remote_access_gateways,omitempty"`
	// AllowedProtocols are lower-case protocol names; none restricts nothing.
	AllowedProtocols        []string          `json:"allowed_protocols,omitempty" yaml:"allowed_protocols,omitempty"`
	MaxRemoteSessionMinutes int               `json:"max_remote_session_minutes,omitempty" yaml:"max_remote_session_minutes,omitempty"`
	Conduits                []otaudit.Conduit `json:"conduits,omitempty" yaml:"conduits,omitempty"`
	// Assets is the inline register, nil when the file has none. MACs are
	// lower-case and colon-separated.
	Assets []otaudit.RegisteredAsset `json:"assets,omitempty" yaml:"assets,omitempty"`
	// AssetRegisterCSV is the register file, resolved against the
	// configuration's directory; "" when none.
	AssetRegisterCSV string `json:"asset_register_csv,omitempty" yaml:"asset_register_csv,omitempty"`
	// Attestations and compensating countermeasures for requirements the
	// network cannot show; IDs are checked for shape here and against the
	// requirement table by package checks.
	Attestations []otaudit.Attestation `json:"attestations,omitempty" yaml:"attestations,omitempty"`

	origins zoneOrigins
}

// zoneOrigins remembers where register entries were written, so problems
// found when the register is merged (duplicates, a CSV gone missing) point
// at the right line even after Parse has returned.
type zoneOrigins struct {
	assets      []position // parallel to ZoneConfig.Assets
	registerCSV position
}

func (d *configDecoder) zone(n *yaml.Node, field string, z *ZoneConfig) {
	// Resolve once: every alias dereference counts against the budget.
	n = d.resolve(n, field)
	var (
		zoneSL        slSetting
		conduitSL     []slSetting
		conduitFields []string
	)
	seen := d.mapping(n, field, map[string]fieldHandler{
		"name":        func(n *yaml.Node, f string) { z.Name = d.zoneName(n, f) },
		"description": func(n *yaml.Node, f string) { z.Description = d.str(n, f) },
		"cidrs":       func(n *yaml.Node, f string) { z.CIDRs = d.prefixes(n, f) },
		"purdue_level": func(n *yaml.Node, f string) {
			if v, ok := d.intIn(n, f, 0, 5); ok {
				z.PurdueLevel = v
			}
		},
		"safety":                   func(n *yaml.Node, f string) { z.Safety = d.boolean(n, f) },
		"sl_target":                func(n *yaml.Node, f string) { zoneSL = d.slTarget(n, f) },
		"engineering_workstations": func(n *yaml.Node, f string) { z.EngineeringWorkstations = d.prefixes(n, f) },
		"remote_access_gateways":   func(n *yaml.Node, f string) { z.RemoteAccessGateways = d.prefixes(n, f) },
		"allowed_protocols":        func(n *yaml.Node, f string) { z.AllowedProtocols = d.protocols(n, f) },
		"max_remote_session_minutes": func(n *yaml.Node, f string) {
			if v, ok := d.intIn(n, f, 0, maxRemoteSessionMinutes); ok {
				z.MaxRemoteSessionMinutes = v
			}
		},
		"conduits": func(n *yaml.Node, f string) {
			z.Conduits = []otaudit.Conduit{}
			d.sequence(n, f, func(e *yaml.Node, ef string) {
				c, sl, ok := d.conduit(e, ef)
				if !ok {
					return
				}
				for i, prev := range z.Conduits {
					if prev.Name == c.Name {
						d.problemAt(d.resolve(e, ef), joinField(ef, "name"), "conduit %q declared twice (first is %s)", c.Name, indexField(f, i))
						return
					}
				}
				z.Conduits = append(z.Conduits, c)
				conduitSL = append(conduitSL, sl)
				conduitFields = append(conduitFields, ef)
			})
		},
		"assets": func(n *yaml.Node, f string) {
			z.Assets = []otaudit.RegisteredAsset{}
			d.sequence(n, f, func(e *yaml.Node, ef string) {
				a, at, ok := d.registeredAsset(e, ef)
				if ok {
					z.Assets = append(z.Assets, a)
					z.origins.assets = append(z.origins.assets, at)
				}
			})
		},
		"attestations": func(n *yaml.Node, f string) { z.Attestations = d.attestations(n, f) },
		"asset_register_csv": func(n *yaml.Node, f string) {
			z.AssetRegisterCSV = d.path(n, f)
			if s := d.resolve(n, f); s != nil {
				z.origins.registerCSV = d.pos(s)
				if z.AssetRegisterCSV == "" && s.Kind == yaml.ScalarNode {
					d.problemAt(s, f, "empty file name (leave the key out when there is no register file)")
				}
			}
		},
	})
	if seen == nil {
		return
	}
	if seen["name"] == nil {
		d.problemAt(n, joinField(field, "name"), "required")
	}
	var fallback otaudit.SLVector
	for i := range fallback {
		fallback[i] = defaultSLTarget
	}
	z.SLTarget = zoneSL.fill(fallback)
	// A conduit leaves out what it does not raise or lower: it inherits the
	// zone's target for those requirements.
	for i := range z.Conduits {
		z.Conduits[i].SLTarget = conduitSL[i].fill(z.SLTarget)
	}
}

// zoneName checks a zone name: it keys stored scans and names export files,
// so it is kept to characters safe in both.
func (d *configDecoder) zoneName(n *yaml.Node, field string) string {
	name := d.str(n, field)
	if name == "" {
		if s := d.resolve(n, field); s != nil && s.Kind == yaml.ScalarNode {
			d.problemAt(s, field, "required")
		}
		return ""
	}
	if !validZoneName(name) {
		d.problemAt(d.resolve(n, field), field, "invalid zone name %q (want 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit)", name)
		return ""
	}
	return name
}

func validZoneName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case i > 0 && (r == '.' || r == '_' || r == '-'):
		default:
			return false
		}
	}
	return true
}

// slSetting is an sl_target mapping as written: explicit levels per FR
// (0 = not set) and the "default" level for the rest (0 = not given).
type slSetting struct {
	levels otaudit.SLVector
	dflt   int
}

// fill completes the setting: unset FRs take "default" if given, else the
// fallback vector.
func (s slSetting) fill(fallback otaudit.SLVector) otaudit.SLVector {
	out := s.levels
	for i := range out {
		if out[i] != 0 {
			continue
		}
		if s.dflt != 0 {
			out[i] = s.dflt
		} else {
			out[i] = fallback[i]
		}
	}
	return out
}

// slTarget decodes {default: 2, IAC: 3, FR5: 4}. Each FR may be named by its
// abbreviation or its number, but only once.
func (d *configDecoder) slTarget(n *yaml.Node, field string) slSetting {
	var s slSetting
	var setBy [7]string
	level := func(n *yaml.Node, f string) int {
		v, ok := d.intIn(n, f, 1, 4)
		if !ok {
			return 0
		}
		return v
	}
	handlers := map[string]fieldHandler{
		"default": func(n *yaml.Node, f string) { s.dflt = level(n, f) },
	}
	for _, fr := range otaudit.FRs {
		for _, key := range []string{fr.Code(), fr.String()} {
			handlers[key] = func(n *yaml.Node, f string) {
				i := int(fr) - 1
				if setBy[i] != "" {
					d.problemAt(d.resolve(n, f), f, "%s is %s, already set as %s", key, fr, setBy[i])
					return
				}
				setBy[i] = key
				s.levels[i] = level(n, f)
			}
		}
	}
	d.mapping(n, field, handlers)
	return s
}

func (d *configDecoder) conduit(n *yaml.Node, field string) (c otaudit.Conduit, sl slSetting, ok bool) {
	before := len(d.problems)
	at := d.resolve(n, field)
	seen := d.mapping(at, field, map[string]fieldHandler{
		"name":       func(n *yaml.Node, f string) { c.Name = d.str(n, f) },
		"peer_zone":  func(n *yaml.Node, f string) { c.PeerZone = d.zoneName(n, f) },
		"peer_cidrs": func(n *yaml.Node, f string) { c.PeerCIDRs = d.prefixes(n, f) },
		"protocols":  func(n *yaml.Node, f string) { c.Protocols = d.protocols(n, f) },
		"sl_target":  func(n *yaml.Node, f string) { sl = d.slTarget(n, f) },
	})
	if seen == nil {
		return c, sl, false
	}
	if c.Name == "" && !hasProblemAt(d.problems[before:], joinField(field, "name")) {
		d.problemAt(keyOr(seen["name"], at), joinField(field, "name"), "required")
	}
	if c.PeerZone == "" && !hasProblemAt(d.problems[before:], joinField(field, "peer_zone")) {
		d.problemAt(keyOr(seen["peer_zone"], at), joinField(field, "peer_zone"), "required")
	}
	// A conduit without peer ranges can never match a flow, and one without
	// protocols allows nothing: either is a conduit that is not one.
	if len(c.PeerCIDRs) == 0 && !hasProblemAt(d.problems[before:], joinField(field, "peer_cidrs")) {
		d.problemAt(keyOr(seen["peer_cidrs"], at), joinField(field, "peer_cidrs"), "required: at least one address or CIDR of the peer zone")
	}
	if len(c.Protocols) == 0 && !hasProblemAt(d.problems[before:], joinField(field, "protocols")) {
		d.problemAt(keyOr(seen["protocols"], at), joinField(field, "protocols"), "required: at least one protocol (or * for any)")
	}
	return c, sl, len(d.problems) == before
}

func keyOr(key, fallback *yaml.Node) *yaml.Node {
	if key != nil {
		return key
	}
	return fallback
}

// hasProblemAt reports whether a problem was already recorded for field or
// one of its elements, so "required" is not piled on top of "invalid".
func hasProblemAt(problems []Problem, field string) bool {
	for _, p := range problems {
		if p.Field == field || (len(p.Field) > len(field) && p.Field[:len(field)] == field && p.Field[len(field)] == '[') {
			return true
		}
	}
	return false
}

// registeredAsset decodes one inline register entry. at is where its IP (or,
// without one, the entry) was written, for duplicate reports.
func (d *configDecoder) registeredAsset(n *yaml.Node, field string) (a otaudit.RegisteredAsset, at position, ok bool) {
	before := len(d.problems)
	entry := d.resolve(n, field)
	var ipNode *yaml.Node
	seen := d.mapping(entry, field, map[string]fieldHandler{
		"ip": func(n *yaml.Node, f string) {
			ipNode = d.resolve(n, f)
			if s := d.str(n, f); s != "" {
				ip, msg := parseHostAddr(s)
				if msg != "" {
					d.problemAt(ipNode, f, "%s", msg)
				}
				a.IP = ip
			}
		},
		"mac": func(n *yaml.Node, f string) {
			if s := d.str(n, f); s != "" {
				mac, err := normalizeMAC(s)
				if err != nil {
					d.problemAt(d.resolve(n, f), f, "%v", err)
				}
				a.MAC = mac
			}
		},
		"name":     func(n *yaml.Node, f string) { a.Name = d.str(n, f) },
		"vendor":   func(n *yaml.Node, f string) { a.Vendor = d.str(n, f) },
		"model":    func(n *yaml.Node, f string) { a.Model = d.str(n, f) },
		"firmware": func(n *yaml.Node, f string) { a.Firmware = d.str(n, f) },
		"role":     func(n *yaml.Node, f string) { a.Role = d.str(n, f) },
	})
	if seen == nil {
		return a, at, false
	}
	if len(d.problems) == before && !a.IP.IsValid() && a.MAC == "" {
		d.problemAt(entry, field, "a register entry needs an ip or a mac")
	}
	at = d.pos(entry)
	if ipNode != nil {
		at = d.pos(ipNode)
	}
	return a, at, len(d.problems) == before
}

// parseHostAddr parses a single register address.
func parseHostAddr(s string) (netip.Addr, string) {
	ip, err := netip.ParseAddr(s)
	if err != nil || ip.Zone() != "" {
		return netip.Addr{}, fmt.Sprintf("invalid IP address %q", s)
	}
	return ip.Unmap(), ""
}

// ZoneModel converts the zone section to the root type the checks use. It
// reads the register CSV again, so a long-running agent scores against the
// register as it is now; Load has already checked it once, so a failure here
// means the file changed since, and comes back as a *ConfigError naming the
// CSV line.
func (c *Config) ZoneModel() (otaudit.Zone, error) {
	z := c.Zone
	register, problems := z.register(c.Path)
	if len(problems) > 0 {
		sortProblems(problems)
		return otaudit.Zone{}, &ConfigError{Problems: problems}
	}
	conduits := make([]otaudit.Conduit, len(z.Conduits))
	for i, cd := range z.Conduits {
		cd.PeerCIDRs = slices.Clone(cd.PeerCIDRs)
		cd.Protocols = slices.Clone(cd.Protocols)
		conduits[i] = cd
	}
	if len(conduits) == 0 {
		conduits = nil
	}
	return otaudit.Zone{
		Name:                    z.Name,
		Description:             z.Description,
		CIDRs:                   slices.Clone(z.CIDRs),
		SLTarget:                z.SLTarget,
		PurdueLevel:             z.PurdueLevel,
		Safety:                  z.Safety,
		EngineeringHosts:        slices.Clone(z.EngineeringWorkstations),
		JumpHosts:               slices.Clone(z.RemoteAccessGateways),
		AllowedProtocols:        slices.Clone(z.AllowedProtocols),
		Conduits:                conduits,
		Register:                register,
		MaxRemoteSessionMinutes: z.MaxRemoteSessionMinutes,
		MaintenanceWindows:      zoneWindows(c.Schedule.MaintenanceWindows),
		Attestations:            slices.Clone(z.Attestations),
	}, nil
}
