package agent

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"flag"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/checks"
	"github.com/otaudit/otaudit/collectors/active"
	"github.com/otaudit/otaudit/collectors/active/activetest"
	"github.com/otaudit/otaudit/configs"
)

var updateCommission = flag.Bool("update", false, "rewrite testdata/commission/clean.pcap from the generator")

// The clean commissioning fixture: zone "line-7" where the engineering
// workstation polls a registered PLC with Modbus reads only (and asks it
// to identify itself, FC 43/14), and the PLC keeps its clock with the
// zone's NTP server. No logins, no writes, nothing from outside.
const (
	cleanEWS, cleanEWSMAC = "10.30.1.5", "3c:d9:2b:7a:30:05"
	cleanPLC, cleanPLCMAC = "10.30.2.10", "00:80:f4:30:02:10"
	cleanNTP, cleanNTPMAC = "10.30.0.1", "00:90:e8:30:00:01"
	cleanCaptureFile      = "testdata/commission/clean.pcap"
	cleanZoneFile         = "testdata/commission/clean-zone.yaml"
)

var cleanStart = time.Date(2026, 4, 14, 9, 0, 0, 0, time.UTC)

// cleanCapture returns the clean fixture capture; the same bytes on every
// call.
func cleanCapture(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	at := cleanStart
	write := func(layersOut ...gopacket.SerializableLayer) {
		sb := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, layersOut...); err != nil {
			t.Fatal(err)
		}
		data := sb.Bytes()
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: at, CaptureLength: len(data), Length: len(data)}, data); err != nil {
			t.Fatal(err)
		}
		at = at.Add(3 * time.Millisecond)
	}
	type endpoint struct {
		ip  net.IP
		mac net.HardwareAddr
	}
	ep := func(ip, mac string) endpoint {
		m, err := net.ParseMAC(mac)
		if err != nil {
			t.Fatal(err)
		}
		return endpoint{net.ParseIP(ip).To4(), m}
	}
	ews, plc, ntp := ep(cleanEWS, cleanEWSMAC), ep(cleanPLC, cleanPLCMAC), ep(cleanNTP, cleanNTPMAC)
	ipID := uint16(1)
	frame := func(from, to endpoint, proto layers.IPProtocol) (*layers.Ethernet, *layers.IPv4) {
		ipID++
		return &layers.Ethernet{SrcMAC: from.mac, DstMAC: to.mac, EthernetType: layers.EthernetTypeIPv4},
			&layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: from.ip, DstIP: to.ip, Id: ipID}
	}

	// ARP: the workstation resolves the PLC.
	arp := func(from, to endpoint, op uint16) {
		dst := to.mac
		if op == layers.ARPRequest {
			dst = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
		}
		write(&layers.Ethernet{SrcMAC: from.mac, DstMAC: dst, EthernetType: layers.EthernetTypeARP},
			&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
				Operation: op, SourceHwAddress: from.mac, SourceProtAddress: from.ip,
				DstHwAddress: map[bool]net.HardwareAddr{true: {0, 0, 0, 0, 0, 0}, false: to.mac}[op == layers.ARPRequest], DstProtAddress: to.ip})
	}
	arp(ews, plc, layers.ARPRequest)
	arp(plc, ews, layers.ARPReply)

	// Modbus/TCP: one connection, identification then read-only polling.
	const clientPort = 50102
	cseq, sseq := uint32(7000), uint32(91000)
	tcp := func(fromClient bool, syn, fin bool, payload []byte) {
		from, to, sp, dp := ews, plc, layers.TCPPort(clientPort), layers.TCPPort(502)
		seq, ack := &cseq, sseq
		if !fromClient {
			from, to, sp, dp = plc, ews, 502, clientPort
			seq, ack = &sseq, cseq
		}
		eth, ip := frame(from, to, layers.IPProtocolTCP)
		seg := &layers.TCP{SrcPort: sp, DstPort: dp, Seq: *seq, Ack: ack, SYN: syn, FIN: fin, ACK: !(syn && fromClient),
			PSH: len(payload) > 0, Window: 8192}
		if err := seg.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		write(eth, ip, seg, gopacket.Payload(payload))
		*seq += uint32(len(payload))
		if syn || fin {
			*seq++
		}
	}
	tcp(true, true, false, nil)
	tcp(false, true, false, nil)
	tcp(true, false, false, nil)
	mbap := func(tid uint16, pdu []byte) []byte {
		n := len(pdu) + 1
		return append([]byte{byte(tid >> 8), byte(tid), 0, 0, byte(n >> 8), byte(n), 1}, pdu...)
	}
	tid := uint16(1)
	idResponse := []byte{0x2b, 0x0e, 0x01, 0x01, 0x00, 0x00, 0x03}
	for i, v := range []string{"Schneider Electric", "BMXP342020", "v3.1"} {
		idResponse = append(append(idResponse, byte(i), byte(len(v))), v...)
	}
	tcp(true, false, false, mbap(tid, []byte{0x2b, 0x0e, 0x01, 0x00}))
	tcp(false, false, false, mbap(tid, idResponse))
	for cycle := range 20 {
		tid++
		at = cleanStart.Add(time.Duration(cycle+1) * time.Second)
		tcp(true, false, false, mbap(tid, []byte{0x03, 0x00, 0x00, 0x00, 0x04})) // FC 3: 4 holding registers from 0
		tcp(false, false, false, mbap(tid, []byte{0x03, 0x08, 0, 1, 0, 2, 0, 3, 0, byte(cycle)}))
		tid++
		tcp(true, false, false, mbap(tid, []byte{0x04, 0x00, 0x10, 0x00, 0x02})) // FC 4: 2 input registers from 16
		tcp(false, false, false, mbap(tid, []byte{0x04, 0x04, 0x01, 0x2c, 0x00, byte(cycle)}))
	}
	tcp(true, false, true, nil)
	tcp(false, false, true, nil)
	tcp(true, false, false, nil)

	// NTP: the PLC asks the zone's time server, twice.
	for i := range 2 {
		at = cleanStart.Add(time.Duration(5+10*i) * time.Second)
		for _, dir := range []struct {
			from, to endpoint
			mode     byte
		}{{plc, ntp, 3}, {ntp, plc, 4}} {
			eth, ip := frame(dir.from, dir.to, layers.IPProtocolUDP)
			udp := &layers.UDP{SrcPort: 123, DstPort: 123}
			if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
				t.Fatal(err)
			}
			msg := make([]byte, 48)
			msg[0] = 4<<3 | dir.mode // NTPv4
			if dir.mode == 4 {
				msg[1] = 2 // stratum 2
			}
			write(eth, ip, udp, gopacket.Payload(msg))
		}
	}
	return buf.Bytes()
}

// TestCleanCaptureIsCurrent keeps the committed fixture (which the CLI
// test reads) equal to what the generator writes; -update rewrites it.
func TestCleanCaptureIsCurrent(t *testing.T) {
	want := cleanCapture(t)
	if *updateCommission {
		if err := os.WriteFile(cleanCaptureFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(cleanCaptureFile)
	if err != nil {
		t.Fatalf("%v (run go test ./agent -run TestCleanCaptureIsCurrent -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run go test ./agent -run TestCleanCaptureIsCurrent -update", cleanCaptureFile)
	}
}

// cleanAgent is an agent on the clean zone with the clean capture, its
// clock inside every attestation's validity.
func cleanAgent(t *testing.T) (*Agent, string) {
	t.Helper()
	dir := t.TempDir()
	cfg, err := configs.Load(cleanZoneFile)
	if err != nil {
		t.Fatal(err)
	}
	capture := filepath.Join(dir, "clean.pcap")
	if err := os.WriteFile(capture, cleanCapture(t), 0o600); err != nil {
		t.Fatal(err)
	}
	a := &Agent{Config: cfg, DBPath: filepath.Join(dir, "o.db"), LockTimeout: 200 * time.Millisecond,
		Now: func() time.Time { return cleanStart.Add(time.Hour) }}
	return a, capture
}

func verdictOf(c checks.Commissioning, id string) (checks.RequirementVerdict, bool) {
	for _, r := range c.Requirements {
		if r.ID == id {
			return r, true
		}
	}
	return checks.RequirementVerdict{}, false
}

func TestCommissionCleanZonePassesAtSL1(t *testing.T) {
	ctx := context.Background()
	a, capture := cleanAgent(t)
	res, err := a.Commission(ctx, CommissionRequest{Pcaps: []string{capture}, TargetSL: 1})
	if err != nil {
		t.Fatal(err)
	}
	v := res.Verdict
	if v.Overall != checks.OverallPass || !res.Accepted {
		t.Fatalf("overall %s (accepted %v), failed %v, needing attestation %v", v.Overall, res.Accepted, v.Failed, v.NeedsAttestation)
	}
	if len(res.Scans) != 1 || res.Scans[0].Status != otaudit.ScanComplete {
		t.Fatalf("scans: %+v", res.Scans)
	}
	// The capture itself is clean: no finding at all.
	for _, s := range res.Scans {
		if s.Stats.Findings != 0 {
			t.Errorf("scan %d has %d findings; the clean capture must have none", s.ID, s.Stats.Findings)
		}
	}
	// The network shows what it can; the zone's attestations cover the
	// rest, and nothing above SL 1 is judged.
	for _, id := range []string{"SR 1.13", "SR 3.1", "SR 5.3", "SR 7.7"} {
		if r, _ := verdictOf(v, id); r.Verdict != checks.VerdictPass {
			t.Errorf("%s: %s (%s), want pass: observed as met on the clean capture", id, r.Verdict, r.Reason)
		}
	}
	if r, _ := verdictOf(v, "SR 7.3"); r.Verdict != checks.VerdictAttested || r.Attestation == nil || r.Attestation.Approver == "" {
		t.Errorf("SR 7.3 (backup, not observable): %+v, want attested with its approver", r)
	}
	if r, _ := verdictOf(v, "SR 1.5"); r.Verdict != checks.VerdictCompensated {
		t.Errorf("SR 1.5: %s, want compensated (the zone declares a compensating countermeasure)", r.Verdict)
	}
	for _, r := range v.Requirements {
		if r.Level > 1 {
			t.Errorf("%s (SL%d) judged at --target-sl 1", r.ID, r.Level)
		}
	}
	if v.Count(checks.VerdictPass) == 0 || v.AboveTarget == 0 {
		t.Errorf("pass %d, above target %d", v.Count(checks.VerdictPass), v.AboveTarget)
	}
	// The score over the same evidence agrees: no FR has a potential gap.
	for _, l := range res.Score.FRs {
		if l.Target != 1 || l.PotentialGap != 0 || l.DefiniteGap != 0 {
			t.Errorf("%s: %+v, want target 1 with no gap", l.FR, l)
		}
	}

	// Against the configured SL-T 2 the same evidence leaves requirements
	// unshown: not a failure, but not accepted without --allow-attestations.
	res2, err := a.Commission(ctx, CommissionRequest{Pcaps: []string{capture}})
	if err != nil {
		t.Fatal(err)
	}
	if res2.Verdict.Overall != checks.OverallNeedsAttestation || res2.Accepted || len(res2.Verdict.Failed) != 0 {
		t.Fatalf("at SL-T 2: overall %s accepted %v failed %v", res2.Verdict.Overall, res2.Accepted, res2.Verdict.Failed)
	}
	res3, err := a.Commission(ctx, CommissionRequest{Pcaps: []string{capture}, AllowAttestations: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res3.Accepted {
		t.Fatal("--allow-attestations must accept PASS WITH ATTESTATIONS REQUIRED")
	}
}

func TestCommissionDemoFails(t *testing.T) {
	a, capture := demoAgent(t)
	res, err := a.Commission(context.Background(), CommissionRequest{Pcaps: []string{capture}, AllowAttestations: true, SetBaseline: true})
	if err != nil {
		t.Fatal(err)
	}
	v := res.Verdict
	if v.Overall != checks.OverallFail || res.Accepted {
		t.Fatalf("overall %s accepted %v: --allow-attestations never accepts a failure", v.Overall, res.Accepted)
	}
	want := []string{"SR 1.2", "SR 1.5", "SR 1.13", "SR 2.1", "SR 4.1", "SR 4.1 RE1", "SR 5.2 RE1", "SR 7.7", "SR 7.8"}
	if !slices.Equal(v.Failed, want) {
		t.Errorf("failed %v, want %v", v.Failed, want)
	}
	// Every failure names its findings, and those findings disprove it.
	for _, r := range v.Requirements {
		if r.Verdict != checks.VerdictFail {
			continue
		}
		if len(r.Findings) == 0 || len(r.Checks) == 0 {
			t.Errorf("%s fails without findings: %+v", r.ID, r)
		}
		for _, f := range r.Findings {
			if !slices.ContainsFunc(f.Refs.Disproves, func(x otaudit.SRRef) bool { return x.ID == r.ID }) {
				t.Errorf("%s lists finding %s (%s) that does not disprove it", r.ID, f.ID, f.CheckID)
			}
			if !slices.Contains(r.Checks, f.CheckID) {
				t.Errorf("%s: finding of %s not among its checks %v", r.ID, f.CheckID, r.Checks)
			}
		}
	}
	sr21, _ := verdictOf(v, "SR 2.1")
	if !slices.Equal(sr21.Checks, []string{"AC-MODBUS-WRITE-UNAUTHORIZED-SOURCE"}) {
		t.Errorf("SR 2.1 checks %v", sr21.Checks)
	}
	// The verdict and the stored score agree on what is disproved at SL-T.
	var backlog []string
	for _, b := range res.Score.Backlog {
		backlog = append(backlog, b.Requirement)
	}
	slices.Sort(backlog)
	failed := slices.Sorted(slices.Values(v.Failed))
	if !slices.Equal(backlog, failed) {
		t.Errorf("backlog %v, failed %v", backlog, failed)
	}
	if res.Baseline != nil {
		t.Error("a failed commissioning must not record a baseline")
	}
	if _, err := a.Baseline(context.Background()); !errors.Is(err, ErrNoBaseline) {
		t.Errorf("baseline after a failed commissioning: %v, want ErrNoBaseline", err)
	}
}

func TestCommissionSetBaselineOnlyWhenAccepted(t *testing.T) {
	ctx := context.Background()
	a, capture := cleanAgent(t)
	// Not accepted (SL-T 2 leaves requirements needing attestation): no baseline.
	res, err := a.Commission(ctx, CommissionRequest{Pcaps: []string{capture}, SetBaseline: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted || res.Baseline != nil {
		t.Fatalf("accepted %v, baseline %v", res.Accepted, res.Baseline)
	}
	if _, err := a.Baseline(ctx); !errors.Is(err, ErrNoBaseline) {
		t.Fatalf("baseline after a run that was not accepted: %v", err)
	}
	res, err = a.Commission(ctx, CommissionRequest{Pcaps: []string{capture}, TargetSL: 1, SetBaseline: true, BaselineBy: "I. Integrator"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Accepted || res.Baseline == nil {
		t.Fatalf("accepted %v, baseline %v", res.Accepted, res.Baseline)
	}
	b, err := a.Baseline(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ips []string
	for _, as := range b.Assets {
		ips = append(ips, as.IP.String())
	}
	slices.Sort(ips)
	if !slices.Equal(ips, []string{cleanNTP, cleanEWS, cleanPLC}) || b.ApprovedBy != "I. Integrator" ||
		b.ScanID != res.Scans[0].ID || !strings.Contains(b.Note, "PASS") {
		t.Fatalf("baseline: assets %v by %q scan %d note %q", ips, b.ApprovedBy, b.ScanID, b.Note)
	}
	if len(b.Writers) != 0 {
		t.Errorf("the clean capture has no writers, baseline lists %v", b.Writers)
	}
}

func TestCommissionNeedsSomethingToCollect(t *testing.T) {
	a := &Agent{DBPath: filepath.Join(t.TempDir(), "o.db")}
	_, err := a.Commission(context.Background(), CommissionRequest{})
	if !errors.Is(err, ErrNothingToCollect) {
		t.Fatalf("got %v, want ErrNothingToCollect", err)
	}
	if _, err := a.Commission(context.Background(), CommissionRequest{Pcaps: []string{"x"}, TargetSL: 5}); err == nil {
		t.Fatal("target SL 5 accepted")
	}
}

func TestCommissionUnreadableCaptureIsAnError(t *testing.T) {
	a, capture := cleanAgent(t)
	missing := filepath.Join(t.TempDir(), "missing.pcap")
	res, err := a.Commission(context.Background(), CommissionRequest{Pcaps: []string{capture, missing}, TargetSL: 1})
	var se *SourceError
	if !errors.As(err, &se) || res != nil {
		t.Fatalf("got %v (result %v), want a SourceError and no verdict", err, res)
	}
}

// junitDoc mirrors the JUnit schema's elements the test checks, decoded
// independently of the writer's types.
type junitDoc struct {
	XMLName  xml.Name `xml:"testsuites"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Skipped  int      `xml:"skipped,attr"`
	Suites   []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Skipped  int    `xml:"skipped,attr"`
		Props    []struct {
			Name  string `xml:"name,attr"`
			Value string `xml:"value,attr"`
		} `xml:"properties>property"`
		Cases []struct {
			Name      string `xml:"name,attr"`
			Classname string `xml:"classname,attr"`
			Failure   *struct {
				Message string `xml:"message,attr"`
				Type    string `xml:"type,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
			Skipped *struct {
				Message string `xml:"message,attr"`
			} `xml:"skipped"`
			SystemOut string `xml:"system-out"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func TestCommissionJUnit(t *testing.T) {
	a, capture := demoAgent(t)
	res, err := a.Commission(context.Background(), CommissionRequest{Pcaps: []string{capture}})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := res.WriteJUnit(&buf); err != nil {
		t.Fatal(err)
	}
	var doc junitDoc
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("JUnit does not parse: %v\n%s", err, buf.String())
	}
	if len(doc.Suites) != len(otaudit.FRs) {
		t.Fatalf("%d testsuites, want one per FR", len(doc.Suites))
	}
	v := res.Verdict
	tests, failures, skipped := 0, 0, 0
	for i, s := range doc.Suites {
		fr := otaudit.FRs[i]
		if !strings.HasPrefix(s.Name, fr.String()+" "+fr.Code()) {
			t.Errorf("suite %d named %q", i, s.Name)
		}
		var nf, ns int
		for _, c := range s.Cases {
			id := strings.Join(strings.Fields(c.Name)[:2], " ")
			if f := strings.Fields(c.Name); len(f) > 2 && strings.HasPrefix(f[2], "RE") {
				id += " " + f[2]
			}
			r, ok := verdictOf(v, id)
			if !ok || r.FR != fr {
				t.Errorf("%s: testcase %q is no requirement of this FR at SL-T", s.Name, c.Name)
				continue
			}
			switch r.Verdict {
			case checks.VerdictFail:
				nf++
				if c.Failure == nil || c.Skipped != nil {
					t.Errorf("%s: failing requirement without <failure>", c.Name)
					continue
				}
				for _, f := range r.Findings {
					if !strings.Contains(c.Failure.Text, f.ID) || !strings.Contains(c.Failure.Text, f.CheckID) {
						t.Errorf("%s: failure text lacks finding %s (%s)", c.Name, f.ID, f.CheckID)
					}
				}
				if c.Failure.Type != r.Severity.String() {
					t.Errorf("%s: failure type %q, want %q", c.Name, c.Failure.Type, r.Severity)
				}
			case checks.VerdictNeedsAttestation:
				ns++
				if c.Skipped == nil || c.Failure != nil {
					t.Errorf("%s: needs attestation but not skipped", c.Name)
				}
			default:
				if c.Skipped != nil || c.Failure != nil || c.SystemOut == "" {
					t.Errorf("%s (%s): want a plain pass with its reason", c.Name, r.Verdict)
				}
			}
		}
		if s.Tests != len(s.Cases) || s.Failures != nf || s.Skipped != ns {
			t.Errorf("%s: counts tests %d failures %d skipped %d, cases say %d/%d/%d", s.Name, s.Tests, s.Failures, s.Skipped, len(s.Cases), nf, ns)
		}
		target := ""
		for _, p := range s.Props {
			if p.Name == "sl_target" {
				target = p.Value
			}
		}
		if target != "2" {
			t.Errorf("%s: sl_target property %q", s.Name, target)
		}
		tests, failures, skipped = tests+s.Tests, failures+nf, skipped+ns
	}
	if doc.Tests != tests || doc.Failures != failures || doc.Skipped != skipped {
		t.Errorf("testsuites totals %d/%d/%d, suites add up to %d/%d/%d", doc.Tests, doc.Failures, doc.Skipped, tests, failures, skipped)
	}
	if tests != len(v.Requirements) || failures != len(v.Failed) || skipped != len(v.NeedsAttestation) {
		t.Errorf("JUnit %d/%d/%d, verdict %d/%d/%d", tests, failures, skipped, len(v.Requirements), len(v.Failed), len(v.NeedsAttestation))
	}
}

// firmwareProber stands in for the active Modbus collector: every target
// says it runs firmware v9.9 (the register says v3.1).
type firmwareProber struct{}

func (firmwareProber) Name() string { return "modbus" }
func (firmwareProber) Plan(t active.Target, _ active.Limits) []active.PlannedRequest {
	return []active.PlannedRequest{{Target: t.Addr, Protocol: "modbus", Kind: "read-device-id", MaxAttempts: 1}}
}
func (firmwareProber) Probe(ctx context.Context, s *active.Session, t active.Target, emit func(otaudit.Observation)) error {
	if err := s.Do(ctx, "modbus", "read-device-id", "", func(context.Context) error { return nil }); err != nil {
		return err
	}
	emit(otaudit.Observation{Kind: otaudit.KindIdentity, Source: "modbus:active", FirstSeen: cleanStart, LastSeen: cleanStart, Count: 1,
		Identity: &otaudit.DeviceIdentity{IP: t.Addr, Method: "modbus-fc43", Vendor: "Schneider Electric", Model: "BMXP342020", Firmware: "v9.9"}})
	return nil
}

// TestCommissionJudgesPassiveAndActiveTogether: SR 1.13 can only pass on
// the capture's evidence and SR 7.8 can only fail on the active scan's, so
// both verdicts together show the two scans were judged as one.
func TestCommissionJudgesPassiveAndActiveTogether(t *testing.T) {
	a, capture := cleanAgent(t)
	a.Config.Active.Enabled = true
	res, err := a.Commission(context.Background(), CommissionRequest{
		Pcaps: []string{capture},
		Active: &ActiveRequest{Targets: []string{cleanPLC}, Probers: []active.Prober{firmwareProber{}},
			SchedulerOptions: []active.Option{active.WithClock(activetest.NewVirtualClock(cleanStart))}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Scans) != 2 || res.Scans[0].Mode != "passive" || res.Scans[1].Mode != "active" {
		t.Fatalf("scans %+v", res.Scans)
	}
	if !slices.Equal(res.Collected, []string{"modbus", "pcap"}) {
		t.Errorf("collected %v", res.Collected)
	}
	v := res.Verdict
	if r, _ := verdictOf(v, "SR 1.13"); r.Verdict != checks.VerdictPass {
		t.Errorf("SR 1.13: %s (%s), want pass on the capture's evidence", r.Verdict, r.Reason)
	}
	r, _ := verdictOf(v, "SR 7.8")
	if r.Verdict != checks.VerdictFail || !slices.Contains(r.Checks, "AM-REGISTER-MISMATCH") {
		t.Fatalf("SR 7.8: %s %v, want a failure by AM-REGISTER-MISMATCH from the active scan", r.Verdict, r.Checks)
	}
	if v.Overall != checks.OverallFail || res.Accepted {
		t.Errorf("overall %s accepted %v", v.Overall, res.Accepted)
	}
}

// TestCommissionHonoursFindingStatus: a finding marked false positive no
// longer fails its requirement; an accepted risk still does (as in the
// score: accepting a risk does not make the requirement met).
func TestCommissionHonoursFindingStatus(t *testing.T) {
	ctx := context.Background()
	a, capture := demoAgent(t)
	first, err := a.Commission(ctx, CommissionRequest{Pcaps: []string{capture}})
	if err != nil {
		t.Fatal(err)
	}
	sr21, _ := verdictOf(first.Verdict, "SR 2.1")
	if sr21.Verdict != checks.VerdictFail || len(sr21.Findings) != 1 {
		t.Fatalf("SR 2.1: %+v", sr21)
	}
	write := sr21.Findings[0].ID
	if _, err := a.SetFindingStatus(ctx, write, Triage{Status: otaudit.StatusAcceptedRisk, Reason: "jog test", By: "O. Wner"}); err != nil {
		t.Fatal(err)
	}
	res, err := a.Commission(ctx, CommissionRequest{Pcaps: []string{capture}})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := verdictOf(res.Verdict, "SR 2.1"); r.Verdict != checks.VerdictFail || r.Findings[0].Status != otaudit.StatusAcceptedRisk {
		t.Errorf("SR 2.1 with an accepted risk: %s, want fail naming the accepted finding", r.Verdict)
	}
	if _, err := a.SetFindingStatus(ctx, write, Triage{Status: otaudit.StatusFalsePositive, Reason: "test rig", By: "O. Wner"}); err != nil {
		t.Fatal(err)
	}
	res, err = a.Commission(ctx, CommissionRequest{Pcaps: []string{capture}})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(res.Verdict.Failed, "SR 2.1") {
		t.Errorf("SR 2.1 still fails after its only finding was marked false positive: %v", res.Verdict.Failed)
	}
	if !slices.Contains(res.Verdict.Failed, "SR 1.5") {
		t.Errorf("SR 1.5 must still fail: %v", res.Verdict.Failed)
	}
}
