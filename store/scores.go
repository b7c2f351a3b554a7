package store

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/otaudit/otaudit"
	bolt "go.etcd.io/bbolt"
)

// PutScores stores the zone scores of scanID (replacing scores of the same
// scan and zone). Each score's ScanID is set to scanID.
func (db *DB) PutScores(ctx context.Context, scanID uint64, scores []otaudit.ZoneScore) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: put scores of scan %d: %w", db.path, scanID, err)
	}
	return db.update(fmt.Sprintf("put scores of scan %d", scanID), func(tx *bolt.Tx) error {
		if err := requireScan(tx, scanID); err != nil {
			return err
		}
		b := tx.Bucket(bucketScores)
		for i := range scores {
			s := scores[i]
			s.ScanID = scanID
			v, err := encode(kindZoneScore, &s)
			if err != nil {
				return fmt.Errorf("zone %s: %w", s.Zone, err)
			}
			if err := b.Put(scanPrefixedKey(scanID, s.Zone), v); err != nil {
				return fmt.Errorf("zone %s: %w", s.Zone, err)
			}
		}
		return nil
	})
}

// LatestScores returns the scores of the newest scan that has any, by
// zone name; nil when no scan has been scored.
func (db *DB) LatestScores(ctx context.Context) ([]otaudit.ZoneScore, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: latest scores: %w", db.path, err)
	}
	var out []otaudit.ZoneScore
	err := db.view("latest scores", func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketScores).Cursor()
		last, _ := c.Last()
		if len(last) < 8 {
			return nil
		}
		prefix := bytes.Clone(last[:8])
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			s, err := decode[otaudit.ZoneScore](v, kindZoneScore)
			if err != nil {
				return fmt.Errorf("score of scan %d zone %s: %w", readU64(k), k[8:], err)
			}
			out = append(out, s)
		}
		return nil
	})
	return out, err
}

// baseline is the stored form of a zone's drift baseline. Doc is opaque to
// the store (the checks package owns its format).
type baseline struct {
	Zone    string    `json:"zone"`
	Updated time.Time `json:"updated"`
	Doc     []byte    `json:"doc"`
}

// PutBaseline stores (replaces) the baseline document of zone.
func (db *DB) PutBaseline(ctx context.Context, zone string, doc []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: put baseline of zone %q: %w", db.path, zone, err)
	}
	if zone == "" {
		return fmt.Errorf("%s: put baseline: empty zone name", db.path)
	}
	rec := baseline{Zone: zone, Updated: db.now(), Doc: doc}
	v, err := encode(kindBaseline, &rec)
	if err != nil {
		return fmt.Errorf("%s: put baseline of zone %q: %w", db.path, zone, err)
	}
	return db.update(fmt.Sprintf("put baseline of zone %q", zone), func(tx *bolt.Tx) error {
		return tx.Bucket(bucketBaselines).Put([]byte(zone), v)
	})
}

// Baseline returns the baseline document of zone; ErrNotFound when none.
func (db *DB) Baseline(ctx context.Context, zone string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: baseline of zone %q: %w", db.path, zone, err)
	}
	var doc []byte
	err := db.view(fmt.Sprintf("baseline of zone %q", zone), func(tx *bolt.Tx) error {
		if zone == "" {
			return ErrNotFound
		}
		v := tx.Bucket(bucketBaselines).Get([]byte(zone))
		if v == nil {
			return ErrNotFound
		}
		rec, err := decode[baseline](v, kindBaseline)
		doc = rec.Doc // json decoding made a fresh slice: safe after the tx
		return err
	})
	if err != nil {
		return nil, err
	}
	return doc, nil
}
