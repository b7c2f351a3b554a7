package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/otaudit/otaudit"
	bolt "go.etcd.io/bbolt"
)

// This file holds the findings lifecycle: triage decisions (accept a risk,
// mark a false positive, reopen) and what a committed scan does to the
// findings it did not produce (resolve them when it covered their evidence,
// reopen acceptances that expired). The rules are here rather than in the
// agent because each one must read and rewrite findings, their indexes and
// their history in one transaction.

// ErrInvalidChange: a triage request the lifecycle refuses (no reason, no
// owner for an acceptance, an expiry already past, reopening an open
// finding).
var ErrInvalidChange = errors.New("invalid status change")

// StatusChange is one triage decision on a finding.
type StatusChange struct {
	Status otaudit.FindingStatus
	// Reason is why; every change needs one.
	Reason string
	// By is who decided; required to accept a risk or mark a false positive.
	By string
	// Until is when an accepted risk expires (zero: never). Only an
	// acceptance has one.
	Until time.Time
	// At is when the decision was taken; zero means the store's clock.
	At time.Time
}

// ChangeFindingStatus applies ch to the finding id, appends a history event
// (scan 0) that records who, why and until when, and returns the finding as
// stored. An unknown id gives ErrNotFound, a refused change
// ErrInvalidChange, both wrapped with the file and the finding.
//
// What each status stores: accepted keeps Reason, By and Until;
// false_positive Reason and By; open and resolved Reason and By (a later
// scan that records the finding again clears them, the history keeps them).
func (db *DB) ChangeFindingStatus(ctx context.Context, id string, ch StatusChange) (otaudit.Finding, error) {
	ch.Reason, ch.By = strings.TrimSpace(ch.Reason), strings.TrimSpace(ch.By)
	if ch.At.IsZero() {
		ch.At = db.now()
	}
	op := fmt.Sprintf("set status of finding %s", id)
	invalid := func(format string, args ...any) error {
		return errorf(ErrInvalidChange, "%s: %s: %s", db.path, op, fmt.Sprintf(format, args...))
	}
	switch ch.Status {
	case otaudit.StatusOpen, otaudit.StatusResolved, otaudit.StatusAcceptedRisk, otaudit.StatusFalsePositive:
	default:
		return otaudit.Finding{}, invalid("unknown status %q", ch.Status)
	}
	switch {
	case ch.Reason == "":
		return otaudit.Finding{}, invalid("a reason is required")
	case ch.By == "" && (ch.Status == otaudit.StatusAcceptedRisk || ch.Status == otaudit.StatusFalsePositive):
		return otaudit.Finding{}, invalid("who decides (by) is required to set %s", ch.Status)
	case !ch.Until.IsZero() && ch.Status != otaudit.StatusAcceptedRisk:
		return otaudit.Finding{}, invalid("only an accepted risk has an expiry")
	case !ch.Until.IsZero() && !ch.Until.After(ch.At):
		return otaudit.Finding{}, invalid("expiry %s is not in the future", stampUTC(ch.Until))
	}
	return db.changeStatus(ctx, id, ch, statusNote(ch), true)
}

// statusNote is the history entry for a triage decision.
func statusNote(ch StatusChange) string {
	by := ""
	if ch.By != "" {
		by = " by " + ch.By
	}
	switch ch.Status {
	case otaudit.StatusAcceptedRisk:
		until := " with no expiry"
		if !ch.Until.IsZero() {
			until = " until " + stampUTC(ch.Until)
		}
		return fmt.Sprintf("risk accepted%s%s: %s", by, until, ch.Reason)
	case otaudit.StatusFalsePositive:
		return fmt.Sprintf("marked false positive%s: %s", by, ch.Reason)
	case otaudit.StatusOpen:
		return fmt.Sprintf("reopened%s: %s", by, ch.Reason)
	}
	return fmt.Sprintf("%s%s: %s", ch.Status, by, ch.Reason)
}

// changeStatus stores ch on the finding and appends note to its history.
// strict refuses to reopen a finding that is already open.
func (db *DB) changeStatus(ctx context.Context, id string, ch StatusChange, note string, strict bool) (otaudit.Finding, error) {
	op := fmt.Sprintf("set status of finding %s", id)
	if err := ctx.Err(); err != nil {
		return otaudit.Finding{}, fmt.Errorf("%s: %s: %w", db.path, op, err)
	}
	switch ch.Status {
	case otaudit.StatusOpen, otaudit.StatusResolved, otaudit.StatusAcceptedRisk, otaudit.StatusFalsePositive:
	default:
		return otaudit.Finding{}, errorf(ErrInvalidChange, "%s: %s: unknown status %q", db.path, op, ch.Status)
	}
	at := ch.At
	if at.IsZero() {
		at = db.now()
	}
	var out otaudit.Finding
	err := db.update(op, func(tx *bolt.Tx) error {
		old, found, err := getFinding(tx, id)
		if err != nil {
			return err
		}
		if !found {
			return ErrNotFound
		}
		// An expired acceptance reads as open but is stored accepted, so
		// reopening it by hand is allowed and records who did.
		if strict && ch.Status == otaudit.StatusOpen && old.Status == otaudit.StatusOpen {
			return errorf(ErrInvalidChange, "finding is already open")
		}
		f := old
		f.Status, f.StatusReason, f.StatusBy, f.StatusUntil = ch.Status, ch.Reason, ch.By, ch.Until
		if err := putFinding(tx, &f, old, true); err != nil {
			return err
		}
		out = f
		return appendEvent(tx, id, &otaudit.FindingEvent{Time: at, Status: ch.Status, Severity: f.Severity, Note: note})
	})
	return out, err
}

// effectiveStatus turns an accepted risk whose expiry has passed at now
// into what the next scan commit stores for it: open, with a reason that
// says the acceptance expired and who had accepted it why, and no owner or
// expiry. It reports whether it changed f.
func effectiveStatus(f *otaudit.Finding, now time.Time) bool {
	if f.Status != otaudit.StatusAcceptedRisk || f.StatusUntil.IsZero() || now.Before(f.StatusUntil) {
		return false
	}
	reason := fmt.Sprintf("accepted risk expired %s", stampUTC(f.StatusUntil))
	if f.StatusBy != "" || f.StatusReason != "" {
		reason += fmt.Sprintf(" (accepted by %s: %s)", f.StatusBy, f.StatusReason)
	}
	f.Status, f.StatusReason, f.StatusBy, f.StatusUntil = otaudit.StatusOpen, reason, "", time.Time{}
	return true
}

func stampUTC(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// ScanCoverage is what a committed scan looked at, which decides what it
// may resolve.
type ScanCoverage struct {
	ScanID uint64
	// Complete is true when the scan read every source it was given. Only a
	// complete scan resolves findings: an interrupted or partly failed one
	// may simply not have reached the evidence.
	Complete bool
	// Collectors are the collectors that ran and yielded data ("pcap",
	// "snmp", "modbus", "opcua"), matched against the prefix of each
	// finding's Evidence.Source.
	Collectors []string
	// Produced are the IDs of the findings the scan's evaluation produced.
	Produced []string
	// Now is the commit time; accepted risks expire against it.
	Now time.Time
}

// LifecycleChange is one status change a scan commit made.
type LifecycleChange struct {
	FindingID string                `json:"finding_id"`
	CheckID   string                `json:"check_id"`
	AssetKey  string                `json:"asset"`
	From      otaudit.FindingStatus `json:"from"`
	To        otaudit.FindingStatus `json:"to"`
	Note      string                `json:"note"`
}

// ApplyScanLifecycle updates the findings of the scan's zone once its
// findings are recorded (RecordFindings), in one transaction:
//
//  1. Every accepted risk of the zone whose StatusUntil is not after
//     cov.Now reopens (any scan, complete or not: expiry is a matter of
//     time, not of evidence).
//  2. If cov.Complete, every open finding of the zone that the scan did not
//     produce is resolved when the scan covered its evidence: at least one
//     collector that produced the finding's evidence (the prefix of an
//     Evidence.Source before ':') ran in the scan, and the scan saw the
//     finding's asset (the asset is in the scan's inventory). A finding
//     whose asset key is not a device address ("ip:" and a valid address),
//     i.e. a zone-level finding, needs only the collector: a scan with that
//     collector evaluated the whole zone. A finding on a device the scan
//     did not see, or one with no evidence naming a collector, stays open.
//
// Accepted and false-positive findings are never resolved; a resolved one
// that a later scan produces again is reopened by RecordFindings. Each
// change appends a history event under the scan's ID. The changes are
// returned in finding-ID order.
func (db *DB) ApplyScanLifecycle(ctx context.Context, cov ScanCoverage) ([]LifecycleChange, error) {
	op := fmt.Sprintf("apply findings lifecycle of scan %d", cov.ScanID)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", db.path, op, err)
	}
	now := cov.Now
	if now.IsZero() {
		now = db.now()
	}
	ran := map[string]bool{}
	for _, c := range cov.Collectors {
		ran[c] = true
	}
	produced := map[string]bool{}
	for _, id := range cov.Produced {
		produced[id] = true
	}
	var changes []LifecycleChange
	err := db.update(op, func(tx *bolt.Tx) error {
		changes = nil
		v := tx.Bucket(bucketScans).Get(u64(cov.ScanID))
		if v == nil {
			return fmt.Errorf("scan %d: %w", cov.ScanID, ErrNotFound)
		}
		scan, err := decode[otaudit.Scan](v, kindScan)
		if err != nil {
			return fmt.Errorf("scan %d: %w", cov.ScanID, err)
		}
		saw := scanAssets(tx, cov.ScanID)

		var ids []string
		prefix := indexPrefix(scan.Zone)
		c := tx.Bucket(bucketFindingsByZone).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			ids = append(ids, string(k[len(prefix):]))
		}
		for _, id := range ids {
			if err := ctx.Err(); err != nil {
				return err
			}
			old, found, err := getFinding(tx, id)
			if err != nil {
				return err
			}
			if !found {
				continue // a dangling index entry is Check's to report
			}
			f := old
			var notes []string
			if effectiveStatus(&f, now) {
				notes = append(notes, "reopened: "+f.StatusReason)
				if err := appendEvent(tx, id, &otaudit.FindingEvent{ScanID: cov.ScanID, Time: now,
					Status: f.Status, Severity: f.Severity, Note: notes[0]}); err != nil {
					return err
				}
			}
			if f.Status == otaudit.StatusOpen && cov.Complete && !produced[id] {
				if what, ok := covered(&f, ran, saw); ok {
					f.Status, f.StatusBy, f.StatusUntil = otaudit.StatusResolved, "", time.Time{}
					f.StatusReason = fmt.Sprintf("not seen by scan %d which covered %s", cov.ScanID, what)
					note := "resolved: " + f.StatusReason
					notes = append(notes, note)
					if err := appendEvent(tx, id, &otaudit.FindingEvent{ScanID: cov.ScanID, Time: now,
						Status: f.Status, Severity: f.Severity, Note: note}); err != nil {
						return err
					}
				}
			}
			if len(notes) == 0 {
				continue
			}
			if err := putFinding(tx, &f, old, true); err != nil {
				return err
			}
			changes = append(changes, LifecycleChange{FindingID: id, CheckID: f.CheckID, AssetKey: f.AssetKey,
				From: old.Status, To: f.Status, Note: strings.Join(notes, "; ")})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return changes, nil
}

// scanAssets returns the keys of the assets scanID saw (UpsertAssets).
func scanAssets(tx *bolt.Tx, scanID uint64) map[string]bool {
	saw := map[string]bool{}
	prefix := u64(scanID)
	c := tx.Bucket(bucketScanAssets).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		saw[string(k[len(prefix):])] = true
	}
	return saw
}

// covered decides whether a scan that ran the collectors in ran and saw
// the assets in saw covered f's evidence; what names what it covered, for
// the history ("the asset ip:10.0.0.5 (pcap)").
func covered(f *otaudit.Finding, ran, saw map[string]bool) (what string, ok bool) {
	var by []string
	for _, c := range EvidenceCollectors(f) {
		if ran[c] {
			by = append(by, c)
		}
	}
	if len(by) == 0 {
		return "", false
	}
	if !isDeviceKey(f.AssetKey) {
		return fmt.Sprintf("the zone (%s)", strings.Join(by, ", ")), true
	}
	if !saw[f.AssetKey] {
		return "", false
	}
	return fmt.Sprintf("the asset %s (%s)", f.AssetKey, strings.Join(by, ", ")), true
}

// EvidenceCollectors names the collectors behind a finding's evidence: the
// part of each Evidence.Source before the first ':' ("pcap:plant.pcap" →
// "pcap"), sorted and without repeats. Sources without a prefix name none.
func EvidenceCollectors(f *otaudit.Finding) []string {
	var out []string
	for _, e := range f.Evidence {
		name, _, ok := strings.Cut(e.Source, ":")
		if ok && name != "" {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// isDeviceKey reports whether an asset key names one device by address.
func isDeviceKey(key string) bool {
	addr, ok := strings.CutPrefix(key, "ip:")
	if !ok {
		return false
	}
	_, err := netip.ParseAddr(addr)
	return err == nil
}
