package store

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otaudit/otaudit"
	"golang.org/x/sys/unix"
)

// TestFullDisk fills a 256 KiB tmpfs through AddObservations and checks
// that the failure is an error (not a panic), and that after freeing space
// everything committed before it is intact.
func TestFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("full-disk test needs root to mount a small tmpfs; run the tests as root to include it")
	}
	dir := filepath.Join(t.TempDir(), "tiny")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=256k"); err != nil {
		t.Skipf("full-disk test cannot mount a tmpfs here (%v); it needs CAP_SYS_ADMIN", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	// Reserve space to free later: a full disk must still be recoverable
	// by the user deleting something.
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 64<<10), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	path := filepath.Join(dir, "otaudit.db")
	const perCall = 50
	db, err := Open(ctx, path, Options{ObservationBatch: perCall})
	if err != nil {
		t.Fatal(err)
	}
	scan := beginScan(t, db, "z")
	committed := 0
	var fillErr error
	for i := 0; i < 500 && fillErr == nil; i++ {
		fillErr = db.AddObservations(ctx, scan.ID, realisticObservations(perCall, uint64(i)))
		if fillErr == nil {
			committed += perCall
		}
	}
	if fillErr == nil {
		t.Fatal("256 KiB tmpfs never filled up")
	}
	t.Logf("disk full after %d observations: %v", committed, fillErr)
	if !strings.Contains(fillErr.Error(), path) || !strings.Contains(fillErr.Error(), "add observations to scan") {
		t.Fatalf("full-disk error does not name the file and operation: %v", fillErr)
	}
	if committed == 0 {
		t.Fatal("nothing was committed before the disk filled; the test proves nothing")
	}
	_ = db.Close() // may fail too on a full disk; the data must survive either way

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	db, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("reopen after freeing space: %v", err)
	}
	defer db.Close()
	if s, err := db.Scan(ctx, scan.ID); err != nil || s.Zone != "z" {
		t.Fatalf("scan lost after full disk: %+v %v", s, err)
	}
	n := 0
	if err := db.Observations(ctx, scan.ID, func(otaudit.Observation) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != committed {
		t.Fatalf("%d observations after reopening, want the %d committed before the disk filled", n, committed)
	}
	rep, err := db.Check(ctx)
	if err != nil || !rep.OK() {
		t.Fatalf("Check after full disk: %v %v", err, rep.Problems)
	}
}
