//go:build integration

package integration_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/store"
)

// zoneConfig is the test zone's configuration: active probing on, rates a
// little faster than the gentle defaults so the suite stays short, but low
// enough that a missing limiter shows in the capture at once.
const zoneConfig = `version: 1
zone:
  name: otz
  description: otaudit integration test zone (.ci/testbed)
  cidrs: [10.99.0.0/24]
active:
  enabled: true
  targets: [10.99.0.0/24]
  per_device_pps: %g
  per_zone_pps: %g
  concurrency: 8
  timeout: 2s
  retries: 1
  credential_guessing: {enabled: true, max_attempts_per_device: 3, delay: 200ms}
credentials:
  snmp:
    communities: ["` + wrongCommunity + `"]
    v3_users:
      - {name: otauth, auth_protocol: SHA, auth_password: "authpass123"}
      - {name: otpriv, auth_protocol: SHA, auth_password: "authpass123", priv_protocol: AES, priv_password: "privpass123"}
`

const (
	perDevicePPS = 10
	perZonePPS   = 30
)

// rateSlack is what the wire may show above a cap in a sliding 1-second
// window: the scheduler stamps a request when it releases it, the capture
// when the kernel sends it, and on a loaded machine a delayed send can slip
// into the next request's window. One request, or a tenth of the cap for
// larger caps; a missing or broken limiter shows as many times the cap. TCP
// retransmissions are not counted at all. The ledger's own timestamps are
// held to the exact caps.
func rateSlack(limit int) int { return max(1, limit/10) }

// JSON shapes of `otaudit scan --active --json`, kept local so the test
// reads the CLI's output as any consumer would.
type plannedRequest struct {
	Target      netip.Addr `json:"target"`
	Protocol    string     `json:"protocol"`
	Kind        string     `json:"kind"`
	MaxAttempts int        `json:"max_attempts"`
	Detail      string     `json:"detail"`
}

type ledgerEntry struct {
	Time     time.Time  `json:"time"`
	Target   netip.Addr `json:"target"`
	Protocol string     `json:"protocol"`
	Kind     string     `json:"kind"`
	Detail   string     `json:"detail"`
}

type activeScanOutput struct {
	Scan     otaudit.Scan      `json:"scan"`
	Findings []otaudit.Finding `json:"findings"`
	Active   struct {
		Plan struct {
			Probers  []string         `json:"probers"`
			Requests []plannedRequest `json:"requests"`
		} `json:"plan"`
		Ledger []ledgerEntry `json:"ledger"`
		Report struct {
			Targets  int `json:"targets"`
			Requests int `json:"requests"`
			Errors   []struct {
				Target netip.Addr `json:"target"`
				Prober string     `json:"prober"`
				Err    string     `json:"error"`
			} `json:"errors"`
			Unreachable []netip.Addr `json:"unreachable"`
		} `json:"report"`
	} `json:"active"`
}

// scanTargets: the three devices of the brief, the FC43-less RTU, the weak
// OPC UA server, the device that never answers and an empty address. One
// scan covers them all, so "the others are unaffected" is tested on the
// same run that the inventory assertions read.
var scanTargets = []netip.Addr{plcAddr, snmpAddr, opcAddr, rtuAddr, muteAddr, weakOPCAddr, bmsAddr, deadAddr}

// activeRun is one active scan of the zone, shared by the subtests.
type activeRun struct {
	dir, db, config string
	dryPlan         []plannedRequest
	out             activeScanOutput
	cli             cliResult
	wire            *captureAnalysis
	dryWire         *captureAnalysis
	obs             []otaudit.Observation
	judge           otaudit.CredentialJudge
	assets          map[netip.Addr]otaudit.Asset
	findings        []otaudit.Finding
}

func (r *activeRun) ran(prober string) bool {
	return slices.Contains(r.out.Active.Plan.Probers, prober)
}

// needProber skips a subtest whose collector is not registered yet.
func (r *activeRun) needProber(t *testing.T, prober string) {
	t.Helper()
	if !r.ran(prober) {
		t.Skipf("blocked: the %q collector is not in the agent's registry (agent/active.go) yet; probers that ran: %v", prober, r.out.Active.Plan.Probers)
	}
}

func scanArgs(t *testing.T, r *activeRun, extra ...string) []string {
	args := []string{"--db", r.db, "--config", r.config, "--json", "--log-level", "info", "scan", "--active"}
	for _, a := range scanTargets {
		zoneHostPort(t, a, 0)
		args = append(args, "--target", a.String())
	}
	return append(args, extra...)
}

func requireActiveCLI(t *testing.T) {
	t.Helper()
	res := runOtaudit(t, 30*time.Second, "scan", "--help")
	if !strings.Contains(string(res.Stdout), "--active") {
		t.Skip("blocked: this otaudit has no `scan --active` yet")
	}
}

func TestActiveScan(t *testing.T) {
	needZone(t)
	otauditBin(t)
	requireActiveCLI(t)
	r := &activeRun{dir: t.TempDir()}
	r.db = filepath.Join(r.dir, "otaudit.db")
	r.config = filepath.Join(r.dir, "zone.yaml")
	if err := os.WriteFile(r.config, []byte(fmt.Sprintf(zoneConfig, float64(perDevicePPS), float64(perZonePPS))), 0o600); err != nil {
		t.Fatal(err)
	}

	// The dry run, watched: it must send nothing at all.
	capDry := startCapture(t, "eth0")
	dry := runOtaudit(t, time.Minute, scanArgs(t, r, "--dry-run")...)
	var err error
	if r.dryWire, err = analyzeCapture(capDry.stop(t), agentAddr); err != nil {
		t.Fatal(err)
	}
	if dry.ExitCode != 0 {
		t.Fatalf("dry run: %v", dry)
	}
	if err := json.Unmarshal(dry.Stdout, &r.dryPlan); err != nil {
		t.Fatalf("dry run JSON: %v\n%s", err, tail(dry.Stdout, 2000))
	}

	capScan := startCapture(t, "eth0")
	r.cli = runOtaudit(t, 10*time.Minute, scanArgs(t, r)...)
	pcapPath := capScan.stop(t)
	if r.wire, err = analyzeCapture(pcapPath, agentAddr); err != nil {
		t.Fatal(err)
	}
	if keep := os.Getenv("OTAUDIT_KEEP_PCAP"); keep != "" {
		if b, err := os.ReadFile(pcapPath); err == nil {
			_ = os.WriteFile(keep, b, 0o644)
		}
	}
	t.Logf("active scan: exit %d in %v; %d requests decoded from the capture", r.cli.ExitCode, r.cli.Wall.Round(time.Millisecond), len(r.wire.Requests))
	if r.cli.ExitCode != 0 {
		t.Fatalf("scan: %v\nstdout:\n%s", r.cli, tail(r.cli.Stdout, 3000))
	}
	if err := json.Unmarshal(r.cli.Stdout, &r.out); err != nil {
		t.Fatalf("scan JSON: %v\n%s", err, tail(r.cli.Stdout, 2000))
	}
	r.load(t)

	t.Run("dry run sends nothing", func(t *testing.T) { testDryRunSilent(t, r) })
	t.Run("dry-run plan is the scan's plan", func(t *testing.T) { testDryRunIsPlan(t, r) })
	t.Run("read-only on the wire", func(t *testing.T) { testReadOnly(t, r) })
	t.Run("rate within the caps", func(t *testing.T) { testRate(t, r) })
	t.Run("wire within the plan", func(t *testing.T) { testWireWithinPlan(t, r) })
	t.Run("ledger matches the wire", func(t *testing.T) { testLedgerMatchesWire(t, r) })
	t.Run("hostile and empty addresses", func(t *testing.T) { testHostile(t, r) })
	t.Run("ARP sweep", func(t *testing.T) { testARPSweep(t, r) })
	t.Run("modbus inventory", func(t *testing.T) { testModbus(t, r) })
	t.Run("snmp inventory and access", func(t *testing.T) { testSNMP(t, r) })
	t.Run("opcua endpoints, certificates and logins", func(t *testing.T) { testOPCUA(t, r) })
	t.Run("bacnet identity", func(t *testing.T) { testBACnet(t, r) })
	t.Run("queries agree with the scan", func(t *testing.T) { testQueries(t, r) })
}

// load reads what the scan stored: its observations (read-only store open),
// the inventory and the findings through the CLI.
func (r *activeRun) load(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, r.db, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	defer db.Close()
	key, err := db.CredentialKey()
	if err != nil {
		t.Fatal(err)
	}
	r.judge = otaudit.CredentialJudge{Key: key}
	if err := db.Observations(ctx, r.out.Scan.ID, func(o otaudit.Observation) error {
		r.obs = append(r.obs, o)
		return nil
	}); err != nil {
		t.Fatalf("observations of scan %d: %v", r.out.Scan.ID, err)
	}

	res := runOtaudit(t, time.Minute, "--db", r.db, "--config", r.config, "--json", "assets")
	var assets []otaudit.Asset
	if res.ExitCode != 0 || json.Unmarshal(res.Stdout, &assets) != nil {
		t.Fatalf("assets: %v", res)
	}
	r.assets = map[netip.Addr]otaudit.Asset{}
	for _, a := range assets {
		r.assets[a.IP.Unmap()] = a
	}
	res = runOtaudit(t, time.Minute, "--db", r.db, "--config", r.config, "--json", "findings")
	if res.ExitCode != 0 || json.Unmarshal(res.Stdout, &r.findings) != nil {
		t.Fatalf("findings: %v", res)
	}
}

// ---- safety

func testDryRunSilent(t *testing.T, r *activeRun) {
	if r.dryWire.FromAgent != 0 {
		t.Errorf("the dry run sent %d frames: %v", r.dryWire.FromAgent, r.dryWire.Requests)
	}
	if len(r.dryPlan) == 0 {
		t.Error("the dry run planned nothing")
	}
}

func planKey(p plannedRequest) string {
	return fmt.Sprintf("%s %s %s %d %s", p.Target, p.Protocol, p.Kind, p.MaxAttempts, p.Detail)
}

func testDryRunIsPlan(t *testing.T, r *activeRun) {
	var dry, run []string
	for _, p := range r.dryPlan {
		dry = append(dry, planKey(p))
	}
	for _, p := range r.out.Active.Plan.Requests {
		run = append(run, planKey(p))
	}
	if strings.Join(dry, "\n") != strings.Join(run, "\n") {
		t.Errorf("the dry run's plan differs from the scan's:\n dry run: %d requests\n scan:    %d requests\n%s", len(dry), len(run), diffLines(dry, run))
	}
}

func testReadOnly(t *testing.T, r *activeRun) {
	n := 0
	for _, q := range r.wire.Requests {
		if f := q.forbidden(); f != "" {
			n++
			t.Errorf("%s sent to %s:%d at %s", f, q.Server, q.ServerPort, q.Time.Format(time.StampMicro))
		}
	}
	// A stream the decoder could not read to its end could hide a write.
	for _, p := range r.wire.Problems {
		t.Errorf("capture not fully decodable: %s", p)
	}
	var opaque []string
	for _, q := range r.wire.Requests {
		if q.Opaque {
			opaque = append(opaque, fmt.Sprintf("%s %s (%s)", q.Server, q.Protocol, q.Detail))
		}
	}
	t.Logf("%d requests decoded, %d changing requests, %d opaque (SNMPv3 authPriv or OPC UA on a secured channel: their service cannot be read from the wire)",
		len(r.wire.Requests), n, len(opaque))
	if len(r.wire.Requests) == 0 {
		t.Error("nothing decoded from the capture: the proof would be vacuous")
	}
}

// maxInWindow is the most requests in any half-open window of length w.
func maxInWindow(times []time.Time, w time.Duration) (int, time.Time) {
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	best, at, j := 0, time.Time{}, 0
	for i := range times {
		for times[i].Sub(times[j]) >= w {
			j++
		}
		if n := i - j + 1; n > best {
			best, at = n, times[j]
		}
	}
	return best, at
}

func testRate(t *testing.T, r *activeRun) {
	perDevice := map[netip.Addr][]time.Time{}
	var all []time.Time
	for _, q := range r.wire.Requests {
		perDevice[q.Server] = append(perDevice[q.Server], q.Time)
		all = append(all, q.Time)
	}
	var addrs []netip.Addr
	for a := range perDevice {
		addrs = append(addrs, a)
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	for _, a := range addrs {
		n, at := maxInWindow(perDevice[a], time.Second)
		t.Logf("%-12s %4d requests, at most %2d in one second (cap %d + %d)", a, len(perDevice[a]), n, perDevicePPS, rateSlack(perDevicePPS))
		if n > perDevicePPS+rateSlack(perDevicePPS) {
			t.Errorf("%s got %d requests in the second from %s: cap is %d per second (+%d slack)", a, n, at.Format(time.StampMicro), perDevicePPS, rateSlack(perDevicePPS))
		}
	}
	n, at := maxInWindow(all, time.Second)
	t.Logf("zone: %d requests, at most %d in one second (cap %d + %d)", len(all), n, perZonePPS, rateSlack(perZonePPS))
	if n > perZonePPS+rateSlack(perZonePPS) {
		t.Errorf("the zone got %d requests in the second from %s: cap is %d per second (+%d slack)", n, at.Format(time.StampMicro), perZonePPS, rateSlack(perZonePPS))
	}

	// The scheduler's own account: its ledger timestamps, no slack.
	ledger := map[netip.Addr][]time.Time{}
	var ledgerAll []time.Time
	for _, e := range r.out.Active.Ledger {
		ledger[e.Target] = append(ledger[e.Target], e.Time)
		ledgerAll = append(ledgerAll, e.Time)
	}
	for a, ts := range ledger {
		if n, at := maxInWindow(ts, time.Second); n > perDevicePPS {
			t.Errorf("ledger: %s got %d requests in the second from %s (cap %d)", a, n, at.Format(time.StampMicro), perDevicePPS)
		}
	}
	n, _ = maxInWindow(ledgerAll, time.Second)
	t.Logf("ledger: at most %d requests in one second in the zone (cap %d)", n, perZonePPS)
	if n > perZonePPS {
		t.Errorf("ledger: the zone got %d requests in one second (cap %d)", n, perZonePPS)
	}
}

// requestKey is what the plan, the ledger and the wire are compared on.
type requestKey struct {
	Target         netip.Addr
	Protocol, Kind string
}

func (k requestKey) String() string { return fmt.Sprintf("%s %s %s", k.Target, k.Protocol, k.Kind) }

// wireCounts counts the decodable requests per key. Opaque requests (their
// service unreadable on the wire) are counted per target and protocol under
// the kind "*"; continuation chunks are not requests.
func wireCounts(reqs []wireRequest) map[requestKey]int {
	m := map[requestKey]int{}
	for _, q := range reqs {
		if q.Continuation {
			continue
		}
		k := requestKey{q.Server, q.Protocol, q.Kind}
		if q.Opaque {
			k.Kind = "*"
		}
		m[k]++
	}
	return m
}

func testWireWithinPlan(t *testing.T, r *activeRun) {
	maxAttempts := map[requestKey]int{}
	opaqueBudget := map[requestKey]int{}
	for _, p := range r.dryPlan {
		maxAttempts[requestKey{p.Target, p.Protocol, p.Kind}] += p.MaxAttempts
		opaqueBudget[requestKey{p.Target, p.Protocol, "*"}] += p.MaxAttempts
	}
	wire := wireCounts(r.wire.Requests)
	var rows [][]string
	for k, n := range wire {
		limit, ok := maxAttempts[k]
		if k.Kind == "*" {
			limit, ok = opaqueBudget[k], opaqueBudget[k] > 0
		}
		rows = append(rows, []string{k.String(), fmt.Sprint(n), fmt.Sprint(limit)})
		switch {
		case !ok:
			t.Errorf("sent %d× %s, which the dry-run plan does not contain", n, k)
		case n > limit:
			t.Errorf("sent %d× %s, more than the plan's %d attempts", n, k, limit)
		}
	}
	logTable(t, []string{"TARGET PROTOCOL KIND", "SENT", "PLAN MAX"}, rows)
	// Every live device was asked something by every prober that applies.
	for _, a := range []netip.Addr{plcAddr, snmpAddr, opcAddr} {
		if wire[requestKey{a, "tcp", "connect"}] == 0 {
			t.Errorf("%s: no TCP connect on the wire", a)
		}
	}
}

func testLedgerMatchesWire(t *testing.T, r *activeRun) {
	ledger := map[requestKey]int{}
	for _, e := range r.out.Active.Ledger {
		ledger[requestKey{e.Target, e.Protocol, e.Kind}]++
	}
	wire := wireCounts(r.wire.Requests)
	if len(r.out.Active.Ledger) != r.out.Active.Report.Requests {
		t.Errorf("ledger has %d entries, the run report says %d requests", len(r.out.Active.Ledger), r.out.Active.Report.Requests)
	}
	// Fold ledger kinds into "*" where the wire could only see opaque
	// traffic for that target and protocol.
	opaque := map[requestKey]bool{}
	for k := range wire {
		if k.Kind == "*" {
			opaque[requestKey{k.Target, k.Protocol, ""}] = true
		}
	}
	keys := map[requestKey]bool{}
	for k := range wire {
		keys[k] = true
	}
	for k := range ledger {
		// ARP requests are compared in testARPSweep: the kernel sends its
		// own too.
		if k.Protocol == "arp" {
			continue
		}
		keys[k] = true
	}
	var rows [][]string
	var mismatches []string
	for k := range keys {
		l, w := ledger[k], wire[k]
		rows = append(rows, []string{k.String(), fmt.Sprint(l), fmt.Sprint(w)})
		if l != w && !opaque[requestKey{k.Target, k.Protocol, ""}] {
			mismatches = append(mismatches, fmt.Sprintf("%s: ledger %d, wire %d", k, l, w))
		}
	}
	logTable(t, []string{"TARGET PROTOCOL KIND", "LEDGER", "WIRE"}, rows)
	sort.Strings(mismatches)
	for _, m := range mismatches {
		t.Error(m)
	}
	// Where the wire is opaque, the totals per target and protocol must agree.
	for k := range opaque {
		l, w := 0, 0
		for lk, n := range ledger {
			if lk.Target == k.Target && lk.Protocol == k.Protocol {
				l += n
			}
		}
		for wk, n := range wire {
			if wk.Target == k.Target && wk.Protocol == k.Protocol {
				w += n
			}
		}
		if l != w {
			t.Errorf("%s %s: ledger has %d requests, the wire %d", k.Target, k.Protocol, l, w)
		}
	}
}

// zoneNamespaces maps the zone's hosts to their network namespaces
// (.ci/testbed/zone.sh).
var zoneNamespaces = map[netip.Addr]string{plcAddr: "otz-plc", snmpAddr: "otz-snmp", opcAddr: "otz-opc",
	rtuAddr: "otz-rtu", muteAddr: "otz-mute", weakOPCAddr: "otz-opcw", bmsAddr: "otz-bms"}

// peerMAC reads the MAC of a zone host's eth0 from its namespace.
func peerMAC(t *testing.T, addr netip.Addr) string {
	t.Helper()
	out, err := exec.Command("ip", "-n", zoneNamespaces[addr], "-j", "link", "show", "eth0").Output()
	if err != nil {
		t.Fatalf("MAC of %s (%s): %v", addr, zoneNamespaces[addr], err)
	}
	var links []struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 {
		t.Fatalf("MAC of %s: %v in %s", addr, err, out)
	}
	return links[0].Address
}

// testARPSweep: every target on the zone's link was asked once by ARP
// before anything else; the empty address got exactly its retries and
// nothing more on the wire; every live host answered with the MAC its
// namespace really has; the sweep's broadcasts respect the zone's rate.
func testARPSweep(t *testing.T, r *activeRun) {
	r.needProber(t, "arp")
	ledger := map[netip.Addr]int{}
	var first = map[netip.Addr]string{}
	for _, e := range r.out.Active.Ledger {
		if _, seen := first[e.Target]; !seen {
			first[e.Target] = e.Protocol + " " + e.Kind
		}
		if e.Protocol == "arp" {
			if e.Kind != "who-has" {
				t.Errorf("arp %s sent to %s", e.Kind, e.Target)
			}
			ledger[e.Target]++
		}
	}
	for _, a := range scanTargets {
		if first[a] != "arp who-has" {
			t.Errorf("%s: first request %q, want the ARP sweep's", a, first[a])
		}
		wire := len(r.wire.ARPRequests[a])
		switch {
		case a == deadAddr:
			// 1 + retries (1), and not one more: no connect was tried.
			if ledger[a] != 2 || wire != 2 {
				t.Errorf("empty address %s: %d ARP requests in the ledger, %d on the wire; want 2 and 2 (one retry, no connect)", a, ledger[a], wire)
			}
		default:
			if ledger[a] != 1 {
				t.Errorf("%s: %d ARP requests in the ledger, want 1 (it answers at once)", a, ledger[a])
			}
			// The kernel resolves the neighbour once more before the first
			// connect (an unsolicited reply does not fill its cache).
			if wire < ledger[a] || wire > ledger[a]+3 {
				t.Errorf("%s: %d ARP requests on the wire for %d in the ledger", a, wire, ledger[a])
			}
			as, ok := r.assets[a]
			if !ok {
				t.Errorf("%s missing from the inventory", a)
				continue
			}
			if want := peerMAC(t, a); !slices.Contains(as.MACs, want) {
				t.Errorf("%s: MACs %q in the inventory, its namespace has %q", a, as.MACs, want)
			}
		}
	}
	var all []time.Time
	for _, ts := range r.wire.ARPRequests {
		all = append(all, ts...)
	}
	n, at := maxInWindow(all, time.Second)
	t.Logf("ARP: %d broadcast requests on the wire, at most %d in one second (zone cap %d + %d)", len(all), n, perZonePPS, rateSlack(perZonePPS))
	if n > perZonePPS+rateSlack(perZonePPS) {
		t.Errorf("%d ARP requests in the second from %s: the zone cap is %d", n, at.Format(time.StampMicro), perZonePPS)
	}
}

// ---- results

func (r *activeRun) observations(kind otaudit.ObservationKind, match func(otaudit.Observation) bool) []otaudit.Observation {
	var out []otaudit.Observation
	for _, o := range r.obs {
		if o.Kind == kind && (match == nil || match(o)) {
			out = append(out, o)
		}
	}
	return out
}

func (r *activeRun) identities(ip netip.Addr, method string) []otaudit.DeviceIdentity {
	var out []otaudit.DeviceIdentity
	for _, o := range r.observations(otaudit.KindIdentity, nil) {
		if o.Identity.IP.Unmap() == ip && (method == "" || o.Identity.Method == method) {
			out = append(out, *o.Identity)
		}
	}
	return out
}

// hasFinding reports whether check fired on the asset at ip.
func (r *activeRun) hasFinding(check string, ip netip.Addr) bool {
	for _, f := range r.findings {
		if f.CheckID == check && f.AssetKey == otaudit.AssetKey(ip) {
			return true
		}
	}
	return false
}

func (r *activeRun) wantFinding(t *testing.T, check string, ip netip.Addr, why string) {
	t.Helper()
	if !r.hasFinding(check, ip) {
		var have []string
		for _, f := range r.findings {
			if f.AssetKey == otaudit.AssetKey(ip) {
				have = append(have, f.CheckID)
			}
		}
		t.Errorf("no %s on %s (%s); its findings: %v", check, ip, why, have)
	}
}

func testHostile(t *testing.T, r *activeRun) {
	errs := map[netip.Addr][]string{}
	for _, e := range r.out.Active.Report.Errors {
		errs[e.Target] = append(errs[e.Target], e.Prober+": "+e.Err)
	}
	for a, es := range errs {
		t.Logf("device error %s: %s", a, strings.Join(es, "; "))
	}
	if r.out.Scan.Status != otaudit.ScanComplete {
		t.Errorf("scan status %q, want complete", r.out.Scan.Status)
	}
	if r.out.Active.Report.Targets != len(scanTargets) {
		t.Errorf("report: %d targets, want %d", r.out.Active.Report.Targets, len(scanTargets))
	}
	if _, ok := r.assets[deadAddr]; ok {
		t.Errorf("%s (nothing there) is in the inventory", deadAddr)
	}
	// The dead address fails ARP: the sweep says so, and nothing else is
	// sent there (no connect, no SNMP timeout); it is an outcome, not an
	// error.
	if !slices.Contains(r.out.Active.Report.Unreachable, deadAddr) {
		t.Errorf("%s not reported unreachable: %v", deadAddr, r.out.Active.Report.Unreachable)
	}
	for _, e := range r.out.Active.Ledger {
		if e.Target == deadAddr && e.Protocol != "arp" {
			t.Errorf("%s %s sent to %s after the ARP sweep found it absent", e.Protocol, e.Kind, deadAddr)
		}
	}
	// A device without an SNMP agent is an outcome of the SNMP probe.
	for _, e := range r.out.Active.Report.Errors {
		if e.Prober == "snmp" && e.Target != snmpAddr {
			t.Errorf("%s has no SNMP agent, yet the snmp probe reported a device error: %s", e.Target, e.Err)
		}
	}
	// The mute device accepts TCP: discovery sees its ports open, the
	// protocol probes time out. That is a per-device error, not a scan error.
	if r.ran("modbus") || r.ran("opcua") {
		if len(errs[muteAddr]) == 0 {
			t.Errorf("no device error for %s, which accepts connections and never answers", muteAddr)
		}
		if ids := r.identities(muteAddr, ""); len(ids) > 0 {
			t.Errorf("identity for the mute device %s: %+v", muteAddr, ids)
		}
	}
	// Each answering device's own protocol probe succeeded next to the mute
	// one.
	serves := map[netip.Addr]string{plcAddr: "modbus", snmpAddr: "snmp", opcAddr: "opcua", rtuAddr: "modbus", weakOPCAddr: "opcua"}
	for _, e := range r.out.Active.Report.Errors {
		if p, ok := serves[e.Target]; ok && (e.Prober == p || e.Prober == "tcp") {
			t.Errorf("%s serves %s, yet its %s probe failed: %s", e.Target, p, e.Prober, e.Err)
		}
	}
}

func testModbus(t *testing.T, r *activeRun) {
	r.needProber(t, "modbus")
	ids := r.identities(plcAddr, "modbus-fc43")
	if len(ids) == 0 {
		t.Fatalf("no modbus-fc43 identity for %s; identities: %+v", plcAddr, r.identities(plcAddr, ""))
	}
	id := ids[0]
	if id.Vendor != wantModbusVendor || id.ProductCode != wantModbusProduct || id.Firmware != wantModbusRevision {
		t.Errorf("FC43 identity %+v, want vendor %q product code %q firmware %q", id, wantModbusVendor, wantModbusProduct, wantModbusRevision)
	}
	if id.Model != "" && id.Model != wantModbusProduct && id.Model != "Modicon M340" {
		t.Errorf("FC43 model %q is neither the ModelName nor the ProductName pymodbus serves", id.Model)
	}
	a := r.assets[plcAddr]
	if a.Vendor != wantModbusVendor || a.Firmware != wantModbusRevision || !a.Serves("modbus") {
		t.Errorf("inventory %s: vendor %q firmware %q services %v", plcAddr, a.Vendor, a.Firmware, a.Services)
	}

	ops := map[netip.Addr]map[int]otaudit.Operation{}
	for _, o := range r.observations(otaudit.KindOperation, func(o otaudit.Observation) bool { return o.Operation.Protocol == "modbus" }) {
		op := *o.Operation
		s := op.Server.Unmap()
		if ops[s] == nil {
			ops[s] = map[int]otaudit.Operation{}
		}
		agg := ops[s][op.Function]
		agg.Requests += op.Requests
		agg.Responses += op.Responses
		agg.Exceptions += op.Exceptions
		ops[s][op.Function] = agg
		if op.Class != otaudit.OpIdentify && op.Class != otaudit.OpRead {
			t.Errorf("modbus operation on %s: FC %d class %q", s, op.Function, op.Class)
		}
	}
	if op := ops[plcAddr][43]; op.Responses == 0 {
		t.Errorf("%s: no FC43 responses recorded: %+v", plcAddr, op)
	}
	if op := ops[plcAddr][3]; op.Responses == 0 {
		t.Errorf("%s: the one-register FC3 read got no response: %+v", plcAddr, op)
	}
	// libmodbus rejects FC43: the exception is evidence and FC17 the fallback.
	if op := ops[rtuAddr][43]; op.Exceptions == 0 || op.Responses != 0 {
		t.Errorf("%s: FC43 should be answered by exceptions only: %+v", rtuAddr, op)
	}
	if op := ops[rtuAddr][17]; op.Responses == 0 {
		t.Errorf("%s: no FC17 fallback response: %+v", rtuAddr, op)
	}
	if len(r.identities(rtuAddr, "modbus-fc17")) == 0 {
		t.Errorf("%s: no modbus-fc17 identity; identities: %+v", rtuAddr, r.identities(rtuAddr, ""))
	}
	if len(r.identities(rtuAddr, "modbus-fc43")) > 0 {
		t.Errorf("%s: an FC43 identity from a device that rejects FC43", rtuAddr)
	}
}

func testSNMP(t *testing.T, r *activeRun) {
	r.needProber(t, "snmp")
	ids := r.identities(snmpAddr, "snmp-system")
	if len(ids) == 0 {
		t.Fatalf("no snmp-system identity for %s; identities: %+v", snmpAddr, r.identities(snmpAddr, ""))
	}
	id := ids[0]
	if id.Name != wantSysName {
		t.Errorf("sysName → name %q, want %q", id.Name, wantSysName)
	}
	if id.Vendor != "Siemens" && id.Vendor != "Siemens AG" {
		t.Errorf("vendor %q: sysObjectID %s is Siemens' enterprise 4329", id.Vendor, wantSysObjectID)
	}
	// Parsed from sysDescr, never invented.
	for field, v := range map[string]string{"model": id.Model, "firmware": id.Firmware} {
		if v != "" && !strings.Contains(wantSysDescr, v) && !strings.Contains(wantSysDescr, "V"+v) {
			t.Errorf("%s %q does not come from sysDescr %q", field, v, wantSysDescr)
		}
	}

	// The agent is a service of the device: a UDP flow from the agent's
	// address, so the inventory lists it.
	flows := r.observations(otaudit.KindFlow, func(o otaudit.Observation) bool {
		f := o.Flow
		return o.Source == "snmp:active" && f.Server.Unmap() == snmpAddr && f.Transport == otaudit.UDP && f.ServerPort == 161
	})
	if len(flows) != 1 || !flows[0].Flow.ServerAnswered || flows[0].Flow.Protocol != "snmp" || flows[0].Flow.Client.Unmap() != agentAddr {
		t.Errorf("snmp flows for %s: %+v, want one answered udp/161 snmp flow from %s", snmpAddr, flows, agentAddr)
	}
	if a := r.assets[snmpAddr]; !a.Serves("snmp") {
		t.Errorf("inventory %s: services %+v, want snmp", snmpAddr, a.Services)
	}
	for _, o := range r.observations(otaudit.KindFlow, func(o otaudit.Observation) bool { return o.Source == "snmp:active" }) {
		if o.Flow.Server.Unmap() != snmpAddr {
			t.Errorf("snmp service reported on %s, which runs no agent", o.Flow.Server)
		}
	}

	fp := func(s string) string { f, _ := r.judge.Judge("snmp", []byte(s)); return f }
	public, private, wrong := fp("public"), fp("private"), fp(wrongCommunity)
	accepted := map[string]bool{}
	privateWrites := false
	triedWrong := false
	var v3 []otaudit.SNMPAccess
	for _, o := range r.observations(otaudit.KindSNMPAccess, func(o otaudit.Observation) bool { return o.SNMPAccess.Target.Unmap() == snmpAddr }) {
		acc := *o.SNMPAccess
		if acc.Version == "v3" {
			v3 = append(v3, acc)
			continue
		}
		switch acc.Fingerprint {
		case public, private:
			name := map[string]string{public: "public", private: "private"}[acc.Fingerprint]
			if !acc.Accepted || !acc.KnownDefault {
				t.Errorf("%s %s: accepted %v known default %v, want both true", acc.Version, name, acc.Accepted, acc.KnownDefault)
			}
			if acc.Accepted {
				accepted[name] = true
				privateWrites = privateWrites || name == "private" && acc.Access == "write"
			}
			if want := map[string]string{"public": "read", "private": "write"}[name]; acc.Access != "" && acc.Access != "unknown" && acc.Access != want {
				t.Errorf("%s %s: access %q, but snmpd gives it %s access", acc.Version, name, acc.Access, want)
			}
		case wrong:
			triedWrong = true
			if acc.Accepted || acc.KnownDefault {
				t.Errorf("%s site community: accepted %v known default %v, want both false", acc.Version, acc.Accepted, acc.KnownDefault)
			}
		default:
			if acc.Accepted {
				t.Errorf("%s: a community other than public/private accepted (fingerprint %s)", acc.Version, acc.Fingerprint)
			}
		}
		if strings.Contains(acc.Fingerprint, "public") || strings.Contains(acc.Fingerprint, "private") {
			t.Errorf("community in clear in the store: %q", acc.Fingerprint)
		}
	}
	// snmpd.conf: rocommunity public, rwcommunity private — both, exactly.
	if !accepted["public"] || !accepted["private"] {
		t.Errorf("accepted defaults %v, want public and private (snmpd's ro and rw communities)", accepted)
	}
	if !triedWrong {
		t.Error("the configured site community was not tried (no SNMPAccess with its fingerprint)")
	}
	users := map[string]otaudit.SNMPAccess{}
	for _, a := range v3 {
		if a.User != "" {
			users[a.User] = a
		}
	}
	if u := users["otauth"]; !u.Accepted || u.SecurityLevel != "authNoPriv" || !strings.HasPrefix(u.AuthProtocol, "SHA") {
		t.Errorf("v3 otauth: %+v, want accepted authNoPriv SHA", u)
	}
	if u := users["otpriv"]; !u.Accepted || u.SecurityLevel != "authPriv" || !strings.HasPrefix(u.PrivProtocol, "AES") {
		t.Errorf("v3 otpriv: %+v, want accepted authPriv SHA/AES", u)
	}
	r.wantFinding(t, "AC-DEFAULT-SNMP-COMMUNITY", snmpAddr, "public/private accepted")
	r.wantFinding(t, "AC-SNMP-V1V2C-ENABLED", snmpAddr, "v1/v2c answered")
	r.wantFinding(t, "DC-SNMPV3-NO-PRIVACY", snmpAddr, "user otauth is authNoPriv")
	// Write access is inferred from the VACM only when the agent shows
	// which community maps to which security name; net-snmp does not
	// serve snmpCommunityTable and its two v2c groups disagree (comm1
	// reads, comm2 writes), so both accesses are honestly "unknown" (the
	// loop above fails a wrong "read" or "write"). When an agent does show
	// the mapping, private's write access must raise the finding.
	if privateWrites {
		r.wantFinding(t, "AC-SNMP-WRITE-COMMUNITY", snmpAddr, "private is an rwcommunity")
	}
}

func testOPCUA(t *testing.T, r *activeRun) {
	r.needProber(t, "opcua")
	wantEndpoints := map[netip.Addr][]string{
		opcAddr: {policyNone + " None", policyB256Sha256 + " Sign", policyB256Sha256 + " SignAndEncrypt"},
		weakOPCAddr: {policyNone + " None", policyBasic128Rsa15 + " Sign", policyBasic128Rsa15 + " SignAndEncrypt",
			policyBasic256 + " Sign", policyBasic256 + " SignAndEncrypt", policyB256Sha256 + " Sign", policyB256Sha256 + " SignAndEncrypt"},
	}
	for srv, want := range wantEndpoints {
		seen := map[string]bool{}
		for _, o := range r.observations(otaudit.KindEndpoint, func(o otaudit.Observation) bool { return o.Endpoint.Server.Unmap() == srv }) {
			e := o.Endpoint
			seen[e.SecurityPolicy+" "+e.SecurityMode] = true
			if e.Certificate == nil {
				t.Errorf("%s %s %s: no certificate", srv, e.SecurityPolicy, e.SecurityMode)
			} else if !e.Certificate.SelfSigned || e.Certificate.KeyBits < 2048 {
				t.Errorf("%s certificate: self-signed %v, %d bits; node-opcua makes a self-signed 2048-bit one", srv, e.Certificate.SelfSigned, e.Certificate.KeyBits)
			}
			anonymous := false
			for _, tok := range e.UserTokens {
				anonymous = anonymous || tok.Type == "Anonymous"
			}
			if !anonymous {
				t.Errorf("%s %s %s: no Anonymous token reported", srv, e.SecurityPolicy, e.SecurityMode)
			}
		}
		var got []string
		for k := range seen {
			got = append(got, k)
		}
		sort.Strings(got)
		sort.Strings(want)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s endpoints\n got %q\nwant %q", srv, got, want)
		}
	}

	for _, srv := range []netip.Addr{opcAddr, weakOPCAddr} {
		ids := r.identities(srv, "opcua-buildinfo")
		if len(ids) == 0 {
			t.Errorf("%s: no opcua-buildinfo identity", srv)
			continue
		}
		id := ids[0]
		if id.Vendor != wantOPCManufacturer || id.Firmware != wantOPCVersion || (id.Model != wantOPCProduct && id.Name != wantOPCProduct) {
			t.Errorf("%s BuildInfo identity %+v, want manufacturer %q version %q product %q", srv, id, wantOPCManufacturer, wantOPCVersion, wantOPCProduct)
		}
	}

	logins := map[string]otaudit.LoginProbe{}
	for _, o := range r.observations(otaudit.KindLoginProbe, func(o otaudit.Observation) bool { return o.LoginProbe.Server.Unmap() == opcAddr }) {
		lp := *o.LoginProbe
		key := lp.Method + ":" + lp.User
		if prev, ok := logins[key]; !ok || lp.Accepted && !prev.Accepted {
			logins[key] = lp
		}
	}
	if a := logins["anonymous:"]; !a.Accepted {
		t.Errorf("anonymous login on %s: %+v, want accepted", opcAddr, a)
	} else if a.WritableNodes == 0 {
		t.Errorf("anonymous session on %s: no writable node sampled, but PLC1.Setpoint is CurrentRead|CurrentWrite for every user (sampled %d)", opcAddr, a.Sampled)
	}
	if a := logins["password:admin"]; !a.Accepted || !a.KnownDefault {
		t.Errorf("admin/admin on %s: %+v, want accepted known default", opcAddr, a)
	}
	for k, lp := range logins {
		if lp.Accepted && k != "anonymous:" && k != "password:admin" {
			t.Errorf("%s accepted %s: the server only accepts admin/admin", opcAddr, k)
		}
	}

	r.wantFinding(t, "DC-OPCUA-SECURITYPOLICY-NONE", opcAddr, "None/None endpoint")
	r.wantFinding(t, "DC-OPCUA-CERT-SELF-SIGNED", opcAddr, "node-opcua's own certificate")
	r.wantFinding(t, "AC-OPCUA-ANONYMOUS-ACCESS", opcAddr, "anonymous token, session accepted")
	r.wantFinding(t, "AC-OPCUA-DEFAULT-CREDENTIALS", opcAddr, "admin/admin accepted")
	r.wantFinding(t, "DC-OPCUA-DEPRECATED-POLICY", weakOPCAddr, "Basic128Rsa15 and Basic256 endpoints")
	if r.hasFinding("DC-OPCUA-DEPRECATED-POLICY", opcAddr) {
		t.Errorf("DC-OPCUA-DEPRECATED-POLICY on %s, which offers only None and Basic256Sha256", opcAddr)
	}
}

// testQueries: what `assets`, `findings` and `export` print agrees with the scan.
func testQueries(t *testing.T, r *activeRun) {
	res := runOtaudit(t, time.Minute, "--db", r.db, "--config", r.config, "export", "--format", "json")
	var doc struct {
		Assets   []otaudit.Asset   `json:"assets"`
		Findings []otaudit.Finding `json:"findings"`
	}
	if res.ExitCode != 0 || json.Unmarshal(res.Stdout, &doc) != nil {
		t.Fatalf("export: %v", res)
	}
	if len(doc.Assets) != len(r.assets) || len(doc.Findings) != len(r.findings) {
		t.Errorf("export has %d assets and %d findings; assets/findings list %d and %d", len(doc.Assets), len(doc.Findings), len(r.assets), len(r.findings))
	}
	if len(r.findings) != len(r.out.Findings) {
		t.Errorf("findings lists %d, the scan reported %d", len(r.findings), len(r.out.Findings))
	}
	for _, a := range []netip.Addr{plcAddr, snmpAddr, opcAddr, rtuAddr, weakOPCAddr} {
		if _, ok := r.assets[a]; !ok {
			t.Errorf("%s answers but is not in the inventory", a)
		}
	}
	// No secret in clear anywhere the user can read.
	for _, out := range [][]byte{res.Stdout, r.cli.Stdout, r.cli.Stderr} {
		for _, secret := range []string{"authpass123", "privpass123", wrongCommunity} {
			if strings.Contains(string(out), secret) {
				t.Errorf("secret %q printed in clear", secret[:4]+"…")
			}
		}
	}
}

// ---- output helpers

func logTable(t *testing.T, header []string, rows [][]string) {
	t.Helper()
	sort.Slice(rows, func(i, j int) bool { return rows[i][0] < rows[j][0] })
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
	t.Log("\n" + b.String())
}

func diffLines(a, b []string) string {
	ma, mb := map[string]int{}, map[string]int{}
	for _, s := range a {
		ma[s]++
	}
	for _, s := range b {
		mb[s]++
	}
	var out []string
	for s, n := range ma {
		if mb[s] < n {
			out = append(out, "- "+s)
		}
	}
	for s, n := range mb {
		if ma[s] < n {
			out = append(out, "+ "+s)
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		return "  (same requests, different order)"
	}
	return strings.Join(out, "\n")
}

// testBACnet: the node-bacnet device answers Who-Is with an I-Am broadcast
// to the BACnet port and ReadProperty with its configured strings
// (.ci/testbed/bacnet/server.js); the others have no BACnet and are asked
// one Who-Is (plus its retry only when silent).
func testBACnet(t *testing.T, r *activeRun) {
	r.needProber(t, "bacnet")
	ids := r.identities(bmsAddr, "bacnet-readproperty")
	want := otaudit.DeviceIdentity{IP: bmsAddr, Method: "bacnet-readproperty", Vendor: "Delta Controls Inc.", Model: "eBCON",
		Firmware: "4.2.1", Name: "AHU-3 (device 2601, application software 3.40)"}
	if len(ids) != 1 || ids[0] != want {
		t.Errorf("bacnet identity of %s: %+v, want %+v", bmsAddr, ids, want)
	}
	if a := r.assets[bmsAddr]; !a.Serves("bacnet") || a.Vendor != "Delta Controls Inc." || a.Model != "eBCON" {
		t.Errorf("inventory %s: %+v, want a BACnet device by Delta Controls, model eBCON", bmsAddr, a)
	}
	for _, a := range scanTargets {
		if a != bmsAddr && len(r.identities(a, "bacnet-readproperty")) > 0 {
			t.Errorf("%s has no BACnet device, yet a BACnet identity was reported", a)
		}
	}
}
