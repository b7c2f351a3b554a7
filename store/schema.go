package store

import (
	"fmt"

	"github.com/otaudit/otaudit"
	bolt "go.etcd.io/bbolt"
)

// This file is the whole map of the database file: every bucket, every key
// encoding, every value kind and the schema version. Anything that touches a
// bucket by name uses the variables below.

// Buckets. Keys are fixed-width big-endian where their order matters, so a
// cursor walks them in numeric order.
var (
	// bucketMeta: schema_version (8-byte BE), credential_key (32 random bytes),
	// processed_captures:<zone> (JSON {"v":1,…}, store/agentstate.go).
	bucketMeta = []byte("meta")
	// bucketScans: scanID (8) → scan envelope. Its bbolt sequence hands out
	// scan IDs, so they are never reused even after an explicit delete.
	bucketScans = []byte("scans")
	// bucketObservations: scanID (8) | seq (8) → observation envelope.
	bucketObservations = []byte("observations")
	// bucketAssets: asset key ("ip:10.0.0.5") → asset envelope.
	bucketAssets = []byte("assets")
	// bucketFindings: finding ID → finding envelope.
	bucketFindings = []byte("findings")
	// bucketFindingHistory: finding ID | 0x00 | event seq (8) → event
	// envelope. The sequence is the bucket's own, so events sort in the
	// order they were recorded.
	bucketFindingHistory = []byte("finding_history")
	// bucketScores: scanID (8) | zone → zone score envelope.
	bucketScores = []byte("scores")
	// bucketBaselines: zone → baseline envelope.
	bucketBaselines = []byte("baselines")

	// Indexes (schema 2). Keys only, empty values.

	// bucketFindingsByStatus: len16(status) | status | finding ID.
	bucketFindingsByStatus = []byte("idx_findings_status")
	// bucketFindingsByZone: len16(zone) | zone | finding ID.
	bucketFindingsByZone = []byte("idx_findings_zone")
	// bucketScanAssets: scanID (8) | asset key — which assets a scan saw.
	bucketScanAssets = []byte("idx_scan_assets")

	// The delivery outbox (schema 3).

	// bucketOutbox: item ID (8, the bucket's sequence, never reused) →
	// outbox item envelope (metadata only, small, so listing the outbox
	// never reads the files themselves).
	bucketOutbox = []byte("outbox")
	// bucketOutboxContent: item ID (8) → the file's bytes, raw (no
	// envelope: they are an export document, opaque to the store).
	bucketOutboxContent = []byte("outbox_content")
	// bucketOutboxKeys: idempotency key → item ID (8), so queueing the same
	// file for the same target twice holds it once.
	bucketOutboxKeys = []byte("idx_outbox_keys")
)

// Meta keys.
var (
	metaSchemaVersion = []byte("schema_version")
	metaCredentialKey = []byte("credential_key")
	// metaOutboxDelivered (schema 3): how many outbox items were ever
	// acknowledged (8-byte BE counter).
	metaOutboxDelivered = []byte("outbox_delivered")
)

// credentialKeySize is the length of the fingerprint key.
const credentialKeySize = 32

// Value kinds and the newest envelope version of each that this build
// writes and understands. A reader refuses a larger "v".
const (
	kindScan         = "scan"
	kindObservation  = "observation"
	kindAsset        = "asset"
	kindFinding      = "finding"
	kindFindingEvent = "finding_event"
	kindZoneScore    = "zone_score"
	kindBaseline     = "baseline"
	kindOutboxItem   = "outbox_item"
)

var valueVersions = map[string]int{
	kindScan:         1,
	kindObservation:  1,
	kindAsset:        1,
	kindFinding:      1,
	kindFindingEvent: 1,
	kindZoneScore:    1,
	kindBaseline:     1,
	kindOutboxItem:   1,
}

// migration brings the schema from version N-1 to N (N = its position in
// migrations, counting from 1). It runs in the same transaction that
// records N as the schema version, so it either happens entirely or not at
// all.
type migration struct {
	name  string
	apply func(tx *bolt.Tx) error
}

// migrations is append-only: never edit or reorder a released entry, add a
// new one. A database at version 0 (freshly created) runs all of them.
var migrations = []migration{
	{name: "create primary buckets", apply: migrateCreatePrimaries},
	{name: "add finding and scan-asset indexes", apply: migrateAddIndexes},
	{name: "add the delivery outbox", apply: migrateAddOutbox},
}

// SchemaVersion is the schema version this build writes: the number of
// migrations (a test keeps the two in step).
const SchemaVersion uint64 = 3

// primaryBuckets exist from schema 1; indexBuckets from schema 2;
// outboxBuckets from schema 3.
var (
	primaryBuckets = [][]byte{bucketMeta, bucketScans, bucketObservations, bucketAssets,
		bucketFindings, bucketFindingHistory, bucketScores, bucketBaselines}
	indexBuckets  = [][]byte{bucketFindingsByStatus, bucketFindingsByZone, bucketScanAssets}
	outboxBuckets = [][]byte{bucketOutbox, bucketOutboxContent, bucketOutboxKeys}
)

func migrateCreatePrimaries(tx *bolt.Tx) error {
	for _, name := range primaryBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// migrateAddIndexes creates the index buckets and fills them from the
// findings and assets a schema-1 database already holds.
func migrateAddIndexes(tx *bolt.Tx) error {
	for _, name := range indexBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return tx.Bucket(bucketFindings).ForEach(func(k, v []byte) error {
		f, err := decode[otaudit.Finding](v, kindFinding)
		if err != nil {
			return fmt.Errorf("index finding %s: %w", k, err)
		}
		return putFindingIndexes(tx, f.ID, f.Status, f.Zone)
	})
}

// migrateAddOutbox creates the (empty) delivery outbox.
func migrateAddOutbox(tx *bolt.Tx) error {
	for _, name := range outboxBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}
