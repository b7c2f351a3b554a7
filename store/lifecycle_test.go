package store

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/otaudit/otaudit"
	bolt "go.etcd.io/bbolt"
)

// lifecycleFinding is a finding of check on asset in zone, whose evidence
// comes from the given source.
func lifecycleFinding(check, zone, asset, source string) otaudit.Finding {
	f := otaudit.Finding{
		CheckID: check, Title: check, Objective: otaudit.ObjectiveAC, Severity: otaudit.SeverityHigh,
		Zone: zone, AssetKey: asset, Summary: check + " on " + asset,
		Evidence:  []otaudit.Evidence{{Source: source, Kind: "flow", Detail: "d", FirstSeen: t0, LastSeen: t0}},
		FirstSeen: t0, LastSeen: t0,
	}
	f.ID = otaudit.FindingID(f.CheckID, f.AssetKey, f.Key)
	return f
}

// scanSeeing begins a scan of zone that saw the given assets.
func scanSeeing(t *testing.T, db *DB, zone string, assets ...string) otaudit.Scan {
	t.Helper()
	s := beginScan(t, db, zone)
	var as []otaudit.Asset
	for _, k := range assets {
		as = append(as, otaudit.Asset{Key: k})
	}
	if err := db.UpsertAssets(context.Background(), s.ID, as); err != nil {
		t.Fatal(err)
	}
	return s
}

func statusOf(t *testing.T, db *DB, id string) otaudit.Finding {
	t.Helper()
	f, _, err := db.Finding(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func lastEvent(t *testing.T, db *DB, id string) otaudit.FindingEvent {
	t.Helper()
	_, hist, err := db.Finding(context.Background(), id)
	if err != nil || len(hist) == 0 {
		t.Fatalf("history of %s: %v %v", id, hist, err)
	}
	return hist[len(hist)-1]
}

func TestScanResolvesOnlyWhatItCovered(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	const plc, hmi = "ip:10.0.0.5", "ip:10.0.0.6"
	var (
		pcapOnPLC   = lifecycleFinding("AC-CLEARTEXT-LOGIN-TELNET", "cell-1", plc, "pcap:plant.pcap")
		pcapOnHMI   = lifecycleFinding("SI-INSECURE-MGMT", "cell-1", hmi, "pcap:plant.pcap")
		snmpOnPLC   = lifecycleFinding("AC-DEFAULT-SNMP-COMMUNITY", "cell-1", plc, "snmp:10.0.0.5")
		zoneLevel   = lifecycleFinding("AM-NO-NTP", "cell-1", "zone:cell-1", "pcap:plant.pcap")
		stillThere  = lifecycleFinding("AC-MODBUS-WRITE", "cell-1", plc, "pcap:plant.pcap")
		otherZone   = lifecycleFinding("AC-CLEARTEXT-LOGIN-TELNET", "cell-2", "ip:10.9.0.5", "pcap:other.pcap")
		noCollector = lifecycleFinding("AM-UNKNOWN-DEVICE", "cell-1", plc, "register")
	)
	all := []otaudit.Finding{pcapOnPLC, pcapOnHMI, snmpOnPLC, zoneLevel, stillThere, otherZone, noCollector}
	s1 := scanSeeing(t, db, "cell-1", plc, hmi)
	if err := db.RecordFindings(ctx, s1.ID, all); err != nil {
		t.Fatal(err)
	}

	// The second capture saw the PLC, not the HMI, and only the Modbus
	// write again. An incomplete scan resolves nothing.
	s2 := scanSeeing(t, db, "cell-1", plc, "ip:10.9.0.5")
	if err := db.RecordFindings(ctx, s2.ID, []otaudit.Finding{stillThere}); err != nil {
		t.Fatal(err)
	}
	cov := ScanCoverage{ScanID: s2.ID, Collectors: []string{"pcap"}, Produced: []string{stillThere.ID}, Now: t0.Add(time.Hour)}
	changes, err := db.ApplyScanLifecycle(ctx, cov)
	if err != nil || len(changes) != 0 {
		t.Fatalf("incomplete scan changed %+v (err %v), want nothing", changes, err)
	}
	cov.Complete = true
	if changes, err = db.ApplyScanLifecycle(ctx, cov); err != nil {
		t.Fatal(err)
	}
	var resolved []string
	for _, c := range changes {
		if c.From != otaudit.StatusOpen || c.To != otaudit.StatusResolved {
			t.Errorf("change %+v: want open → resolved", c)
		}
		resolved = append(resolved, c.FindingID)
	}
	if want := []string{pcapOnPLC.ID, zoneLevel.ID}; !sameSet(resolved, want) {
		t.Fatalf("resolved %v, want the pcap finding on the PLC the scan saw and the zone-level one %v", resolved, want)
	}
	for name, f := range map[string]otaudit.Finding{
		"pcap finding on a device the scan did not see": pcapOnHMI,
		"finding from another collector (snmp)":         snmpOnPLC,
		"finding the scan produced again":               stillThere,
		"finding of another zone":                       otherZone,
		"finding whose evidence names no collector":     noCollector,
	} {
		if got := statusOf(t, db, f.ID); got.Status != otaudit.StatusOpen {
			t.Errorf("%s: status %s, want open", name, got.Status)
		}
	}
	got := statusOf(t, db, pcapOnPLC.ID)
	if !strings.Contains(got.StatusReason, "not seen by scan") {
		t.Errorf("resolved reason %q", got.StatusReason)
	}
	ev := lastEvent(t, db, pcapOnPLC.ID)
	if ev.ScanID != s2.ID || ev.Status != otaudit.StatusResolved ||
		!strings.HasPrefix(ev.Note, "resolved: not seen by scan "+itoa(s2.ID)+" which covered the asset "+plc) {
		t.Errorf("resolution event %+v", ev)
	}
	if resolved, _ := db.Findings(ctx, FindingFilter{Status: otaudit.StatusResolved}); len(resolved) != 2 {
		t.Errorf("status index: %d resolved findings, want 2", len(resolved))
	}

	// Seen again: reopened, and the history says so.
	s3 := scanSeeing(t, db, "cell-1", plc)
	if err := db.RecordFindings(ctx, s3.ID, []otaudit.Finding{pcapOnPLC}); err != nil {
		t.Fatal(err)
	}
	if got := statusOf(t, db, pcapOnPLC.ID); got.Status != otaudit.StatusOpen || got.StatusReason != "" {
		t.Fatalf("resolved finding seen again: %s %q, want open with no reason", got.Status, got.StatusReason)
	}
	if ev := lastEvent(t, db, pcapOnPLC.ID); ev.Status != otaudit.StatusOpen || ev.Note != "reopened: seen again by scan "+itoa(s3.ID) {
		t.Errorf("reopen event %+v", ev)
	}
	if rep, err := db.Check(ctx); err != nil || !rep.OK() {
		t.Fatalf("Check: %v %v", err, rep.Problems)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

func TestAcceptedRiskLastsUntilExpiry(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	clock := t0 // Finding() judges expiry by the store's clock; fix it
	db.now = func() time.Time { return clock }
	const plc = "ip:10.0.0.5"
	f := lifecycleFinding("AC-CLEARTEXT-LOGIN-TELNET", "cell-1", plc, "pcap:plant.pcap")
	s1 := scanSeeing(t, db, "cell-1", plc)
	if err := db.RecordFindings(ctx, s1.ID, []otaudit.Finding{f}); err != nil {
		t.Fatal(err)
	}
	until := t0.Add(10 * 24 * time.Hour)
	accepted, err := db.ChangeFindingStatus(ctx, f.ID, StatusChange{Status: otaudit.StatusAcceptedRisk,
		Reason: "line replaced in Q3", By: "alice", Until: until, At: t0})
	if err != nil {
		t.Fatal(err)
	}
	if accepted.Status != otaudit.StatusAcceptedRisk || accepted.StatusBy != "alice" || !accepted.StatusUntil.Equal(until) {
		t.Fatalf("accepted: %+v", accepted)
	}
	if ev := lastEvent(t, db, f.ID); ev.ScanID != 0 || !strings.Contains(ev.Note, "alice") ||
		!strings.Contains(ev.Note, "line replaced in Q3") || !strings.Contains(ev.Note, "2025-03-24") {
		t.Fatalf("acceptance event %+v: want who, why and until", ev)
	}

	// Scans before the expiry: one that does not produce it (but covers
	// the asset) and one that does. It stays accepted with owner and expiry.
	for i, produce := range []bool{false, true} {
		s := scanSeeing(t, db, "cell-1", plc)
		var produced []string
		if produce {
			produced = []string{f.ID}
			if err := db.RecordFindings(ctx, s.ID, []otaudit.Finding{f}); err != nil {
				t.Fatal(err)
			}
		}
		at := t0.Add(time.Duration(i+1) * 24 * time.Hour)
		clock = at
		if _, err := db.ApplyScanLifecycle(ctx, ScanCoverage{ScanID: s.ID, Complete: true, Collectors: []string{"pcap"}, Produced: produced, Now: at}); err != nil {
			t.Fatal(err)
		}
		got := statusOf(t, db, f.ID)
		if got.Status != otaudit.StatusAcceptedRisk || got.StatusBy != "alice" || !got.StatusUntil.Equal(until) || got.StatusReason != "line replaced in Q3" {
			t.Fatalf("scan %d before expiry (produced %t): %s by %q until %v", s.ID, produce, got.Status, got.StatusBy, got.StatusUntil)
		}
	}

	// Reads: accepted just before the expiry, open from the expiry on.
	before, _ := db.Findings(ctx, FindingFilter{Now: until.Add(-time.Second), Status: otaudit.StatusAcceptedRisk})
	if len(before) != 1 {
		t.Fatalf("a second before expiry: %d accepted findings, want 1", len(before))
	}
	view, _ := db.Findings(ctx, FindingFilter{Now: until, Status: otaudit.StatusOpen})
	if len(view) != 1 || view[0].Status != otaudit.StatusOpen || !strings.Contains(view[0].StatusReason, "expired") ||
		view[0].StatusBy != "" || !view[0].StatusUntil.IsZero() {
		t.Fatalf("at expiry, reads must show it open: %+v", view)
	}
	if acc, _ := db.Findings(ctx, FindingFilter{Now: until, Status: otaudit.StatusAcceptedRisk}); len(acc) != 0 {
		t.Fatalf("at expiry, the accepted filter still lists %d", len(acc))
	}
	clock = until
	if one := statusOf(t, db, f.ID); one.Status != otaudit.StatusOpen {
		t.Fatalf("Finding() at expiry: %s, want open", one.Status)
	}

	// The next scan commit (even one that did not produce it, and that is
	// incomplete) stores what reads showed.
	s := scanSeeing(t, db, "cell-1")
	changes, err := db.ApplyScanLifecycle(ctx, ScanCoverage{ScanID: s.ID, Collectors: []string{"pcap"}, Now: until.Add(time.Hour)})
	if err != nil || len(changes) != 1 || changes[0].From != otaudit.StatusAcceptedRisk || changes[0].To != otaudit.StatusOpen {
		t.Fatalf("expiry at commit: %+v %v", changes, err)
	}
	var stored otaudit.Finding
	_ = db.view("raw", func(tx *bolt.Tx) error {
		var err error
		stored, _, err = getFinding(tx, f.ID)
		return err
	})
	if stored.Status != view[0].Status || stored.StatusReason != view[0].StatusReason || stored.StatusBy != "" || !stored.StatusUntil.IsZero() {
		t.Fatalf("stored after commit %s %q, read view was %s %q", stored.Status, stored.StatusReason, view[0].Status, view[0].StatusReason)
	}
	if ev := lastEvent(t, db, f.ID); ev.ScanID != s.ID || ev.Status != otaudit.StatusOpen || !strings.HasPrefix(ev.Note, "reopened: accepted risk expired") {
		t.Fatalf("expiry event %+v", ev)
	}
	if rep, err := db.Check(ctx); err != nil || !rep.OK() {
		t.Fatalf("Check: %v %v", err, rep.Problems)
	}
}

func TestFalsePositiveStaysAndReopen(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	const plc = "ip:10.0.0.5"
	f := lifecycleFinding("AM-UNKNOWN-DEVICE", "cell-1", plc, "pcap:plant.pcap")
	s1 := scanSeeing(t, db, "cell-1", plc)
	if err := db.RecordFindings(ctx, s1.ID, []otaudit.Finding{f}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ChangeFindingStatus(ctx, f.ID, StatusChange{Status: otaudit.StatusFalsePositive, Reason: "it is the historian", By: "bob"}); err != nil {
		t.Fatal(err)
	}
	// A covering scan that does not produce it, then one that does.
	s2 := scanSeeing(t, db, "cell-1", plc)
	if _, err := db.ApplyScanLifecycle(ctx, ScanCoverage{ScanID: s2.ID, Complete: true, Collectors: []string{"pcap"}}); err != nil {
		t.Fatal(err)
	}
	s3 := scanSeeing(t, db, "cell-1", plc)
	if err := db.RecordFindings(ctx, s3.ID, []otaudit.Finding{f}); err != nil {
		t.Fatal(err)
	}
	if got := statusOf(t, db, f.ID); got.Status != otaudit.StatusFalsePositive || got.StatusBy != "bob" || got.StatusReason != "it is the historian" {
		t.Fatalf("false positive after scans: %+v", got)
	}

	got, err := db.ChangeFindingStatus(ctx, f.ID, StatusChange{Status: otaudit.StatusOpen, Reason: "historian moved", By: "carol"})
	if err != nil || got.Status != otaudit.StatusOpen {
		t.Fatalf("reopen: %+v %v", got, err)
	}
	if ev := lastEvent(t, db, f.ID); ev.Note != "reopened by carol: historian moved" {
		t.Fatalf("reopen event note %q", ev.Note)
	}
	if _, err := db.ChangeFindingStatus(ctx, f.ID, StatusChange{Status: otaudit.StatusOpen, Reason: "again"}); !errors.Is(err, ErrInvalidChange) {
		t.Fatalf("reopening an open finding: %v, want ErrInvalidChange", err)
	}

	refused := []StatusChange{
		{Status: otaudit.StatusAcceptedRisk, Reason: "r"},                                             // no owner
		{Status: otaudit.StatusFalsePositive, Reason: "r", By: " "},                                   // blank owner
		{Status: otaudit.StatusAcceptedRisk, By: "a"},                                                 // no reason
		{Status: otaudit.StatusAcceptedRisk, Reason: "r", By: "a", Until: t0, At: t0},                 // expiry not in the future
		{Status: otaudit.StatusFalsePositive, Reason: "r", By: "a", Until: t0.Add(time.Hour), At: t0}, // expiry on a non-acceptance
		{Status: "fixed", Reason: "r", By: "a"},
	}
	for _, ch := range refused {
		if _, err := db.ChangeFindingStatus(ctx, f.ID, ch); !errors.Is(err, ErrInvalidChange) || !strings.Contains(err.Error(), f.ID) {
			t.Errorf("%+v: %v, want ErrInvalidChange naming the finding", ch, err)
		}
	}
	if _, err := db.ChangeFindingStatus(ctx, "0123456789abcdef0123", StatusChange{Status: otaudit.StatusOpen, Reason: "r"}); !errors.Is(err, ErrNotFound) ||
		!strings.Contains(err.Error(), "0123456789abcdef0123") || !strings.Contains(err.Error(), db.Path()) {
		t.Fatalf("unknown ID: %v, want ErrNotFound naming the ID and the file", err)
	}
	_, hist, _ := db.Finding(ctx, f.ID)
	if n := len(hist); n != 4 { // s1, false positive, s3, reopen
		t.Fatalf("history has %d events, want 4 (refused changes leave none): %+v", n, hist)
	}
}

func TestEvidenceCollectors(t *testing.T) {
	f := otaudit.Finding{Evidence: []otaudit.Evidence{
		{Source: "snmp:10.0.0.5"}, {Source: "pcap:a.pcap"}, {Source: "pcap:b.pcap"}, {Source: "register"}, {Source: ":x"},
	}}
	if got := EvidenceCollectors(&f); !slices.Equal(got, []string{"pcap", "snmp"}) {
		t.Fatalf("EvidenceCollectors = %v", got)
	}
	for key, want := range map[string]bool{"ip:10.0.0.5": true, "ip:fe80::1": true, "ip:invalid IP": false, "zone:cell-1": false, "": false} {
		if isDeviceKey(key) != want {
			t.Errorf("isDeviceKey(%q) = %t", key, !want)
		}
	}
}

// BenchmarkApplyScanLifecycle measures one scan commit's lifecycle pass
// over a zone of 20000 findings, half of them on assets the scan saw.
func BenchmarkApplyScanLifecycle(b *testing.B) {
	ctx := context.Background()
	db := openTest(b, Options{})
	const n = 20000
	fs := make([]otaudit.Finding, n)
	var seen []otaudit.Asset
	for i := range fs {
		fs[i] = realisticFinding(i)
		fs[i].Zone = "cell-1"
		if i%2 == 0 {
			seen = append(seen, otaudit.Asset{Key: fs[i].AssetKey})
		}
	}
	s := beginScan(b, db, "cell-1")
	if err := db.RecordFindings(ctx, s.ID, fs); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		s := beginScan(b, db, "cell-1")
		if err := db.UpsertAssets(ctx, s.ID, seen); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		// Nothing produced: every open finding on a seen asset resolves on
		// the first pass; later passes find nothing open to resolve.
		if _, err := db.ApplyScanLifecycle(ctx, ScanCoverage{ScanID: s.ID, Complete: true, Collectors: []string{"pcap"}}); err != nil {
			b.Fatal(err)
		}
	}
}
