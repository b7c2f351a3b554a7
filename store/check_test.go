package store

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/otaudit/otaudit"
	bolt "go.etcd.io/bbolt"
)

// populate fills a store with some of everything and returns what it added.
func populate(t *testing.T, db *DB) (otaudit.Scan, []otaudit.Finding) {
	t.Helper()
	ctx := context.Background()
	s := beginScan(t, db, "cell-1")
	if err := db.AddObservations(ctx, s.ID, realisticObservations(500, 5)); err != nil {
		t.Fatal(err)
	}
	assets := []otaudit.Asset{{IP: addr(1), FirstSeen: t0, LastSeen: t0}, {IP: addr(2), FirstSeen: t0, LastSeen: t0}}
	if err := db.UpsertAssets(ctx, s.ID, assets); err != nil {
		t.Fatal(err)
	}
	fs := []otaudit.Finding{realisticFinding(0), realisticFinding(1), realisticFinding(2)}
	if err := db.RecordFindings(ctx, s.ID, fs); err != nil {
		t.Fatal(err)
	}
	if err := db.PutScores(ctx, s.ID, []otaudit.ZoneScore{{Zone: "cell-1"}}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutBaseline(ctx, "cell-1", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	return s, fs
}

func TestCheckHealthy(t *testing.T) {
	db := openTest(t, Options{})
	populate(t, db)
	rep, err := db.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("healthy DB has problems: %v", rep.Problems)
	}
	counts := map[string]int{}
	for _, b := range rep.Buckets {
		counts[b.Bucket] = b.Keys
	}
	want := map[string]int{"meta": 2, "scans": 1, "observations": 500, "assets": 2, "findings": 3, "finding_history": 3,
		"scores": 1, "baselines": 1, "idx_findings_status": 3, "idx_findings_zone": 3, "idx_scan_assets": 2,
		"outbox": 0, "outbox_content": 0, "idx_outbox_keys": 0}
	for name, n := range want {
		if counts[name] != n {
			t.Errorf("bucket %s: %d keys, want %d", name, counts[name], n)
		}
	}
	if rep.SchemaVersion != SchemaVersion || len(rep.Buckets) != len(want) {
		t.Fatalf("report schema %d buckets %d", rep.SchemaVersion, len(rep.Buckets))
	}
}

func TestCheckFindsInjectedCorruption(t *testing.T) {
	ctx := context.Background()
	path := newStoreFile(t)
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, fs := populate(t, db)
	db.Close()

	rawUpdate(t, path, func(tx *bolt.Tx) error {
		byStatus, byZone := tx.Bucket(bucketFindingsByStatus), tx.Bucket(bucketFindingsByZone)
		// fs[0]: its status entry vanishes and a stale "resolved" one appears.
		if err := byStatus.Delete(indexKey("open", fs[0].ID)); err != nil {
			return err
		}
		if err := byStatus.Put(indexKey("resolved", fs[0].ID), nil); err != nil {
			return err
		}
		// A zone entry for a finding that does not exist.
		if err := byZone.Put(indexKey("cell-9", "deadbeef"), nil); err != nil {
			return err
		}
		if err := tx.Bucket(bucketFindingHistory).Put(historyKey("ghost", 99), []byte(`{"v":1,"kind":"finding_event","data":{}}`)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketObservations).Put(observationKey(s.ID+50, 0), []byte(`{"v":1,"kind":"observation","data":{}}`)); err != nil {
			return err
		}
		return tx.Bucket(bucketAssets).Put([]byte("ip:10.0.0.1"), []byte("garbage"))
	})

	db, err = Open(ctx, path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rep, err := db.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() {
		t.Fatal("Check passed a corrupted DB")
	}
	all := strings.Join(rep.Problems, "\n")
	for _, want := range []string{
		fmt.Sprintf("idx_findings_status: finding %s (status open) has no entry", fs[0].ID),
		fmt.Sprintf(`idx_findings_status: entry "resolved" → finding %s, which is "open"`, fs[0].ID),
		`idx_findings_zone: entry "cell-9" → finding deadbeef, which does not exist`,
		"finding_history: event 99 of finding ghost, which does not exist",
		fmt.Sprintf("observations: scan %d seq 0: no such scan", s.ID+50),
		"assets: ip:10.0.0.1: decode asset: not a value envelope",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("Check did not report %q; it said:\n%s", want, all)
		}
	}
	if len(rep.Problems) != 6 {
		t.Errorf("%d problems, want exactly the 6 injected:\n%s", len(rep.Problems), all)
	}
}
