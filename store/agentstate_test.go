package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestProcessedCapturesRoundTrip(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "otaudit.db")
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := db.ProcessedCaptures(ctx, "cell-1"); err != nil || got != nil {
		t.Fatalf("fresh store: %v, %v; want nothing", got, err)
	}
	local := time.FixedZone("CET", 3600)
	files := []CaptureFile{
		{Path: "/cap/b.pcap", Size: 200, ModTime: t0.In(local)},
		{Path: "/cap/a.pcap", Size: 100, ModTime: t0.Add(time.Minute)},
	}
	if err := db.SetProcessedCaptures(ctx, "cell-1", files); err != nil {
		t.Fatal(err)
	}
	if err := db.SetProcessedCaptures(ctx, "cell-2", files[:1]); err != nil {
		t.Fatal(err)
	}
	if err := db.SetProcessedCaptures(ctx, "", files); err == nil {
		t.Fatal("empty zone accepted")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// A read-only open (the CLI, the API) sees what the agent recorded.
	ro, err := Open(ctx, path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	got, err := ro.ProcessedCaptures(ctx, "cell-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Path != "/cap/a.pcap" || got[1].Path != "/cap/b.pcap" {
		t.Fatalf("cell-1: %+v, want a.pcap then b.pcap", got)
	}
	if got[1].Size != 200 || !got[1].ModTime.Equal(t0) || got[1].ModTime.Location() != time.UTC {
		t.Fatalf("b.pcap: %+v, want size 200 at %s UTC", got[1], t0)
	}
	other, err := ro.ProcessedCaptures(ctx, "cell-2")
	if err != nil || len(other) != 1 || other[0].Path != "/cap/b.pcap" {
		t.Fatalf("cell-2: %+v, %v", other, err)
	}
	rep, err := ro.Check(ctx)
	if err != nil || !rep.OK() {
		t.Fatalf("check after recording captures: %v %v", rep.Problems, err)
	}
}

func TestProcessedCapturesRefusesNewerFormat(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(processedCapturesKey("z"), []byte(`{"v":99,"zone":"z","files":[]}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ProcessedCaptures(ctx, "z"); !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("v99 record: %v, want ErrNewerSchema", err)
	}
}
