package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The resident agent remembers which capture files of a rotating capture
// directory it has already read, so that a restart does not read them
// again. The record lives in the meta bucket under
// "processed_captures:" + zone (no new bucket, hence no migration):
//
//	{"v":1,"zone":"cell-1","files":[{"path":…,"size":…,"mod_time":…}]}
//
// It is written whole each time: the agent keeps only files that still
// exist, so the record is bounded by the directory it describes.
var metaProcessedCapturesPrefix = []byte("processed_captures:")

// processedCapturesVersion is the newest format of the record this build
// writes; a reader refuses a larger "v".
const processedCapturesVersion = 1

// CaptureFile identifies one version of a capture file: a file rewritten
// under the same name (size or modification time changed) is a new one.
type CaptureFile struct {
	Path    string    `json:"path"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mod_time"`
}

type processedCaptures struct {
	V     int           `json:"v"`
	Zone  string        `json:"zone"`
	Files []CaptureFile `json:"files"`
}

func processedCapturesKey(zone string) []byte {
	return append(slices.Clone(metaProcessedCapturesPrefix), zone...)
}

// ProcessedCaptures returns the capture files the agent has read for zone,
// sorted by path; none (nil, nil) when it never recorded any.
func (db *DB) ProcessedCaptures(ctx context.Context, zone string) ([]CaptureFile, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: processed captures of zone %q: %w", db.path, zone, err)
	}
	var rec processedCaptures
	err := db.view(fmt.Sprintf("processed captures of zone %q", zone), func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketMeta).Get(processedCapturesKey(zone))
		if v == nil {
			return nil
		}
		// Unmarshal copies: nothing of the transaction's memory escapes.
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("decode processed captures: %w", err)
		}
		if rec.V < 1 || rec.V > processedCapturesVersion {
			return errorf(ErrNewerSchema, "decode processed captures: format v%d is not one this otaudit understands (v%d); upgrade otaudit", rec.V, processedCapturesVersion)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rec.Files, nil
}

// SetProcessedCaptures replaces the record of capture files read for zone.
func (db *DB) SetProcessedCaptures(ctx context.Context, zone string, files []CaptureFile) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: set processed captures of zone %q: %w", db.path, zone, err)
	}
	if zone == "" {
		return fmt.Errorf("%s: set processed captures: empty zone name", db.path)
	}
	rec := processedCaptures{V: processedCapturesVersion, Zone: zone, Files: slices.Clone(files)}
	slices.SortFunc(rec.Files, func(a, b CaptureFile) int { return strings.Compare(a.Path, b.Path) })
	for i := range rec.Files {
		rec.Files[i].ModTime = rec.Files[i].ModTime.UTC()
	}
	v, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("%s: set processed captures of zone %q: encode: %w", db.path, zone, err)
	}
	return db.update(fmt.Sprintf("set processed captures of zone %q", zone), func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(processedCapturesKey(zone), v)
	})
}
