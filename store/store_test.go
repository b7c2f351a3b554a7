package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otaudit/otaudit"
)

func TestScansLifecycle(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	a := beginScan(t, db, "cell-1")
	b := beginScan(t, db, "cell-2")
	if a.ID == 0 || b.ID <= a.ID {
		t.Fatalf("scan IDs not monotonic: %d then %d", a.ID, b.ID)
	}
	if a.Status != otaudit.ScanRunning || a.PID != os.Getpid() || a.Host == "" || a.Started.IsZero() {
		t.Fatalf("BeginScan did not fill the record: %+v", a)
	}
	a.Status = otaudit.ScanComplete
	a.Stats.Observations = 42
	if err := db.FinishScan(ctx, &a); err != nil {
		t.Fatal(err)
	}
	got, err := db.Scan(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != otaudit.ScanComplete || got.Stats.Observations != 42 || got.Finished.IsZero() {
		t.Fatalf("FinishScan not stored: %+v", got)
	}
	all, err := db.Scans(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].ID != a.ID || all[1].ID != b.ID {
		t.Fatalf("Scans = %+v, want %d then %d", all, a.ID, b.ID)
	}
	if _, err := db.Scan(ctx, 999); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Scan(999) = %v, want ErrNotFound", err)
	}
	missing := otaudit.Scan{ID: 999, Status: otaudit.ScanComplete}
	if err := db.FinishScan(ctx, &missing); !errors.Is(err, ErrNotFound) {
		t.Fatalf("FinishScan(999) = %v, want ErrNotFound", err)
	}
}

func TestObservationsRoundTrip(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{ObservationBatch: 1000}) // several batches and read chunks
	s1 := beginScan(t, db, "z")
	s2 := beginScan(t, db, "z")
	want := realisticObservations(5000, 1)
	// Two calls to one scan continue its sequence; another scan's
	// observations in between must not interleave.
	if err := db.AddObservations(ctx, s1.ID, want[:3000]); err != nil {
		t.Fatal(err)
	}
	if err := db.AddObservations(ctx, s2.ID, realisticObservations(10, 2)); err != nil {
		t.Fatal(err)
	}
	if err := db.AddObservations(ctx, s1.ID, want[3000:]); err != nil {
		t.Fatal(err)
	}
	var got []otaudit.Observation
	if err := db.Observations(ctx, s1.ID, func(o otaudit.Observation) error { got = append(got, o); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d observations, want %d", len(got), len(want))
	}
	for i := range want {
		// Compare through JSON: times lose their monotonic clock reading
		// and location pointer in any round trip.
		w, _ := json.Marshal(want[i])
		g, _ := json.Marshal(got[i])
		if !bytes.Equal(w, g) {
			t.Fatalf("observation %d differs:\n got %s\nwant %s", i, g, w)
		}
	}
	n := 0
	if err := db.Observations(ctx, s2.ID, func(otaudit.Observation) error { n++; return nil }); err != nil || n != 10 {
		t.Fatalf("scan 2 has %d observations (err %v), want 10", n, err)
	}
	stop := errors.New("stop")
	if err := db.Observations(ctx, s1.ID, func(otaudit.Observation) error { return stop }); err != stop {
		t.Fatalf("callback error not returned as is: %v", err)
	}
	if err := db.AddObservations(ctx, 12345, want[:1]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("AddObservations to a missing scan = %v, want ErrNotFound", err)
	}
}

// cancelAfter is a context whose Err reports cancellation from its n-th
// call on: AddObservations asks once per batch, so this cancels exactly
// between two batches without any timing.
type cancelAfter struct {
	context.Context
	n int
}

func (c *cancelAfter) Err() error {
	if c.n--; c.n < 0 {
		return context.Canceled
	}
	return nil
}

func TestAddObservationsHonoursCancelBetweenBatches(t *testing.T) {
	db := openTest(t, Options{ObservationBatch: 100})
	s := beginScan(t, db, "z")
	obs := realisticObservations(1000, 3)
	err := db.AddObservations(&cancelAfter{Context: context.Background(), n: 3}, s.ID, obs)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled AddObservations = %v, want context.Canceled", err)
	}
	if !strings.Contains(err.Error(), "300 of 1000 stored") || !strings.Contains(err.Error(), db.Path()) {
		t.Fatalf("error does not say how far it got or which file: %v", err)
	}
	n := 0
	if err := db.Observations(context.Background(), s.ID, func(otaudit.Observation) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 300 {
		t.Fatalf("%d observations stored, want the 3 committed batches (300)", n)
	}
}

func TestUpsertAssetsMerge(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	s := beginScan(t, db, "cell-1")
	ip := netip.MustParseAddr("10.0.0.5")
	first := otaudit.Asset{IP: ip, MACs: []string{"00:1d:9c:00:00:02"}, Vendor: "Rockwell", Model: "1756-L71",
		Firmware: "20.11", Services: []otaudit.Service{{Protocol: "enip", Transport: otaudit.TCP, Port: 44818}},
		Zone: "cell-1", Registered: true, Role: "PLC", FirstSeen: t0.Add(time.Hour), LastSeen: t0.Add(2 * time.Hour),
		Sources: []string{"pcap:b.pcap"}}
	second := otaudit.Asset{IP: ip, MACs: []string{"00:1d:9c:00:00:01", "00:1d:9c:00:00:02"}, Firmware: "21.0",
		Services: []otaudit.Service{{Protocol: "enip", Transport: otaudit.TCP, Port: 44818}, {Protocol: "http", Transport: otaudit.TCP, Port: 80}},
		Uses:     []otaudit.Service{{Protocol: "ntp", Transport: otaudit.UDP, Port: 123}},
		Zone:     "cell-2", Registered: false, Role: "", FirstSeen: t0, LastSeen: t0.Add(90 * time.Minute),
		Sources: []string{"pcap:a.pcap", "pcap:b.pcap"}}
	other := otaudit.Asset{IP: netip.MustParseAddr("10.0.0.10"), FirstSeen: t0, LastSeen: t0}
	v6 := otaudit.Asset{IP: netip.MustParseAddr("fe80::1"), FirstSeen: t0, LastSeen: t0}
	if err := db.UpsertAssets(ctx, s.ID, []otaudit.Asset{v6, other, first}); err != nil {
		t.Fatal(err)
	}
	if err := db.UpsertAssets(ctx, s.ID, []otaudit.Asset{second}); err != nil {
		t.Fatal(err)
	}
	assets, err := db.Assets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, a := range assets {
		keys = append(keys, a.Key)
	}
	// By IP, not by key string: "ip:10.0.0.10" sorts before "ip:10.0.0.5" as text.
	if want := []string{"ip:10.0.0.5", "ip:10.0.0.10", "ip:fe80::1"}; !slices.Equal(keys, want) {
		t.Fatalf("asset order %v, want %v", keys, want)
	}
	got := assets[0]
	want := otaudit.Asset{Key: "ip:10.0.0.5", IP: ip, MACs: []string{"00:1d:9c:00:00:01", "00:1d:9c:00:00:02"},
		Vendor: "Rockwell", Model: "1756-L71", Firmware: "21.0",
		Services: []otaudit.Service{{Protocol: "enip", Transport: otaudit.TCP, Port: 44818}, {Protocol: "http", Transport: otaudit.TCP, Port: 80}},
		Uses:     []otaudit.Service{{Protocol: "ntp", Transport: otaudit.UDP, Port: 123}},
		Zone:     "cell-2", Registered: false, Role: "", FirstSeen: t0, LastSeen: t0.Add(2 * time.Hour),
		Sources: []string{"pcap:a.pcap", "pcap:b.pcap"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("merged asset\n got %+v\nwant %+v", got, want)
	}
	if err := db.UpsertAssets(ctx, s.ID, []otaudit.Asset{{}}); err == nil {
		t.Fatal("an asset with neither key nor IP was accepted")
	}
	if err := db.UpsertAssets(ctx, 777, []otaudit.Asset{other}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("UpsertAssets for a missing scan = %v, want ErrNotFound", err)
	}
}

func findingIDs(fs []otaudit.Finding) []string {
	var ids []string
	for _, f := range fs {
		ids = append(ids, f.ID)
	}
	return ids
}

func TestRecordFindingsMergeRules(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	s1 := beginScan(t, db, "cell-1")
	s2 := beginScan(t, db, "cell-1")

	accepted, resolved, plain := realisticFinding(0), realisticFinding(1), realisticFinding(2)
	plain.Status = otaudit.StatusResolved // a caller's status is not how a new finding starts
	if err := db.RecordFindings(ctx, s1.ID, []otaudit.Finding{accepted, resolved, plain}); err != nil {
		t.Fatal(err)
	}
	if err := db.SetFindingStatus(ctx, accepted.ID, otaudit.StatusAcceptedRisk, "compensated by firewall rule 12"); err != nil {
		t.Fatal(err)
	}
	if err := db.SetFindingStatus(ctx, resolved.ID, otaudit.StatusResolved, ""); err != nil {
		t.Fatal(err)
	}

	// Rescan: seen later, with an earlier FirstSeen for one and a later
	// one for another, new title and severity.
	again := []otaudit.Finding{accepted, resolved, plain}
	for i := range again {
		again[i].Title = "retitled"
		again[i].Severity = otaudit.SeverityCritical
		again[i].LastSeen = t0.Add(48 * time.Hour)
		again[i].Status = ""
	}
	again[0].FirstSeen = t0.Add(24 * time.Hour) // later: the stored earlier one must stay
	again[1].FirstSeen = t0.Add(-time.Hour)     // earlier: wins
	if err := db.RecordFindings(ctx, s2.ID, again); err != nil {
		t.Fatal(err)
	}

	f, hist, err := db.Finding(ctx, accepted.ID)
	if err != nil {
		t.Fatal(err)
	}
	if f.Status != otaudit.StatusAcceptedRisk || f.StatusReason != "compensated by firewall rule 12" {
		t.Fatalf("accepted finding lost its status: %q %q", f.Status, f.StatusReason)
	}
	if !f.FirstSeen.Equal(t0) || !f.LastSeen.Equal(t0.Add(48*time.Hour)) || f.Title != "retitled" || f.Severity != otaudit.SeverityCritical {
		t.Fatalf("accepted finding not merged: first %v last %v title %q sev %v", f.FirstSeen, f.LastSeen, f.Title, f.Severity)
	}
	wantHist := []struct {
		scan   uint64
		status otaudit.FindingStatus
		sev    otaudit.Severity
	}{{s1.ID, otaudit.StatusOpen, accepted.Severity}, {0, otaudit.StatusAcceptedRisk, accepted.Severity}, {s2.ID, otaudit.StatusAcceptedRisk, otaudit.SeverityCritical}}
	if len(hist) != len(wantHist) {
		t.Fatalf("history has %d events, want %d: %+v", len(hist), len(wantHist), hist)
	}
	for i, w := range wantHist {
		if hist[i].ScanID != w.scan || hist[i].Status != w.status || hist[i].Severity != w.sev || hist[i].Time.IsZero() {
			t.Fatalf("history event %d = %+v, want scan %d status %s severity %s", i, hist[i], w.scan, w.status, w.sev)
		}
	}

	f, _, err = db.Finding(ctx, resolved.ID)
	if err != nil {
		t.Fatal(err)
	}
	if f.Status != otaudit.StatusOpen || !f.FirstSeen.Equal(t0.Add(-time.Hour)) {
		t.Fatalf("resolved finding seen again: status %q first %v, want open and the earlier FirstSeen", f.Status, f.FirstSeen)
	}
	f, _, err = db.Finding(ctx, plain.ID)
	if err != nil {
		t.Fatal(err)
	}
	if f.Status != otaudit.StatusOpen {
		t.Fatalf("new finding status %q, want open", f.Status)
	}

	// The status index followed every change.
	open, err := db.Findings(ctx, FindingFilter{Status: otaudit.StatusOpen})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := findingIDs(open), []string{resolved.ID, plain.ID}; !sameSet(got, want) {
		t.Fatalf("open findings %v, want %v", got, want)
	}
	if _, _, err := db.Finding(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Finding(nope) = %v, want ErrNotFound", err)
	}
	if err := db.SetFindingStatus(ctx, "nope", otaudit.StatusResolved, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetFindingStatus(nope) = %v, want ErrNotFound", err)
	}
	if err := db.SetFindingStatus(ctx, plain.ID, "fixed", ""); err == nil {
		t.Fatal("an unknown status was accepted")
	}
	rep, err := db.Check(ctx)
	if err != nil || !rep.OK() {
		t.Fatalf("Check after status changes: %v %v", err, rep.Problems)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestRecordFindingsIdempotent(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	s := beginScan(t, db, "cell-1")
	var fs []otaudit.Finding
	for i := range 30 {
		f := realisticFinding(i)
		if i == 7 {
			f.ID = "" // derived from CheckID, AssetKey, Key
		}
		fs = append(fs, f)
	}
	if err := db.RecordFindings(ctx, s.ID, fs); err != nil {
		t.Fatal(err)
	}
	first, err := db.Findings(ctx, FindingFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.RecordFindings(ctx, s.ID, fs); err != nil {
		t.Fatal(err)
	}
	second, err := db.Findings(ctx, FindingFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 30 || !reflect.DeepEqual(first, second) {
		t.Fatalf("recording twice changed Findings(): %d vs %d findings", len(first), len(second))
	}
	if !slices.Contains(findingIDs(first), otaudit.FindingID(fs[7].CheckID, fs[7].AssetKey, fs[7].Key)) {
		t.Fatal("empty Finding.ID was not derived with otaudit.FindingID")
	}
	_, hist, err := db.Finding(ctx, fs[0].ID)
	if err != nil || len(hist) != 2 {
		t.Fatalf("history after two recordings: %d events (err %v), want 2", len(hist), err)
	}
}

func TestFindingsFilterAndOrder(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	s := beginScan(t, db, "all")
	var fs []otaudit.Finding
	for i := range 60 {
		f := realisticFinding(i)
		f.LastSeen = t0.Add(time.Duration(i) * time.Minute)
		fs = append(fs, f)
	}
	if err := db.RecordFindings(ctx, s.ID, fs); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{3, 10, 11} {
		if err := db.SetFindingStatus(ctx, fs[i].ID, otaudit.StatusFalsePositive, "scanner host"); err != nil {
			t.Fatal(err)
		}
	}
	stored, err := db.Findings(ctx, FindingFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != len(fs) {
		t.Fatalf("Findings() = %d, want %d", len(stored), len(fs))
	}
	if !slices.IsSortedFunc(stored, compareFindings) {
		t.Fatal("Findings() not sorted by severity desc, CheckID, AssetKey, Key, ID")
	}
	if stored[0].Severity != otaudit.SeverityCritical || stored[len(stored)-1].Severity != otaudit.SeverityInfo {
		t.Fatalf("first %v last %v: not most severe first", stored[0].Severity, stored[len(stored)-1].Severity)
	}
	since := t0.Add(30 * time.Minute)
	filters := []FindingFilter{
		{Zone: "dmz"},
		{Objective: otaudit.ObjectiveAC},
		{MinSeverity: otaudit.SeverityHigh},
		{Status: otaudit.StatusFalsePositive},
		{Status: otaudit.StatusOpen, Zone: "cell-2"},
		{CheckID: "SI-UNAUTH-WRITE"},
		{AssetKey: fs[12].AssetKey},
		{Since: since},
		{Zone: "cell-1", MinSeverity: otaudit.SeverityMedium, Objective: otaudit.ObjectiveAC, Since: since},
		{Zone: "nowhere"},
	}
	for _, flt := range filters {
		got, err := db.Findings(ctx, flt)
		if err != nil {
			t.Fatal(err)
		}
		// The expected set is computed independently of match().
		var want []string
		for _, f := range stored {
			if (flt.Zone == "" || f.Zone == flt.Zone) && (flt.Objective == "" || f.Objective == flt.Objective) &&
				f.Severity >= flt.MinSeverity && (flt.Status == "" || f.Status == flt.Status) &&
				(flt.CheckID == "" || f.CheckID == flt.CheckID) && (flt.AssetKey == "" || f.AssetKey == flt.AssetKey) &&
				(flt.Since.IsZero() || f.LastSeen.Compare(flt.Since) >= 0) {
				want = append(want, f.ID)
			}
		}
		if !slices.Equal(findingIDs(got), want) {
			t.Errorf("filter %+v: got %d findings %v, want %d %v", flt, len(got), findingIDs(got), len(want), want)
		}
		if flt.Zone == "nowhere" && len(got) != 0 {
			t.Errorf("unknown zone matched %d findings", len(got))
		}
	}
	if fp, _ := db.Findings(ctx, FindingFilter{Status: otaudit.StatusFalsePositive}); len(fp) != 3 {
		t.Fatalf("false positives: %d, want 3", len(fp))
	}
	if since, _ := db.Findings(ctx, FindingFilter{Since: since}); len(since) != 30 {
		t.Fatalf("Since keeps LastSeen >= Since: got %d, want 30", len(since))
	}
}

func TestScoresAndBaselines(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	if got, err := db.LatestScores(ctx); err != nil || got != nil {
		t.Fatalf("LatestScores on an empty store = %v, %v", got, err)
	}
	s1 := beginScan(t, db, "a")
	s2 := beginScan(t, db, "b")
	s3 := beginScan(t, db, "c") // never scored
	score := func(zone string, v int) otaudit.ZoneScore {
		return otaudit.ZoneScore{Zone: zone, Objectives: []otaudit.ObjectiveScore{{Objective: otaudit.ObjectiveAC, Score: v, Band: "weak"}}}
	}
	if err := db.PutScores(ctx, s1.ID, []otaudit.ZoneScore{score("a", 10)}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutScores(ctx, s2.ID, []otaudit.ZoneScore{score("cell-2", 70), score("cell-1", 60)}); err != nil {
		t.Fatal(err)
	}
	got, err := db.LatestScores(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Zone != "cell-1" || got[1].Zone != "cell-2" || got[0].ScanID != s2.ID || got[1].Objectives[0].Score != 70 {
		t.Fatalf("LatestScores = %+v, want scan %d's two zones", got, s2.ID)
	}
	if err := db.PutScores(ctx, s3.ID+100, []otaudit.ZoneScore{score("x", 1)}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("PutScores for a missing scan = %v, want ErrNotFound", err)
	}

	if _, err := db.Baseline(ctx, "cell-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing baseline = %v, want ErrNotFound", err)
	}
	doc := []byte("flows:\n  - 10.0.0.1 -> 10.0.0.5 modbus\n\x00binary ok")
	if err := db.PutBaseline(ctx, "cell-1", doc); err != nil {
		t.Fatal(err)
	}
	if err := db.PutBaseline(ctx, "cell-2", []byte("other")); err != nil {
		t.Fatal(err)
	}
	b, err := db.Baseline(ctx, "cell-1")
	if err != nil || !bytes.Equal(b, doc) {
		t.Fatalf("Baseline = %q, %v; want %q", b, err, doc)
	}
}

func TestCredentialKey(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/otaudit.db"
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	k1, err := db.CredentialKey()
	if err != nil || len(k1) != 32 || bytes.Equal(k1, make([]byte, 32)) {
		t.Fatalf("credential key %x, %v", k1, err)
	}
	k1[0] ^= 0xff // a caller scribbling on its copy must not change the store's
	k1b, _ := db.CredentialKey()
	if k1b[0] == k1[0] {
		t.Fatal("CredentialKey returned the store's own slice")
	}
	db.Close()
	ro, err := Open(ctx, path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	k2, err := ro.CredentialKey()
	if err != nil || !bytes.Equal(k1b, k2) {
		t.Fatalf("key changed across opens: %x vs %x (%v)", k1b, k2, err)
	}
	other := openTest(t, Options{})
	k3, _ := other.CredentialKey()
	if bytes.Equal(k3, k2) {
		t.Fatal("two databases got the same credential key")
	}
	s := otaudit.Scan{}
	if err := ro.BeginScan(ctx, &s); err == nil {
		t.Fatal("BeginScan on a read-only DB succeeded")
	}
}

func TestConcurrentUseOfOneDB(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{ObservationBatch: 50})
	scans := []otaudit.Scan{beginScan(t, db, "a"), beginScan(t, db, "b")}
	errs := make(chan error, 4)
	for i, s := range scans {
		go func() { errs <- db.AddObservations(ctx, s.ID, realisticObservations(400, uint64(i))) }()
	}
	go func() {
		errs <- db.RecordFindings(ctx, scans[0].ID, []otaudit.Finding{realisticFinding(1), realisticFinding(2)})
	}()
	go func() { _, err := db.Findings(ctx, FindingFilter{Status: otaudit.StatusOpen}); errs <- err }()
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range scans {
		n := 0
		if err := db.Observations(ctx, s.ID, func(otaudit.Observation) error { n++; return nil }); err != nil || n != 400 {
			t.Fatalf("scan %d: %d observations (err %v), want 400", s.ID, n, err)
		}
	}
	if rep, err := db.Check(ctx); err != nil || !rep.OK() {
		t.Fatalf("Check after concurrent writes: %v %v", err, rep.Problems)
	}
}
