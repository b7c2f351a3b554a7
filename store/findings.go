package store

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/otaudit/otaudit"
	bolt "go.etcd.io/bbolt"
)

// FindingFilter selects findings; a zero field matches anything.
type FindingFilter struct {
	Zone      string
	Objective otaudit.Objective
	// MinSeverity keeps findings at least this severe (info = all).
	MinSeverity otaudit.Severity
	Status      otaudit.FindingStatus
	CheckID     string
	AssetKey    string
	// Since keeps findings with LastSeen >= Since.
	Since time.Time
	// Now is the time an accepted risk's expiry is judged against (see
	// Findings); zero means the store's clock.
	Now time.Time
}

func (f FindingFilter) match(x *otaudit.Finding) bool {
	return (f.Zone == "" || x.Zone == f.Zone) &&
		(f.Objective == "" || x.Objective == f.Objective) &&
		x.Severity >= f.MinSeverity &&
		(f.Status == "" || x.Status == f.Status) &&
		(f.CheckID == "" || x.CheckID == f.CheckID) &&
		(f.AssetKey == "" || x.AssetKey == f.AssetKey) &&
		(f.Since.IsZero() || !x.LastSeen.Before(f.Since))
}

// RecordFindings upserts fs by Finding.ID (derived with otaudit.FindingID
// when empty). For a finding already stored it keeps the earliest FirstSeen
// and the latest LastSeen, keeps a status of accepted or false_positive
// with its reason, owner and expiry, reopens a resolved one (noting so in
// the history), and replaces every other field. A new finding starts open.
// Either way one FindingEvent for scanID is appended to the finding's
// history. An accepted risk whose expiry has passed stays accepted here:
// ApplyScanLifecycle, which the scan's commit runs next, reopens it.
func (db *DB) RecordFindings(ctx context.Context, scanID uint64, fs []otaudit.Finding) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: record findings of scan %d: %w", db.path, scanID, err)
	}
	now := db.now()
	return db.update(fmt.Sprintf("record findings of scan %d", scanID), func(tx *bolt.Tx) error {
		if err := requireScan(tx, scanID); err != nil {
			return err
		}
		for i := range fs {
			f := fs[i]
			if f.ID == "" {
				f.ID = otaudit.FindingID(f.CheckID, f.AssetKey, f.Key)
			}
			if err := validFinding(&f); err != nil {
				return fmt.Errorf("finding %d (%s): %w", i, f.CheckID, err)
			}
			old, found, err := getFinding(tx, f.ID)
			if err != nil {
				return err
			}
			f.Status, f.StatusReason, f.StatusBy, f.StatusUntil = otaudit.StatusOpen, "", "", time.Time{}
			note := ""
			if found {
				f.FirstSeen = earliest(old.FirstSeen, f.FirstSeen)
				if old.LastSeen.After(f.LastSeen) {
					f.LastSeen = old.LastSeen
				}
				switch old.Status {
				case otaudit.StatusAcceptedRisk, otaudit.StatusFalsePositive:
					f.Status, f.StatusReason, f.StatusBy, f.StatusUntil = old.Status, old.StatusReason, old.StatusBy, old.StatusUntil
				case otaudit.StatusResolved:
					note = fmt.Sprintf("reopened: seen again by scan %d", scanID)
				}
			}
			if err := putFinding(tx, &f, old, found); err != nil {
				return err
			}
			ev := otaudit.FindingEvent{ScanID: scanID, Time: now, Status: f.Status, Severity: f.Severity, Note: note}
			if err := appendEvent(tx, f.ID, &ev); err != nil {
				return err
			}
		}
		return nil
	})
}

// SetFindingStatus sets a finding's status (accepted, false_positive,
// resolved or open) and reason, and appends an event (scan 0, with the
// reason as note) to its history. It is the bare form of
// ChangeFindingStatus, which triage from the command line uses: it checks
// nothing about the reason, owner or expiry.
func (db *DB) SetFindingStatus(ctx context.Context, id string, status otaudit.FindingStatus, reason string) error {
	_, err := db.changeStatus(ctx, id, StatusChange{Status: status, Reason: reason}, reason, false)
	return err
}

func validFinding(f *otaudit.Finding) error {
	switch {
	case f.ID == "":
		return fmt.Errorf("empty ID")
	case strings.IndexByte(f.ID, 0) >= 0 || len(f.ID) > 512:
		return fmt.Errorf("ID %q is not a usable key", f.ID)
	case len(f.Zone) > maxIndexedLen:
		return fmt.Errorf("zone name longer than %d bytes", maxIndexedLen)
	}
	return nil
}

func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}

func getFinding(tx *bolt.Tx, id string) (otaudit.Finding, bool, error) {
	v := tx.Bucket(bucketFindings).Get([]byte(id))
	if v == nil {
		return otaudit.Finding{}, false, nil
	}
	f, err := decode[otaudit.Finding](v, kindFinding)
	if err != nil {
		return f, false, fmt.Errorf("finding %s: %w", id, err)
	}
	return f, true, nil
}

// putFinding stores f and moves its index entries if status or zone changed.
func putFinding(tx *bolt.Tx, f *otaudit.Finding, old otaudit.Finding, found bool) error {
	v, err := encode(kindFinding, f)
	if err != nil {
		return fmt.Errorf("finding %s: %w", f.ID, err)
	}
	if err := tx.Bucket(bucketFindings).Put([]byte(f.ID), v); err != nil {
		return fmt.Errorf("finding %s: %w", f.ID, err)
	}
	if found {
		if old.Status != f.Status {
			if err := tx.Bucket(bucketFindingsByStatus).Delete(indexKey(string(old.Status), f.ID)); err != nil {
				return err
			}
		}
		if old.Zone != f.Zone {
			if err := tx.Bucket(bucketFindingsByZone).Delete(indexKey(old.Zone, f.ID)); err != nil {
				return err
			}
		}
	}
	return putFindingIndexes(tx, f.ID, f.Status, f.Zone)
}

func putFindingIndexes(tx *bolt.Tx, id string, status otaudit.FindingStatus, zone string) error {
	if err := tx.Bucket(bucketFindingsByStatus).Put(indexKey(string(status), id), nil); err != nil {
		return fmt.Errorf("finding %s: status index: %w", id, err)
	}
	if err := tx.Bucket(bucketFindingsByZone).Put(indexKey(zone, id), nil); err != nil {
		return fmt.Errorf("finding %s: zone index: %w", id, err)
	}
	return nil
}

func appendEvent(tx *bolt.Tx, id string, ev *otaudit.FindingEvent) error {
	b := tx.Bucket(bucketFindingHistory)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	v, err := encode(kindFindingEvent, ev)
	if err != nil {
		return err
	}
	if err := b.Put(historyKey(id, seq), v); err != nil {
		return fmt.Errorf("finding %s: history: %w", id, err)
	}
	return nil
}

// Findings returns the findings f selects, most severe first, then by
// CheckID, AssetKey, Key and ID. A Status or Zone filter is answered from
// its index, so only the findings it names are decoded.
//
// Reads never write, so an accepted risk whose StatusUntil has passed
// (at f.Now) is still stored as accepted until the next scan commit of its
// zone reopens it (ApplyScanLifecycle). Findings shows it already as the
// commit will store it: open, with a reason saying the acceptance expired
// and no owner or expiry; the status filter and --fail-on see it as open.
func (db *DB) Findings(ctx context.Context, f FindingFilter) ([]otaudit.Finding, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: list findings: %w", db.path, err)
	}
	now := f.Now
	if now.IsZero() {
		now = db.now()
	}
	var out []otaudit.Finding
	err := db.view("list findings", func(tx *bolt.Tx) error {
		primary := tx.Bucket(bucketFindings)
		var raw []rawValue
		fromIndex := func(index *bolt.Bucket, prefix []byte) {
			c := index.Cursor()
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				id := k[len(prefix):]
				// A dangling entry is Check's to report; a listing just
				// cannot show what is not there.
				if v := primary.Get(id); v != nil {
					raw = append(raw, rawValue{id, v})
				}
			}
		}
		switch {
		case f.Status != "":
			fromIndex(tx.Bucket(bucketFindingsByStatus), indexPrefix(string(f.Status)))
			if f.Status == otaudit.StatusOpen {
				// Expired acceptances read as open (see effectiveStatus)
				// although the index still files them as accepted.
				fromIndex(tx.Bucket(bucketFindingsByStatus), indexPrefix(string(otaudit.StatusAcceptedRisk)))
			}
		case f.Zone != "":
			fromIndex(tx.Bucket(bucketFindingsByZone), indexPrefix(f.Zone))
		default:
			_ = primary.ForEach(func(k, v []byte) error { raw = append(raw, rawValue{k, v}); return nil })
		}
		all, err := decodeAll[otaudit.Finding](ctx, raw, kindFinding)
		if err != nil {
			return err
		}
		for i := range all {
			effectiveStatus(&all[i], now)
		}
		out = slices.DeleteFunc(all, func(x otaudit.Finding) bool { return !f.match(&x) })
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, compareFindings)
	return out, nil
}

func compareFindings(a, b otaudit.Finding) int {
	return cmp.Or(cmp.Compare(b.Severity, a.Severity), cmp.Compare(a.CheckID, b.CheckID),
		cmp.Compare(a.AssetKey, b.AssetKey), cmp.Compare(a.Key, b.Key), cmp.Compare(a.ID, b.ID))
}

// Finding returns one finding and its history, oldest event first. An
// expired acceptance reads as open, as in Findings (judged at the store's
// clock).
func (db *DB) Finding(ctx context.Context, id string) (otaudit.Finding, []otaudit.FindingEvent, error) {
	var (
		f      otaudit.Finding
		events []otaudit.FindingEvent
	)
	if err := ctx.Err(); err != nil {
		return f, nil, fmt.Errorf("%s: finding %s: %w", db.path, id, err)
	}
	err := db.view("finding "+id, func(tx *bolt.Tx) error {
		var found bool
		var err error
		if f, found, err = getFinding(tx, id); err != nil {
			return err
		}
		if !found {
			return ErrNotFound
		}
		effectiveStatus(&f, db.now())
		prefix := historyPrefix(id)
		c := tx.Bucket(bucketFindingHistory).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			ev, err := decode[otaudit.FindingEvent](v, kindFindingEvent)
			if err != nil {
				return fmt.Errorf("history event %d: %w", readU64(k[len(prefix):]), err)
			}
			events = append(events, ev)
		}
		return nil
	})
	return f, events, err
}
