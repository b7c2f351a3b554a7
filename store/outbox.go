package store

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The outbox holds files waiting to be delivered to a target (an HTTPS
// endpoint or a directory). A file enters it before any delivery is tried
// and leaves it only when the target acknowledged it, so a crash, an
// unreachable endpoint or a restart loses nothing. The store knows nothing
// about targets beyond an opaque identity; the agent does the delivering.

// OutboxItem is one file waiting for one target. The content is kept apart
// (ClaimOutboxItem returns it) so that listing the outbox stays cheap.
type OutboxItem struct {
	// ID orders items (first queued, first tried); never reused.
	ID uint64 `json:"id"`
	// Key is the idempotency key a receiver drops duplicates by; queueing
	// an item whose key is already in the outbox does nothing.
	Key string `json:"key"`
	// Target identifies the destination (the agent's opaque identity);
	// TargetLabel is how to show it (never carries a credential).
	Target      string `json:"target"`
	TargetLabel string `json:"target_label"`
	Format      string `json:"format"`
	// Name is the file name; ContentType its media type.
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	Zone        string `json:"zone"`
	ScanID      uint64 `json:"scan_id"`
	// ScanTag names the scan the file belongs to across files and stores
	// (a directory drop's file-name prefix).
	ScanTag string `json:"scan_tag,omitempty"`
	// Size and SHA256 (hex) describe the content; a claim verifies them.
	Size    int64     `json:"size"`
	SHA256  string    `json:"sha256"`
	Created time.Time `json:"created"`
	// Attempts counts claims (a claim is a delivery attempt).
	Attempts    int       `json:"attempts"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	// NextAttempt is when the item is due again (backoff); zero = now.
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	// LeaseUntil: an attempt is in flight until then; nobody else may
	// claim the item before (so two delivering processes do not both send
	// it). A lease left by a process that died simply expires.
	LeaseUntil time.Time `json:"lease_until,omitzero"`
}

// OutboxFile is an item to queue with its content.
type OutboxFile struct {
	Item    OutboxItem
	Content []byte
}

// OutboxLimits bound the outbox. Zero fields take the defaults.
type OutboxLimits struct {
	MaxItems int
	MaxBytes int64
}

// Default outbox bounds: a zone's results are a few hundred kilobytes per
// scan, so these hold weeks of results for an endpoint that is down.
const (
	DefaultOutboxMaxItems       = 1000
	DefaultOutboxMaxBytes int64 = 256 << 20
)

func (l OutboxLimits) withDefaults() OutboxLimits {
	if l.MaxItems <= 0 {
		l.MaxItems = DefaultOutboxMaxItems
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultOutboxMaxBytes
	}
	return l
}

// OutboxStats is what the outbox holds.
type OutboxStats struct {
	Items int   `json:"items"`
	Bytes int64 `json:"bytes"`
	// Delivered counts every item ever acknowledged.
	Delivered uint64 `json:"delivered"`
	// Oldest is when the oldest pending item was queued.
	Oldest   time.Time         `json:"oldest,omitzero"`
	ByTarget []OutboxTargetSum `json:"by_target,omitempty"`
}

// OutboxTargetSum is what the outbox holds for one target.
type OutboxTargetSum struct {
	Target    string `json:"target"`
	Label     string `json:"label"`
	Items     int    `json:"items"`
	Bytes     int64  `json:"bytes"`
	LastError string `json:"last_error,omitempty"`
}

// ErrOutboxFull: queueing would exceed the outbox bounds; nothing was
// queued. The error is an *OutboxFullError saying what the outbox holds.
var ErrOutboxFull = errors.New("outbox full")

// ErrOutboxBusy: another attempt holds the item's lease.
var ErrOutboxBusy = errors.New("outbox item is being delivered")

// OutboxFullError is returned (wrapped) by EnqueueOutbox when the new
// files do not fit. Nothing is dropped to make room: results are only
// removed by delivery or by an operator.
type OutboxFullError struct {
	Limits      OutboxLimits
	Held        OutboxStats
	AddingItems int
	AddingBytes int64
}

func (e *OutboxFullError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "outbox full: it holds %d item(s), %s, of at most %d item(s), %s; cannot add %d item(s), %s",
		e.Held.Items, byteSize(e.Held.Bytes), e.Limits.MaxItems, byteSize(e.Limits.MaxBytes), e.AddingItems, byteSize(e.AddingBytes))
	if !e.Held.Oldest.IsZero() {
		fmt.Fprintf(&b, "; oldest queued %s", e.Held.Oldest.UTC().Format(time.RFC3339))
	}
	for _, t := range e.Held.ByTarget {
		fmt.Fprintf(&b, "; %d for %s", t.Items, t.Label)
		if t.LastError != "" {
			fmt.Fprintf(&b, " (last error: %s)", t.LastError)
		}
	}
	return b.String()
}

func (e *OutboxFullError) Is(target error) bool { return target == ErrOutboxFull }

func byteSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// EnqueueOutbox puts files into the outbox in one transaction: all of them
// or, when they do not fit within limits, none (an *OutboxFullError). A
// file whose Key is already queued is skipped; it is returned in dups. The
// store assigns ID, Size, SHA256 and (when zero) Created, and clears the
// delivery state fields.
func (db *DB) EnqueueOutbox(ctx context.Context, files []OutboxFile, limits OutboxLimits) (queued, dups []OutboxItem, err error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("%s: queue %d outbox file(s): %w", db.path, len(files), err)
	}
	limits = limits.withDefaults()
	err = db.update(fmt.Sprintf("queue %d outbox file(s)", len(files)), func(tx *bolt.Tx) error {
		queued, dups = nil, nil
		items, content, keys := tx.Bucket(bucketOutbox), tx.Bucket(bucketOutboxContent), tx.Bucket(bucketOutboxKeys)
		var fresh []OutboxFile
		batchKeys := map[string]bool{}
		for _, f := range files {
			it := f.Item
			if it.Key == "" || it.Target == "" || it.Name == "" {
				return fmt.Errorf("outbox file %q for %q: key, target and name are required", it.Name, it.TargetLabel)
			}
			if id := keys.Get([]byte(it.Key)); id != nil {
				old, err := decode[OutboxItem](items.Get(id), kindOutboxItem)
				if err != nil {
					return fmt.Errorf("outbox item %d: %w", readU64(id), err)
				}
				dups = append(dups, old)
				continue
			}
			if batchKeys[it.Key] {
				continue
			}
			batchKeys[it.Key] = true
			fresh = append(fresh, f)
		}
		held, err := outboxStats(tx)
		if err != nil {
			return err
		}
		var addBytes int64
		for _, f := range fresh {
			addBytes += int64(len(f.Content))
		}
		if held.Items+len(fresh) > limits.MaxItems || held.Bytes+addBytes > limits.MaxBytes {
			return &OutboxFullError{Limits: limits, Held: held, AddingItems: len(fresh), AddingBytes: addBytes}
		}
		for _, f := range fresh {
			it := f.Item
			id, err := items.NextSequence()
			if err != nil {
				return err
			}
			sum := sha256.Sum256(f.Content)
			it.ID, it.Size, it.SHA256 = id, int64(len(f.Content)), hex.EncodeToString(sum[:])
			if it.Created.IsZero() {
				it.Created = db.now().UTC()
			}
			it.Attempts, it.LastAttempt, it.NextAttempt, it.LastError, it.LeaseUntil = 0, time.Time{}, time.Time{}, "", time.Time{}
			if err := putOutboxItem(items, &it); err != nil {
				return err
			}
			if err := content.Put(u64(id), f.Content); err != nil {
				return fmt.Errorf("outbox item %d content: %w", id, err)
			}
			if err := keys.Put([]byte(it.Key), u64(id)); err != nil {
				return fmt.Errorf("outbox item %d key: %w", id, err)
			}
			queued = append(queued, it)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return queued, dups, nil
}

func putOutboxItem(b *bolt.Bucket, it *OutboxItem) error {
	v, err := encode(kindOutboxItem, it)
	if err != nil {
		return fmt.Errorf("outbox item %d: %w", it.ID, err)
	}
	if err := b.Put(u64(it.ID), v); err != nil {
		return fmt.Errorf("outbox item %d: %w", it.ID, err)
	}
	return nil
}

func getOutboxItem(tx *bolt.Tx, id uint64) (OutboxItem, error) {
	v := tx.Bucket(bucketOutbox).Get(u64(id))
	if v == nil {
		return OutboxItem{}, fmt.Errorf("outbox item %d: %w", id, ErrNotFound)
	}
	it, err := decode[OutboxItem](v, kindOutboxItem)
	if err != nil {
		return OutboxItem{}, fmt.Errorf("outbox item %d: %w", id, err)
	}
	return it, nil
}

// OutboxItems lists every pending item, oldest first.
func (db *DB) OutboxItems(ctx context.Context) ([]OutboxItem, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: list outbox: %w", db.path, err)
	}
	var out []OutboxItem
	err := db.view("list outbox", func(tx *bolt.Tx) error {
		var err error
		out, err = outboxItems(tx)
		return err
	})
	return out, err
}

func outboxItems(tx *bolt.Tx) ([]OutboxItem, error) {
	var out []OutboxItem
	err := tx.Bucket(bucketOutbox).ForEach(func(k, v []byte) error {
		it, err := decode[OutboxItem](v, kindOutboxItem)
		if err != nil {
			return fmt.Errorf("outbox item %d: %w", readU64(k), err)
		}
		out = append(out, it)
		return nil
	})
	return out, err
}

// OutboxStats sums up what the outbox holds.
func (db *DB) OutboxStats(ctx context.Context) (OutboxStats, error) {
	var st OutboxStats
	if err := ctx.Err(); err != nil {
		return st, fmt.Errorf("%s: outbox stats: %w", db.path, err)
	}
	err := db.view("outbox stats", func(tx *bolt.Tx) error {
		var err error
		st, err = outboxStats(tx)
		return err
	})
	return st, err
}

func outboxStats(tx *bolt.Tx) (OutboxStats, error) {
	var st OutboxStats
	if v := tx.Bucket(bucketMeta).Get(metaOutboxDelivered); len(v) == 8 {
		st.Delivered = readU64(v)
	}
	items, err := outboxItems(tx)
	if err != nil {
		return st, err
	}
	byTarget := map[string]*OutboxTargetSum{}
	for _, it := range items {
		st.Items++
		st.Bytes += it.Size
		if st.Oldest.IsZero() || it.Created.Before(st.Oldest) {
			st.Oldest = it.Created
		}
		t := byTarget[it.Target]
		if t == nil {
			t = &OutboxTargetSum{Target: it.Target, Label: it.TargetLabel}
			byTarget[it.Target] = t
		}
		t.Items++
		t.Bytes += it.Size
		if it.LastError != "" {
			t.LastError = it.LastError // items are in ID order: the newest error wins
		}
	}
	for _, t := range byTarget {
		st.ByTarget = append(st.ByTarget, *t)
	}
	slices.SortFunc(st.ByTarget, func(a, b OutboxTargetSum) int { return cmp.Compare(a.Label, b.Label) })
	return st, nil
}

// ClaimOutboxItem starts a delivery attempt: it counts the attempt, holds
// the item's lease until leaseUntil and returns the item with its content.
// It fails with ErrNotFound when the item is gone (delivered meanwhile),
// ErrOutboxBusy when another attempt holds the lease, and an error naming
// the damage when the content no longer matches its digest (the item is
// kept for an operator to look at).
func (db *DB) ClaimOutboxItem(ctx context.Context, id uint64, now, leaseUntil time.Time) (OutboxItem, []byte, error) {
	if err := ctx.Err(); err != nil {
		return OutboxItem{}, nil, fmt.Errorf("%s: claim outbox item %d: %w", db.path, id, err)
	}
	var (
		it   OutboxItem
		data []byte
	)
	err := db.update(fmt.Sprintf("claim outbox item %d", id), func(tx *bolt.Tx) error {
		var err error
		if it, err = getOutboxItem(tx, id); err != nil {
			return err
		}
		if it.LeaseUntil.After(now) {
			return fmt.Errorf("outbox item %d: %w until %s", id, ErrOutboxBusy, it.LeaseUntil.UTC().Format(time.RFC3339))
		}
		raw := tx.Bucket(bucketOutboxContent).Get(u64(id))
		sum := sha256.Sum256(raw)
		if raw == nil || int64(len(raw)) != it.Size || hex.EncodeToString(sum[:]) != it.SHA256 {
			return fmt.Errorf("outbox item %d (%s): content is damaged (%d bytes, want %d with sha256 %s)", id, it.Name, len(raw), it.Size, it.SHA256)
		}
		data = bytes.Clone(raw) // the memory map is gone after the transaction
		it.Attempts++
		it.LastAttempt = now.UTC()
		it.LeaseUntil = leaseUntil.UTC()
		return putOutboxItem(tx.Bucket(bucketOutbox), &it)
	})
	if err != nil {
		return OutboxItem{}, nil, err
	}
	return it, data, nil
}

// AckOutboxItem removes a delivered item. ErrNotFound when it is already
// gone (another process delivered it too; the receiver drops the second
// copy by its key).
func (db *DB) AckOutboxItem(ctx context.Context, id uint64) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: acknowledge outbox item %d: %w", db.path, id, err)
	}
	return db.update(fmt.Sprintf("acknowledge outbox item %d", id), func(tx *bolt.Tx) error {
		it, err := getOutboxItem(tx, id)
		if err != nil {
			return err
		}
		if err := deleteOutboxItem(tx, it); err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		var n uint64
		if v := meta.Get(metaOutboxDelivered); len(v) == 8 {
			n = readU64(v)
		}
		return meta.Put(metaOutboxDelivered, u64(n+1))
	})
}

func deleteOutboxItem(tx *bolt.Tx, it OutboxItem) error {
	if err := tx.Bucket(bucketOutbox).Delete(u64(it.ID)); err != nil {
		return fmt.Errorf("outbox item %d: %w", it.ID, err)
	}
	if err := tx.Bucket(bucketOutboxContent).Delete(u64(it.ID)); err != nil {
		return fmt.Errorf("outbox item %d content: %w", it.ID, err)
	}
	keys := tx.Bucket(bucketOutboxKeys)
	// Only remove the key entry when it points at this item.
	if v := keys.Get([]byte(it.Key)); v != nil && readU64(v) == it.ID {
		if err := keys.Delete([]byte(it.Key)); err != nil {
			return fmt.Errorf("outbox item %d key: %w", it.ID, err)
		}
	}
	return nil
}

// FailOutboxItem records a failed attempt: the error and when to try
// again. It releases the lease. The item stays in the outbox.
func (db *DB) FailOutboxItem(ctx context.Context, id uint64, next time.Time, lastError string) (OutboxItem, error) {
	var it OutboxItem
	if err := ctx.Err(); err != nil {
		return it, fmt.Errorf("%s: record failed delivery of outbox item %d: %w", db.path, id, err)
	}
	err := db.update(fmt.Sprintf("record failed delivery of outbox item %d", id), func(tx *bolt.Tx) error {
		var err error
		if it, err = getOutboxItem(tx, id); err != nil {
			return err
		}
		it.NextAttempt = next.UTC()
		it.LastError = lastError
		it.LeaseUntil = time.Time{}
		return putOutboxItem(tx.Bucket(bucketOutbox), &it)
	})
	return it, err
}

// DropOutboxItems removes items without delivering them (an operator's
// decision, e.g. for a target that no longer exists). Every ID must exist,
// or nothing is removed.
func (db *DB) DropOutboxItems(ctx context.Context, ids []uint64) ([]OutboxItem, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: drop outbox items: %w", db.path, err)
	}
	var dropped []OutboxItem
	err := db.update("drop outbox items", func(tx *bolt.Tx) error {
		dropped = nil
		for _, id := range ids {
			it, err := getOutboxItem(tx, id)
			if err != nil {
				return err
			}
			if err := deleteOutboxItem(tx, it); err != nil {
				return err
			}
			dropped = append(dropped, it)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return dropped, nil
}

// checkOutbox adds the outbox's inconsistencies to p: items without
// content or key, content or keys without item, sizes that disagree. It is
// meant to be called from Check.
func checkOutbox(tx *bolt.Tx, p *problems) {
	items, content, keys := tx.Bucket(bucketOutbox), tx.Bucket(bucketOutboxContent), tx.Bucket(bucketOutboxKeys)
	if items == nil || content == nil || keys == nil {
		return // Check reports missing buckets
	}
	_ = items.ForEach(func(k, v []byte) error {
		it, err := decode[OutboxItem](v, kindOutboxItem)
		if err != nil {
			p.addf("outbox item %d: %v", readU64(k), err)
			return nil
		}
		c := content.Get(k)
		switch {
		case c == nil:
			p.addf("outbox item %d (%s): content missing", it.ID, it.Name)
		case int64(len(c)) != it.Size:
			p.addf("outbox item %d (%s): content is %d bytes, want %d", it.ID, it.Name, len(c), it.Size)
		}
		if id := keys.Get([]byte(it.Key)); id == nil || !bytes.Equal(id, k) {
			p.addf("outbox item %d (%s): idempotency key not indexed", it.ID, it.Name)
		}
		return nil
	})
	_ = content.ForEach(func(k, _ []byte) error {
		if items.Get(k) == nil {
			p.addf("outbox content %d: no item", readU64(k))
		}
		return nil
	})
	_ = keys.ForEach(func(k, v []byte) error {
		if len(v) != 8 || items.Get(v) == nil {
			p.addf("outbox key %x: points at no item", k)
		}
		return nil
	})
}

// CheckOutbox verifies the outbox alone and returns its problems, one line
// each (none when it is consistent).
func (db *DB) CheckOutbox(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: check outbox: %w", db.path, err)
	}
	var p problems
	err := db.view("check outbox", func(tx *bolt.Tx) error {
		checkOutbox(tx, &p)
		return nil
	})
	if p.dropped > 0 {
		p.list = append(p.list, fmt.Sprintf("… and %d more", p.dropped))
	}
	return p.list, err
}
