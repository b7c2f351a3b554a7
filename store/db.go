package store

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Options tune Open.
type Options struct {
	ReadOnly bool
	// LockTimeout is how long to wait for another process's lock; ≤ 0 → 2s.
	LockTimeout time.Duration
	// Logger receives migrations, recoveries and batch progress; nil → discard.
	Logger *slog.Logger
	// ObservationBatch is how many observations AddObservations writes per
	// transaction; ≤ 0 → 20000.
	ObservationBatch int
}

const (
	defaultLockTimeout      = 2 * time.Second
	defaultObservationBatch = 20000
)

// DB is an open otaudit database file.
type DB struct {
	bolt      *bolt.DB
	path      string
	readOnly  bool
	log       *slog.Logger
	batchSize int
	credKey   []byte
	recovered []uint64
	schema    uint64
	now       func() time.Time
}

// Open opens (creating if needed, unless ReadOnly) the otaudit database at
// path. A writable Open applies pending migrations, creates the credential
// key and marks scans of dead processes incomplete; a read-only Open changes
// nothing.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	return openWith(ctx, path, opts, migrations)
}

func openWith(ctx context.Context, path string, opts Options, migs []migration) (*DB, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	timeout := opts.LockTimeout
	if timeout <= 0 {
		timeout = defaultLockTimeout
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	batch := opts.ObservationBatch
	if batch <= 0 {
		batch = defaultObservationBatch
	}

	start := time.Now()
	exists, err := precheckFile(path, opts.ReadOnly, timeout)
	if err != nil {
		return nil, err
	}
	if !exists && opts.ReadOnly {
		return nil, fmt.Errorf("open %s: no otaudit database here: %w", path, fs.ErrNotExist)
	}
	// bbolt treats a zero timeout as "wait forever"; never hand it one.
	remaining := max(timeout-time.Since(start), time.Millisecond)

	bdb, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:  remaining,
		ReadOnly: opts.ReadOnly,
		// The hashmap freelist stays fast as the file fragments, which a
		// store that is appended to for years will.
		FreelistType: bolt.FreelistMapType,
	})
	if err != nil {
		return nil, mapOpenError(path, err, timeout)
	}
	db := &DB{
		bolt:      bdb,
		path:      path,
		readOnly:  opts.ReadOnly,
		log:       logger.With("db", path),
		batchSize: batch,
		now:       time.Now,
	}
	if err := db.setUp(ctx, migs); err != nil {
		_ = bdb.Close()
		return nil, err
	}
	return db, nil
}

// precheckFile makes sure path is empty space or something that looks like
// a bbolt file before bbolt touches it: bbolt would initialise a 0-byte
// file (overwriting what the user may have meant to keep) and can fault
// reading a truncated one through its memory map. The check runs under a
// shared lock so that it does not misjudge a file another otaudit process
// is just creating.
func precheckFile(path string, readOnly bool, timeout time.Duration) (exists bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("open %s: %w", path, err)
	}
	if info.IsDir() {
		return false, errorf(ErrNotDatabase, "open %s: not an otaudit database (a directory)", path)
	}
	if err := flockShared(f, timeout); err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return false, lockedError(path, timeout)
		}
		return false, fmt.Errorf("open %s: lock: %w", path, err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	if info, err = f.Stat(); err != nil {
		return false, fmt.Errorf("open %s: %w", path, err)
	}
	if info.Size() == 0 {
		return true, errorf(ErrNotDatabase, "open %s: not an otaudit database (empty file); refusing to overwrite it", path)
	}
	if reason := boltHeaderProblem(f, info.Size()); reason != "" {
		return true, errorf(ErrNotDatabase, "open %s: not an otaudit database (%s)", path, reason)
	}
	return true, nil
}

// flockShared takes a shared flock, retrying like bbolt does until timeout.
func flockShared(f *os.File, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return err
		}
		if time.Now().After(deadline) {
			return berrors.ErrTimeout
		}
		time.Sleep(50 * time.Millisecond) // polling a file lock, not synchronising tests
	}
}

// bbolt's on-disk meta page: a 16-byte page header, then magic, version,
// page size, flags, root bucket (16), freelist, high-water page id, txid,
// checksum (FNV-64a of everything before it). bbolt writes it in native
// byte order.
const (
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	pageHeaderSize = 16
	metaSumLen     = 56
)

// boltHeaderProblem returns why f is not a usable bbolt file, or "".
func boltHeaderProblem(f *os.File, size int64) string {
	if size < 2*1024 {
		return "not a bbolt file"
	}
	// Meta page 0 sits at offset 0; meta page 1 one page further, and the
	// page size is only known from a valid meta page, so try the sizes
	// bbolt itself tries.
	offsets := []int64{0}
	for i := 0; i <= 14; i++ {
		offsets = append(offsets, int64(1024)<<i)
	}
	// bbolt keeps two meta pages and uses the valid one with the higher
	// transaction ID; judge that one, since the other may describe an
	// older, smaller file that a truncation happens to leave intact.
	sawMagic, found := false, false
	var pageSize, highWater, txid int64
	for _, off := range offsets {
		var buf [pageHeaderSize + 64]byte
		if off+int64(len(buf)) > size {
			break
		}
		if _, err := f.ReadAt(buf[:], off); err != nil && err != io.EOF {
			return "unreadable: " + err.Error()
		}
		m := buf[pageHeaderSize:]
		if binary.NativeEndian.Uint32(m[0:]) != boltMagic {
			continue
		}
		sawMagic = true
		if binary.NativeEndian.Uint32(m[4:]) != boltVersion {
			continue
		}
		h := fnv.New64a()
		h.Write(m[:metaSumLen])
		if h.Sum64() != binary.NativeEndian.Uint64(m[metaSumLen:]) {
			continue
		}
		ps := int64(binary.NativeEndian.Uint32(m[8:]))
		if off != 0 && off != ps {
			continue
		}
		if tx := int64(binary.NativeEndian.Uint64(m[48:])); !found || tx > txid {
			found, pageSize, highWater, txid = true, ps, int64(binary.NativeEndian.Uint64(m[40:])), tx
		}
	}
	if found {
		if pageSize < 1024 || highWater < 4 || highWater > size/pageSize {
			return "truncated bbolt file"
		}
		return ""
	}
	if sawMagic {
		return "damaged or incompatible bbolt file"
	}
	return "not a bbolt file"
}

func lockedError(path string, waited time.Duration) error {
	return errorf(ErrLocked, "open %s: database is in use by another otaudit process (waited %s); try again when it finishes", path, waited)
}

// mapOpenError turns bbolt's open errors into the store's.
func mapOpenError(path string, err error, timeout time.Duration) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return lockedError(path, timeout)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
		return errorf(ErrNotDatabase, "open %s: not an otaudit database (not a bbolt file: %v)", path, err)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("open %s: no otaudit database here: %w", path, err)
	}
	return fmt.Errorf("open %s: %w", path, err)
}

// setUp checks the file is ours and current, then (writable only) migrates,
// creates the credential key and recovers interrupted scans.
func (db *DB) setUp(ctx context.Context, migs []migration) error {
	current := uint64(len(migs))
	var (
		version uint64
		key     []byte
	)
	err := db.bolt.View(func(tx *bolt.Tx) error {
		var err error
		version, err = readSchema(tx, db.path)
		if err != nil {
			return err
		}
		if meta := tx.Bucket(bucketMeta); meta != nil {
			if k := meta.Get(metaCredentialKey); k != nil {
				key = append([]byte(nil), k...)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if version > current {
		return errorf(ErrNewerSchema, "open %s: schema version %d is newer than this otaudit understands (%d); upgrade otaudit", db.path, version, current)
	}
	if db.readOnly {
		if version == 0 {
			return errorf(ErrNotDatabase, "open %s: not an otaudit database (an empty bbolt file never set up by otaudit)", db.path)
		}
		if version < current {
			return errorf(ErrOlderSchema, "open %s: schema version %d is older than this otaudit (%d); open it once for writing (any scan) to upgrade it", db.path, version, current)
		}
		db.schema, db.credKey = version, key
		return nil
	}
	for v := version + 1; v <= current; v++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("open %s: %w", db.path, err)
		}
		m := migs[v-1]
		err := db.bolt.Update(func(tx *bolt.Tx) error {
			if err := m.apply(tx); err != nil {
				return err
			}
			meta, err := tx.CreateBucketIfNotExists(bucketMeta)
			if err != nil {
				return err
			}
			return meta.Put(metaSchemaVersion, u64(v))
		})
		if err != nil {
			return fmt.Errorf("open %s: migrate schema %d → %d (%s): %w", db.path, v-1, v, m.name, err)
		}
		db.log.Info("store schema migrated", "from", v-1, "to", v, "migration", m.name)
	}
	db.schema = current
	if key == nil {
		key = make([]byte, credentialKeySize)
		if _, err := rand.Read(key); err != nil {
			return fmt.Errorf("open %s: create credential key: %w", db.path, err)
		}
		err := db.bolt.Update(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(metaCredentialKey, key)
		})
		if err != nil {
			return fmt.Errorf("open %s: store credential key: %w", db.path, err)
		}
	}
	db.credKey = key
	return db.recoverInterrupted()
}

// readSchema reads the schema version and tells an otaudit file from a
// bbolt file of another program. A bbolt file without any bucket holds no
// data, so it counts as version 0 (to be set up).
func readSchema(tx *bolt.Tx, path string) (uint64, error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		empty := true
		_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
		if empty {
			return 0, nil
		}
		return 0, errorf(ErrNotDatabase, "open %s: not an otaudit database (a bbolt file of another program: no otaudit meta bucket); refusing to modify it", path)
	}
	v := meta.Get(metaSchemaVersion)
	if len(v) != 8 {
		return 0, errorf(ErrNotDatabase, "open %s: not an otaudit database (meta bucket has no valid schema_version)", path)
	}
	return readU64(v), nil
}

// Close releases the file and its lock.
func (db *DB) Close() error {
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("close %s: %w", db.path, err)
	}
	return nil
}

// Path is the file the DB was opened from.
func (db *DB) Path() string { return db.path }

// SchemaVersion is the schema version of the open file.
func (db *DB) SchemaVersion() uint64 { return db.schema }

// RecoveredScans lists scans that Open found "running" from a process that
// no longer exists and marked incomplete.
func (db *DB) RecoveredScans() []uint64 { return append([]uint64(nil), db.recovered...) }

// CredentialKey is the random key captured secrets are fingerprinted with
// (otaudit.CredentialJudge). It is created on the first writable Open.
func (db *DB) CredentialKey() ([]byte, error) {
	if db.credKey == nil {
		return nil, fmt.Errorf("%s: no credential key yet (the database was never opened for writing by this otaudit): %w", db.path, ErrNotFound)
	}
	return append([]byte(nil), db.credKey...), nil
}

// update runs fn in a write transaction, refusing early on a read-only DB
// with a message that says so.
func (db *DB) update(op string, fn func(tx *bolt.Tx) error) error {
	if db.readOnly {
		return fmt.Errorf("%s: %s: database was opened read-only", db.path, op)
	}
	if err := db.bolt.Update(fn); err != nil {
		return fmt.Errorf("%s: %s: %w", db.path, op, err)
	}
	return nil
}

func (db *DB) view(op string, fn func(tx *bolt.Tx) error) error {
	if err := db.bolt.View(fn); err != nil {
		return fmt.Errorf("%s: %s: %w", db.path, op, err)
	}
	return nil
}
