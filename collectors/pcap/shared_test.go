package pcap

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/otaudit/otaudit"
)

// sharedPcaps finds the shared capture folder: $OTAUDIT_SHARED_PCAPS, else
// ../shared/pcaps next to the repository root (the directory with go.mod).
func sharedPcaps(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("OTAUDIT_SHARED_PCAPS"); d != "" {
		if _, err := os.Stat(filepath.Join(d, "MANIFEST.md")); err == nil {
			return d
		}
		t.Skipf("OTAUDIT_SHARED_PCAPS=%s has no MANIFEST.md: shared captures not present", d)
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("…/shared/pcaps not present: no go.mod above the package directory")
		}
		dir = parent
	}
	d := filepath.Join(dir, "..", "shared", "pcaps")
	if _, err := os.Stat(filepath.Join(d, "MANIFEST.md")); err != nil {
		t.Skipf("…/shared/pcaps not present: %s (set OTAUDIT_SHARED_PCAPS to run the real-capture tests)", d)
	}
	return d
}

// manifestFiles lists the capture files named in MANIFEST.md's summary.
func manifestFiles(t testing.TB, dir string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "MANIFEST.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	re := regexp.MustCompile("^\\| `([^`]+\\.pcap(?:ng)?)` \\|")
	var files []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil && !slices.Contains(files, m[1]) {
			files = append(files, m[1])
		}
	}
	if len(files) == 0 {
		t.Fatal("MANIFEST.md lists no capture files")
	}
	return files
}

// expected is what EXPECTED.md says about one capture.
type expected struct {
	hosts    []string         // IP column of the ### Hosts table
	requests map[string]int64 // "unit/fc" → requests
	fc43     []string         // device identification strings
}

// parseExpected reads the per-file sections of EXPECTED.md.
func parseExpected(t testing.TB, dir string) map[string]*expected {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "EXPECTED.md"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*expected{}
	var cur *expected
	section := ""
	unitRe := regexp.MustCompile(`^- unit (\d+): (.*)$`)
	fcRe := regexp.MustCompile(`FC(\d+) [^×;]*×(\d+)`)
	idRe := regexp.MustCompile("= `([^`]*)`$")
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "## ") {
			name := strings.Fields(strings.TrimPrefix(line, "## "))
			cur = nil
			if len(name) > 0 && (strings.HasSuffix(name[0], ".pcap") || strings.HasSuffix(name[0], ".pcapng")) {
				cur = &expected{requests: map[string]int64{}}
				out[name[0]] = cur
			}
			section = ""
			continue
		}
		if cur == nil {
			continue
		}
		if strings.HasPrefix(line, "### ") {
			section = strings.TrimPrefix(line, "### ")
			continue
		}
		switch {
		case strings.HasPrefix(section, "Hosts") && strings.HasPrefix(line, "| ") && !strings.HasPrefix(line, "| IP") && !strings.HasPrefix(line, "|---"):
			cell := strings.TrimSpace(strings.Split(line, "|")[1])
			cell = strings.TrimSuffix(cell, " (bcast/mcast)")
			cur.hosts = append(cur.hosts, cell)
		case strings.HasPrefix(section, "Modbus"):
			if m := unitRe.FindStringSubmatch(line); m != nil {
				for _, fc := range fcRe.FindAllStringSubmatch(m[2], -1) {
					n, _ := strconv.ParseInt(fc[2], 10, 64)
					cur.requests[m[1]+"/"+fc[1]] += n
				}
			}
			if strings.HasPrefix(line, "- **Device identification**") {
				if m := idRe.FindStringSubmatch(line); m != nil {
					cur.fc43 = strings.Split(m[1], "|")
				}
			}
		}
	}
	return out
}

// summary is the compact, secret-free digest of a Result that the golden
// files hold.
type summary struct {
	File           string   `json:"file"`
	Packets        int64    `json:"packets"`
	Format         string   `json:"format"`
	LinkType       string   `json:"link_type"`
	DecodeErrors   int64    `json:"decode_errors"`
	Truncated      bool     `json:"truncated,omitempty"`
	Hosts          []string `json:"hosts"`
	Flows          []string `json:"flows"`
	Modbus         []string `json:"modbus,omitempty"`
	Identities     []string `json:"identities,omitempty"`
	Credentials    []string `json:"credentials,omitempty"`
	SecureChannels []string `json:"secure_channels,omitempty"`
	NameLookups    []string `json:"name_lookups,omitempty"`
	Sessions       []string `json:"sessions,omitempty"`
}

func summarize(file string, r *Result) summary {
	s := summary{File: file, Packets: r.Stats.Packets, Format: r.Stats.Format, LinkType: r.Stats.LinkType,
		DecodeErrors: r.Stats.DecodeErrors, Truncated: r.Stats.Truncated}
	macs := map[string][]string{}
	var ips []string
	for _, o := range r.Observations {
		switch o.Kind {
		case otaudit.KindHost:
			ip := o.Host.IP.String()
			if _, ok := macs[ip]; !ok {
				ips = append(ips, ip)
				macs[ip] = nil
			}
			if o.Host.MAC != "" {
				m := o.Host.MAC
				if o.Host.MACVendor != "" {
					m += " (" + o.Host.MACVendor + ")"
				}
				macs[ip] = append(macs[ip], m)
			}
		case otaudit.KindFlow:
			f := o.Flow
			s.Flows = append(s.Flows, fmt.Sprintf("%s -> %s %s/%d %s conns=%d pkts=%d answered=%v",
				f.Client, f.Server, f.Transport, f.ServerPort, orDash(f.Protocol), f.Connections, f.Packets, f.ServerAnswered))
		case otaudit.KindOperation:
			op := o.Operation
			s.Modbus = append(s.Modbus, fmt.Sprintf("%s %s -> %s unit %d fc %d (%s, %s) req=%d resp=%d exc=%d",
				op.Protocol, op.Client, op.Server, op.Unit, op.Function, op.Name, op.Class, op.Requests, op.Responses, op.Exceptions))
		case otaudit.KindIdentity:
			id := o.Identity
			at := id.IP.String()
			if !id.IP.IsValid() {
				at = "mac:" + id.MAC
			}
			s.Identities = append(s.Identities, fmt.Sprintf("%s %s vendor=%q product_code=%q model=%q name=%q firmware=%q",
				at, id.Method, id.Vendor, id.ProductCode, id.Model, id.Name, id.Firmware))
		case otaudit.KindCredential:
			c := o.Credential
			s.Credentials = append(s.Credentials, fmt.Sprintf("%s %s -> %s user=%q known_default=%v outcome=%s detail=%s count=%d",
				c.Protocol, c.Client, c.Server, c.User, c.KnownDefault, orDash(c.Outcome), orDash(c.Detail), o.Count))
		case otaudit.KindSecureChannel:
			c := o.SecureChannel
			s.SecureChannels = append(s.SecureChannels, fmt.Sprintf("%s %s -> %s policy=%s endpoint=%s protected=%v",
				c.Protocol, c.Client, c.Server, c.Policy, orDash(c.Endpoint), c.Protected))
		case otaudit.KindNameLookup:
			l := o.NameLookup
			s.NameLookups = append(s.NameLookups, fmt.Sprintf("%s asked %s for %s (%s) answers=%v count=%d",
				l.Client, l.Server, l.Name, l.Tool, l.Answers, o.Count))
		case otaudit.KindRemoteSession:
			rs := o.RemoteSession
			s.Sessions = append(s.Sessions, fmt.Sprintf("%s %s -> %s:%d encrypted=%v open_at_end=%v detail=%q",
				rs.Protocol, rs.Client, rs.Server, rs.ServerPort, rs.Encrypted, rs.OpenAtEnd, rs.Detail))
		}
	}
	for _, ip := range ips {
		m := macs[ip]
		sort.Strings(m)
		line := ip
		if len(m) > 0 {
			line += " " + strings.Join(m, ", ")
		}
		s.Hosts = append(s.Hosts, line)
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
