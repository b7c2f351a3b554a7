package store

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/otaudit/otaudit"
	bolt "go.etcd.io/bbolt"
)

// CheckReport is what Check found.
type CheckReport struct {
	Path          string
	SchemaVersion uint64
	// Buckets counts the keys of every bucket, in schema order.
	Buckets []BucketCount
	// Problems lists every inconsistency, one line each (capped at
	// maxProblems, with a final line saying how many more there were).
	Problems []string
}

// BucketCount is the number of keys in one bucket.
type BucketCount struct {
	Bucket string
	Keys   int
}

// OK reports whether Check found nothing wrong.
func (r CheckReport) OK() bool { return len(r.Problems) == 0 }

const maxProblems = 200

type problems struct {
	list    []string
	dropped int
}

func (p *problems) addf(format string, args ...any) {
	if len(p.list) >= maxProblems {
		p.dropped++
		return
	}
	p.list = append(p.list, fmt.Sprintf(format, args...))
}

// Check verifies the file: bbolt's own page-level consistency check, that
// every bucket the schema lists exists, that every value decodes, that
// every observation, score, history event and scan-asset entry belongs to
// something that exists, and that the finding indexes agree with the
// findings both ways. It only reads. The error is for failing to run the
// check at all; what the check finds is in the report.
func (db *DB) Check(ctx context.Context) (CheckReport, error) {
	rep := CheckReport{Path: db.path}
	var p problems
	err := db.view("check", func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			p.addf("bbolt: %v", err)
		}
		if meta := tx.Bucket(bucketMeta); meta != nil {
			if v := meta.Get(metaSchemaVersion); len(v) == 8 {
				rep.SchemaVersion = readU64(v)
			}
			if k := meta.Get(metaCredentialKey); k != nil && len(k) != credentialKeySize {
				p.addf("meta: credential key is %d bytes, want %d", len(k), credentialKeySize)
			}
		}
		for _, name := range append(append(slices.Clone(primaryBuckets), indexBuckets...), outboxBuckets...) {
			b := tx.Bucket(name)
			if b == nil {
				p.addf("bucket %s is missing", name)
				continue
			}
			rep.Buckets = append(rep.Buckets, BucketCount{Bucket: string(name), Keys: b.Stats().KeyN})
		}
		if len(p.list) > 0 {
			return nil // the value checks below need every bucket
		}
		if err := checkValues(ctx, tx, &p); err != nil {
			return err
		}
		checkOutbox(tx, &p)
		return nil
	})
	if err != nil {
		return rep, err
	}
	rep.Problems = p.list
	if p.dropped > 0 {
		rep.Problems = append(rep.Problems, fmt.Sprintf("… and %d more problems", p.dropped))
	}
	return rep, nil
}

func checkValues(ctx context.Context, tx *bolt.Tx, p *problems) error {
	scans := tx.Bucket(bucketScans)
	scanExists := func(id uint64) bool { return scans.Get(u64(id)) != nil }

	err := scans.ForEach(func(k, v []byte) error {
		s, err := decode[otaudit.Scan](v, kindScan)
		switch {
		case len(k) != 8:
			p.addf("scans: key %x is not 8 bytes", k)
		case err != nil:
			p.addf("scans: scan %d: %v", readU64(k), err)
		case s.ID != readU64(k):
			p.addf("scans: scan %d: record says ID %d", readU64(k), s.ID)
		}
		return nil
	})
	if err != nil {
		return err
	}

	n := 0
	err = tx.Bucket(bucketObservations).ForEach(func(k, v []byte) error {
		if n++; n%100000 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if len(k) != 16 {
			p.addf("observations: key %x is not scan|seq", k)
			return nil
		}
		if !scanExists(readU64(k)) {
			p.addf("observations: scan %d seq %d: no such scan", readU64(k), readU64(k[8:]))
		}
		if _, err := decode[otaudit.Observation](v, kindObservation); err != nil {
			p.addf("observations: scan %d seq %d: %v", readU64(k), readU64(k[8:]), err)
		}
		return nil
	})
	if err != nil {
		return err
	}

	assets := tx.Bucket(bucketAssets)
	err = assets.ForEach(func(k, v []byte) error {
		a, err := decode[otaudit.Asset](v, kindAsset)
		if err != nil {
			p.addf("assets: %s: %v", k, err)
		} else if a.Key != string(k) {
			p.addf("assets: %s: record says key %q", k, a.Key)
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = tx.Bucket(bucketScanAssets).ForEach(func(k, _ []byte) error {
		if len(k) <= 8 {
			p.addf("%s: key %x is not scan|asset", bucketScanAssets, k)
			return nil
		}
		if !scanExists(readU64(k)) {
			p.addf("%s: scan %d: no such scan", bucketScanAssets, readU64(k))
		}
		if assets.Get(k[8:]) == nil {
			p.addf("%s: scan %d: asset %s does not exist", bucketScanAssets, readU64(k), k[8:])
		}
		return nil
	})
	if err != nil {
		return err
	}

	if err := checkFindings(tx, p); err != nil {
		return err
	}

	err = tx.Bucket(bucketScores).ForEach(func(k, v []byte) error {
		if len(k) < 8 {
			p.addf("scores: key %x is not scan|zone", k)
			return nil
		}
		s, err := decode[otaudit.ZoneScore](v, kindZoneScore)
		switch {
		case err != nil:
			p.addf("scores: scan %d zone %s: %v", readU64(k), k[8:], err)
		case !scanExists(readU64(k)):
			p.addf("scores: scan %d zone %s: no such scan", readU64(k), k[8:])
		case s.Zone != string(k[8:]) || s.ScanID != readU64(k):
			p.addf("scores: scan %d zone %s: record says scan %d zone %s", readU64(k), k[8:], s.ScanID, s.Zone)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tx.Bucket(bucketBaselines).ForEach(func(k, v []byte) error {
		if b, err := decode[baseline](v, kindBaseline); err != nil {
			p.addf("baselines: %s: %v", k, err)
		} else if b.Zone != string(k) {
			p.addf("baselines: %s: record says zone %q", k, b.Zone)
		}
		return nil
	})
}

// checkFindings verifies the findings, that both indexes hold exactly one
// entry per finding with its current status and zone, and that every
// history event belongs to a finding.
func checkFindings(tx *bolt.Tx, p *problems) error {
	findings := tx.Bucket(bucketFindings)
	byStatus := tx.Bucket(bucketFindingsByStatus)
	byZone := tx.Bucket(bucketFindingsByZone)
	type indexed struct{ status, zone string }
	want := map[string]indexed{}
	err := findings.ForEach(func(k, v []byte) error {
		f, err := decode[otaudit.Finding](v, kindFinding)
		if err != nil {
			p.addf("findings: %s: %v", k, err)
			return nil
		}
		if f.ID != string(k) {
			p.addf("findings: %s: record says ID %q", k, f.ID)
		}
		want[string(k)] = indexed{string(f.Status), f.Zone}
		if byStatus.Get(indexKey(string(f.Status), string(k))) == nil {
			p.addf("%s: finding %s (status %s) has no entry", bucketFindingsByStatus, k, f.Status)
		}
		if byZone.Get(indexKey(f.Zone, string(k))) == nil {
			p.addf("%s: finding %s (zone %q) has no entry", bucketFindingsByZone, k, f.Zone)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, idx := range []struct {
		name  []byte
		b     *bolt.Bucket
		value func(indexed) string
	}{
		{bucketFindingsByStatus, byStatus, func(x indexed) string { return x.status }},
		{bucketFindingsByZone, byZone, func(x indexed) string { return x.zone }},
	} {
		err := idx.b.ForEach(func(k, _ []byte) error {
			value, id, ok := splitIndexKey(k)
			if !ok {
				p.addf("%s: malformed key %x", idx.name, k)
				return nil
			}
			w, exists := want[id]
			switch {
			case !exists && findings.Get([]byte(id)) == nil:
				p.addf("%s: entry %q → finding %s, which does not exist", idx.name, value, id)
			case exists && idx.value(w) != value:
				p.addf("%s: entry %q → finding %s, which is %q", idx.name, value, id, idx.value(w))
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return tx.Bucket(bucketFindingHistory).ForEach(func(k, v []byte) error {
		i := bytes.IndexByte(k, 0)
		if i < 0 || len(k)-i-1 != 8 {
			p.addf("%s: malformed key %x", bucketFindingHistory, k)
			return nil
		}
		if findings.Get(k[:i]) == nil {
			p.addf("%s: event %d of finding %s, which does not exist", bucketFindingHistory, readU64(k[i+1:]), k[:i])
		}
		if _, err := decode[otaudit.FindingEvent](v, kindFindingEvent); err != nil {
			p.addf("%s: event %d of finding %s: %v", bucketFindingHistory, readU64(k[i+1:]), k[:i], err)
		}
		return nil
	})
}
