package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func outboxFile(key, target, name string, content string) OutboxFile {
	return OutboxFile{
		Item:    OutboxItem{Key: key, Target: target, TargetLabel: "label of " + target, Format: "json", Name: name, ContentType: "application/json", Zone: "cell-1", ScanID: 1},
		Content: []byte(content),
	}
}

func TestOutboxQueueClaimAckSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := newStoreFile(t)
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	queued, dups, err := db.EnqueueOutbox(ctx, []OutboxFile{
		outboxFile("k1", "t1", "a.json", `{"a":1}`),
		outboxFile("k2", "t2", "b.json", `{"b":22}`),
		outboxFile("k1", "t1", "a.json", `{"a":1}`), // same key within one call
	}, OutboxLimits{})
	if err != nil || len(queued) != 2 || len(dups) != 0 {
		t.Fatalf("enqueue: %d queued %d dups %v", len(queued), len(dups), err)
	}
	if queued[0].ID >= queued[1].ID || queued[0].Size != 7 || queued[0].SHA256 == "" || queued[0].Created.IsZero() {
		t.Fatalf("queued items: %+v", queued)
	}
	// Queueing the same key again holds it once.
	queued2, dups, err := db.EnqueueOutbox(ctx, []OutboxFile{outboxFile("k2", "t2", "b.json", `{"b":22}`)}, OutboxLimits{})
	if err != nil || len(queued2) != 0 || len(dups) != 1 || dups[0].ID != queued[1].ID {
		t.Fatalf("re-enqueue: %d queued, dups %+v, %v", len(queued2), dups, err)
	}
	db.Close()

	// A restart between queueing and delivering loses nothing.
	db, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	items, err := db.OutboxItems(ctx)
	if err != nil || len(items) != 2 || items[0].Key != "k1" || items[1].Key != "k2" {
		t.Fatalf("after reopen: %+v %v", items, err)
	}
	now := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	it, data, err := db.ClaimOutboxItem(ctx, items[0].ID, now, now.Add(time.Minute))
	if err != nil || string(data) != `{"a":1}` || it.Attempts != 1 || !it.LastAttempt.Equal(now) {
		t.Fatalf("claim: %+v %q %v", it, data, err)
	}
	// A second claim while the lease holds is refused.
	if _, _, err := db.ClaimOutboxItem(ctx, items[0].ID, now.Add(time.Second), now.Add(time.Minute)); !errors.Is(err, ErrOutboxBusy) {
		t.Fatalf("claim under lease: %v, want ErrOutboxBusy", err)
	}
	failed, err := db.FailOutboxItem(ctx, items[0].ID, now.Add(30*time.Second), "HTTP 500")
	if err != nil || failed.LastError != "HTTP 500" || !failed.LeaseUntil.IsZero() || !failed.NextAttempt.Equal(now.Add(30*time.Second)) {
		t.Fatalf("fail: %+v %v", failed, err)
	}
	// Failing released the lease: the next claim works and counts.
	it, _, err = db.ClaimOutboxItem(ctx, items[0].ID, now.Add(time.Second), now.Add(time.Minute))
	if err != nil || it.Attempts != 2 {
		t.Fatalf("second claim: %+v %v", it, err)
	}
	if err := db.AckOutboxItem(ctx, items[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := db.AckOutboxItem(ctx, items[0].ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second ack: %v, want ErrNotFound", err)
	}
	st, err := db.OutboxStats(ctx)
	if err != nil || st.Items != 1 || st.Bytes != 8 || st.Delivered != 1 || len(st.ByTarget) != 1 || st.ByTarget[0].Target != "t2" {
		t.Fatalf("stats: %+v %v", st, err)
	}
	// An acknowledged key may be queued again (a re-delivery the receiver
	// drops by its key).
	queued3, _, err := db.EnqueueOutbox(ctx, []OutboxFile{outboxFile("k1", "t1", "a.json", `{"a":1}`)}, OutboxLimits{})
	if err != nil || len(queued3) != 1 || queued3[0].ID <= items[1].ID {
		t.Fatalf("re-queue after ack: %+v %v", queued3, err)
	}
	if probs, err := db.CheckOutbox(ctx); err != nil || len(probs) != 0 {
		t.Fatalf("check: %v %v", probs, err)
	}
	if rep, err := db.Check(ctx); err != nil || !rep.OK() {
		t.Fatalf("store check: %v %v", rep.Problems, err)
	}
}

func TestOutboxBoundRefusesAndKeepsWhatItHolds(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	limits := OutboxLimits{MaxItems: 2, MaxBytes: 100}
	if _, _, err := db.EnqueueOutbox(ctx, []OutboxFile{outboxFile("k1", "t1", "a.json", "0123456789")}, limits); err != nil {
		t.Fatal(err)
	}
	if _, err := db.FailOutboxItem(ctx, 1, time.Time{}, "connection refused"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		files []OutboxFile
	}{
		{"too many items", []OutboxFile{outboxFile("k2", "t1", "b.json", "x"), outboxFile("k3", "t1", "c.json", "y")}},
		{"too many bytes", []OutboxFile{outboxFile("k4", "t1", "d.json", strings.Repeat("z", 91))}},
	} {
		_, _, err := db.EnqueueOutbox(ctx, tc.files, limits)
		var full *OutboxFullError
		if !errors.Is(err, ErrOutboxFull) || !errors.As(err, &full) {
			t.Fatalf("%s: %v, want an OutboxFullError", tc.name, err)
		}
		if full.Held.Items != 1 || full.Held.Bytes != 10 || full.AddingItems != len(tc.files) {
			t.Errorf("%s: error reports %+v", tc.name, full)
		}
		for _, want := range []string{"holds 1 item(s), 10 B", "at most 2 item(s)", "1 for label of t1", "connection refused"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %q does not say %q", tc.name, err, want)
			}
		}
	}
	items, err := db.OutboxItems(ctx)
	if err != nil || len(items) != 1 || items[0].Key != "k1" {
		t.Fatalf("a refused enqueue changed the outbox: %+v %v", items, err)
	}
	// Exactly at the bound is still accepted.
	if _, _, err := db.EnqueueOutbox(ctx, []OutboxFile{outboxFile("k5", "t1", "e.json", strings.Repeat("z", 90))}, limits); err != nil {
		t.Fatalf("enqueue up to the bound: %v", err)
	}
}

func TestOutboxDamageIsDetected(t *testing.T) {
	ctx := context.Background()
	path := newStoreFile(t)
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.EnqueueOutbox(ctx, []OutboxFile{outboxFile("k1", "t1", "a.json", `{"a":1}`)}, OutboxLimits{}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketOutboxContent).Put(u64(1), []byte(`{"a":2}`)); err != nil {
			return err
		}
		return tx.Bucket(bucketOutboxKeys).Put([]byte("stray"), u64(99))
	})
	db, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, _, err := db.ClaimOutboxItem(ctx, 1, time.Now(), time.Now().Add(time.Minute)); err == nil || !strings.Contains(err.Error(), "content is damaged") {
		t.Fatalf("claim of damaged content: %v", err)
	}
	probs, err := db.CheckOutbox(ctx)
	if err != nil || len(probs) != 1 || !strings.Contains(probs[0], "points at no item") {
		t.Fatalf("check: %v %v", probs, err)
	}
	if items, _ := db.OutboxItems(ctx); len(items) != 1 {
		t.Fatal("a damaged item must stay for an operator to look at")
	}
}

func TestOutboxDropNeedsExistingIDs(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	for i := range 3 {
		k := fmt.Sprint("k", i)
		if _, _, err := db.EnqueueOutbox(ctx, []OutboxFile{outboxFile(k, "t", k+".json", "{}")}, OutboxLimits{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.DropOutboxItems(ctx, []uint64{1, 42}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("drop with an unknown ID: %v", err)
	}
	if items, _ := db.OutboxItems(ctx); len(items) != 3 {
		t.Fatalf("a failed drop removed items: %d left", len(items))
	}
	dropped, err := db.DropOutboxItems(ctx, []uint64{1, 3})
	if err != nil || len(dropped) != 2 {
		t.Fatalf("drop: %+v %v", dropped, err)
	}
	items, _ := db.OutboxItems(ctx)
	if len(items) != 1 || items[0].ID != 2 {
		t.Fatalf("after drop: %+v", items)
	}
	if st, _ := db.OutboxStats(ctx); st.Delivered != 0 {
		t.Fatalf("dropped items counted as delivered: %d", st.Delivered)
	}
}

func TestMigrateV2AddsOutbox(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v2.db")
	v2, err := openWith(ctx, path, Options{}, migrations[:2])
	if err != nil {
		t.Fatal(err)
	}
	scan := beginScan(t, v2, "cell-1")
	v2.Close()
	if _, err := Open(ctx, path, Options{ReadOnly: true}); !errors.Is(err, ErrOlderSchema) {
		t.Fatalf("read-only Open of a v2 file = %v, want ErrOlderSchema", err)
	}
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.SchemaVersion() != 3 {
		t.Fatalf("schema %d after migration", db.SchemaVersion())
	}
	if s, err := db.Scan(ctx, scan.ID); err != nil || s.Zone != "cell-1" {
		t.Fatalf("v2 scan lost in migration: %+v %v", s, err)
	}
	if _, _, err := db.EnqueueOutbox(ctx, []OutboxFile{outboxFile("k", "t", "a.json", "{}")}, OutboxLimits{}); err != nil {
		t.Fatalf("outbox after migration: %v", err)
	}
}
