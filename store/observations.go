package store

import (
	"bytes"
	"context"
	"fmt"

	"github.com/otaudit/otaudit"
	bolt "go.etcd.io/bbolt"
)

// AddObservations appends obs to scanID's observations in transactions of
// at most Options.ObservationBatch items. A cancelled ctx stops it between
// batches; batches already committed stay.
func (db *DB) AddObservations(ctx context.Context, scanID uint64, obs []otaudit.Observation) error {
	op := fmt.Sprintf("add observations to scan %d", scanID)
	for start := 0; start < len(obs); start += db.batchSize {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s: %s: %d of %d stored: %w", db.path, op, start, len(obs), err)
		}
		batch := obs[start:min(start+db.batchSize, len(obs))]
		err := db.update(op, func(tx *bolt.Tx) error {
			if err := requireScan(tx, scanID); err != nil {
				return err
			}
			b := tx.Bucket(bucketObservations)
			// Keys only ever grow, so bbolt can fill pages completely
			// instead of splitting them in half.
			b.FillPercent = 1.0
			seq := nextObservationSeq(b, scanID)
			for i := range batch {
				v, err := encode(kindObservation, &batch[i])
				if err != nil {
					return fmt.Errorf("observation %d: %w", start+i, err)
				}
				if err := b.Put(observationKey(scanID, seq), v); err != nil {
					return fmt.Errorf("observation %d: %w", start+i, err)
				}
				seq++
			}
			return nil
		})
		if err != nil {
			if start > 0 {
				return fmt.Errorf("%w (the first %d observations are stored)", err, start)
			}
			return err
		}
		db.log.Debug("observations stored", "scan", scanID, "batch", len(batch), "done", start+len(batch), "of", len(obs))
	}
	return nil
}

// nextObservationSeq is one past the last sequence number used for scanID.
func nextObservationSeq(b *bolt.Bucket, scanID uint64) uint64 {
	c := b.Cursor()
	var k []byte
	if scanID == ^uint64(0) {
		k, _ = c.Last()
	} else if k, _ = c.Seek(u64(scanID + 1)); k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	if len(k) == 16 && readU64(k) == scanID {
		return readU64(k[8:]) + 1
	}
	return 0
}

// observationChunk is how many observations one read transaction decodes
// before the callback sees them. The transaction is closed while fn runs,
// so fn may write to the store and a long consumer does not pin old pages.
const observationChunk = 4096

// Observations calls fn for each observation of scanID in the order they
// were added. An error from fn stops the walk and is returned as is.
func (db *DB) Observations(ctx context.Context, scanID uint64, fn func(otaudit.Observation) error) error {
	prefix := u64(scanID)
	next := observationKey(scanID, 0)
	op := fmt.Sprintf("observations of scan %d", scanID)
	for next != nil {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s: %s: %w", db.path, op, err)
		}
		chunk := make([]otaudit.Observation, 0, 256)
		var after []byte
		err := db.view(op, func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketObservations).Cursor()
			for k, v := c.Seek(next); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
				if len(chunk) == observationChunk {
					after = bytes.Clone(k)
					return nil
				}
				o, err := decode[otaudit.Observation](v, kindObservation)
				if err != nil {
					return fmt.Errorf("observation %d: %w", readU64(k[8:]), err)
				}
				chunk = append(chunk, o)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, o := range chunk {
			if err := fn(o); err != nil {
				return err
			}
		}
		next = after
	}
	return nil
}
