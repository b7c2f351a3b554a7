package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otaudit/otaudit"
	bolt "go.etcd.io/bbolt"
)

// rawUpdate edits a closed store file with bbolt directly, the way a bug,
// another tool or a newer otaudit might have.
func rawUpdate(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	if err := bdb.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func rawSchemaVersion(t *testing.T, path string) (v uint64, buckets []string) {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	_ = bdb.View(func(tx *bolt.Tx) error {
		if m := tx.Bucket(bucketMeta); m != nil {
			v = readU64(m.Get(metaSchemaVersion))
		}
		return tx.ForEach(func(name []byte, _ *bolt.Bucket) error { buckets = append(buckets, string(name)); return nil })
	})
	return v, buckets
}

func newStoreFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "otaudit.db")
	db, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestOpenLockedGivesErrLocked(t *testing.T) {
	ctx := context.Background()
	path := newStoreFile(t)
	w, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ro := range []bool{false, true} {
		_, err := Open(ctx, path, Options{ReadOnly: ro, LockTimeout: 100 * time.Millisecond})
		if !errors.Is(err, ErrLocked) {
			t.Fatalf("Open(readOnly=%v) while a writer holds the file = %v, want ErrLocked", ro, err)
		}
		want := fmt.Sprintf("open %s: database is in use by another otaudit process (waited 100ms); try again when it finishes", path)
		if err.Error() != want {
			t.Fatalf("message\n got %q\nwant %q", err, want)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// Readers share the file; a writer is kept out while they hold it.
	r1, err := Open(ctx, path, Options{ReadOnly: true, LockTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	r2, err := Open(ctx, path, Options{ReadOnly: true, LockTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("second reader: %v", err)
	}
	defer r2.Close()
	if _, err := Open(ctx, path, Options{LockTimeout: 100 * time.Millisecond}); !errors.Is(err, ErrLocked) {
		t.Fatalf("writer while readers hold the file = %v, want ErrLocked", err)
	}
}

func foreignBolt(t *testing.T, path string, withBucket bool) {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if withBucket {
		err = bdb.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket([]byte("users"))
			if err != nil {
				return err
			}
			return b.Put([]byte("alice"), []byte("admin"))
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := bdb.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesFilesThatAreNotOurs(t *testing.T) {
	ctx := context.Background()
	rnd := func(n int) []byte {
		b := make([]byte, n)
		r := rand.NewChaCha8([32]byte{byte(n)})
		_, _ = r.Read(b)
		return b
	}
	cases := []struct {
		name   string
		make   func(t *testing.T, path string)
		reason string
	}{
		{"random 100 bytes", func(t *testing.T, p string) { os.WriteFile(p, rnd(100), 0o600) }, "not a bbolt file"},
		// Exactly one page: bbolt would map a second page past the end.
		{"random 4096 bytes", func(t *testing.T, p string) { os.WriteFile(p, rnd(4096), 0o600) }, "not a bbolt file"},
		{"random 64 KiB", func(t *testing.T, p string) { os.WriteFile(p, rnd(64<<10), 0o600) }, "not a bbolt file"},
		{"text file", func(t *testing.T, p string) {
			os.WriteFile(p, bytes.Repeat([]byte("meeting notes: rotate the PLC passwords\n"), 200), 0o600)
		}, "not a bbolt file"},
		{"empty file", func(t *testing.T, p string) { os.WriteFile(p, nil, 0o600) }, "empty file"},
		{"directory", func(t *testing.T, p string) { os.Mkdir(p, 0o700) }, "a directory"},
		{"other program's bbolt", func(t *testing.T, p string) { foreignBolt(t, p, true) }, "a bbolt file of another program"},
		{"truncated otaudit file", func(t *testing.T, p string) {
			src := newStoreFile(t)
			db, err := Open(ctx, src, Options{})
			if err != nil {
				t.Fatal(err)
			}
			s := beginScan(t, db, "z")
			if err := db.AddObservations(ctx, s.ID, realisticObservations(2000, 9)); err != nil {
				t.Fatal(err)
			}
			db.Close()
			b, _ := os.ReadFile(src)
			os.WriteFile(p, b[:len(b)/3], 0o600)
		}, "truncated bbolt file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "file")
			c.make(t, path)
			before, _ := os.ReadFile(path)
			for _, ro := range []bool{false, true} {
				db, err := Open(ctx, path, Options{ReadOnly: ro})
				if err == nil {
					db.Close()
					t.Fatalf("Open(readOnly=%v) accepted it", ro)
				}
				if !errors.Is(err, ErrNotDatabase) {
					t.Fatalf("Open(readOnly=%v) = %v, want ErrNotDatabase", ro, err)
				}
				if !strings.HasPrefix(err.Error(), "open "+path+": not an otaudit database (") || !strings.Contains(err.Error(), c.reason) ||
					strings.Contains(err.Error(), "\n") {
					t.Fatalf("message %q should be one line naming the file and %q", err, c.reason)
				}
			}
			after, _ := os.ReadFile(path)
			if !bytes.Equal(before, after) {
				t.Fatal("Open modified a file that is not an otaudit database")
			}
		})
	}
}

func TestOpenEmptyBboltFileIsSetUpWritableOnly(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fresh.db")
	foreignBolt(t, path, false) // a valid bbolt file without a single bucket: schema 0
	if _, err := Open(ctx, path, Options{ReadOnly: true}); !errors.Is(err, ErrNotDatabase) {
		t.Fatalf("read-only Open of a bucket-less bbolt file = %v, want ErrNotDatabase", err)
	}
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.SchemaVersion() != SchemaVersion {
		t.Fatalf("schema %d after set-up, want %d", db.SchemaVersion(), SchemaVersion)
	}
}

func TestOpenMissingFileReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.db")
	_, err := Open(context.Background(), path, Options{ReadOnly: true})
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Fatalf("read-only Open of a missing file = %v, want fs.ErrNotExist naming it", err)
	}
	if _, statErr := os.Stat(path); !errors.Is(statErr, fs.ErrNotExist) {
		t.Fatal("read-only Open created the file")
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := newStoreFile(t)
	rawUpdate(t, path, func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(metaSchemaVersion, u64(7)) })
	for _, ro := range []bool{false, true} {
		_, err := Open(context.Background(), path, Options{ReadOnly: ro})
		if !errors.Is(err, ErrNewerSchema) {
			t.Fatalf("Open(readOnly=%v) = %v, want ErrNewerSchema", ro, err)
		}
		want := fmt.Sprintf("open %s: schema version 7 is newer than this otaudit understands (%d); upgrade otaudit", path, SchemaVersion)
		if err.Error() != want {
			t.Fatalf("message\n got %q\nwant %q", err, want)
		}
	}
	if v, _ := rawSchemaVersion(t, path); v != 7 {
		t.Fatalf("refusing changed the schema version to %d", v)
	}
}

func TestMigrateV1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	// A schema-1 file: what the first release wrote (no indexes).
	v1, err := openWith(ctx, path, Options{}, migrations[:1])
	if err != nil {
		t.Fatal(err)
	}
	if v1.SchemaVersion() != 1 {
		t.Fatalf("v1 DB has schema %d", v1.SchemaVersion())
	}
	scan := beginScan(t, v1, "cell-1")
	v1.Close()
	f := realisticFinding(3)
	f.Status = otaudit.StatusOpen
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		v, err := encode(kindFinding, &f)
		if err != nil {
			return err
		}
		return tx.Bucket(bucketFindings).Put([]byte(f.ID), v)
	})
	if _, err := Open(ctx, path, Options{ReadOnly: true}); !errors.Is(err, ErrOlderSchema) {
		t.Fatalf("read-only Open of a v1 file = %v, want ErrOlderSchema", err)
	}

	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.SchemaVersion() != SchemaVersion {
		t.Fatalf("schema %d after migration, want %d", db.SchemaVersion(), SchemaVersion)
	}
	open, err := db.Findings(ctx, FindingFilter{Status: otaudit.StatusOpen})
	if err != nil || len(open) != 1 || open[0].ID != f.ID {
		t.Fatalf("v1 finding not indexed by the migration: %v %v", findingIDs(open), err)
	}
	if byZone, _ := db.Findings(ctx, FindingFilter{Zone: f.Zone}); len(byZone) != 1 {
		t.Fatalf("v1 finding not in the zone index: %d", len(byZone))
	}
	if s, err := db.Scan(ctx, scan.ID); err != nil || s.Zone != "cell-1" {
		t.Fatalf("v1 scan lost in migration: %+v %v", s, err)
	}
	rep, err := db.Check(ctx)
	if err != nil || !rep.OK() {
		t.Fatalf("Check after migration: %v %v", err, rep.Problems)
	}
}

func TestFailingMigrationLeavesVersionUntouched(t *testing.T) {
	ctx := context.Background()
	path := newStoreFile(t)
	broken := append(append([]migration(nil), migrations...), migration{
		name: "add a bucket, then fail",
		apply: func(tx *bolt.Tx) error {
			if _, err := tx.CreateBucket([]byte("half_done")); err != nil {
				return err
			}
			return errors.New("disk on fire")
		},
	})
	_, err := openWith(ctx, path, Options{}, broken)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("migrate schema %d → %d", SchemaVersion, SchemaVersion+1)) ||
		!strings.Contains(err.Error(), "disk on fire") || !strings.Contains(err.Error(), path) {
		t.Fatalf("failing migration error = %v", err)
	}
	v, buckets := rawSchemaVersion(t, path)
	if v != SchemaVersion {
		t.Fatalf("schema version %d after a failed migration, want %d", v, SchemaVersion)
	}
	for _, b := range buckets {
		if b == "half_done" {
			t.Fatal("the failed migration's partial work was committed")
		}
	}
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("file unusable after a failed migration: %v", err)
	}
	db.Close()
}

func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot run `true` to get a dead PID: %v", err)
	}
	return cmd.Process.Pid
}

func TestOpenRecoversInterruptedScans(t *testing.T) {
	ctx := context.Background()
	path := newStoreFile(t)
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	alive := beginScan(t, db, "z") // this process: still alive
	dead := beginScan(t, db, "z")
	remote := beginScan(t, db, "z")
	if err := db.AddObservations(ctx, dead.ID, realisticObservations(50, 4)); err != nil {
		t.Fatal(err)
	}
	if err := db.RecordFindings(ctx, dead.ID, []otaudit.Finding{realisticFinding(1)}); err != nil {
		t.Fatal(err)
	}
	pid := deadPID(t)
	dead.PID, dead.Finished = pid, t0 // FinishScan stores the status as given: still running
	remote.PID, remote.Host, remote.Finished = pid, "some-other-host", t0
	for _, s := range []*otaudit.Scan{&dead, &remote} {
		if err := db.FinishScan(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	ro, err := Open(ctx, path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := ro.RecoveredScans(); len(got) != 0 {
		t.Fatalf("read-only Open recovered %v", got)
	}
	ro.Close()

	db, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := db.RecoveredScans(); len(got) != 1 || got[0] != dead.ID {
		t.Fatalf("RecoveredScans = %v, want [%d]", got, dead.ID)
	}
	s, _ := db.Scan(ctx, dead.ID)
	if s.Status != otaudit.ScanIncomplete || s.Error != fmt.Sprintf("interrupted: process %d is gone", pid) {
		t.Fatalf("dead scan now %q %q", s.Status, s.Error)
	}
	n := 0
	_ = db.Observations(ctx, dead.ID, func(otaudit.Observation) error { n++; return nil })
	if fs, _ := db.Findings(ctx, FindingFilter{}); n != 50 || len(fs) != 1 {
		t.Fatalf("interrupted scan's data not kept: %d observations, %d findings", n, len(fs))
	}
	for _, id := range []uint64{alive.ID, remote.ID} {
		if s, _ := db.Scan(ctx, id); s.Status != otaudit.ScanRunning {
			t.Fatalf("scan %d (live process or other host) changed to %q", id, s.Status)
		}
	}
	db.Close()
	db, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := db.RecoveredScans(); len(got) != 0 {
		t.Fatalf("second Open recovered again: %v", got)
	}
}

func TestNewerValueVersionIsRefused(t *testing.T) {
	ctx := context.Background()
	path := newStoreFile(t)
	db, _ := Open(ctx, path, Options{})
	s := beginScan(t, db, "z")
	f := realisticFinding(0)
	if err := db.RecordFindings(ctx, s.ID, []otaudit.Finding{f}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		// A v2 finding whose data a v1 reader would misread.
		return tx.Bucket(bucketFindings).Put([]byte(f.ID), []byte(`{"v":2,"kind":"finding","data":{"severity":{"level":9}}}`))
	})
	db, err := Open(ctx, path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = db.Findings(ctx, FindingFilter{})
	if !errors.Is(err, ErrNewerSchema) || !strings.Contains(err.Error(), "value format v2 is newer than this otaudit understands (v1)") ||
		!strings.Contains(err.Error(), path) {
		t.Fatalf("Findings over a v2 value = %v", err)
	}
	rep, err := db.Check(ctx)
	if err != nil || rep.OK() {
		t.Fatalf("Check did not report the v2 value: %v %v", err, rep.Problems)
	}
}

func TestCredentialKeyMissingOnReadOnlyOpen(t *testing.T) {
	path := newStoreFile(t)
	rawUpdate(t, path, func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(metaCredentialKey) })
	db, err := Open(context.Background(), path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if k, err := db.CredentialKey(); err == nil || k != nil {
		t.Fatalf("CredentialKey on a read-only DB without one = %x, %v; want an error", k, err)
	}
}

func TestDecodeEnvelope(t *testing.T) {
	cases := []struct {
		in, want string
	}{
		{`{"v":1,"kind":"scan","data":{"id":3}}`, ""},
		{`{"v":3,"kind":"scan","data":{"id":"three"}}`, "value format v3 is newer"},
		{`{"v":1,"kind":"asset","data":{}}`, `value holds a "asset"`},
		{`{"v":0,"kind":"scan","data":{}}`, "invalid value format v0"},
		{`{"v":1,"kind":"scan","data":{"id":"x"}}`, "decode scan v1"},
		{`not json`, "not a value envelope"},
	}
	for _, c := range cases {
		s, err := decode[otaudit.Scan]([]byte(c.in), kindScan)
		switch {
		case c.want == "" && (err != nil || s.ID != 3):
			t.Errorf("decode(%s) = %+v, %v", c.in, s, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("decode(%s) error %v, want it to say %q", c.in, err, c.want)
		}
	}
}

func TestSchemaVersionMatchesMigrations(t *testing.T) {
	if uint64(len(migrations)) != SchemaVersion {
		t.Fatalf("SchemaVersion is %d but there are %d migrations; bump it with every migration you append", SchemaVersion, len(migrations))
	}
	seen := map[string]bool{}
	for _, b := range append(append([][]byte(nil), primaryBuckets...), indexBuckets...) {
		if seen[string(b)] {
			t.Fatalf("bucket %s listed twice", b)
		}
		seen[string(b)] = true
	}
}

func TestDecodeAllKeepsOrderAndReportsBadValue(t *testing.T) {
	raw := make([]rawValue, 3000)
	for i := range raw {
		s := otaudit.Scan{ID: uint64(i)}
		v, err := encode(kindScan, &s)
		if err != nil {
			t.Fatal(err)
		}
		raw[i] = rawValue{u64(uint64(i)), v}
	}
	got, err := decodeAll[otaudit.Scan](context.Background(), raw, kindScan)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range got {
		if s.ID != uint64(i) {
			t.Fatalf("value %d decoded as scan %d: order lost", i, s.ID)
		}
	}
	raw[2222].key, raw[2222].value = []byte("bad-one"), []byte(`{"v":9,"kind":"scan","data":{}}`)
	if _, err := decodeAll[otaudit.Scan](context.Background(), raw, kindScan); err == nil ||
		!strings.Contains(err.Error(), "scan bad-one") || !errors.Is(err, ErrNewerSchema) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("bad value among many: %v", err)
	}
}
