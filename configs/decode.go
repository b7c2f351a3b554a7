package configs

import (
	"fmt"
	"math"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/otaudit/otaudit"
)

// maxAliasExpansions bounds how many aliases one document may dereference.
// The walk follows aliases itself (yaml.v3 does not check them when decoding
// into a yaml.Node), so without a bound nested or self-referencing anchors
// would make it exponential or endless. Real zone files use a handful.
const maxAliasExpansions = 1000

// configDecoder walks a parsed YAML document and fills a Config, recording
// every problem with its position and field path instead of stopping at the
// first, so one run shows the operator everything to fix.
type configDecoder struct {
	file    string
	baseDir string

	problems []Problem

	aliasesLeft   int
	aliasExceeded bool
	// redact is set while walking the credentials section: problems there
	// describe what was wrong without echoing the value, which may be a
	// password typed into the wrong key.
	redact bool
}

func newConfigDecoder(file, baseDir string) *configDecoder {
	return &configDecoder{file: file, baseDir: baseDir, aliasesLeft: maxAliasExpansions}
}

// fieldHandler decodes the value of one key; field is its full path.
type fieldHandler func(value *yaml.Node, field string)

func (d *configDecoder) problemAt(n *yaml.Node, field, format string, args ...any) {
	p := Problem{File: d.file, Field: field, Message: fmt.Sprintf(format, args...)}
	if n != nil {
		p.Line, p.Column = n.Line, n.Column
	}
	d.problems = append(d.problems, p)
}

func (d *configDecoder) pos(n *yaml.Node) position {
	return position{file: d.file, line: n.Line, column: n.Column}
}

func joinField(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func indexField(parent string, i int) string { return fmt.Sprintf("%s[%d]", parent, i) }

// resolve follows aliases to the node they name. It returns nil, with the
// problem recorded once, when the document dereferences too many aliases.
func (d *configDecoder) resolve(n *yaml.Node, field string) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		if d.aliasesLeft <= 0 {
			if !d.aliasExceeded {
				d.aliasExceeded = true
				d.problemAt(n, field, "more than %d alias expansions (a recursive anchor?)", maxAliasExpansions)
			}
			return nil
		}
		d.aliasesLeft--
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what a node is for "want X, got Y" messages.
func (d *configDecoder) describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing"
		}
		kind := "string"
		switch n.ShortTag() {
		case "!!int":
			kind = "integer"
		case "!!float":
			kind = "number"
		case "!!bool":
			kind = "boolean"
		}
		if d.redact {
			return "a " + kind
		}
		return fmt.Sprintf("%s %q", kind, n.Value)
	}
	return "an unsupported YAML node"
}

// mapping walks the mapping n, handing each known key's value to its handler
// in document order. Unknown and repeated keys are problems. It returns the
// key nodes seen (nil if n is not a mapping), for "required" checks and to
// position problems found later. A null value counts as an empty mapping, so
// "capture:" with nothing under it is accepted.
func (d *configDecoder) mapping(n *yaml.Node, field string, handlers map[string]fieldHandler) map[string]*yaml.Node {
	n = d.resolve(n, field)
	if n == nil {
		return nil
	}
	seen := make(map[string]*yaml.Node)
	if isNull(n) {
		return seen
	}
	if n.Kind != yaml.MappingNode {
		d.problemAt(n, field, "want a mapping, got %s", d.describe(n))
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, value := n.Content[i], n.Content[i+1]
		if key.Kind != yaml.ScalarNode {
			d.problemAt(key, field, "keys must be plain words, got %s", d.describe(key))
			continue
		}
		name := key.Value
		sub := joinField(field, name)
		if name == "<<" {
			d.problemAt(key, sub, "merge keys are not supported: write the keys out")
			continue
		}
		if first, dup := seen[name]; dup {
			d.problemAt(key, sub, "repeated key (first set at line %d)", first.Line)
			continue
		}
		handle, known := handlers[name]
		if !known {
			d.problemAt(key, sub, "unknown key (want one of %s)", knownKeys(handlers))
			continue
		}
		seen[name] = key
		handle(value, sub)
	}
	return seen
}

func knownKeys(handlers map[string]fieldHandler) string {
	keys := make([]string, 0, len(handlers))
	for k := range handlers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return strings.Join(keys, ", ")
}

// sequence calls item for each element of the list n. A null value is an
// empty list. It reports whether n was a list (or null).
func (d *configDecoder) sequence(n *yaml.Node, field string, item func(n *yaml.Node, field string)) bool {
	n = d.resolve(n, field)
	if n == nil {
		return false
	}
	if isNull(n) {
		return true
	}
	if n.Kind != yaml.SequenceNode {
		d.problemAt(n, field, "want a list, got %s", d.describe(n))
		return false
	}
	for i, e := range n.Content {
		item(e, indexField(field, i))
	}
	return true
}

// scalar resolves n and checks that it is a single value.
func (d *configDecoder) scalar(n *yaml.Node, field, want string) (*yaml.Node, bool) {
	n = d.resolve(n, field)
	if n == nil {
		return nil, false
	}
	if n.Kind != yaml.ScalarNode {
		d.problemAt(n, field, "want %s, got %s", want, d.describe(n))
		return nil, false
	}
	return n, true
}

// str decodes a string. Any scalar is taken as written, so an unquoted
// firmware version "3.10" stays "3.10" rather than becoming the number 3.1;
// null is the empty string.
func (d *configDecoder) str(n *yaml.Node, field string) string {
	s, ok := d.scalar(n, field, "a string")
	if !ok || isNull(s) {
		return ""
	}
	return strings.TrimSpace(s.Value)
}

func (d *configDecoder) secret(n *yaml.Node, field string) otaudit.Secret {
	s, ok := d.scalar(n, field, "a string")
	if !ok || isNull(s) {
		return otaudit.Secret{}
	}
	return otaudit.NewSecret(s.Value)
}

func (d *configDecoder) boolean(n *yaml.Node, field string) bool {
	s, ok := d.scalar(n, field, "true or false")
	if !ok {
		return false
	}
	if s.ShortTag() != "!!bool" {
		d.problemAt(s, field, "want true or false, got %s", d.describe(s))
		return false
	}
	v, err := strconv.ParseBool(strings.ToLower(s.Value))
	if err != nil {
		d.problemAt(s, field, "want true or false, got %s", d.describe(s))
	}
	return v
}

// integer decodes a whole number; ok is false (with the problem recorded)
// when n is not one, so callers keep their default.
func (d *configDecoder) integer(n *yaml.Node, field string) (v int, ok bool) {
	s, ok := d.scalar(n, field, "an integer")
	if !ok {
		return 0, false
	}
	if s.ShortTag() != "!!int" {
		d.problemAt(s, field, "want an integer, got %s", d.describe(s))
		return 0, false
	}
	i, err := strconv.ParseInt(s.Value, 0, 32)
	if err != nil {
		d.problemAt(s, field, "want an integer, got %s", d.describe(s))
		return 0, false
	}
	return int(i), true
}

// intIn decodes an integer and checks it lies in [lo, hi].
func (d *configDecoder) intIn(n *yaml.Node, field string, lo, hi int) (int, bool) {
	v, ok := d.integer(n, field)
	if ok && (v < lo || v > hi) {
		d.problemAt(d.resolve(n, field), field, "%d out of range %d-%d", v, lo, hi)
		return 0, false
	}
	return v, ok
}

// number decodes an integer or decimal, for rates such as 0.5 packets/s.
func (d *configDecoder) number(n *yaml.Node, field string) (float64, bool) {
	s, ok := d.scalar(n, field, "a number")
	if !ok {
		return 0, false
	}
	switch s.ShortTag() {
	case "!!int", "!!float":
	default:
		d.problemAt(s, field, "want a number, got %s", d.describe(s))
		return 0, false
	}
	v, err := strconv.ParseFloat(s.Value, 64)
	if err != nil {
		// yaml integers may be 0x1F or 0o17, which ParseFloat refuses.
		i, ierr := strconv.ParseInt(s.Value, 0, 64)
		if ierr != nil {
			d.problemAt(s, field, "want a number, got %s", d.describe(s))
			return 0, false
		}
		v = float64(i)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		d.problemAt(s, field, "want a finite number, got %s", d.describe(s))
		return 0, false
	}
	return v, true
}

// duration decodes a Go duration ("2s", "500ms", "24h"). A bare 0 is
// accepted; any other bare number is a problem because its unit is a guess.
func (d *configDecoder) duration(n *yaml.Node, field string) (time.Duration, bool) {
	s, ok := d.scalar(n, field, "a duration")
	if !ok {
		return 0, false
	}
	v, err := time.ParseDuration(s.Value)
	if err != nil {
		d.problemAt(s, field, "invalid duration %q: want a number with a unit, e.g. 500ms, 2s, 24h", s.Value)
		return 0, false
	}
	return v, true
}

// positiveDuration is a duration that must be > 0 (timeouts, intervals).
func (d *configDecoder) positiveDuration(n *yaml.Node, field string) (time.Duration, bool) {
	v, ok := d.duration(n, field)
	if ok && v <= 0 {
		d.problemAt(d.resolve(n, field), field, "must be greater than 0, got %s", v)
		return 0, false
	}
	return v, ok
}

// nonNegativeDuration is a duration that may be 0 (pauses, delays).
func (d *configDecoder) nonNegativeDuration(n *yaml.Node, field string) (time.Duration, bool) {
	v, ok := d.duration(n, field)
	if ok && v < 0 {
		d.problemAt(d.resolve(n, field), field, "must not be negative, got %s", v)
		return 0, false
	}
	return v, ok
}

// strs decodes a list of non-empty strings.
func (d *configDecoder) strs(n *yaml.Node, field string) []string {
	out := []string{}
	d.sequence(n, field, func(e *yaml.Node, f string) {
		s, ok := d.scalar(e, f, "a string")
		if !ok {
			return
		}
		v := strings.TrimSpace(s.Value)
		if v == "" || isNull(s) {
			d.problemAt(s, f, "empty entry")
			return
		}
		out = append(out, v)
	})
	return out
}

// protocols decodes a list of application protocol names, lower-cased the
// way collectors name them ("modbus", "opcua", "s7comm"); "*" means any.
func (d *configDecoder) protocols(n *yaml.Node, field string) []string {
	var out []string
	d.sequence(n, field, func(e *yaml.Node, f string) {
		s, ok := d.scalar(e, f, "a protocol name")
		if !ok {
			return
		}
		p := strings.ToLower(strings.TrimSpace(s.Value))
		if !validProtocolName(p) {
			d.problemAt(s, f, "invalid protocol name %q (want a lower-case name such as modbus, opcua, s7comm, or *)", s.Value)
			return
		}
		if slices.Contains(out, p) {
			d.problemAt(s, f, "protocol %q listed twice", p)
			return
		}
		out = append(out, p)
	})
	if out == nil {
		out = []string{}
	}
	return out
}

func validProtocolName(p string) bool {
	if p == "*" {
		return true
	}
	if p == "" || len(p) > 32 {
		return false
	}
	for i, r := range p {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case i > 0 && (r == '-' || r == '_' || r == '.' || r == '+'):
		default:
			return false
		}
	}
	return true
}

// prefixes decodes a list of addresses and CIDRs. A bare address becomes a
// /32 or /128, so zone membership is one prefix test. A CIDR with host bits
// set ("10.10.1.5/24") is a problem rather than silently widened: for an
// engineering-workstation list that would approve a whole subnet to program
// controllers when one host was meant.
func (d *configDecoder) prefixes(n *yaml.Node, field string) []netip.Prefix {
	out := []netip.Prefix{}
	d.sequence(n, field, func(e *yaml.Node, f string) {
		s, ok := d.scalar(e, f, "an IP address or CIDR")
		if !ok {
			return
		}
		p, msg := parsePrefix(s.Value)
		if msg != "" {
			d.problemAt(s, f, "%s", msg)
			return
		}
		if slices.Contains(out, p) {
			d.problemAt(s, f, "%s listed twice", p)
			return
		}
		out = append(out, p)
	})
	return out
}

// parsePrefix parses an address or CIDR; msg says what is wrong, if
// anything.
func parsePrefix(text string) (p netip.Prefix, msg string) {
	text = strings.TrimSpace(text)
	if !strings.Contains(text, "/") {
		a, err := netip.ParseAddr(text)
		if err != nil {
			return netip.Prefix{}, fmt.Sprintf("invalid IP address %q", text)
		}
		if a.Zone() != "" {
			return netip.Prefix{}, fmt.Sprintf("invalid IP address %q: interface zones are not allowed", text)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), ""
	}
	p, err := netip.ParsePrefix(text)
	if err != nil {
		return netip.Prefix{}, fmt.Sprintf("invalid CIDR %q", text)
	}
	if p.Addr().Is4In6() {
		bits := p.Bits() - 96
		if bits < 0 {
			return netip.Prefix{}, fmt.Sprintf("invalid CIDR %q: IPv4-mapped prefix shorter than /96", text)
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), bits)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Sprintf("CIDR %q has host bits set (the network is %s; a single host is %s/%d)",
			text, p.Masked(), p.Addr(), p.Addr().BitLen())
	}
	return p, ""
}

// path decodes a file or directory name; a relative one is resolved against
// the directory of the configuration file, so a zone file and the register
// beside it can move together.
func (d *configDecoder) path(n *yaml.Node, field string) string {
	s := d.str(n, field)
	if s == "" {
		return ""
	}
	return resolvePath(d.baseDir, s)
}

func resolvePath(baseDir, p string) string {
	if filepath.IsAbs(p) || baseDir == "" {
		return filepath.Clean(p)
	}
	return filepath.Join(baseDir, p)
}
